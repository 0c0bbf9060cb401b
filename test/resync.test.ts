import assert from 'node:assert/strict';
import { it } from 'node:test';
import { CreateClusterCommand, CreateServiceCommand } from '@aws-sdk/client-ecs';
import { sql } from 'kysely';
import { AwsCloud } from '../src/cloud/aws-cloud.ts';
import {
  bootstrapSimulatedService,
  createSimulatedAws,
  simulatedClients,
} from '../src/cloud/sim/index.ts';
import { createLogger } from '../src/logging.ts';
import { Worker } from '../src/reconciler/worker-loop.ts';
import { testDatabase } from './support/database.ts';
import { eventually } from './support/eventually.ts';

const SERVICES = 1000;

it(`a steady-state resync of ${SERVICES} services costs ceil(${SERVICES}/10) DescribeServices and as many DescribeRules, and no writes`, async (t) => {
  const { db, url } = await testDatabase('resync cost');
  // Seeding is not what is measured: no throttling while the fleet is built.
  const seeding = createSimulatedAws(db, { seed: 3, throttling: false });
  const seedClients = simulatedClients(seeding);
  await seedClients.ecs.send(new CreateClusterCommand({ clusterName: 'fleet' }));
  // One listener rule and its two target groups, shared by the fleet: rules are read ten
  // services at a time like the services, and the weights are as desired (all on a).
  const infra = await bootstrapSimulatedService(seedClients, {
    name: 'fleet',
    cluster: 'fleet',
    port: 80,
  });
  const RULE = infra.listenerRuleArn;
  const TG = (side: 'a' | 'b') => infra.targetGroupArns[side === 'a' ? 0 : 1];
  for (let i = 0; i < SERVICES; i++) {
    await seedClients.ecs.send(
      new CreateServiceCommand({
        cluster: 'fleet',
        serviceName: `svc-${i}`,
        desiredCount: 2,
        deploymentController: { type: 'EXTERNAL' },
      }),
    );
  }
  // The same fleet in Berth's tables: live releases, nothing in progress, all due now.
  await sql`
    insert into services (name, cluster, ecs_service_name, desired_count, container_name,
      launch_type, listener_rule_arn, target_group_a_arn, target_group_b_arn, steps,
      bake_seconds, analysis_interval_seconds, max_5xx_rate, max_p99_ms, min_requests,
      failure_limit)
    select 'svc-' || i, 'fleet', 'svc-' || i, 2, 'app', 'FARGATE', ${RULE}, ${TG('a')}, ${TG('b')},
      '{10,100}', 60, 60, 0.01, 800, 100, 2
    from generate_series(0, ${SERVICES - 1}) as i`.execute(db);
  await sql`
    insert into releases (service_id, version, image, cpu, memory, container_port, content_hash,
      created_by)
    select id, 1, 'nginx:1.27', 256, 512, 80, repeat('a', 64), 'seed' from services`.execute(db);
  await sql`
    update services s set current_release_id = r.id, next_reconcile_at = now()
    from releases r where r.service_id = s.id`.execute(db);

  const sim = createSimulatedAws(db, { seed: 3 });
  await sim.store.resetCalls();
  const logger = createLogger({ level: 'silent' });
  const worker = new Worker({
    db,
    databaseUrl: url,
    cloud: new AwsCloud(simulatedClients(sim), logger),
    logger,
    name: 'resync',
    pollMs: 100,
    settings: { resyncMs: 3_600_000 },
  });
  worker.start();
  try {
    await eventually(
      'the fleet to be resynced',
      async () => {
        const due = await sql<{ due: number }>`
          select count(*)::int as due from services
          where next_reconcile_at <= now() or lease_owner is not null`.execute(db);
        return due.rows[0]?.due === 0;
      },
      { timeoutMs: 120_000 },
    );
  } finally {
    await worker.stop();
  }
  const counts = await sim.callCounts();
  const reads = Object.entries(counts)
    .filter(([key]) => /:(Describe|Get|List)/.test(key))
    .reduce((sum, [, count]) => sum + count, 0);
  const writes = Object.entries(counts).filter(([key]) => !/:(Describe|Get|List)/.test(key));
  t.diagnostic(`${reads} read calls for ${SERVICES} services: ${JSON.stringify(counts)}`);
  const batches = Math.ceil(SERVICES / 10);
  const describeServices = counts['ecs:DescribeServices'] ?? 0;
  const describeRules = counts['elbv2:DescribeRules'] ?? 0;
  assert.ok(describeServices <= batches + 5, `${describeServices} DescribeServices`);
  assert.ok(describeServices >= batches, `every service was read: ${describeServices}`);
  assert.ok(describeRules <= batches + 5, `${describeRules} DescribeRules`);
  assert.ok(reads <= 2 * batches + 10, `${reads} reads: ${JSON.stringify(counts)}`);
  assert.deepEqual(writes, [], 'no AWS writes at rest');
  const observed = await sql<{ n: number }>`
    select count(*)::int as n from services where observed_running_count is not null`.execute(db);
  assert.equal(observed.rows[0]?.n, SERVICES, 'every service was observed');
});
