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
}

export function readEnvironment(env: NodeJS.ProcessEnv): BerthEnvironment {
  return {
    databaseUrl: nonEmpty(env['DATABASE_URL']),
    dataDir: nonEmpty(env['BERTH_DATA_DIR']) ?? '.berth',
    logLevel: nonEmpty(env['BERTH_LOG_LEVEL']),
    actor: nonEmpty(env['BERTH_ACTOR']) ?? defaultActor(),
  };
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
