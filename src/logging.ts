import { pino, type Logger } from 'pino';

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

/** One JSON logger per process, writing to stderr so that stdout stays the CLI's output. */
export function createLogger(options: { level?: string | undefined; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'berth',
      level: options.level ?? process.env['BERTH_LOG_LEVEL'] ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    pino.destination({ dest: 2, sync: true }),
  );
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
