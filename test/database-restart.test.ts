import assert from 'node:assert/strict';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { aLiveService, aFleet, finished, workerProcess } from './support/fleet.ts';

it('a worker whose connections the server drops (a restart, a failover) reconnects by itself and finishes the rollout', async () => {
  const fleet = await aFleet('dropped-connections');
  const worker = workerProcess(fleet, 'survivor');
  await aLiveService(fleet, 'web');
  await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);

  // What a fast shutdown does to every session: FATAL 57P01, "terminating connection due to
  // administrator command" — to connections in a query, idle in the pool, or checked out between
  // the statements of a transaction.
  let dropped = 0;
  for (const until = Date.now() + 4000; Date.now() < until;) {
    const result = await sql<{ dropped: number }>`
      select count(pg_terminate_backend(pid))::int as dropped from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid()`.execute(fleet.db);
    dropped += result.rows[0]?.dropped ?? 0;
    await sleep(50);
  }
  assert.ok(dropped > 0, 'connections were dropped');
  assert.equal(worker.exitCode, null, 'the worker process is still running');
  assert.equal(worker.signalCode, null);

  const deployment = await finished(fleet, 'web', 60_000);
  assert.equal(deployment.outcome, 'succeeded', deployment.reason ?? '');
});
