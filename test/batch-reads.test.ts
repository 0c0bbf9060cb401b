import assert from 'node:assert/strict';
import { it } from 'node:test';
import { sql } from 'kysely';
import { aFastService, aFleet, finished } from './support/fleet.ts';

const SERVICES = 12;

it(`a round of ${SERVICES} rollouts in progress costs ceil(${SERVICES}/10) DescribeServices and DescribeRules, not one of each per pass`, async (t) => {
  // Each service's first pass provides its listener rule and target groups, a dozen ELB calls
  // each: beyond the ELB bucket for a dozen services, so some passes are throttled and retried.
  const fleet = await aFleet('batched active reads');
  // One-minute windows: once its weights are verified, a canary waits a minute for its first
  // window, so every pass of the round measured below reads and writes nothing else.
  const policy = ['--interval', '60s'];
  await Promise.all(
    Array.from({ length: SERVICES }, (_, i) => aFastService(fleet, `svc-${i}`, policy)),
  );
  const first = fleet.startWorker('w1');
  for (let i = 0; i < SERVICES; i++) {
    assert.equal((await finished(fleet, `svc-${i}`, 60_000)).outcome, 'succeeded');
  }
  await Promise.all(
    Array.from({ length: SERVICES }, async (_, i) => {
      const deployed = await fleet.berth(['deploy', `svc-${i}`, '--image', 'nginx:1.28']);
      assert.equal(deployed.code, 0, deployed.stderr);
    }),
  );
  await fleet.until(
    'every canary to take its first step of traffic',
    async () => {
      const row = await sql<{ waiting: number }>`
        select count(*)::int as waiting from deployments
        where finished_at is null and phase = 'progressing' and weights_verified_at is not null`.execute(
        fleet.db,
      );
      return row.rows[0]?.waiting === SERVICES ? true : undefined;
    },
    60_000,
  );
  await first.stop();

  // One round: every service due at the same moment, claimed ten at a time by one worker.
  const due = await sql<{ id: number; lease_epoch: number }>`
    update services set next_reconcile_at = now() returning id, lease_epoch`.execute(fleet.db);
  const epochs = Object.fromEntries(due.rows.map((row) => [row.id, row.lease_epoch]));
  await fleet.sim.store.resetCalls();
  // Patient passes: a batch read slowed by the simulated AWS's throttling or a loaded machine is
  // still waited for, so that the counts below are the batching's and not the patience's.
  fleet.startWorker('w2', { waitMs: 10_000 });
  await fleet.until('every service to be passed once', async () => {
    const rows = await sql<{ id: number; lease_epoch: number }>`
      select id, lease_epoch from services where lease_owner is null`.execute(fleet.db);
    const passed = rows.rows.filter((row) => row.lease_epoch > (epochs[row.id] ?? Infinity));
    return passed.length === SERVICES ? true : undefined;
  });
  const counts = await fleet.sim.callCounts();
  t.diagnostic(`calls in one round of ${SERVICES} passes: ${JSON.stringify(counts)}`);
  const batches = Math.ceil(SERVICES / 10);
  assert.ok(
    (counts['ecs:DescribeServices'] ?? 0) <= batches,
    `at most ${batches} DescribeServices, got ${counts['ecs:DescribeServices'] ?? 0}`,
  );
  assert.ok(
    (counts['elbv2:DescribeRules'] ?? 0) <= batches,
    `at most ${batches} DescribeRules, got ${counts['elbv2:DescribeRules'] ?? 0}`,
  );
  // No batch form: one per target group a pass needs (the canary's, and the stable one's when
  // its observation is older than ten seconds), never the same one twice in a pass.
  assert.ok((counts['elbv2:DescribeTargetHealth'] ?? 0) <= 2 * SERVICES);
  // Nothing to write in a round of waiting: the desired state was already asserted.
  const writes = Object.keys(counts).filter((key) => !/:(Describe|Get|List)/.test(key));
  assert.deepEqual(writes, []);
});
