import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, Registry } from 'prom-client';
import type { Logger } from '../logging.ts';
import { metricsRegistry } from '../reconciler/metrics.ts';
import type { Db } from '../store/database.ts';
import { countDeploymentsByPhase } from '../store/deployments.ts';
import { pendingMigrations, pingDatabase } from '../store/migrate.ts';
import { InputError } from '../validation/input-error.ts';
import { checkAccess } from './access.ts';
import { dashboardResponse } from './dashboard/routes.ts';

/** Where the daemon listens: `--http PORT` or `--http HOST:PORT`. */
export interface HttpAddress {
  host: string;
  port: number;
}

export const DEFAULT_HTTP: HttpAddress = { host: '127.0.0.1', port: 7070 };

/**
 * Parses `--http`: `PORT` (on 127.0.0.1), `HOST:PORT` or `[IPv6]:PORT`; port 0 picks a free
 * one. A bad value is an InputError naming the flag (exit 2).
 */
export function parseHttpAddress(field: string, raw: string): HttpAddress {
  const bad = (): InputError =>
    new InputError(
      field,
      `${JSON.stringify(raw)} is not PORT or HOST:PORT (e.g. 7070, 127.0.0.1:7070, 0.0.0.0:7070)`,
    );
  const match = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):)?(\d{1,5})$/.exec(raw);
  if (match === null) throw bad();
  const host = match[1] ?? match[2] ?? DEFAULT_HTTP.host;
  const port = Number(match[3]);
  if (port > 65535 || host.length > 253 || host.startsWith('-') || host.startsWith('.'))
    throw bad();
  return { host, port };
}

/** Whether `host` is only reachable from this machine. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * Refuses, as bad input (exit 2, one line), to serve beyond loopback without a bearer token.
 */
export function checkHttpExposure(address: HttpAddress, token: string | undefined): void {
  if (!isLoopback(address.host) && token === undefined) {
    throw new InputError(
      '--http',
      `${address.host} is not a loopback address; set BERTH_HTTP_TOKEN to serve beyond this machine`,
    );
  }
}

export interface DaemonSources {
  db: Db;
  /** Leases held now by this process's workers. */
  leasesHeld: () => number;
  logger: Logger;
  /**
   * When set, every request but /healthz must carry it: `Authorization: Bearer <token>`, or the
   * session cookie a browser gets from opening a page once with `?token=` (see access.ts).
   */
  token: string | undefined;
}

export interface RunningDaemon {
  /** `http://host:port`, with the port actually bound. */
  url: string;
  close(): Promise<void>;
}

const READY_TIMEOUT_MS = 2000;

const UNAUTHORIZED =
  'unauthorized: send Authorization: Bearer <BERTH_HTTP_TOKEN>, or open a page once with ' +
  '?token=<BERTH_HTTP_TOKEN> in a browser\n';

/**
 * The daemon's endpoints on node:http: `/healthz` (the process runs), `/readyz` (the database
 * answers and its schema is current), `/metrics` (Prometheus text), and the dashboard (`/`,
 * `/services/NAME`, `/deployments/ID`, their JSON under `/api/`, `/static/`). Read-only:
 * anything but GET and HEAD is 405.
 */
export async function startDaemon(
  address: HttpAddress,
  sources: DaemonSources,
): Promise<RunningDaemon> {
  const registry = Registry.merge([metricsRegistry, scrapeTimeMetrics(sources)]);
  const server = createServer((request, response) => {
    handle(request, response, sources, registry).catch((error: unknown) => {
      sources.logger.error({ err: error, path: request.url }, 'http request failed');
      if (!response.headersSent) reply(response, 500, 'internal error\n');
      else response.destroy();
    });
  });
  server.listen(address.port, address.host);
  await once(server, 'listening');
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    url: `http://${host}:${bound.port}`,
    close: () => closeServer(server),
  };
}

async function closeServer(server: Server): Promise<void> {
  const closed = once(server, 'close');
  server.close();
  server.closeAllConnections();
  await closed;
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  sources: DaemonSources,
  registry: Registry,
): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://berth');
  const path = url.pathname;
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD');
    reply(response, 405, 'method not allowed\n');
    return;
  }
  if (path === '/healthz') {
    reply(response, 200, 'ok\n');
    return;
  }
  if (sources.token !== undefined) {
    const access = checkAccess(request, url, sources.token);
    if (access.kind === 'session') {
      response.writeHead(303, {
        Location: access.location,
        'Set-Cookie': access.cookie,
        'Cache-Control': 'no-store',
        'Referrer-Policy': 'no-referrer',
      });
      response.end();
      return;
    }
    if (access.kind === 'denied') {
      response.setHeader('WWW-Authenticate', 'Bearer');
      reply(response, 401, UNAUTHORIZED);
      return;
    }
  }
  if (path === '/readyz') {
    const problem = await notReady(sources.db);
    if (problem === undefined) reply(response, 200, 'ready\n');
    else reply(response, 503, `not ready: ${problem}\n`);
    return;
  }
  if (path === '/metrics') {
    const text = await registry.metrics();
    reply(response, 200, text, registry.contentType);
    return;
  }
  const page = await dashboardResponse(sources.db, path, new Date());
  if (page !== undefined) {
    response.writeHead(page.status, {
      ...page.headers,
      'Content-Type': page.contentType,
      'Content-Length': Buffer.byteLength(page.body),
    });
    response.end(request.method === 'HEAD' ? undefined : page.body);
    return;
  }
  reply(response, 404, 'not found\n');
}

function reply(
  response: ServerResponse,
  status: number,
  body: string,
  contentType = 'text/plain; charset=utf-8',
): void {
  response.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}

/** Why the daemon is not ready, in one line; undefined when it is. */
async function notReady(db: Db): Promise<string | undefined> {
  try {
    const pending = await withTimeout(
      (async () => {
        await pingDatabase(db);
        return pendingMigrations(db);
      })(),
      READY_TIMEOUT_MS,
    );
    if (pending === undefined) return `the database did not answer within ${READY_TIMEOUT_MS} ms`;
    if (pending.length > 0)
      return `${pending.length} migration(s) pending (${pending.join(', ')}); run berth migrate`;
    return undefined;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return `the database is unreachable: ${message.split('\n')[0] ?? ''}`;
  }
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      resolve(undefined);
    }, ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const PHASES = [
  'pending',
  'preparing',
  'verifying',
  'progressing',
  'baking',
  'rolling_back',
  'finished',
] as const;

/** Gauges read when scraped: leases held here, and deployments by phase and outcome (one query). */
function scrapeTimeMetrics(sources: DaemonSources): Registry {
  const registry = new Registry();
  new Gauge({
    name: 'berth_leases_held',
    help: 'Service leases held by the workers of this process',
    registers: [registry],
    collect() {
      this.set(sources.leasesHeld());
    },
  });
  new Gauge({
    name: 'berth_deployments',
    help: 'Deployments in the database, by phase and outcome (outcome "none" while unfinished)',
    labelNames: ['phase', 'outcome'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const phase of PHASES.slice(0, -1)) this.set({ phase, outcome: 'none' }, 0);
      try {
        for (const row of await countDeploymentsByPhase(sources.db)) {
          this.set({ phase: row.phase, outcome: row.outcome ?? 'none' }, row.count);
        }
      } catch (error) {
        sources.logger.warn({ err: error }, 'could not count deployments for /metrics');
      }
    },
  });
  return registry;
}
