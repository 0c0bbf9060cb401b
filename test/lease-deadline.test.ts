import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { it } from 'node:test';
import { ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { sql } from 'kysely';
import { AwsCloud } from '../src/cloud/aws-cloud.ts';
import type { Cloud } from '../src/cloud/cloud.ts';
import { simulatedClients } from '../src/cloud/sim/index.ts';
import { createLogger } from '../src/logging.ts';
import {
  DEFAULT_SETTINGS,
  leaseMarginMs,
  mutate,
  underLease,
  type PassContext,
} from '../src/reconciler/context.ts';
import { Worker } from '../src/reconciler/worker-loop.ts';
import { claimDueServices, type Lease } from '../src/store/leases.ts';
import { aFastService, aFleet, aLiveService, type Fleet } from './support/fleet.ts';
import { findService } from '../src/store/services.ts';

const logger = createLogger({ level: process.env['BERTH_TEST_LOG_LEVEL'] ?? 'silent' });

/** A promise that fails the test after `ms` instead of waiting forever. */
async function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  const timeout = sleep(ms).then(() => {
    throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  });
  return Promise.race([promise, timeout]);
}

/** The lease row of a service, as the database has it. */
async function leaseOf(fleet: Fleet, name: string) {
  return fleet.db
    .selectFrom('services')
    .select(['id', 'lease_owner', 'lease_epoch', 'lease_until'])
    .where('name', '=', name)
    .executeTakeFirstOrThrow();
}

function aPass(fleet: Fleet, cloud: Cloud, lease: Lease, leaseMs: number): PassContext {
  return {
    db: fleet.db,
    cloud,
    logger,
    lease,
    actor: `worker:${lease.owner}`,
    infrastructure: undefined,
    settings: { ...DEFAULT_SETTINGS, leaseMs },
    now: () => new Date(),
  };
}

/**
 * The simulated AWS's clients, except that ECS never answers `operation`: the request is sent
 * and nothing comes back (a partition), until the test ends. `sent` resolves as it is sent.
 */
function clientsWithHangingCall(fleet: Fleet, operation: string) {
  const clients = simulatedClients(fleet.sim);
  const ecs = new ECSClient({
    region: fleet.sim.context.region,
    credentials: { accessKeyId: 'AKIDSIMULATED', secretAccessKey: 'simulated' },
    maxAttempts: 1,
  });
  let sent!: () => void;
  const sentPromise = new Promise<void>((resolve) => (sent = resolve));
  const dropped = new AbortController();
  fleet.defer(() => {
    dropped.abort();
    return Promise.resolve();
  });
  let attempts = 0;
  // Added before the simulation's own middleware, so that it runs first.
  ecs.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== `${operation}Command`) return next(args);
      attempts++;
      sent();
      await sleep(3_600_000, undefined, { signal: dropped.signal }).catch(() => undefined);
      throw new Error('connection dropped');
    },
    { step: 'initialize', priority: 'high', name: 'testHangingCall' },
  );
  fleet.sim.attach(ecs);
  return { clients: { ...clients, ecs }, sent: sentPromise, attempts: () => attempts };
}

it('a pass that outlasts its lease keeps it: renewed while it runs, claimed by no one else', async () => {
  const fleet = await aFleet('long pass');
  const first = fleet.startWorker('w0');
  await aLiveService(fleet, 'web');
  await first.stop();
  // Drift for the next pass to put back: a write it can make only while it holds the lease.
  const service = await findService(fleet.db, 'web');
  await simulatedClients(fleet.sim).ecs.send(
    new UpdateServiceCommand({
      cluster: service.cluster,
      service: service.ecs_service_name,
      desiredCount: 3,
    }),
  );
  await fleet.db
    .updateTable('services')
    .set({ next_reconcile_at: new Date(0) })
    .where('id', '=', service.id)
    .execute();

  // Its first AWS call (the resync's DescribeServices) is held for three lease lengths.
  const leaseMs = 1_500;
  let entered!: () => void;
  const enteredPromise = new Promise<void>((resolve) => (entered = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let held = false;
  const slowOnce = new Proxy<Cloud>(fleet.cloud, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => Promise<unknown>;
      return async (...args: unknown[]) => {
        if (property === 'describeServices' && !held) {
          held = true;
          entered();
          await released;
        }
        return method.apply(target, args);
      };
    },
  });
  const worker = new Worker({
    db: fleet.db,
    databaseUrl: fleet.url,
    cloud: slowOnce,
    logger,
    name: 'w1',
    pollMs: 100,
    leaseMs,
    errorBackoffMs: 200,
    settings: { resyncMs: 60_000, waitMs: 200 },
  });
  worker.start();
  fleet.defer(async () => {
    release();
    await worker.stop();
  });
  await within('the pass to start', 10_000, enteredPromise);
  const claimed = await leaseOf(fleet, 'web');
  assert.equal(claimed.lease_owner, 'w1');
  fleet.startWorker('w2', { leaseMs });

  const holdUntil = Date.now() + 3 * leaseMs;
  while (Date.now() < holdUntil) {
    const now = await leaseOf(fleet, 'web');
    assert.equal(now.lease_owner, 'w1', 'the lease stays with the worker whose pass runs');
    assert.equal(now.lease_epoch, claimed.lease_epoch, 'nobody claimed the service meanwhile');
    await sleep(100);
  }
  release();

  // The pass goes on under the lease it kept: its write is made and recorded.
  const restored = await fleet.until('the drift to be put back', async () => {
    const event = await fleet.db
      .selectFrom('events')
      .selectAll()
      .where('service_id', '=', service.id)
      .where('kind', '=', 'drift.desired_count_restored')
      .executeTakeFirst();
    return event;
  });
  assert.equal(restored.actor, 'worker:w1');
  const observed = await fleet.cloud.describeServices(service.cluster, [service.ecs_service_name]);
  assert.equal(observed.get(service.ecs_service_name)?.desiredCount, service.desired_count);
});

