import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createLogger } from '../../src/logging.ts';
import { connect, type Db } from '../../src/store/database.ts';
import { openEmbeddedPostgres } from '../../src/store/embedded-postgres.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';

/** Connections the embedded server allows: the fleet deploy and reaction at once need ~170. */
const MAX_CONNECTIONS = 400;

/** The Postgres server the benchmarks make their databases on. */
export interface BenchPostgres {
  /** A database on it whose user may CREATE DATABASE. */
  adminUrl: string;
  source: string;
  stop(): Promise<void>;
}

/**
 * `DATABASE_URL` (a server where the user may create databases) if set, else an embedded
 * Postgres in a fresh temporary folder, removed at the end: a real Postgres either way.
 */
export async function startBenchPostgres(): Promise<BenchPostgres> {
  const url = process.env['DATABASE_URL'];
  if (url !== undefined && url !== '') {
    return { adminUrl: url, source: 'DATABASE_URL', stop: () => Promise.resolve() };
  }
  // /tmp, not the checkout: as root, Postgres runs as user postgres and must reach its folder.
  const dataDir = await mkdtemp(path.join(tmpdir(), 'berth-bench-pg-'));
  const logger = createLogger({ level: 'warn' });
  let server = await openEmbeddedPostgres(dataDir, logger);
  // Parts run side by side, each with its pools and its `berth worker` processes: more than
  // Postgres's default of 100 connections. The setting takes effect at the next start.
  await admin({ adminUrl: server.url }, `alter system set max_connections = ${MAX_CONNECTIONS}`);
  await server.close();
  server = await openEmbeddedPostgres(dataDir, logger);
  return {
    adminUrl: server.url,
    source: 'embedded Postgres',
    stop: async () => {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Statements and rows Berth's own pool sent and got back, since the last `reset`. */
export class QueryCounter {
  queries = 0;
  rows = 0;

  reset(): void {
    this.queries = 0;
    this.rows = 0;
  }
}

/** A migrated database of one benchmark: Berth's pool (counted) and the simulated AWS's own. */
export interface BenchDatabase {
  url: string;
  /** Berth's pool: every statement it sends is counted in `counter`. */
  db: Db;
  /** The simulated AWS's pool, kept apart so that its statements are not counted as Berth's. */
  simDb: Db;
  counter: QueryCounter;
  close(): Promise<void>;
}

/** A fresh database `name` on `server`, migrated; dropped by `close`. */
export async function benchDatabase(server: BenchPostgres, name: string): Promise<BenchDatabase> {
  await admin(server, `drop database if exists ${name} with (force)`);
  await admin(server, `create database ${name}`);
  const url = new URL(server.adminUrl);
  url.pathname = `/${name}`;
  const counter = new QueryCounter();
  const db = connect(url.toString(), {
    max: 20,
    onQuery: (result) => {
      counter.queries += 1;
      counter.rows += result.rowCount ?? result.rows?.length ?? 0;
    },
  });
  await migrateToLatest(db);
  const simDb = connect(url.toString(), { max: 20 });
  return {
    url: url.toString(),
    db,
    simDb,
    counter,
    close: async () => {
      await db.destroy();
      await simDb.destroy();
      await admin(server, `drop database if exists ${name} with (force)`);
    },
  };
}

async function admin(server: Pick<BenchPostgres, 'adminUrl'>, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: server.adminUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
