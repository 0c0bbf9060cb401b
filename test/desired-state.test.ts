import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CreateTaskSetCommand } from '@aws-sdk/client-ecs';
import { ModifyRuleCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { simulatedClients } from '../src/cloud/sim/index.ts';
import { aFleet, aLiveService, finished, type Fleet } from './support/fleet.ts';
import { forwardTo } from './support/builders.ts';
import { findService } from '../src/store/services.ts';

/** A resync period short enough to wait for, long enough that a test sees the drift first. */
const RESYNC_MS = 2_000;

async function serviceRow(fleet: Fleet, name = 'web') {
  return findService(fleet.db, name);
}

async function eventsOf(fleet: Fleet, kind: string): Promise<{ message: string }[]> {
  return fleet.db
    .selectFrom('events')
    .select('message')
    .where('kind', '=', kind)
    .orderBy('id')
    .execute();
}

/** A task set made behind Berth's back with `externalId`, at 0 % so nothing else changes. */
async function strayTaskSet(fleet: Fleet, externalId: string, onIdleGroup = true) {
  const service = await serviceRow(fleet);
  const observed = (await fleet.cloud.describeServices('demo', ['web'])).get('web');
  const live = observed?.taskSets.find((set) => set.arn === service.primary_task_set_arn);
  const idle =
    service.live_target_group === 'a' ? service.target_group_b_arn : service.target_group_a_arn;
  const created = await simulatedClients(fleet.sim).ecs.send(
    new CreateTaskSetCommand({
      cluster: 'demo',
      service: 'web',
      taskDefinition: live?.taskDefinition,
      externalId,
      loadBalancers: [
        {
          targetGroupArn: onIdleGroup ? (idle ?? '') : (live?.targetGroupArn ?? ''),
          containerName: 'web',
          containerPort: 80,
        },
      ],
      scale: { value: 0, unit: 'PERCENT' },
      launchType: 'FARGATE',
    }),
  );
  return created.taskSet?.taskSetArn ?? '';
}

describe('every pass asserts the whole desired state', () => {
  it('puts back an idle service’s weights that a stale writer moved, and says what it found', async () => {
    const fleet = await aFleet('stale weights');
    fleet.startWorker('w1', { resyncMs: RESYNC_MS });
    await aLiveService(fleet);
    const service = await serviceRow(fleet);
    const live =
      service.live_target_group === 'a' ? service.target_group_a_arn : service.target_group_b_arn;
    const idle =
      service.live_target_group === 'a' ? service.target_group_b_arn : service.target_group_a_arn;
    await simulatedClients(fleet.sim).elbv2.send(
      new ModifyRuleCommand({
        RuleArn: service.listener_rule_arn ?? '',
        Actions: forwardTo([
          [live ?? '', 0],
          [idle ?? '', 100],
        ]),
      }),
    );
    const restored = await fleet.until(
      'the weights to be put back',
      async () => (await eventsOf(fleet, 'drift.weights_restored'))[0],
      RESYNC_MS * 3,
    );
    const [a, b] = service.live_target_group === 'a' ? [100, 0] : [0, 100];
    assert.equal(restored.message, `found a ${b} / b ${a}, set a ${a} / b ${b}`);
    assert.deepEqual(await fleet.cloud.readRuleWeights(service.listener_rule_arn ?? ''), {
      [live ?? '']: 100,
      [idle ?? '']: 0,
    });
  });

  it('deletes a task set Berth made that no deployment wants, and reports a foreign one once', async () => {
    const fleet = await aFleet('orphan task set');
    fleet.startWorker('w1', { resyncMs: RESYNC_MS });
    await aLiveService(fleet);
    const orphan = await strayTaskSet(fleet, 'berth/web/v7/deployment-99');
    const foreign = await strayTaskSet(fleet, 'blue-green-by-hand');
    await fleet.until(
      'the orphan to be deleted',
      async () => {
        const observed = (await fleet.cloud.describeServices('demo', ['web'])).get('web');
        return observed?.taskSets.some((set) => set.arn === orphan) === false ? true : undefined;
      },
      RESYNC_MS * 3,
    );
    // The event follows the DeleteTaskSet that ECS has just answered.
    const removed = await fleet.until('the removal to be recorded', async () => {
      const found = await eventsOf(fleet, 'drift.task_set_removed');
      return found.length > 0 ? found : undefined;
    });
    assert.match(removed[0]?.message ?? '', /berth\/web\/v7\/deployment-99/);
    // Reported, then two more resyncs (counted by the lease epoch): it stays, reported once.
    await fleet.until(
      'the foreign task set to be reported',
      async () => {
        const service = await serviceRow(fleet);
        return service.reported_foreign_task_sets.includes(foreign) ? true : undefined;
      },
      RESYNC_MS * 3,
    );
    const epoch = (await serviceRow(fleet)).lease_epoch;
    await fleet.until(
      'two more resyncs',
      async () => ((await serviceRow(fleet)).lease_epoch >= epoch + 2 ? true : undefined),
      RESYNC_MS * 4,
    );
    const observed = (await fleet.cloud.describeServices('demo', ['web'])).get('web');
    assert.ok(
      observed?.taskSets.some((set) => set.arn === foreign),
      'a foreign task set is left alone',
    );
    assert.equal((await eventsOf(fleet, 'drift.foreign_task_set')).length, 1, 'reported once');
  });

  it('applies berth scale at once during a paused rollout, as a scale and not as drift', async () => {
    const fleet = await aFleet('scale while paused');
    fleet.startWorker();
    await aLiveService(fleet, 'web', ['--min-requests', '1000000', '--max-analysis', '1h']);
    await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    await fleet.until('the canary to take traffic', async () => {
      const deployment = await fleet.db
        .selectFrom('deployments')
        .select('weights_verified_at')
        .where('finished_at', 'is', null)
        .executeTakeFirst();
      return deployment?.weights_verified_at != null ? true : undefined;
    });
    assert.equal((await fleet.berth(['pause', 'web'])).code, 0);
    assert.equal((await fleet.berth(['scale', 'web', '20'])).code, 0);
    const observed = await fleet.until(
      'ECS to run the new count',
      async () => {
        const found = (await fleet.cloud.describeServices('demo', ['web'])).get('web');
        return found?.desiredCount === 20 ? found : undefined;
      },
      10_000,
    );
    const canary = observed.taskSets.find((set) => set.status !== 'PRIMARY');
    assert.equal(canary?.scalePercent, 10, 'the canary keeps its percent');
    assert.equal(canary?.computedDesiredCount, 2, '10 % of 20');
    // The event follows the call that ECS has just answered.
    const applied = await fleet.until('the scale to be recorded', async () => {
      const found = await eventsOf(fleet, 'service.scale_applied');
      return found.length > 0 ? found : undefined;
    });
    assert.equal(applied.length, 1);
    assert.match(applied[0]?.message ?? '', /desired count 10 → 20 applied to ECS/);
    assert.equal((await eventsOf(fleet, 'drift.desired_count_restored')).length, 0);
    assert.equal((await fleet.deployment('web')).finished, false, 'still paused');
    assert.equal((await fleet.berth(['abort', 'web'])).code, 0);
    await finished(fleet, 'web');
  });

  it('records RegisterTaskDefinition under the lease before making it', async () => {
    const fleet = await aFleet('register audited');
    fleet.startWorker();
    await aLiveService(fleet);
    const kinds = (await fleet.db.selectFrom('events').select('kind').orderBy('id').execute()).map(
      (event) => event.kind,
    );
    const registered = kinds.indexOf('aws.mutation.register_task_definition');
    assert.ok(registered >= 0, 'the registration is in the audit log');
    assert.ok(registered < kinds.indexOf('release.task_definition_ready'), 'before its result');
  });
});