it('an AWS call that would outlast the lease is abandoned before the lease lapses', async () => {
  const fleet = await aFleet('call deadline');
  await aFastService(fleet, 'web');
  const leaseMs = 2_000;
  const [claim] = await claimDueServices(fleet.db, 'one', 1, leaseMs);
  assert.ok(claim);
  const hanging = clientsWithHangingCall(fleet, 'UpdateService');
  const cloud = new AwsCloud(hanging.clients, logger);
  const pass = aPass(fleet, cloud, claim.lease, leaseMs);

  const outcome = underLease(pass, () =>
    mutate(
      pass,
      { serviceId: claim.service.id, operation: 'UpdateService', message: 'scale to 3' },
      () => cloud.setDesiredCount('demo', claim.service.ecs_service_name, 3),
    ),
  );
  const failed = outcome.then(
    () => undefined,
    (error: unknown) => error,
  );
  await within('the call to be sent', 10_000, hanging.sent);
  // What the lease had left when the request went: renewed by the write's record just before.
  const atSend = await sql<{ leftMs: number }>`
    select extract(epoch from lease_until - clock_timestamp()) * 1000 as "leftMs"
    from services where id = ${claim.service.id}`.execute(fleet.db);
  const leftMs = Number(atSend.rows[0]?.leftMs);
  const sentAt = performance.now();
  const error = await within('the call to be abandoned', 10_000, failed);
  const waitedMs = performance.now() - sentAt;

  assert.ok(error instanceof Error, 'the call failed');
  assert.equal(error.name, 'AbortError', error.message);
  assert.equal((error.cause as Error | undefined)?.name, 'TimeoutError');
  assert.ok(
    waitedMs < leftMs,
    `abandoned ${Math.round(waitedMs)} ms after it was sent, with ${Math.round(leftMs)} ms of the lease left`,
  );
  assert.ok(
    waitedMs > leftMs - leaseMarginMs(leaseMs) - 300,
    `abandoned after ${Math.round(waitedMs)} ms, not before its deadline (${Math.round(leftMs)} ms left, ${leaseMarginMs(leaseMs)} ms margin)`,
  );
  assert.equal(hanging.attempts(), 1, 'not retried');
  assert.equal((await fleet.sim.callCounts())['ecs:UpdateService'], undefined, 'never landed');
  const kinds = (
    await fleet.db
      .selectFrom('events')
      .select('kind')
      .where('service_id', '=', claim.service.id)
      .where('actor', '=', 'worker:one')
      .orderBy('id')
      .execute()
  ).map((event) => event.kind);
  assert.deepEqual(kinds, ['aws.mutation.update_service', 'aws.mutation_failed.update_service']);
});

it('an AWS call is not started with less than the safety margin of the lease left', async () => {
  const fleet = await aFleet('margin');
  await aFastService(fleet, 'web');
  const leaseMs = 2_000;
  const [claim] = await claimDueServices(fleet.db, 'one', 1, leaseMs);
  assert.ok(claim);
  const pass = aPass(fleet, fleet.cloud, claim.lease, leaseMs);
  await sleep(leaseMs - leaseMarginMs(leaseMs) + 100);
  await fleet.sim.store.resetCalls();

  await assert.rejects(
    underLease(pass, () => fleet.cloud.describeServices('demo', [claim.service.ecs_service_name])),
    { name: 'LeaseDeadlineError' },
  );
  assert.deepEqual(await fleet.sim.callCounts(), {}, 'no call reached AWS');
  // Outside a lease (the CLI) there is no deadline: the same call is made (and answered that
  // the cluster does not exist yet, since no worker has made it).
  await fleet.cloud.describeServices('demo', [claim.service.ecs_service_name]).catch(() => null);
  assert.deepEqual(await fleet.sim.callCounts(), { 'ecs:DescribeServices': 1 });
});
