import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import { NotificationDispatcher, type DispatcherOptions } from '../../src/notify/dispatcher.ts';
import { createLogger } from '../../src/logging.ts';
import type { TestDatabase } from './database.ts';

/** One request a receiver got. */
export interface Received {
  /** `performance.now()` when it arrived. */
  at: number;
  path: string;
  headers: IncomingMessage['headers'];
  /** The body as sent, to search for what must not be there. */
  raw: string;
  body: Record<string, unknown>;
}

/** How the receiver answers a request: a status, or `hang` (never answer). */
export type Answer = number | 'hang';

/** A real HTTP server on loopback that records every webhook request. */
export interface WebhookReceiver {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  requests: Received[];
  /** Decides each answer; 200 unless changed. */
  answer: (request: Received) => Answer;
}

/** Starts a receiver on a free loopback port; closed (hanging requests dropped) when the file ends. */
export async function aWebhookReceiver(
  answer: (request: Received) => Answer = () => 200,
): Promise<WebhookReceiver> {
  const receiver: WebhookReceiver = { origin: '', requests: [], answer };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let raw = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (raw += chunk));
    request.on('end', () => {
      const received: Received = {
        at: performance.now(),
        path: request.url ?? '',
        headers: request.headers,
        raw,
        body: JSON.parse(raw) as Record<string, unknown>,
      };
      receiver.requests.push(received);
      const status = receiver.answer(received);
      if (status === 'hang') return;
      response.writeHead(status, { 'content-type': 'text/plain' }).end(String(status));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  receiver.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  after(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  return receiver;
}

/** A delivery loop on the test's database with test timings, stopped when the test ends. */
export function aDispatcher(
  database: TestDatabase,
  options: Partial<Omit<DispatcherOptions, 'db' | 'logger'>> = {},
): NotificationDispatcher {
  const dispatcher = new NotificationDispatcher({
    db: database.db,
    logger: createLogger({ level: process.env['BERTH_TEST_LOG_LEVEL'] ?? 'silent' }),
    name: 'notifier',
    pollMs: 100,
    firstRetryMs: 300,
    timeoutMs: 2_000,
    ...options,
  });
  dispatcher.start();
  database.defer(() => dispatcher.stop());
  return dispatcher;
}
