import assert from 'node:assert/strict';
import { it } from 'node:test';
import { aFleet, aLiveService, finished, type Fleet } from './support/fleet.ts';

/** The canary's progress as `status` reads it, once it is healthy at its first step's weights. */
async function judging(fleet: Fleet): Promise<{ at: number }> {
  return fleet.until(
    'the canary healthy and its first step of traffic verified',
    async () => {
      const row = await fleet.db
        .selectFrom('deployments')
        .select(['observed', 'weights_verified_at'])
        .where('finished_at', 'is', null)
        .executeTakeFirst();
      const healthy = row?.observed?.canary?.healthy ?? 0;
      return row?.weights_verified_at != null && healthy > 0 ? { at: Date.now() } : undefined;
    },
    60_000,
  );
}

it('a healthy canary under analysis has its target health read every ten seconds, not every pass', async (t) => {
  const fleet = await aFleet('canary health reads');
  fleet.startWorker('w1');
  // One-second windows that never have enough requests: a pass a second, each judging a window,
  // until the deployment is aborted.
  await aLiveService(fleet, 'web', ['--min-requests', '1000000', '--max-analysis', '1h']);
  await fleet.sim.store.resetCalls();
  assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28'])).code, 0);
  await judging(fleet);
  await fleet.sim.store.resetCalls();
  const windowsJudged = async () =>
    Number(
      (
        await fleet.db
          .selectFrom('analysis_windows')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const before = await windowsJudged();
  const started = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 12_000));
  const counts = await fleet.sim.callCounts();
  const seconds = (Date.now() - started) / 1000;
  const windows = (await windowsJudged()) - before;
  const reads = counts['elbv2:DescribeTargetHealth'] ?? 0;
  t.diagnostic(
    `${windows} windows judged, ${reads} DescribeTargetHealth in ${seconds.toFixed(1)} s`,
  );
  // The passes went on meanwhile (one a window), yet the canary's group was read at most every
  // ten seconds, as was the stable group: two or three reads of each, not one per pass.
  assert.ok(windows >= 6, `the analysis went on: ${windows} windows in ${seconds} s`);
  assert.ok(reads <= 2 * Math.ceil(seconds / 10) + 1, `${reads} DescribeTargetHealth`);
  // …and neither side's health as last recorded was read more than ten seconds before.
  const observed = (
    await fleet.db
      .selectFrom('deployments')
      .select('observed')
      .where('finished_at', 'is', null)
      .executeTakeFirstOrThrow()
  ).observed;
  for (const side of [observed?.canary, observed?.stable]) {
    const age = Date.parse(observed?.at ?? '') - Date.parse(side?.healthReadAt ?? '');
    assert.ok(age < 10_000, `health read ${age} ms before it was shown: ${JSON.stringify(side)}`);
  }

  assert.equal((await fleet.berth(['abort', 'web'])).code, 0);
  assert.equal((await finished(fleet, 'web')).outcome, 'rolled_back');
});
