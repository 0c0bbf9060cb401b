import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VerificationTask } from '../src/store/schema.ts';
import { aFleet, aLiveService, workerProcess, type Fleet } from './support/fleet.ts';
import { aWholeLookAt, ecrDeployments, nthEcrDeploymentFinished, push } from './support/follow.ts';
import {
  aWebhookReceiver,
  type Received,
  type WebhookReceiver,
} from './support/webhook-receiver.ts';

/*
 * Issue 10's whole pipeline, on the simulated AWS with real `berth worker` processes: an image
 * pushed to ECR under a followed tag becomes, with no human command, a verification task, a
 * canary and a finished deployment, and a chat (slack-format) webhook on loopback hears it all.
 */

const REGISTRY = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
const PASSING_TESTS = 'npm run integration-tests';
/** The simulated AWS runs a one-off task whose command says `fail` to exit code 1. */
const FAILING_TESTS = 'npm run integration-tests-that-fail';

/** One chat message as the receiver got it, first arrival of each idempotency key. */
interface ChatMessage {
  key: string;
  text: string;
  fields: string[];
  /** How many times it arrived (a redelivery carries the same key). */
  arrivals: number;
}

interface SlackBody {
  text: string;
  idempotency_key: string;
  blocks: { type: string; fields?: { text: string }[] }[];
}

/** The chat messages at `path`, in order of first arrival, redeliveries folded into one. */
function chatAt(receiver: WebhookReceiver, path: string): ChatMessage[] {
  const messages = new Map<string, ChatMessage>();
  for (const request of receiver.requests.filter((r: Received) => r.path === path)) {
    const body = request.body as unknown as SlackBody;
    const key = request.headers['idempotency-key'];
    assert.equal(typeof key, 'string', 'an Idempotency-Key header');
    assert.equal(body.idempotency_key, key);
    const seen = messages.get(key as string);
    if (seen !== undefined) {
      assert.equal(seen.text, body.text, 'a redelivery says the same');
      seen.arrivals++;
      continue;
    }
    messages.set(key as string, {
      key: key as string,
      text: body.text,
      fields: body.blocks.flatMap((block) => block.fields?.map((field) => field.text) ?? []),
      arrivals: 1,
    });
  }
  return [...messages.values()];
}

/** Waits until every notification written so far is delivered; returns how many there are. */
async function allDelivered(fleet: Fleet): Promise<number> {
  return fleet.until(
    'every notification delivered',
    async () => {
      const rows = await fleet.db.selectFrom('notification_outbox').select('state').execute();
      return rows.length > 0 && rows.every((row) => row.state === 'delivered')
        ? rows.length
        : undefined;
    },
    30_000,
  );
}

async function verificationTasksOf(
  fleet: Fleet,
  deploymentId: number,
): Promise<VerificationTask[]> {
  return fleet.db
    .selectFrom('verification_tasks')
    .selectAll()
    .where('deployment_id', '=', deploymentId)
    .orderBy('id')
    .execute();
}

async function eventKinds(fleet: Fleet, service: string, deploymentId: number): Promise<string[]> {
  const events = await fleet.json<{ kind: string; deploymentId: number | null }[]>([
    'events',
    service,
    '--limit',
    '1000',
  ]);
  return events.filter((event) => event.deploymentId === deploymentId).map((event) => event.kind);
}

async function ruleWeights(fleet: Fleet, service: string): Promise<Record<string, number>> {
  const row = await fleet.db
    .selectFrom('services')
    .select('listener_rule_arn')
    .where('name', '=', service)
    .executeTakeFirstOrThrow();
  assert.ok(row.listener_rule_arn !== null);
  return fleet.cloud.readRuleWeights(row.listener_rule_arn);
}

async function slackTarget(
  fleet: Fleet,
  receiver: WebhookReceiver,
  service: string,
): Promise<void> {
  const added = await fleet.berth([
    'notify',
    'add',
    `${receiver.origin}/chat/${service}`,
    '--service',
    service,
    '--format',
    'slack',
  ]);
  assert.equal(added.code, 0, added.stderr);
}

