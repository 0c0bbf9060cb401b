import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;

const INT8_OID = 20;

/**
 * Ids and counts are `bigint` in the schema but stay far below 2^53, so they are read as
 * JavaScript numbers rather than the strings `pg` returns by default.
 */
function typeParser(oid: number, format: 'text' | 'binary' = 'text'): (value: string) => unknown {
  if (oid === INT8_OID) return Number;
  const builtIn = pg.types.getTypeParser as (
    oid: number,
    format: string,
  ) => (value: string) => unknown;
  return builtIn(oid, format);
}

const types: pg.CustomTypesConfig = {
  getTypeParser: typeParser as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * How long opening one connection may take. Without it a server that drops packets (a wrong
 * security group, a failover in progress) holds a connection attempt for the kernel's TCP
 * timeout, about two minutes.
 */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * The pool's clients, with a connect timeout of their own. The pool's `connectionTimeoutMillis`
 * would also bound how long a query waits for a free client, which a busy worker may
 * legitimately do; this bounds only the connection attempt.
 */
class TimedClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(
      typeof config === 'string'
        ? { connectionString: config, connectionTimeoutMillis: CONNECT_TIMEOUT_MS }
        : { ...config, connectionTimeoutMillis: CONNECT_TIMEOUT_MS },
    );
    // A client checked out of the pool has no listener of the pool's: a connection the server
    // drops between two statements (a restart, a failover, an administrator's terminate) would
    // emit an unhandled 'error' and end the process. Its work fails instead, and the pool
    // discards it on release, since it is no longer queryable.
    this.on('error', () => undefined);
  }
}

/** What one statement cost: the benchmarks count statements and rows per resync cycle. */
export interface QueryObserver {
  (result: { rowCount: number | null; rows?: unknown[] }): void;
}

/**
 * A Kysely instance over a `pg` pool. Close it with `db.destroy()`. `onQuery` sees the result of
 * every statement sent through the pool.
 */
export function connect(
  connectionString: string,
  options: { max?: number; onQuery?: QueryObserver } = {},
): Db {
  const pool = new pg.Pool({
    connectionString,
    // Enough for a worker's default eight passes at once, its claim and its heartbeat (and, on
    // the simulated AWS, the calls those passes make); opened only as they are needed.
    max: options.max ?? 12,
    types,
    application_name: 'berth',
    Client: TimedClient,
  });
  // An idle client that loses its server (a restart, a failover) must not crash the process:
  // the pool drops it and the next query gets a fresh connection.
  pool.on('error', () => undefined);
  const { onQuery } = options;
  if (onQuery !== undefined) {
    pool.on('connect', (client) => {
      observeQueries(client, onQuery);
    });
  }
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** Wraps `client.query` so that `onQuery` sees each result (Kysely always uses the promise form). */
function observeQueries(client: pg.PoolClient, onQuery: QueryObserver): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (...args: unknown[]) => {
    const result = query(...args);
    if (result instanceof Promise) {
      void result.then(
        (value: unknown) => {
          onQuery(value as { rowCount: number | null; rows?: unknown[] });
        },
        () => undefined,
      );
    }
    return result;
  };
}
