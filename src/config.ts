import { hostname, userInfo } from 'node:os';

/** The environment variables Berth reads, in one place (README.md lists them). */
export interface BerthEnvironment {
  /** Postgres to use; when unset, the embedded Postgres in `dataDir`. */
  databaseUrl: string | undefined;
  /** Folder of the embedded Postgres and other local state. */
  dataDir: string;
  /** pino level for logs on stderr. */
  logLevel: string | undefined;
  /** Who is asking, as recorded in the audit log. */
  actor: string;
  /** `sim` (the simulated AWS) or `aws` (the SDK's standard configuration); undefined = the command's default. */
  cloud: 'sim' | 'aws' | undefined;
  /** Worker loops to run in one process. */
  workers: number;
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
}

export function readEnvironment(env: NodeJS.ProcessEnv): BerthEnvironment {
  return {
    databaseUrl: nonEmpty(env['DATABASE_URL']),
    dataDir: nonEmpty(env['BERTH_DATA_DIR']) ?? '.berth',
    logLevel: nonEmpty(env['BERTH_LOG_LEVEL']),
    actor: nonEmpty(env['BERTH_ACTOR']) ?? defaultActor(),
    cloud: cloudKind(env['BERTH_CLOUD']),
    workers: positive(env['BERTH_WORKERS'], 1),
    leaseSeconds: positive(env['BERTH_LEASE_SECONDS'], 30),
    resyncSeconds: positive(env['BERTH_RESYNC_SECONDS'], 60),
    pollMs: positive(env['BERTH_POLL_MS'], 1000),
    simSeed: positive(env['BERTH_SIM_SEED'], 1),
    metricsDelaySeconds:
      env['BERTH_METRICS_DELAY_SECONDS'] === undefined || env['BERTH_METRICS_DELAY_SECONDS'] === ''
        ? undefined
        : nonNegative(env['BERTH_METRICS_DELAY_SECONDS']),
  };
}

function cloudKind(value: string | undefined): 'sim' | 'aws' | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'sim' || value === 'aws') return value;
  throw new Error(`BERTH_CLOUD must be sim or aws, not ${JSON.stringify(value)}`);
}

function positive(value: string | undefined, fallback: number): number {
  if (value === undefined || value.trim() === '') return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) {
    throw new Error(`expected a positive number, got ${JSON.stringify(value)}`);
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

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function nonNegative(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0) {
    throw new Error(`expected a number of seconds, 0 or more, got ${JSON.stringify(value)}`);
  }
  return number;
}
