import { hostname, userInfo } from 'node:os';
import { InputError } from './validation/input-error.ts';
import { parseDuration } from './validation/numbers.ts';
import { simFaultsFromEnvironment, type SimFaults } from './validation/sim-faults.ts';
import { oneOf, quote } from './validation/quote.ts';

/** The environment variables Berth reads, in one place (docs/operations.md lists them). */
export interface BerthEnvironment {
  /** Postgres to use; when unset, the embedded Postgres in `dataDir`. */
  databaseUrl: string | undefined;
  /** Folder of the embedded Postgres and other local state. */
  dataDir: string;
  /** pino level for logs on stderr. */
  logLevel: LogLevel | undefined;
  /** BERTH_LOG_FORMAT: `json` or `pretty`; undefined = pretty when stderr is a terminal. */
  logFormat: 'json' | 'pretty' | undefined;
  /** Who is asking, as recorded in the audit log. */
  actor: string;
  /** `sim` (the simulated AWS) or `aws` (the SDK's standard configuration); undefined = the command's default. */
  cloud: 'sim' | 'aws' | undefined;
  /** Worker loops to run in one process. */
  workers: number;
  /** Passes each worker loop runs at once. */
  passConcurrency: number;
  /** BERTH_SIM_FAULTS, BERTH_SIM_LATENCY_MS, BERTH_SIM_TIMEOUT_MS, parsed; undefined when unset. */
  simFaults: SimFaults | undefined;
  /** Lease of a claimed service; a dead worker's services wait this long. */
  leaseSeconds: number;
  /** Re-read period of idle services. */
  resyncSeconds: number;
  /** Fallback poll of the worker loop. */
  pollMs: number;
  /** Seed of the simulated AWS. */
  simSeed: number;
  /** How long after a window ends its metrics are judged; undefined = the cloud's default. */
  metricsDelaySeconds: number | undefined;
  /**
   * Seconds per datapoint of the cloud's ALB metrics, to which analysis windows are rounded up;
   * undefined = the cloud's own (60 on AWS, the simulated AWS's accelerated 1).
   */
  metricResolutionSeconds: number | undefined;
  /** Bearer token the daemon's HTTP endpoints require (all but /healthz); needed off loopback. */
  httpToken: string | undefined;
  /** Deadline of one webhook request. */
  notifyTimeoutMs: number;
  /** How often each followed ECR repository is listed; undefined = the cloud's default. */
  followIntervalSeconds: number | undefined;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The audit log's `actor` column allows 1 to 512 characters. */
const MAX_ACTOR = 512;

/**
 * Every variable checked like a flag: a bad value throws an InputError naming the variable and
 * what is valid, before anything is written (the CLI exits 2). An empty value counts as unset,
 * as compose files and `VAR= berth …` write it; anything else must be valid.
 */
export function readEnvironment(env: NodeJS.ProcessEnv): BerthEnvironment {
  return {
    databaseUrl: databaseUrl(given(env, 'DATABASE_URL')),
    dataDir: dataDir(given(env, 'BERTH_DATA_DIR')) ?? '.berth',
    logLevel: logLevel(given(env, 'BERTH_LOG_LEVEL')),
    logFormat: logFormat(given(env, 'BERTH_LOG_FORMAT')),
    actor: actor(given(env, 'BERTH_ACTOR')) ?? defaultActor(),
    cloud: cloudKind(given(env, 'BERTH_CLOUD')),
    workers: wholeNumber(env, 'BERTH_WORKERS', { min: 1, max: 64, fallback: 1 }),
    passConcurrency: wholeNumber(env, 'BERTH_PASS_CONCURRENCY', { min: 1, max: 256, fallback: 8 }),
    leaseSeconds: seconds(env, 'BERTH_LEASE_SECONDS', { min: 1, max: 3600 }) ?? 30,
    resyncSeconds: seconds(env, 'BERTH_RESYNC_SECONDS', { min: 1, max: 86_400 }) ?? 60,
    pollMs: wholeNumber(env, 'BERTH_POLL_MS', { min: 10, max: 3_600_000, fallback: 1000 }),
    simSeed: wholeNumber(env, 'BERTH_SIM_SEED', { min: 0, max: 4_294_967_295, fallback: 1 }),
    metricsDelaySeconds: seconds(env, 'BERTH_METRICS_DELAY_SECONDS', { min: 0, max: 3600 }),
    metricResolutionSeconds: wholeSeconds(env, 'BERTH_METRIC_RESOLUTION_SECONDS', 3600),
    httpToken: httpToken(given(env, 'BERTH_HTTP_TOKEN')),
    notifyTimeoutMs: wholeNumber(env, 'BERTH_NOTIFY_TIMEOUT_MS', {
      min: 100,
      max: 60_000,
      fallback: 5000,
    }),
    followIntervalSeconds: followInterval(given(env, 'BERTH_FOLLOW_INTERVAL')),
    // Checked here too, whatever the command and the cloud: a typo must not pass unseen.
    simFaults: simFaultsFromEnvironment(env),
  };
}

/** `30s`, `5m` or whole seconds, 1 s to 1 h (DescribeImages is rate limited: not faster). */
function followInterval(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  return parseDuration('BERTH_FOLLOW_INTERVAL', value, { minSeconds: 1, maxSeconds: 3600 });
}

/** The variable's value, or undefined when it is unset or empty. */
/** A bearer token: printable ASCII without spaces, 16 to 512 characters. Never echoed. */
function httpToken(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[\x21-\x7e]{16,512}$/.test(value)) {
    throw new InputError(
      'BERTH_HTTP_TOKEN',
      'must be 16 to 512 printable characters without spaces (e.g. `openssl rand -hex 32`)',
    );
  }
  return value;
}

