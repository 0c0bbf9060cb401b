import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { ACTOR, BIN, ROOT } from './support/cli.ts';
import { aFleet, aLiveService, workerProcess, type Fleet } from './support/fleet.ts';

/*
 * Apps and `--abort-on-interrupt` with real processes: the CLI spawned and sent SIGINT as a
 * terminal's Ctrl-C would, and `berth worker` processes SIGKILLed in the middle of an app
 * deployment.
 */

interface Spawned {
  child: ChildProcess;
  output: () => { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

function spawnCli(fleet: Fleet, args: readonly string[]): Spawned {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: fleet.url, BERTH_CLOUD: 'sim', BERTH_ACTOR: ACTOR },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  fleet.defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { child, output: () => ({ stdout, stderr }), exited };
}

/** Services whose canaries bake long enough for a person to press Ctrl-C mid-rollout. */
const SLOW_BAKE = ['--bake', '60s'];

async function memberRows(fleet: Fleet) {
  return fleet.db
    .selectFrom('deployments')
    .innerJoin('services', 'services.id', 'deployments.service_id')
    .select([
      'services.name',
      'deployments.id',
      'deployments.phase',
      'deployments.outcome',
      'deployments.reason',
      'deployments.canary_task_set_arn',
      'deployments.app_step_passed',
      'deployments.abort_requested_at',
      'deployments.app_deployment_id',
    ])
    .where('deployments.app_deployment_id', 'is not', null)
    .orderBy('deployments.id')
    .execute();
}

async function aShop(fleet: Fleet, flags: readonly string[] = []): Promise<void> {
  await Promise.all([aLiveService(fleet, 'web', flags), aLiveService(fleet, 'api', flags)]);
  const created = await fleet.berth(['app', 'create', 'shop', '--services', 'web,api']);
  assert.equal(created.code, 0, created.stderr);
}

describe('--wait --abort-on-interrupt', () => {
  it('Ctrl-C rolls every member of an app back, waits for it, and exits 130', async () => {
    const fleet = await aFleet('app ctrl-c');
    fleet.startWorker();
    await aShop(fleet, SLOW_BAKE);
    const cli = spawnCli(fleet, [
      'deploy',
      'shop',
      '--image',
      'nginx:1.28',
      '--wait',
      '--abort-on-interrupt',
    ]);
    await fleet.until('both members have a canary', async () => {
      const rows = await memberRows(fleet);
      return rows.length === 2 && rows.every((row) => row.canary_task_set_arn !== null)
        ? true
        : undefined;
    });
    cli.child.kill('SIGINT');
    const code = await cli.exited;
    const { stderr } = cli.output();
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted: abort requested; waiting for the rollback to finish/);
    assert.match(stderr, /app deployment #\d+ rolled back/);
    // It waited: by the time it exited, both members had rolled back.
    const rows = await memberRows(fleet);
    assert.deepEqual(
      rows.map((row) => [row.name, row.outcome]),
      [
        ['web', 'rolled_back'],
        ['api', 'rolled_back'],
      ],
    );
    const app = await fleet.db.selectFrom('app_deployments').selectAll().executeTakeFirstOrThrow();
    assert.equal(app.outcome, 'rolled_back');
  });

  it("Ctrl-C aborts a service's canary and waits; a second Ctrl-C leaves without waiting", async () => {
    const fleet = await aFleet('service ctrl-c');
    const worker = fleet.startWorker();
    await aLiveService(fleet, 'web', SLOW_BAKE);
    const cli = spawnCli(fleet, [
      'deploy',
      'web',
      '--image',
      'nginx:1.28',
      '--wait',
      '--abort-on-interrupt',
    ]);
    const canary = await fleet.until('the canary', async () =>
      fleet.db
        .selectFrom('deployments')
        .selectAll()
        .where('canary_task_set_arn', 'is not', null)
        .where('finished_at', 'is', null)
        .executeTakeFirst(),
    );
    // Nobody to roll it back: the command waits after the first Ctrl-C…
    await worker.stop();
    cli.child.kill('SIGINT');
    await fleet.until('the abort to be recorded', async () => {
      const row = await fleet.db
        .selectFrom('deployments')
        .select('abort_requested_at')
        .where('id', '=', canary.id)
        .executeTakeFirstOrThrow();
      return row.abort_requested_at ?? undefined;
    });
    await sleep(1_500);
    assert.equal(cli.child.exitCode, null, 'still waiting for the rollback');
    // …and a second one, a moment later, leaves it to the workers.
    cli.child.kill('SIGINT');
    assert.equal(await cli.exited, 130);
    const left = await fleet.db
      .selectFrom('deployments')
      .selectAll()
      .where('id', '=', canary.id)
      .executeTakeFirstOrThrow();
    assert.equal(left.finished_at, null, 'the rollback is the workers’ to finish');
    fleet.startWorker();
    const done = await fleet.until('the rollback', async () => {
      const row = await fleet.db
        .selectFrom('deployments')
        .selectAll()
        .where('id', '=', canary.id)
        .executeTakeFirstOrThrow();
      return row.finished_at !== null ? row : undefined;
    });
    assert.equal(done.outcome, 'rolled_back');
  });

  it('without the flag, Ctrl-C leaves the deployment going on', async () => {
    const fleet = await aFleet('ctrl-c without abort');
    fleet.startWorker();
    await aLiveService(fleet, 'web', SLOW_BAKE);
    const cli = spawnCli(fleet, ['deploy', 'web', '--image', 'nginx:1.28', '--wait']);
    const canary = await fleet.until('the canary', async () =>
      fleet.db
        .selectFrom('deployments')
        .selectAll()
        .where('canary_task_set_arn', 'is not', null)
        .where('finished_at', 'is', null)
        .executeTakeFirst(),
    );
    cli.child.kill('SIGINT');
    assert.equal(await cli.exited, 130);
    const row = await fleet.db
      .selectFrom('deployments')
      .selectAll()
      .where('id', '=', canary.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.abort_requested_at, null);
    assert.equal(row.finished_at, null);
  });
});

describe('an app deployment and SIGKILLed workers', () => {
  it('a worker killed after one member rolled back leaves its successor to roll the other back', async () => {
    const fleet = await aFleet('app sigkill rollback');
    const first = workerProcess(fleet, 'first');
    await aShop(fleet, SLOW_BAKE);
    const deployed = await fleet.berth([
      'deploy',
      'shop',
      '--image',
      'nginx:1.28',
      '--image',
      'api=httpd:2.4-5xx',
    ]);
    assert.equal(deployed.code, 0, deployed.stderr);
    await fleet.until('api to be rolling back or rolled back', async () => {
      const rows = await memberRows(fleet);
      const api = rows.find((row) => row.name === 'api');
      return api?.phase === 'rolling_back' || api?.outcome === 'rolled_back' ? true : undefined;
    });
    first.kill('SIGKILL');
    await once(first, 'exit');
    workerProcess(fleet, 'second');
    const app = await fleet.until(
      'the app deployment to end',
      async () => {
        const row = await fleet.db
          .selectFrom('app_deployments')
          .selectAll()
          .executeTakeFirstOrThrow();
        return row.finished_at !== null ? row : undefined;
      },
      60_000,
    );
    assert.equal(app.outcome, 'rolled_back');
    assert.match(app.reason ?? '', /^api rolled back: /);
    const rows = await memberRows(fleet);
    assert.deepEqual(
      rows.map((row) => [row.name, row.outcome]),
      [
        ['web', 'rolled_back'],
        ['api', 'rolled_back'],
      ],
    );
    assert.match(rows[0]?.reason ?? '', /rolled back with its app shop .*: api rolled back/);
  });

  it('a worker killed while members hold at their last step leaves its successor to finish them all', async () => {
    const fleet = await aFleet('app sigkill live');
    const first = workerProcess(fleet, 'first');
    await aShop(fleet, ['--bake', '3s']);
    assert.equal((await fleet.berth(['deploy', 'shop', '--image', 'nginx:1.28'])).code, 0);
    await fleet.until('a member to hold at its last step', async () => {
      const rows = await memberRows(fleet);
      return rows.some((row) => row.app_step_passed === 1 && row.outcome === null)
        ? true
        : undefined;
    });
    first.kill('SIGKILL');
    await once(first, 'exit');
    workerProcess(fleet, 'second');
    const app = await fleet.until(
      'the app deployment to end',
      async () => {
        const row = await fleet.db
          .selectFrom('app_deployments')
          .selectAll()
          .executeTakeFirstOrThrow();
        return row.finished_at !== null ? row : undefined;
      },
      60_000,
    );
    assert.equal(app.outcome, 'succeeded', app.reason ?? '');
    const rows = await memberRows(fleet);
    assert.deepEqual(
      rows.map((row) => [row.name, row.outcome]),
      [
        ['web', 'succeeded'],
        ['api', 'succeeded'],
      ],
    );
    const finishes = await fleet.db
      .selectFrom('events')
      .select('kind')
      .where('kind', '=', 'app.deployment_succeeded')
      .execute();
    assert.equal(finishes.length, 1, 'the app deployment ended once');
  });
});
