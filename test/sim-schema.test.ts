import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { DescribeClustersCommand } from '@aws-sdk/client-ecs';
import { sql } from 'kysely';
import {
  bootstrapSimulatedService,
  createSimulatedAws,
  migrateSimulatedAws,
  simulatedClients,
} from '../src/cloud/sim/index.ts';
import { connect, type Db } from '../src/store/database.ts';
import { migrateToLatest } from '../src/store/migrate.ts';
import { createDatabase, dropDatabase } from './support/database.ts';

/*
 * The simulated AWS owns its schema: Berth's production migrations make no `berth_sim` (a
 * production database on RDS gets no simulated cloud), the simulator makes it on first use, and a
 * database whose `berth_sim` was made by Berth's migrations of old keeps its cloud.
 */

/** The simulator's migrations, in order, as its bookkeeping records them. */
const SIM_MIGRATIONS = ['20261123T1400_simulated_aws', '20261202T2000_sim_call_journal'];

const ACCOUNT = '123456789012';

/** A database with no tables at all (not the tests' template), dropped with its handles. */
async function emptyDatabase(label: string): Promise<{ db: Db; another: () => Db }> {
  const name = `berth_s_${label}_${randomBytes(4).toString('hex')}`;
  const url = await createDatabase(name, { migrated: false });
  const handles: Db[] = [];
  const another = () => {
    const handle = connect(url);
    handles.push(handle);
    return handle;
  };
  after(async () => {
    for (const handle of handles) await handle.destroy();
    await dropDatabase(name);
  });
  return { db: another(), another };
}

async function simSchemaExists(db: Db): Promise<boolean> {
  const rows = await sql<{ found: boolean }>`
    select exists (select 1 from pg_namespace where nspname = 'berth_sim') as found`.execute(db);
  return rows.rows[0]?.found === true;
}

async function recordedSimMigrations(db: Db): Promise<string[]> {
  const rows = await sql<{ name: string }>`
    select name from berth_sim.sim_migration order by name`.execute(db);
  return rows.rows.map((row) => row.name);
}

/**
 * What Berth's migrations 20261123T1400 and 20261202T2000 made until the simulator took over,
 * as they made it: a record of what old databases hold, not taken from the simulator's own
 * migrations, so that adopting is tested against the old schema rather than against itself.
 */
async function oldProductionSimSchema(db: Db): Promise<void> {
  await sql`create schema berth_sim`.execute(db);
  await sql`
    create table berth_sim.resources (
      kind text not null,
      id text not null,
      doc jsonb not null,
      updated_at timestamptz not null default now(),
      primary key (kind, id)
    )`.execute(db);
  await sql`
    create table berth_sim.calls (
      api text not null,
      operation text not null,
      count bigint not null default 0,
      primary key (api, operation)
    )`.execute(db);
  await sql`create table berth_sim.settings (key text primary key, value jsonb not null)`.execute(
    db,
  );
  await sql`
    create table berth_sim.buckets (
      name text primary key,
      tokens double precision not null,
      refilled_at timestamptz not null
    )`.execute(db);
  await sql`
    create table berth_sim.journal (
      seq bigserial primary key,
      at timestamptz not null default now(),
      api text not null,
      operation text not null,
      request jsonb not null,
      response jsonb not null
    )`.execute(db);
}

describe('the simulated AWS’s schema', () => {
  it('is not made by Berth’s migrations, and is made by the simulator on first use', async () => {
    const { db, another } = await emptyDatabase('fresh');
    await migrateToLatest(db);
    assert.equal(await simSchemaExists(db), false, 'a production database gets no berth_sim');

    const aws = simulatedClients(createSimulatedAws(db, { throttling: false }));
    const infrastructure = await bootstrapSimulatedService(aws, {
      name: 'web',
      cluster: 'prod',
      port: 8080,
    });
    assert.equal(await simSchemaExists(db), true);
    assert.deepEqual(await recordedSimMigrations(db), SIM_MIGRATIONS);
    assert.match(infrastructure.listenerRuleArn, /:listener-rule\/app\/berth-sim\//);

    // Another process on the database finds the cloud there, and migrates nothing again.
    const elsewhere = another();
    assert.deepEqual(await migrateSimulatedAws(elsewhere), []);
    const again = simulatedClients(createSimulatedAws(elsewhere, { throttling: false }));
    assert.deepEqual(
      await bootstrapSimulatedService(again, { name: 'web', cluster: 'prod', port: 8080 }),
      infrastructure,
    );
  });

  it('is migrated exactly once when processes race on a fresh database', async () => {
    for (let round = 1; round <= 3; round++) {
      const { another } = await emptyDatabase(`race${round}`);
      const [one, two, three] = await Promise.all([
        migrateSimulatedAws(another()),
        migrateSimulatedAws(another()),
        migrateSimulatedAws(another()),
      ]);
      const applied = [...(one ?? []), ...(two ?? []), ...(three ?? [])];
      assert.deepEqual(applied.sort(), SIM_MIGRATIONS, `round ${round}: each applied once`);
      assert.deepEqual(await recordedSimMigrations(another()), SIM_MIGRATIONS);
    }
  });

  it('made by Berth’s migrations of old is adopted with its cloud', async () => {
    const { db } = await emptyDatabase('adopted');
    await migrateToLatest(db);
    await oldProductionSimSchema(db);
    const clusterArn = `arn:aws:ecs:us-east-1:${ACCOUNT}:cluster/kept`;
    await sql`
      insert into berth_sim.resources (kind, id, doc) values ('ecs:cluster', ${clusterArn},
        ${JSON.stringify({ clusterArn, clusterName: 'kept', status: 'ACTIVE', settings: [], tags: [] })}::jsonb)`.execute(
      db,
    );
    await sql`insert into berth_sim.settings (key, value) values ('rps', '321')`.execute(db);
    await sql`
      insert into berth_sim.journal (api, operation, request, response)
      values ('ecs', 'CreateCluster', '{"clusterName":"kept"}', ${JSON.stringify({ arns: [clusterArn] })}::jsonb)`.execute(
      db,
    );

    const sim = createSimulatedAws(db, { throttling: false });
    const aws = simulatedClients(sim);
    const described = await aws.ecs.send(new DescribeClustersCommand({ clusters: ['kept'] }));
    assert.deepEqual(
      described.clusters?.map((cluster) => [cluster.clusterArn, cluster.status]),
      [[clusterArn, 'ACTIVE']],
    );
    assert.equal(await sim.store.setting('rps'), 321);
    assert.deepEqual(await recordedSimMigrations(db), SIM_MIGRATIONS);

    // The adopted cloud goes on working: the bootstrap uses the kept cluster and writes on.
    await bootstrapSimulatedService(aws, { name: 'web', cluster: 'kept', port: 8080 });
    const journal = await sim.journal();
    assert.deepEqual(journal[0]?.arns, [clusterArn]);
    assert.ok(
      !journal.some(
        (entry) => entry.operation === 'CreateCluster' && entry.seq !== journal[0]?.seq,
      ),
      'the kept cluster is not made again',
    );
    assert.ok(journal.some((entry) => entry.operation === 'CreateRule'));
  });
});
