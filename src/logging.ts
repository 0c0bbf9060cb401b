import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { prettyFactory as PrettyFactory } from 'pino-pretty';

export type { Logger } from 'pino';

/**
 * Field paths whose values never reach a log line. Secret *references* (ARNs) are fine to log;
 * these are the things that would let a reader of the logs act as Berth.
 */
const REDACTED_PATHS = [
  'password',
  '*.password',
  'databaseUrl',
  '*.databaseUrl',
  'connectionString',
  '*.connectionString',
  'secretAccessKey',
  '*.secretAccessKey',
  'sessionToken',
  '*.sessionToken',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
];

/** How log lines look: JSON for machines, or readable lines for a person at a terminal. */
export type LogFormat = 'json' | 'pretty';

/**
 * One logger per process, writing to stderr so that stdout stays the CLI's output: JSON lines,
 * or with `format: 'pretty'` readable ones (pino-pretty). Both write synchronously — pino-pretty
 * is used as a formatter, not as a worker-thread transport — so that a line logged while
 * shutting down is on the terminal before the process exits.
 */
export function createLogger(
  options: { level?: string | undefined; name?: string; format?: LogFormat } = {},
): Logger {
  return pino(
    {
      name: options.name ?? 'berth',
      level: options.level ?? process.env['BERTH_LOG_LEVEL'] ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    options.format === 'pretty' ? prettyStderr() : jsonStderr(),
  );
}

/**
 * A reader of stderr that went away (`berth up 2>&1 | tee log`, then Ctrl-C) must not make a
 * log line throw EPIPE in the middle of a shutdown: the lines that no one can read are dropped.
 */
function isBrokenPipe(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}

function jsonStderr(): DestinationStream {
  const destination = pino.destination({ dest: 2, sync: true });
  destination.on('error', (error: unknown) => {
    if (!isBrokenPipe(error)) throw error;
  });
  return destination;
}

function prettyStderr(): DestinationStream {
  // Required here, not imported above: only a terminal's logs need it, and a CLI command that
  // logs nothing should not pay for loading it (`npm run bench -- cli`).
  const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as {
    prettyFactory: typeof PrettyFactory;
  };
  const format = prettyFactory({
    colorize: process.stderr.isTTY,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
  let broken = false;
  return {
    write(line: string) {
      if (broken) return;
      try {
        writeSync(2, format(line));
      } catch (error) {
        if (!isBrokenPipe(error)) throw error;
        broken = true;
      }
    },
  };
}

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}
