import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { DestinationStream, Logger, pino as Pino } from 'pino';
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
export function createLogger(options: LoggerOptions = {}): Logger {
  const pino = loadPino();
  return pino(
    {
      name: options.name ?? 'berth',
      level: options.level ?? process.env['BERTH_LOG_LEVEL'] ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    options.format === 'pretty' ? prettyStderr() : jsonStderr(),
  );
}

interface LoggerOptions {
  level?: string | undefined;
  name?: string;
  format?: LogFormat;
}

/**
 * pino and the dozen modules it brings, required when a logger is made rather than imported
 * with this file: `berth status` logs nothing and should not pay for them (`npm run bench -- cli`).
 */
function loadPino(): typeof Pino {
  return (createRequire(import.meta.url)('pino') as { pino: typeof Pino }).pino;
}

/** pino's levels, lowest first; a call below the logger's level writes nothing. */
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/**
 * A logger made on first use: until something logs at or above `level` (or asks the logger
 * anything else), pino is not loaded. The CLI's commands mostly log nothing at its default level.
 */
export function lazyLogger(options: LoggerOptions = {}): Logger {
  const threshold = LEVELS.indexOf(options.level ?? 'info');
  let pinoLogger: Logger | undefined;
  const made = (): Logger => (pinoLogger ??= createLogger(options));
  const quiet = () => undefined;
  // The target is never read: every access is answered by the traps, with pino's logger once made.
  return new Proxy(Object.create(null) as Logger, {
    get(_target, key) {
      if (pinoLogger === undefined && typeof key === 'string' && threshold >= 0) {
        const level = LEVELS.indexOf(key);
        if (level >= 0 && level < threshold) return quiet;
      }
      const logger = made();
      const value: unknown = Reflect.get(logger, key);
      return typeof value === 'function' ? (value as () => unknown).bind(logger) : value;
    },
    set(_target, key, value) {
      return Reflect.set(made(), key, value);
    },
    has(_target, key) {
      return Reflect.has(made(), key);
    },
  });
}

/**
 * A reader of stderr that went away (`berth up 2>&1 | tee log`, then Ctrl-C) must not make a
 * log line throw EPIPE in the middle of a shutdown: the lines that no one can read are dropped.
 */
function isBrokenPipe(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}

function jsonStderr(): DestinationStream {
  const destination = loadPino().destination({ dest: 2, sync: true });
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