function given(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

const DATABASE_URL_EXAMPLE = 'postgres://user:password@host:5432/berth';

/** The value is never shown: a connection string usually carries a password. */
function databaseUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let protocol: string;
  try {
    protocol = new URL(value).protocol;
  } catch {
    throw new InputError(
      'DATABASE_URL',
      `is not a URL (not shown: it may hold a password); expected a postgres:// or postgresql:// URL, e.g. ${DATABASE_URL_EXAMPLE}`,
    );
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
    throw new InputError(
      'DATABASE_URL',
      `is a ${quote(protocol)} URL; expected a postgres:// or postgresql:// URL, e.g. ${DATABASE_URL_EXAMPLE}`,
    );
  }
  return value;
}

function dataDir(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const problem =
    value.trim() === ''
      ? 'is blank'
      : /\p{Cc}/u.test(value)
        ? 'contains a control character'
        : undefined;
  if (problem !== undefined) {
    throw new InputError(
      'BERTH_DATA_DIR',
      `${quote(value)} ${problem}; expected a folder, e.g. .berth or /var/tmp/berth`,
    );
  }
  return value;
}

function logLevel(value: string | undefined): LogLevel | undefined {
  if (value === undefined) return undefined;
  const level = LOG_LEVELS.find((known) => known === value);
  if (level === undefined) {
    throw new InputError(
      'BERTH_LOG_LEVEL',
      `${quote(value)} is not a log level; expected ${oneOf(LOG_LEVELS)}`,
    );
  }
  return level;
}

function logFormat(value: string | undefined): 'json' | 'pretty' | undefined {
  if (value === undefined || value === 'json' || value === 'pretty') return value;
  throw new InputError(
    'BERTH_LOG_FORMAT',
    `${quote(value)} is not a log format; expected json (one JSON object a line) or pretty`,
  );
}

/** The audit log's actor: one line, as the `actor` column's check allows it. */
function actor(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const problem = /[\p{Cc}\u2028\u2029]/u.test(value)
    ? 'contains a line break or other control character'
    : value.trim() === ''
      ? 'is blank'
      : Array.from(value).length > MAX_ACTOR
        ? 'is too long' // quote() adds the length
        : undefined;
  if (problem !== undefined) {
    throw new InputError(
      'BERTH_ACTOR',
      `${quote(value)} ${problem}; expected who is asking, 1 to ${MAX_ACTOR} characters on one line, e.g. alice@example.com`,
    );
  }
  return value;
}

function cloudKind(value: string | undefined): 'sim' | 'aws' | undefined {
  if (value === undefined) return undefined;
  if (value === 'sim' || value === 'aws') return value;
  throw new InputError(
    'BERTH_CLOUD',
    `${quote(value)} is not a cloud; expected sim (the simulated AWS) or aws`,
  );
}

/** Digits only: no sign, exponent, fraction or spaces. */
function wholeNumber(
  env: NodeJS.ProcessEnv,
  name: string,
  limits: { min: number; max: number; fallback: number },
): number {
  const value = given(env, name);
  if (value === undefined) return limits.fallback;
  const number = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(number >= limits.min && number <= limits.max)) {
    throw new InputError(
      name,
      `${quote(value)} is not a whole number from ${limits.min} to ${limits.max}`,
    );
  }
  return number;
}

/** A plain decimal number of seconds (`30`, `1.5`): no unit, sign or exponent. */
/** Whole seconds from 1 to `max`, or undefined when unset. */
function wholeSeconds(env: NodeJS.ProcessEnv, name: string, max: number): number | undefined {
  const value = given(env, name);
  if (value === undefined) return undefined;
  const number = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(number >= 1 && number <= max)) {
    throw new InputError(name, `${quote(value)} is not whole seconds from 1 to ${max}, e.g. 60`);
  }
  return number;
}

function seconds(
  env: NodeJS.ProcessEnv,
  name: string,
  limits: { min: number; max: number },
): number | undefined {
  const value = given(env, name);
  if (value === undefined) return undefined;
  const number = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(number >= limits.min && number <= limits.max)) {
    throw new InputError(
      name,
      `${quote(value)} is not a number of seconds from ${limits.min} to ${limits.max}, e.g. 30`,
    );
  }
  return number;
}

function defaultActor(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = 'unknown';
  }
  return `${user}@${hostname()}`;
}