describe('the pipeline: push → verification → canary → chat', () => {
  it('a push under a followed tag is verified (its worker SIGKILLed mid-test), canaried and told to chat with no human command; a bad image is rolled back and a failing verification moves no weight', async () => {
    const fleet = await aFleet('pipeline');
    const receiver = await aWebhookReceiver();
    const aWorker = (name: string) =>
      workerProcess(fleet, name, { BERTH_FOLLOW_INTERVAL: '1', BERTH_NOTIFY_TIMEOUT_MS: '2000' });
    const workers = [aWorker('p1'), aWorker('p2')];
    await aLiveService(fleet, 'web', ['--follow', 'web:main-*', '--verify-command', PASSING_TESTS]);
    await slackTarget(fleet, receiver, 'web');

    // The push: nothing else is asked by anyone.
    const tasksBefore = (await fleet.sim.callCounts())['ecs:RunTask'] ?? 0;
    const good = await push(fleet, 'web:main-2');

    // The worker that started the tests is SIGKILLed; the others look at the very same task.
    const running = await fleet.until('the tests of the push to run', async () => {
      const row = await fleet.db
        .selectFrom('verification_tasks')
        .innerJoin('deployments', 'deployments.id', 'verification_tasks.deployment_id')
        .select(['verification_tasks.task_arn', 'verification_tasks.outcome'])
        .where('deployments.requested_by', '=', 'ecr')
        .where('verification_tasks.task_arn', 'is not', null)
        .executeTakeFirst();
      return row?.outcome === null ? row : undefined;
    });
    // Leases are given back between passes: the worker that started the task says who it is.
    const { actor: starter } = await fleet.db
      .selectFrom('events')
      .select('actor')
      .where('kind', '=', 'deployment.verification_started')
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    const holder = workers.find((child) => starter.includes(`-${child.pid}-`));
    assert.ok(holder !== undefined, `a worker process started the tests: ${starter}`);
    holder.kill('SIGKILL');
    workers.push(aWorker('p3'));

    const live = await nthEcrDeploymentFinished(fleet, 1, 'web', 90_000);
    assert.equal(live.outcome, 'succeeded');
    assert.equal(live.image, `${REGISTRY}/web:main-2@${good}`);
    await aWholeLookAt(fleet, 'web');
    await aWholeLookAt(fleet, 'web');
    assert.deepEqual(
      (await ecrDeployments(fleet)).map((deployment) => deployment.id),
      [live.id],
      'exactly one deployment by ecr, however many workers look',
    );
    const [verified] = await verificationTasksOf(fleet, live.id);
    assert.deepEqual(
      [verified?.kind, verified?.command, verified?.outcome, verified?.exit_code],
      ['verify', PASSING_TESTS, 'passed', 0],
    );
    assert.equal(verified?.task_arn, running.task_arn, 'the task the killed worker started');
    assert.equal(
      ((await fleet.sim.callCounts())['ecs:RunTask'] ?? 0) - tasksBefore,
      1,
      'one RunTask, never a second',
    );
    const kinds = await eventKinds(fleet, 'web', live.id);
    const passed = kinds.indexOf('deployment.verification_passed');
    const canary = kinds.indexOf('aws.mutation.create_task_set');
    assert.ok(passed !== -1 && canary > passed, `the canary after the tests: ${kinds.join(', ')}`);
    assert.ok(kinds.includes('deployment.window_judged'), 'the canary was judged');
    const [listed] = await fleet.json<{ currentVersion: number | null }[]>(['service', 'list']);
    assert.equal(listed?.currentVersion, 2, 'the pushed release, v2, is live');

    await allDelivered(fleet);
    const story = chatAt(receiver, '/chat/web');
    assert.deepEqual(
      story.map((message) => message.text.split(' ')[0]),
      [':rocket:', ':white_check_mark:', ':tada:'],
      story.map((message) => message.text).join('\n'),
    );
    const [started, stepPassed, succeeded] = story.map((message) => message.text);
    assert.match(started ?? '', /^:rocket: web: deploy v1 → v2 started \(\S+\/web:main-2@sha256:/);
    assert.match(
      stepPassed ?? '',
      /^:white_check_mark: web v2: step 1 of 2 \(10 %\) passed: \d+ 5xx in \d+ requests, confidence 0\.9\d*/,
    );
    assert.match(
      succeeded ?? '',
      /^:tada: web v2 is live \(\S+\/web:main-2@sha256:\S+\): \d+ 5xx in \d+ requests/,
    );
    assert.ok(
      story[1]?.fields.some((field) => /^\*requests\*\n\d+ at 10 %$/.test(field)),
      JSON.stringify(story[1]?.fields),
    );

    // A bad image: its tests pass (it is the traffic that breaks it), its canary is rolled back.
    const bad = await push(fleet, 'web:main-3-5xx');
    const rolledBack = await nthEcrDeploymentFinished(fleet, 2, 'web', 90_000);
    assert.equal(rolledBack.digest, bad);
    assert.equal(rolledBack.outcome, 'rolled_back');
    const [badTests] = await verificationTasksOf(fleet, rolledBack.id);
    assert.deepEqual([badTests?.outcome, badTests?.exit_code], ['passed', 0]);
    await allDelivered(fleet);
    const afterBad = chatAt(receiver, '/chat/web').slice(story.length);
    assert.deepEqual(
      afterBad.map((message) => message.text.split(' ')[0]),
      [':rocket:', ':rotating_light:'],
      afterBad.map((message) => message.text).join('\n'),
    );
    const rollback = afterBad[1];
    assert.match(
      rollback?.text ?? '',
      /^:rotating_light: web v3 rolled back to v2: canary analysis failed: 5xx rate/,
    );
    const errors = rollback?.fields.find((field) => field.startsWith('*5xx*'));
    assert.match(
      errors ?? '',
      /^\*5xx\*\n[1-9]\d* \(\d+(\.\d+)? %\), max 1 %$/,
      'the numbers that failed',
    );

    // Another service whose tests fail: told with the exit code, and no weight moved.
    await aLiveService(fleet, 'checkout', ['--follow', 'checkout:main-*']);
    const updated = await fleet.berth([
      'service',
      'update',
      'checkout',
      '--verify-command',
      FAILING_TESTS,
    ]);
    assert.equal(updated.code, 0, updated.stderr);
    await slackTarget(fleet, receiver, 'checkout');
    const weightsBefore = await ruleWeights(fleet, 'checkout');
    await push(fleet, 'checkout:main-7');
    const failed = await nthEcrDeploymentFinished(fleet, 1, 'checkout', 90_000);
    assert.equal(failed.outcome, 'failed');
    const [failedTests] = await verificationTasksOf(fleet, failed.id);
    assert.deepEqual([failedTests?.outcome, failedTests?.exit_code], ['failed', 1]);
    assert.deepEqual(await ruleWeights(fleet, 'checkout'), weightsBefore, 'no weight moved');
    const checkoutKinds = await eventKinds(fleet, 'checkout', failed.id);
    assert.ok(!checkoutKinds.includes('aws.mutation.create_task_set'), checkoutKinds.join(', '));
    await allDelivered(fleet);
    const told = chatAt(receiver, '/chat/checkout');
    assert.deepEqual(
      told.map((message) => message.text.split(' ')[0]),
      [':rocket:', ':x:', ':x:'],
      told.map((message) => message.text).join('\n'),
    );
    assert.match(
      told[1]?.text ?? '',
      /^:x: checkout v2: verification failed: the verify task exited with code 1 after \d+\.\ds$/,
    );
    assert.ok(told[1]?.fields.includes('*exit code*\n1'), JSON.stringify(told[1]?.fields));
    assert.ok(
      told[1]?.fields.includes(
        '*stopped*\nEssentialContainerExited: Essential container in task exited',
      ),
      JSON.stringify(told[1]?.fields),
    );
    assert.match(told[2]?.text ?? '', /^:x: checkout v2 failed: .*exited with code 1/);
    assert.ok(
      receiver.requests.every((request) => !request.raw.includes('integration-tests')),
      'the test command is never told',
    );
    assert.equal(
      (await ecrDeployments(fleet)).length,
      3,
      'nobody but ecr deployed, and ecr once per push',
    );
  });
});
