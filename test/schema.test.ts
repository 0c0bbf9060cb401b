import assert from 'node:assert/strict';
import { flagTemplate } from '../src/validation/task-definition.ts';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { finishDeployment } from '../src/store/deployments.ts';
import { createService } from '../src/store/services-write.ts';
import type { RequestedRelease } from '../src/store/write-transaction.ts';
import { contentHash, type ReleaseSpec } from '../src/store/releases.ts';
import { ACTOR } from './support/cli.ts';
import { testDatabase } from './support/database.ts';

/**
 * The schema's constraints are the last line of defence behind the CLI: whatever writes to the
 * database — a bug, a careless psql session — must not be able to store a state the workers
 * would misread. Each test writes one bad row directly and expects Postgres to refuse it, with
 * the error code and the constraint that says why.
 */

const { db } = await testDatabase('schema constraints');

const UNIQUE = '23505';
const FOREIGN_KEY = '23503';
const CHECK = '23514';
const INSUFFICIENT_PRIVILEGE = '42501';

const ACCOUNT = '123456789012';
const RULE = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:listener-rule/app/web-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee`;
const TG_BLUE = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:targetgroup/web-blue/73e2d6bc24d8a067`;
const TG_GREEN = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:targetgroup/web-green/0123456789abcdef`;
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

const SPEC: ReleaseSpec = {
  template: flagTemplate({
    container: 'web',
    port: 8080,
    cpu: 256,
    memory: 512,
    launchType: 'FARGATE',
    taskRoleArn: null,
    executionRoleArn: null,
  }),
  mainContainer: 'web',
  sidecars: {},
  image: 'nginx:1.27',
  imageDigest: null,
  environment: { LOG_LEVEL: 'info' },
  secrets: {},
  cpu: 256,
  memory: 512,
  containerPort: 8080,
  taskRoleArn: null,
  executionRoleArn: null,
};

let serviceCount = 0;

/** A valid service with release v1 and its unfinished first deployment, made by the store. */
async function newService(): Promise<RequestedRelease> {
  serviceCount += 1;
  return createService(db, {
    actor: ACTOR,
    name: `web-${serviceCount}`,
    settings: {
      cluster: 'prod',
      ecsServiceName: `web-${serviceCount}`,
      desiredCount: 2,
      containerName: 'app',
      launchType: 'FARGATE',
      subnets: ['subnet-0123456789abcdef0'],
      securityGroups: ['sg-0123456789abcdef0'],
      assignPublicIp: false,
      healthCheckPath: '/healthz',
      listenerRuleArn: null,
      targetGroupArns: null,
    },
    policy: {
      steps: [10, 50, 100],
      bakeSeconds: 300,
      analysisIntervalSeconds: 60,
      max5xxRate: 0.01,
      maxP99Ms: 500,
      minRequests: 100,
      failureLimit: 3,
      progressDeadlineSeconds: 600,
      rollbackWindowSeconds: 600,
      max5xxRateIncrease: null,
      confidence: 0.95,
      maxAnalysisSeconds: 1800,
      maxFailedLaunches: 3,
      preDeployCommand: null,
      verifyCommand: null,
      verifyTimeoutSeconds: 600,
    },
    release: SPEC,
    message: null,
  });
}

/** A service whose first deployment has succeeded: v1 is live and nothing is unfinished. */
async function liveService(): Promise<RequestedRelease> {
  const created = await newService();
  const finished = await finishDeployment(db, created.deployment.id, 'succeeded', 'test setup');
  assert.ok(finished !== undefined);
  return created;
}

/** Asserts that Postgres refuses the write with `code`, naming `constraint` when given. */
async function refused(
  write: () => Promise<unknown>,
  code: string,
  constraint?: string,
): Promise<void> {
  await assert.rejects(write, (error: unknown) => {
    assert.ok(error instanceof Error, `expected a database error, got ${String(error)}`);
    const { code: actual, constraint: named } = error as Error & {
      code?: string;
      constraint?: string;
    };
    assert.equal(actual, code, `error code of ${JSON.stringify(error.message)}`);
    if (constraint !== undefined) assert.equal(named, constraint, error.message);
    return true;
  });
}

/** Asserts that the events trigger refuses `operation`, and not some other check. */
async function refusedAppendOnly(
  write: () => Promise<unknown>,
  operation: 'UPDATE' | 'DELETE' | 'TRUNCATE',
): Promise<void> {
  await refused(write, INSUFFICIENT_PRIVILEGE);
  await assert.rejects(write, {
    message: `events are append-only (${operation} refused)`,
  });
}

/** Sets one column of a row with a plain UPDATE, as someone in psql would. */
async function setColumn(
  table: 'services' | 'releases' | 'deployments',
  id: number,
  column: string,
  value: unknown,
): Promise<void> {
  await sql`update ${sql.table(table)} set ${sql.ref(column)} = ${value} where id = ${id}`.execute(
    db,
  );
}

/** Inserts a release row for `serviceId`, valid unless `overrides` say otherwise. */
async function insertRelease(
  serviceId: number,
  version: number,
  overrides: { container_port?: number; image_digest?: string | null } = {},
): Promise<number> {
  const row = await db
    .insertInto('releases')
    .values({
      service_id: serviceId,
      version,
      image: SPEC.image,
      image_digest: null,
      environment: JSON.stringify(SPEC.environment),
      secrets: '{}',
      template: JSON.stringify(SPEC.template),
      main_container: SPEC.mainContainer,
      cpu: SPEC.cpu,
      memory: SPEC.memory,
      container_port: SPEC.containerPort,
      task_role_arn: null,
      execution_role_arn: null,
      content_hash: contentHash(SPEC),
      created_by: ACTOR,
      ...overrides,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Inserts an unfinished deployment of `serviceId` to `toReleaseId`. */
async function insertDeployment(
  serviceId: number,
  toReleaseId: number,
  fromReleaseId: number | null = null,
): Promise<number> {
  const row = await db
    .insertInto('deployments')
    .values({
      service_id: serviceId,
      from_release_id: fromReleaseId,
      to_release_id: toReleaseId,
      kind: 'deploy',
      message: null,
      requested_by: ACTOR,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Inserts one analysis window of `deploymentId`, valid unless `overrides` say otherwise. */
async function insertWindow(
  deploymentId: number,
  overrides: { verdict?: string; started_at?: Date; ended_at?: Date; window_index?: number } = {},
): Promise<void> {
  const started = new Date('2026-11-23T12:00:00Z');
  const values = {
    deployment_id: deploymentId,
    step_index: 0,
    window_index: 0,
    started_at: started,
    ended_at: new Date(started.getTime() + 60_000),
    thresholds: JSON.stringify({ max5xxRate: 0.01, maxP99Ms: 500 }),
    verdict: 'pass',
    reason: 'within thresholds',
    ...overrides,
  };
  await sql`
    insert into analysis_windows
      (deployment_id, step_index, window_index, started_at, ended_at, thresholds, verdict, reason)
    values (${values.deployment_id}, ${values.step_index}, ${values.window_index},
      ${values.started_at}, ${values.ended_at}, ${values.thresholds}, ${values.verdict},
      ${values.reason})`.execute(db);
}

async function countRows(table: 'deployments' | 'releases' | 'analysis_windows'): Promise<number> {
  const row = await db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow();
  return row.count;
}

describe('deployments: one unfinished at a time', () => {
  it('refuses a second unfinished deployment for the same service', async () => {
    const { service, release } = await newService();
    await refused(
      () => insertDeployment(service.id, release.id),
      UNIQUE,
      'deployments_one_unfinished_per_service',
    );
  });

  it('accepts a new unfinished deployment once the previous one has finished', async () => {
    const { service, release, deployment } = await newService();
    await finishDeployment(db, deployment.id, 'failed', 'test setup');
    const second = await insertDeployment(service.id, release.id);
    const rows = await db
      .selectFrom('deployments')
      .select(['id', 'finished_at'])
      .where('service_id', '=', service.id)
      .orderBy('id')
      .execute();
    assert.deepEqual(
      rows.map((row) => ({ id: row.id, unfinished: row.finished_at === null })),
      [
        { id: deployment.id, unfinished: false },
        { id: second, unfinished: true },
      ],
    );
  });

  it('lets two services each have an unfinished deployment', async () => {
    const one = await newService();
    const two = await newService();
    assert.notEqual(one.deployment.id, two.deployment.id);
    assert.equal(one.deployment.finished_at, null);
    assert.equal(two.deployment.finished_at, null);
  });
});

describe('releases: versions and ownership', () => {
  it('refuses a release with a version the service already has', async () => {
    const { service } = await newService();
    await refused(() => insertRelease(service.id, 1), UNIQUE, 'releases_version_unique');
  });

  it('accepts the same version for another service', async () => {
    const { service } = await liveService();
    const { service: other } = await liveService();
    const ids = [await insertRelease(service.id, 2), await insertRelease(other.id, 2)];
    const stored = await db
      .selectFrom('releases')
      .select(['service_id', 'version'])
      .where('id', 'in', ids)
      .orderBy('id')
      .execute();
    assert.deepEqual(stored, [
      { service_id: service.id, version: 2 },
      { service_id: other.id, version: 2 },
    ]);
  });

  it("refuses a deployment to another service's release", async () => {
    const { service } = await liveService();
    const { release: foreign } = await liveService();
    const before = await countRows('deployments');
    await refused(
      () => insertDeployment(service.id, foreign.id),
      FOREIGN_KEY,
      'deployments_to_same_service',
    );
    assert.equal(await countRows('deployments'), before);
  });

  it("refuses a deployment from another service's release", async () => {
    const { service } = await liveService();
    const own = await insertRelease(service.id, 2);
    const { release: foreign } = await liveService();
    await refused(
      () => insertDeployment(service.id, own, foreign.id),
      FOREIGN_KEY,
      'deployments_from_same_service',
    );
  });

  it("refuses a service whose current release is another service's", async () => {
    const { service } = await liveService();
    const { release: foreign } = await liveService();
    await refused(
      () => setColumn('services', service.id, 'current_release_id', foreign.id),
      FOREIGN_KEY,
      'services_current_release_same_service',
    );
  });

  it('refuses a deployment to a release that does not exist', async () => {
    const { service } = await liveService();
    await refused(
      () => insertDeployment(service.id, 987_654_321),
      FOREIGN_KEY,
      'deployments_to_same_service',
    );
  });

  it('refuses a release of a service that does not exist', async () => {
    await refused(() => insertRelease(987_654_321, 1), FOREIGN_KEY, 'releases_service_id_fkey');
  });

  it('refuses a deployment that does not move (from and to the same release)', async () => {
    const { service, release } = await liveService();
    await refused(
      () => insertDeployment(service.id, release.id, release.id),
      CHECK,
      'deployments_moves',
    );
  });

  it('refuses a release deleted from under its deployments', async () => {
    const { release } = await liveService();
    await refused(
      () => sql`delete from releases where id = ${release.id}`.execute(db),
      FOREIGN_KEY,
    );
  });
});

describe('services: rollout steps', () => {
  it('refuses steps that do not ascend', async () => {
    const { service } = await newService();
    await refused(
      () => setColumn('services', service.id, 'steps', [50, 10, 100]),
      CHECK,
      'services_steps_check',
    );
    await refused(
      () => setColumn('services', service.id, 'steps', [10, 10, 100]),
      CHECK,
      'services_steps_check',
    );
  });

  it('refuses steps that do not end at 100', async () => {
    const { service } = await newService();
    await refused(
      () => setColumn('services', service.id, 'steps', [10, 50]),
      CHECK,
      'services_steps_check',
    );
    await refused(
      () => setColumn('services', service.id, 'steps', [100, 50]),
      CHECK,
      'services_steps_check',
    );
  });

  it('refuses a step of 0 or 101', async () => {
    const { service } = await newService();
    for (const steps of [[0, 100], [0, 50, 100], [50, 101], [50, 100, 101], [101]]) {
      await refused(
        () => setColumn('services', service.id, 'steps', steps),
        CHECK,
        'services_steps_check',
      );
    }
  });

  it('refuses empty steps', async () => {
    const { service } = await newService();
    await refused(
      () => setColumn('services', service.id, 'steps', []),
      CHECK,
      'services_steps_check',
    );
  });

  it('refuses a null step and more than ten steps', async () => {
    const { service } = await newService();
    await refused(
      () => setColumn('services', service.id, 'steps', [10, null, 100]),
      CHECK,
      'services_steps_check',
    );
    await refused(
      () => setColumn('services', service.id, 'steps', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100]),
      CHECK,
      'services_steps_check',
    );
  });

  it('refuses steps written as an array that does not start at index 1', async () => {
    const { service } = await newService();
    await refused(
      () =>
        sql`update services set steps = '[0:1]={50,100}'::integer[] where id = ${service.id}`.execute(
          db,
        ),
      CHECK,
      'services_steps_check',
    );
  });

  it('accepts a single step of 100 and ten ascending steps', async () => {
    const { service } = await newService();
    await setColumn('services', service.id, 'steps', [100]);
    await setColumn('services', service.id, 'steps', [1, 2, 3, 4, 5, 6, 7, 8, 9, 100]);
    const row = await db
      .selectFrom('services')
      .select('steps')
      .where('id', '=', service.id)
      .executeTakeFirstOrThrow();
    assert.deepEqual(row.steps, [1, 2, 3, 4, 5, 6, 7, 8, 9, 100]);
  });
});

describe('services and releases: values out of range', () => {
  it('refuses a desired count of 5001 or -1', async () => {
    const { service } = await newService();
    for (const count of [5001, -1]) {
      await refused(
        () => setColumn('services', service.id, 'desired_count', count),
        CHECK,
        'services_desired_count_check',
      );
    }
    await setColumn('services', service.id, 'desired_count', 5000);
    await setColumn('services', service.id, 'desired_count', 0);
  });

  it('refuses a container port of 0 or 65536', async () => {
    const { service, release } = await liveService();
    for (const port of [0, 65536]) {
      await refused(
        () => setColumn('releases', release.id, 'container_port', port),
        CHECK,
        'releases_container_port_check',
      );
      await refused(
        () => insertRelease(service.id, 2, { container_port: port }),
        CHECK,
        'releases_container_port_check',
      );
    }
  });

  it('refuses a maximum 5xx rate of 1.5', async () => {
    const { service } = await newService();
    await refused(
      () => setColumn('services', service.id, 'max_5xx_rate', 1.5),
      CHECK,
      'services_max_5xx_rate_check',
    );
  });

  it('refuses the launch type LAMBDA', async () => {
    const { service } = await newService();
    await refused(
      () => setColumn('services', service.id, 'launch_type', 'LAMBDA'),
      CHECK,
      'services_launch_type_check',
    );
    await refused(
      () => setColumn('services', service.id, 'launch_type', 'fargate'),
      CHECK,
      'services_launch_type_check',
    );
  });

  it('refuses a service name with a space', async () => {
    const { service } = await newService();
    await refused(
      () => setColumn('services', service.id, 'name', 'web api'),
      CHECK,
      'services_name_check',
    );
  });

  it('refuses two services with the same name', async () => {
    const { service } = await newService();
    const { service: other } = await newService();
    await refused(
      () => setColumn('services', other.id, 'name', service.name),
      UNIQUE,
      'services_name_key',
    );
  });

  it('refuses an image digest that is not sha256 and 64 lower-case hex digits', async () => {
    const { service, release } = await liveService();
    for (const digest of [
      'sha256:abc',
      `sha256:${'0'.repeat(65)}`,
      `sha256:${'A'.repeat(64)}`,
      `sha512:${'0'.repeat(64)}`,
      '0'.repeat(64),
      `${DIGEST}\n`,
    ]) {
      await refused(
        () => setColumn('releases', release.id, 'image_digest', digest),
        CHECK,
        'releases_image_digest_check',
      );
      await refused(
        () => insertRelease(service.id, 2, { image_digest: digest }),
        CHECK,
        'releases_image_digest_check',
      );
    }
    await setColumn('releases', release.id, 'image_digest', DIGEST);
  });
});

describe('services: traffic settings', () => {
  it('refuses a listener rule without target groups', async () => {
    const { service } = await newService();
    await refused(
      () => setColumn('services', service.id, 'listener_rule_arn', RULE),
      CHECK,
      'services_traffic_all_or_none',
    );
  });

  it('refuses target groups without a listener rule', async () => {
    const { service } = await newService();
    await refused(
      () =>
        sql`update services set target_group_a_arn = ${TG_BLUE}, target_group_b_arn = ${TG_GREEN}
          where id = ${service.id}`.execute(db),
      CHECK,
      'services_traffic_all_or_none',
    );
  });

  it('refuses the same target group twice', async () => {
    const { service } = await newService();
    await refused(
      () =>
        sql`update services set listener_rule_arn = ${RULE}, target_group_a_arn = ${TG_BLUE},
          target_group_b_arn = ${TG_BLUE} where id = ${service.id}`.execute(db),
      CHECK,
      'services_target_groups_distinct',
    );
  });

  it('accepts a listener rule with two different target groups', async () => {
    const { service } = await newService();
    await sql`update services set listener_rule_arn = ${RULE}, target_group_a_arn = ${TG_BLUE},
      target_group_b_arn = ${TG_GREEN} where id = ${service.id}`.execute(db);
    const stored = await db
      .selectFrom('services')
      .select(['listener_rule_arn', 'target_group_a_arn', 'target_group_b_arn'])
      .where('id', '=', service.id)
      .executeTakeFirstOrThrow();
    assert.deepEqual(stored, {
      listener_rule_arn: RULE,
      target_group_a_arn: TG_BLUE,
      target_group_b_arn: TG_GREEN,
    });
  });
});

describe('deployments: finished is all or nothing', () => {
  it('refuses a finished deployment without an outcome', async () => {
    const { deployment } = await newService();
    await refused(
      () =>
        sql`update deployments set phase = 'finished', finished_at = now()
          where id = ${deployment.id}`.execute(db),
      CHECK,
      'deployments_finished_whole',
    );
    await refused(
      () => setColumn('deployments', deployment.id, 'phase', 'finished'),
      CHECK,
      'deployments_finished_whole',
    );
  });

  it('refuses an outcome without a finish time', async () => {
    const { deployment } = await newService();
    await refused(
      () =>
        sql`update deployments set phase = 'finished', outcome = 'failed'
          where id = ${deployment.id}`.execute(db),
      CHECK,
      'deployments_finished_whole',
    );
  });

  it('refuses an outcome and finish time on a deployment that is still in progress', async () => {
    const { deployment } = await newService();
    await refused(
      () =>
        sql`update deployments set phase = 'baking', outcome = 'succeeded', finished_at = now()
          where id = ${deployment.id}`.execute(db),
      CHECK,
      'deployments_finished_whole',
    );
  });

  it('leaves the deployment as it was after a refused update', async () => {
    const { deployment } = await newService();
    await refused(() => setColumn('deployments', deployment.id, 'phase', 'finished'), CHECK);
    const row = await db
      .selectFrom('deployments')
      .select(['phase', 'outcome', 'finished_at'])
      .where('id', '=', deployment.id)
      .executeTakeFirstOrThrow();
    assert.deepEqual(row, { phase: 'pending', outcome: null, finished_at: null });
  });
});

describe('analysis windows', () => {
  it('accepts a window with a verdict and an end after its start', async () => {
    const { deployment } = await newService();
    await insertWindow(deployment.id);
    const stored = await db
      .selectFrom('analysis_windows')
      .select(['verdict', 'started_at', 'ended_at'])
      .where('deployment_id', '=', deployment.id)
      .execute();
    assert.deepEqual(stored, [
      {
        verdict: 'pass',
        started_at: new Date('2026-11-23T12:00:00Z'),
        ended_at: new Date('2026-11-23T12:01:00Z'),
      },
    ]);
  });

  it("refuses the verdict 'maybe'", async () => {
    const { deployment } = await newService();
    await refused(
      () => insertWindow(deployment.id, { verdict: 'maybe' }),
      CHECK,
      'analysis_windows_verdict_check',
    );
  });

  it('refuses a window that ends before it starts, or when it starts', async () => {
    const { deployment } = await newService();
    const started = new Date('2026-11-23T12:00:00Z');
    await refused(
      () =>
        insertWindow(deployment.id, {
          started_at: started,
          ended_at: new Date(started.getTime() - 1000),
        }),
      CHECK,
      'analysis_windows_ordered',
    );
    await refused(
      () => insertWindow(deployment.id, { started_at: started, ended_at: started }),
      CHECK,
      'analysis_windows_ordered',
    );
  });

  it('refuses the same window recorded twice', async () => {
    const { deployment } = await newService();
    await insertWindow(deployment.id);
    await refused(() => insertWindow(deployment.id), UNIQUE, 'analysis_windows_once');
  });
});

describe('events: the audit log is append-only', () => {
  /** The service's first event, which createService always writes. */
  async function firstEvent(serviceId: number) {
    return db
      .selectFrom('events')
      .selectAll()
      .where('service_id', '=', serviceId)
      .orderBy('id')
      .limit(1)
      .executeTakeFirstOrThrow();
  }

  it('refuses UPDATE and keeps the event as written', async () => {
    const { service } = await newService();
    const event = await firstEvent(service.id);
    await refusedAppendOnly(
      () =>
        db
          .updateTable('events')
          .set({ message: 'nothing happened here' })
          .where('id', '=', event.id)
          .execute(),
      'UPDATE',
    );
    assert.deepEqual(await firstEvent(service.id), event);
  });

  it('refuses DELETE and keeps the event', async () => {
    const { service } = await newService();
    const event = await firstEvent(service.id);
    await refusedAppendOnly(
      () => db.deleteFrom('events').where('id', '=', event.id).execute(),
      'DELETE',
    );
    assert.deepEqual(await firstEvent(service.id), event);
  });

  it('refuses TRUNCATE and keeps every event', async () => {
    const { service } = await newService();
    const event = await firstEvent(service.id);
    const before = await db.selectFrom('events').select('id').orderBy('id').execute();
    await refusedAppendOnly(() => sql`truncate events`.execute(db), 'TRUNCATE');
    await refusedAppendOnly(
      () =>
        sql`truncate services, releases, deployments, analysis_windows, events, followed_images,
          verification_tasks, notification_targets, notification_outbox,
          notification_attempts, apps, app_members, app_deployments`.execute(db),
      'TRUNCATE',
    );
    await refusedAppendOnly(() => sql`truncate services cascade`.execute(db), 'TRUNCATE');
    assert.deepEqual(await firstEvent(service.id), event);
    assert.deepEqual(await db.selectFrom('events').select('id').orderBy('id').execute(), before);
  });

  it('refuses deleting a service that has events', async () => {
    const { service } = await newService();
    await refused(
      () => sql`delete from services where id = ${service.id}`.execute(db),
      FOREIGN_KEY,
    );
  });
});

describe('finishDeployment', () => {
  async function serviceRow(id: number) {
    return db.selectFrom('services').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  }

  async function deploymentRow(id: number) {
    return db.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  }

  it('makes the release live when the deployment succeeds', async () => {
    const { service, release, deployment } = await newService();
    assert.equal(service.current_release_id, null);
    const finished = await finishDeployment(db, deployment.id, 'succeeded', 'all steps passed');
    assert.ok(finished !== undefined);
    assert.equal(finished.id, deployment.id);
    assert.equal(finished.phase, 'finished');
    assert.equal(finished.outcome, 'succeeded');
    assert.equal(finished.reason, 'all steps passed');
    assert.ok(finished.finished_at instanceof Date);
    assert.equal((await serviceRow(service.id)).current_release_id, release.id);
  });

  it('changes nothing and returns undefined when called again', async () => {
    const { service, deployment } = await newService();
    await finishDeployment(db, deployment.id, 'succeeded', 'all steps passed');
    const serviceBefore = await serviceRow(service.id);
    const deploymentBefore = await deploymentRow(deployment.id);
    assert.equal(await finishDeployment(db, deployment.id, 'failed', 'too late'), undefined);
    assert.equal(await finishDeployment(db, deployment.id, 'succeeded', 'again'), undefined);
    assert.deepEqual(await serviceRow(service.id), serviceBefore);
    assert.deepEqual(await deploymentRow(deployment.id), deploymentBefore);
  });

  it('leaves the live release alone when the deployment fails', async () => {
    const { service, deployment } = await newService();
    const finished = await finishDeployment(db, deployment.id, 'failed', 'tasks never healthy');
    assert.equal(finished?.outcome, 'failed');
    assert.equal((await serviceRow(service.id)).current_release_id, null);
  });

  it('returns undefined for a deployment that does not exist', async () => {
    assert.equal(await finishDeployment(db, 987_654_321, 'succeeded', 'nothing'), undefined);
  });
});
