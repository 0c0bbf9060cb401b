import assert from 'node:assert/strict';
import { it } from 'node:test';
import { spawnBerth } from './support/cli.ts';
import { aFleet, FAST_POLICY, finished, workerProcess } from './support/fleet.ts';
import { serviceCreateArgs } from './support/builders.ts';

it('berth worker on the simulated AWS takes a service through a good deploy and a bad one, and status and events tell the story', async () => {
  const fleet = await aFleet('worker process story');
  workerProcess(fleet, 'story');
  const env = { DATABASE_URL: fleet.url, BERTH_CLOUD: 'sim' };
  const run = async (...args: string[]) => spawnBerth(args, env);

  const created = await run(...serviceCreateArgs('web'), ...FAST_POLICY);
  assert.equal(created.code, 0, created.stderr);
  assert.equal((await finished(fleet, 'web')).outcome, 'succeeded', 'v1 goes live first');
  const good = await run('deploy', 'web', '--image', 'nginx:1.28', '--wait');
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stderr, /deployment #\d+ succeeded/);

  const bad = await run('deploy', 'web', '--image', 'nginx:1.29-5xx', '--wait');
  assert.equal(bad.code, 1, 'a rolled-back deployment fails --wait');
  assert.match(bad.stderr, /rolled back: canary analysis failed: 5xx rate/);

  const status = await run('status', 'web');
  assert.match(status.stdout, /^web\s+10 × v2\s+\S+.*\s+v2 nginx:1\.28\s+none in progress/m);
  const events = await run('events', 'web');
  // Columns: AT, KIND, ACTOR, MESSAGE.
  for (const story of [
    /deployment\.step_started\s+\S+\s+step 1 of 2: 10 % of traffic to v2/,
    /deployment\.succeeded\s+\S+\s+v2 is live/,
    /deployment\.window_judged\s+\S+\s+step 1 window \d+: fail — 5xx rate/,
    /aws\.mutation\.modify_rule\s+\S+\s+listener rule weights set/,
    /deployment\.rolled_back\s+\S+\s+v3 rolled back: canary analysis failed/,
  ]) {
    assert.match(events.stdout, story);
  }
});
