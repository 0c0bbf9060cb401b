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

/** A Kysely instance over a `pg` pool. Close it with `db.destroy()`. */
export function connect(connectionString: string, options: { max?: number } = {}): Db {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 4,
    types,
    application_name: 'berth',
  });
  // An idle client that loses its server (a restart, a failover) must not crash the process:
  // the pool drops it and the next query gets a fresh connection.
  pool.on('error', () => undefined);
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
