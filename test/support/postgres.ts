import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createLogger } from '../../src/logging.ts';
import { openEmbeddedPostgres } from '../../src/store/embedded-postgres.ts';

/** A Postgres server the tests may create databases on, and how to let go of it. */
export interface TestPostgres {
  /** Connection string of a database on it with the right to CREATE DATABASE. */
  adminUrl: string;
  /** Where it came from, printed at the start of the run. */
  source: string;
  stop(): Promise<void>;
}

/**
 * The order DESIGN §7 gives: DATABASE_URL; else a testcontainers Postgres when a Docker engine
 * answers; else an embedded Postgres in a fresh temporary folder. There is no fourth choice: a
 * run that finds no Postgres fails, in CI and out of it, instead of skipping database tests.
 */
export async function startTestPostgres(env: NodeJS.ProcessEnv): Promise<TestPostgres> {
  const url = env['DATABASE_URL'];
  if (url !== undefined && url !== '') {
    return { adminUrl: url, source: 'DATABASE_URL', stop: () => Promise.resolve() };
  }
  const container = await startContainer();
  if (container !== undefined) return container;
  return startEmbedded();
}

async function startContainer(): Promise<TestPostgres | undefined> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  try {
    await getContainerRuntimeClient();
  } catch {
    return undefined; // no Docker engine here: fall through to the embedded Postgres
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer('postgres:16-alpine').start();
  return {
    adminUrl: container.getConnectionUri(),
    source: 'testcontainers (postgres:16-alpine)',
    stop: async () => {
      await container.stop();
    },
  };
}

/**
 * A throwaway server's settings: nothing it holds must outlive an operating-system crash, so it
 * need not wait for the disk. Every test makes and drops a database (a drop waited ~1 s for its
 * fsyncs on this machine, 60 ms without) and commits many small transactions. A Postgres that
 * stops or restarts still writes everything first; only a crash of the machine would lose it.
 * The connections: files run several at a time, each with pools and worker processes.
 */
const THROWAWAY_SETTINGS = {
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  max_connections: '300',
} as const;

async function startEmbedded(): Promise<TestPostgres> {
  // /tmp, not the checkout: as root, Postgres runs as user postgres and must reach its folder.
  const dataDir = await mkdtemp(path.join(tmpdir(), 'berth-test-pg-'));
  const logger = createLogger({ level: 'warn' });
  let server = await openEmbeddedPostgres(dataDir, logger);
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    for (const [name, value] of Object.entries(THROWAWAY_SETTINGS)) {
      await admin.query(`alter system set ${name} = '${value}'`);
    }
  } finally {
    await admin.end();
  }
  // max_connections takes effect at the next start.
  await server.close();
  server = await openEmbeddedPostgres(dataDir, logger);
  return {
    adminUrl: server.url,
    source: `embedded postgres in ${dataDir}`,
    stop: async () => {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
