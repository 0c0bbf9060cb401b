import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { connect } from '../src/store/database.ts';
import { pendingMigrations } from '../src/store/migrate.ts';
import { berth, spawnBerth, type CliResult } from './support/cli.ts';
import { createDatabase, dropDatabase, testDatabase } from './support/database.ts';

/** Every migration this Berth ships, by name, in the order they apply. */
const MIGRATIONS = (await readdir(new URL('../migrations/', import.meta.url)))
  .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
  .map((file) => file.replace(/\.ts$/, ''))
  .sort();

/** A fresh database with no tables at all, dropped when this file's tests end. */
async function emptyDatabase(label: string): Promise<string> {
  const name = `berth_m_${label}_${randomBytes(4).toString('hex')}`;
  const url = await createDatabase(name, { migrated: false });
  after(() => dropDatabase(name));
  return url;
}

async function query<T>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}

async function tables(url: string): Promise<string[]> {
  const rows = await query<{ table_name: string }>(
    url,
    `select table_name from information_schema.tables
      where table_schema not in ('pg_catalog', 'information_schema') order by table_name`,
  );
  return rows.map((row) => row.table_name);
}

async function recordedMigrations(url: string): Promise<string[]> {
  const rows = await query<{ name: string }>(
    url,
    'select name from kysely_migration order by name',
  );
  return rows.map((row) => row.name);
}

/** The `applied` list of a successful `berth migrate --json`. */
function appliedBy(result: CliResult): string[] {
  assert.equal(result.code, 0, `berth migrate exited ${result.code}: ${result.stderr}`);
  const output = JSON.parse(result.stdout) as { applied: unknown };
  assert.ok(Array.isArray(output.applied), result.stdout);
  return output.applied as string[];
}

describe('berth migrate', () => {
  it('applies every migration to an empty database and reports their names', async () => {
    assert.ok(MIGRATIONS.length > 0, 'there are migrations to apply');
    const url = await emptyDatabase('fresh');
    const first = await berth(url, ['migrate', '--json']);
    assert.deepEqual(appliedBy(first), MIGRATIONS);
    assert.equal(first.stderr, '');
    assert.deepEqual(await recordedMigrations(url), MIGRATIONS);
    assert.ok((await tables(url)).includes('services'));
  });

  it('applies nothing the second time and says the database is up to date', async () => {
    const url = await emptyDatabase('again');
    assert.deepEqual(appliedBy(await berth(url, ['migrate', '--json'])), MIGRATIONS);
    assert.deepEqual(appliedBy(await berth(url, ['migrate', '--json'])), []);
    const text = await berth(url, ['migrate']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /up to date/);
    assert.deepEqual(await recordedMigrations(url), MIGRATIONS);
  });

  it('applies each migration exactly once when two processes race on a fresh database', async () => {
    for (let round = 1; round <= 3; round++) {
      const url = await emptyDatabase(`race${round}`);
      const results = await Promise.all([
        spawnBerth(['migrate', '--json'], { DATABASE_URL: url }),
        spawnBerth(['migrate', '--json'], { DATABASE_URL: url }),
      ]);
      const [one, two] = results.map(appliedBy) as [string[], string[]];
      const both = one.filter((name) => two.includes(name));
      assert.deepEqual(both, [], `round ${round}: applied by both processes`);
      assert.deepEqual([...one, ...two].sort(), MIGRATIONS, `round ${round}: applied in all`);
      assert.deepEqual(await recordedMigrations(url), MIGRATIONS, `round ${round}: recorded`);
      assert.ok((await tables(url)).includes('services'), `round ${round}: services exists`);
    }
  });
});

describe('commands other than migrate on a database that is behind', () => {
  it('refuses with exit 1, tells the user to run berth migrate and creates no tables', async () => {
    const url = await emptyDatabase('behind');
    const result = await berth(url, ['service', 'list']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /run `berth migrate`/);
    assert.equal(result.stdout, '');
    const rows = await query<{ exists: boolean }>(
      url,
      `select exists (select 1 from information_schema.tables
        where table_schema = 'public' and table_name = 'services') as exists`,
    );
    assert.deepEqual(rows, [{ exists: false }]);
    assert.deepEqual(await tables(url), []);
  });

  it('names the pending migrations in the --json error of the real binary', async () => {
    const url = await emptyDatabase('behindjson');
    const result = await spawnBerth(['status', '--json'], { DATABASE_URL: url });
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, '');
    const error = JSON.parse(result.stderr) as { error: { message: string } };
    assert.match(error.error.message, /berth migrate/);
    for (const name of MIGRATIONS) assert.ok(error.error.message.includes(name), name);
    assert.deepEqual(await tables(url), []);
  });
});

describe('pendingMigrations', () => {
  it('is empty on a migrated database', async () => {
    const { db } = await testDatabase('pending migrated');
    assert.deepEqual(await pendingMigrations(db), []);
  });

  it('lists every migration on an empty database, without creating tables', async () => {
    const url = await emptyDatabase('pending');
    const db = connect(url);
    try {
      assert.deepEqual(await pendingMigrations(db), MIGRATIONS);
    } finally {
      await db.destroy();
    }
    assert.deepEqual(await tables(url), []);
  });
});
