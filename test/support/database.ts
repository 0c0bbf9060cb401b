import { createHash, randomBytes } from 'node:crypto';
import { after } from 'node:test';
import pg from 'pg';
import { connect, type Db } from '../../src/store/database.ts';

/** The migrated database every test database is cloned from (made by test/run.ts). */
export const TEMPLATE_DATABASE = 'berth_template';

export function adminUrl(): string {
  const url = process.env['BERTH_TEST_ADMIN_URL'];
  if (url === undefined || url === '') {
    throw new Error('BERTH_TEST_ADMIN_URL is not set: run the tests with `npm test`');
  }
  return url;
}

export function databaseUrl(name: string): string {
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

export async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** A fresh database of the given name, empty or cloned from the migrated template. */
export async function createDatabase(
  name: string,
  options: { migrated: boolean },
): Promise<string> {
  const template = options.migrated ? ` template ${TEMPLATE_DATABASE}` : '';
  await adminQuery(`create database ${name}${template}`);
  return databaseUrl(name);
}

export async function dropDatabase(name: string): Promise<void> {
  await adminQuery(`drop database if exists ${name} with (force)`);
}

export interface TestDatabase {
  url: string;
  db: Db;
  /** Runs `cleanup` when the test ends, before the database is dropped (last deferred first). */
  defer(cleanup: () => Promise<void>): void;
}

/**
 * A migrated database of this test's own, dropped when the file's tests end: each scenario
 * starts from nothing and cannot see another's rows.
 */
export async function testDatabase(label: string): Promise<TestDatabase> {
  const name = `berth_t_${createHash('sha1').update(label).digest('hex').slice(0, 10)}_${randomBytes(4).toString('hex')}`;
  const url = await createDatabase(name, { migrated: true });
  const db = connect(url);
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await db.destroy();
    await dropDatabase(name);
  });
  return { url, db, defer: (cleanup) => cleanups.push(cleanup) };
}
