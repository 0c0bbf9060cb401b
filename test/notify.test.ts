import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { appendEvent } from '../src/store/events.ts';
import { aService, SECRET_ARN, serviceCreateArgs } from './support/builders.ts';
import { berth } from './support/cli.ts';
import { testDatabase } from './support/database.ts';
import { aFleet, aLiveService, finished, workerProcess, type Fleet } from './support/fleet.ts';
import { aDispatcher, aWebhookReceiver, type Received } from './support/webhook-receiver.ts';

// An image whose canary answers no 5xx at all, so that two rollouts of it take the same time
// (the healthy default's 0.1 % would add a window to one of them now and then).
const profiles = join(tmpdir(), `berth-notify-profiles-${process.pid}.json`);
writeFileSync(profiles, JSON.stringify({ steady: { errorRate: 0 } }));
process.env['BERTH_SIM_PROFILES'] = profiles;

const PASSWORD = 'hunter2-topsecret-value';

/**
 * One reconcile pass of these rollouts: a 1 s analysis window, and the 200 ms requeue and
 * 100 ms poll of the test workers around it, with room for the AWS throttling of two services
 * rolling out at once. Two identical rollouts side by side differ by up to about this much.
 */
const ONE_PASS_MS = 1_500;

interface Outbox {
  state: string;
  attempts: number;
  type: string;
  target_id: number;
}

async function outbox(fleet: Fleet): Promise<Outbox[]> {
  return fleet.db
    .selectFrom('notification_outbox')
    .select(['state', 'attempts', 'type', 'target_id'])
    .orderBy('id')
    .execute();
}

function keyOf(request: Received): string {
  const key = request.headers['idempotency-key'];
  assert.equal(typeof key, 'string', 'an Idempotency-Key header');
  return key as string;
}

/** The notification types a target heard, in the order of the events they report. */
function storyOf(requests: Received[], path: string): string[] {
  return requests
    .filter((request) => request.path === path)
    .map((request) => {
      const json = request.body as { type?: string; eventId?: number; text?: string };
      return { type: json.type ?? request.headers['x-berth-event'], at: json.eventId ?? 0 };
    })
    .sort((a, b) => a.at - b.at)
    .map((entry) => String(entry.type));
}

describe('webhook notifications', () => {
  it('a receiver hears each step of a rollout and its rollback exactly once, as json and as slack, with no secret in any payload', async () => {
    const fleet = await aFleet('notify rollout');
    const receiver = await aWebhookReceiver();
    fleet.startWorker();
    aDispatcher(fleet);
    assert.equal(
      (await fleet.berth(['notify', 'add', `${receiver.origin}/all/T1/secret`])).code,
      0,
    );
    await aLiveService(fleet);
    const slack = await fleet.berth([
      'notify',
      'add',
      `${receiver.origin}/chat`,
      '--service',
      'web',
      '--format',
      'slack',
    ]);
    assert.equal(slack.code, 0, slack.stderr);

    const configured = await fleet.berth([
      'config',
      'set',
      'web',
      `DB_PASSWORD=${PASSWORD}`,
      '--secret',
      `API_KEY=${SECRET_ARN}`,
    ]);
    assert.equal(configured.code, 0, configured.stderr);
    assert.equal((await finished(fleet, 'web')).outcome, 'succeeded');
    assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.29-5xx'])).code, 0);
    const rolledBack = await finished(fleet, 'web');
    assert.equal(rolledBack.outcome, 'rolled_back');

    // v1: started, live; v2 (config): started, 10 % passed, live; v3: started, rolled back.
    const expected = { all: 7, chat: 5 };
    await fleet.until(
      'every notification delivered',
      async () => {
        const rows = await outbox(fleet);
        return rows.length === expected.all + expected.chat &&
          rows.every((row) => row.state === 'delivered')
          ? true
          : undefined;
      },
      20_000,
    );
    assert.deepEqual(storyOf(receiver.requests, '/all/T1/secret'), [
      'deployment.started',
      'deployment.succeeded',
      'deployment.started',
      'deployment.step_passed',
      'deployment.succeeded',
      'deployment.started',
      'deployment.rolled_back',
    ]);
    assert.equal(receiver.requests.length, expected.all + expected.chat, 'each exactly once');
    const keys = receiver.requests.map(keyOf);
    assert.equal(new Set(keys).size, keys.length, 'one idempotency key per notification');

    const json = receiver.requests
      .filter((request) => request.path === '/all/T1/secret')
      .map((request) => request.body);
    for (const [index, body] of json.entries()) {
      assert.equal(
        body['idempotencyKey'],
        keyOf(receiver.requests.filter((r) => r.path === '/all/T1/secret')[index] as Received),
      );
      assert.equal(body['service'], 'web');
      assert.equal(typeof body['deploymentId'], 'number');
      assert.match(String(body['at']), /^\d{4}-\d\d-\d\dT/);
    }
    const rollback = json.find((body) => body['type'] === 'deployment.rolled_back');
    assert.ok(rollback !== undefined);
    assert.equal(rollback['fromVersion'], 2);
    assert.equal(rollback['toVersion'], 3);
    assert.match(String(rollback['reason']), /^canary analysis failed: 5xx rate/);
    const numbers = rollback['numbers'] as Record<string, number>;
    assert.ok(
      numbers['errors5xx'] !== undefined && numbers['errors5xx'] > 0,
      'the 5xx that failed',
    );
    assert.ok((numbers['requests'] ?? 0) >= (numbers['errors5xx'] ?? 0));
    assert.equal(numbers['max5xxRate'], 0.01);
    assert.equal(numbers['percent'], 10);
    const passed = json.find((body) => body['type'] === 'deployment.step_passed');
    assert.deepEqual(passed?.['step'], { index: 0, percent: 10, of: 2 });

    const chat = receiver.requests.filter((request) => request.path === '/chat');
    assert.equal(chat.length, expected.chat);
    for (const request of chat) {
      const body = request.body as {
        text: string;
        blocks: { type: string }[];
        idempotency_key: string;
      };
      assert.equal(body.idempotency_key, keyOf(request));
      assert.ok(body.blocks.some((block) => block.type === 'section'));
      assert.match(body.text, /web/);
    }
    const texts = chat.map((request) => (request.body as { text: string }).text);
    assert.ok(
      texts.some((text) => /web v3 rolled back to v2: canary analysis failed: 5xx rate/.test(text)),
      texts.join('\n'),
    );
    assert.ok(
      texts.some((text) => /web v2: step 1 of 2 \(10 %\) passed/.test(text)),
      texts.join('\n'),
    );

    for (const request of receiver.requests) {
      assert.ok(!request.raw.includes(PASSWORD), 'no environment value in a payload');
      assert.ok(!request.raw.includes(SECRET_ARN), 'no secret reference in a payload');
    }
    const attempts = await fleet.db.selectFrom('notification_attempts').selectAll().execute();
    assert.equal(attempts.length, expected.all + expected.chat, 'one attempt each');
    assert.ok(attempts.every((attempt) => attempt.ok === true && attempt.status === 200));
  });

  it('receivers that hang or answer 500 do not delay a rollout: it ends while they are still retried', async () => {
    // Enough traffic that the first window decides each step: the two rollouts differ only by
    // when their passes happen to run.
    const fleet = await aFleet('notify failing receivers', { rps: 5000 });
    const hanging = await aWebhookReceiver(() => 'hang');
    const failing = await aWebhookReceiver(() => 500);
    fleet.startWorker();
    // A blocking delivery would cost each notified event the whole 5 s timeout.
    aDispatcher(fleet, { timeoutMs: 5_000, firstRetryMs: 500 });
    await aLiveService(fleet, 'calm', ['--image', 'nginx:1.27-steady']);
    await aLiveService(fleet, 'loud', ['--image', 'nginx:1.27-steady']);
    for (const origin of [hanging.origin, failing.origin]) {
      const added = await fleet.berth(['notify', 'add', `${origin}/hook`, '--service', 'loud']);
      assert.equal(added.code, 0, added.stderr);
    }

    // The same release, at the same moment, on one worker: one service with failing
    // receivers, one without any.
    await Promise.all(
      ['calm', 'loud'].map((name) => fleet.berth(['deploy', name, '--image', 'nginx:1.28-steady'])),
    );
    const [calm, loud] = await Promise.all([finished(fleet, 'calm'), finished(fleet, 'loud')]);
    assert.equal(calm.outcome, 'succeeded');
    assert.equal(loud.outcome, 'succeeded');

    const runs = await fleet.db
      .selectFrom('deployments')
      .innerJoin('services', 'services.id', 'deployments.service_id')
      .select(['services.name', 'deployments.created_at', 'deployments.finished_at'])
      .where('deployments.id', 'in', [calm.id, loud.id])
      .execute();
    const run = (name: string) => {
      const row = runs.find((d) => d.name === name);
      assert.ok(row?.finished_at);
      return { took: row.finished_at.getTime() - row.created_at.getTime(), end: row.finished_at };
    };
    assert.ok(
      run('loud').took <= run('calm').took + ONE_PASS_MS,
      `loud took ${run('loud').took} ms, calm ${run('calm').took} ms`,
    );

    const attempts = await fleet.db
      .selectFrom('notification_attempts')
      .select(['target_id', 'started_at', 'finished_at', 'status', 'error'])
      .execute();
    const end = run('loud').end;
    const failedBefore = attempts.filter(
      (a) => a.target_id === 2 && a.finished_at !== null && a.finished_at < end,
    );
    assert.ok(
      failedBefore.length >= 2 &&
        failedBefore.every((a) => a.status === 500 && a.error === 'HTTP 500'),
      `the 500 receiver was tried and retried during the rollout: ${JSON.stringify(failedBefore)}`,
    );
    const hungBefore = attempts.filter((a) => a.target_id === 1 && a.started_at < end);
    assert.ok(hungBefore.length >= 1, 'the hanging receiver held a request during the rollout');
    const rows = await outbox(fleet);
    assert.ok(
      rows.every((row) => row.state === 'pending'),
      'none delivered, none given up: still being retried',
    );
    assert.ok(hanging.requests.length > 0 && failing.requests.length > 0);
  });

  it('retries a failing receiver with growing delays and the same key, and berth status names it meanwhile', async () => {
    const fleet = await aFleet('notify retries');
    let answer: number = 500;
    const receiver = await aWebhookReceiver(() => answer);
    aDispatcher(fleet, { firstRetryMs: 400 });
    await fleet.berth(['notify', 'add', `${receiver.origin}/hooks/abc123`]);
    await fleet.berth(serviceCreateArgs('web'));

    await fleet.until('three failed attempts', () =>
      Promise.resolve(receiver.requests.length >= 3 ? true : undefined),
    );
    const status = await fleet.berth(['status', 'web']);
    assert.match(
      status.stdout,
      new RegExp(
        `^notifications: 1 target failing: ${receiver.origin.replace(/\./g, '\\.')}/… HTTP 500 after [3-9] attempts$`,
        'm',
      ),
    );
    assert.ok(!status.stdout.includes('abc123'), 'never the URL in full');
    const json = await fleet.json<{ failingNotifications: { failing: { lastStatus: number } }[] }>([
      'status',
      'web',
    ]);
    assert.equal(json.failingNotifications[0]?.failing.lastStatus, 500);

    answer = 200;
    await fleet.until('the notification delivered', async () => {
      const [row] = await outbox(fleet);
      return row?.state === 'delivered' ? row : undefined;
    });
    const keys = new Set(receiver.requests.map(keyOf));
    assert.equal(keys.size, 1, 'every attempt carries the same key');
    const attempts = await fleet.db
      .selectFrom('notification_attempts')
      .selectAll()
      .orderBy('attempt')
      .execute();
    assert.deepEqual(
      attempts.map((attempt) => attempt.status),
      [...Array.from({ length: attempts.length - 1 }, () => 500), 200],
    );
    // Each delay at least half its ceiling: 400 ms, then 800, then 1,600, …
    for (let n = 1; n < Math.min(attempts.length, 4); n++) {
      const gap =
        (attempts[n]?.started_at.getTime() ?? 0) - (attempts[n - 1]?.finished_at?.getTime() ?? 0);
      assert.ok(gap >= (400 * 2 ** (n - 1)) / 2 - 20, `retry ${n} came after ${gap} ms`);
    }
    const after = await fleet.berth(['status', 'web']);
    assert.doesNotMatch(after.stdout, /notifications:/, 'a delivery clears it');
  });

  it('gives up at once on a receiver that refuses with a 4xx', async () => {
    const fleet = await aFleet('notify 4xx');
    const receiver = await aWebhookReceiver(() => 404);
    aDispatcher(fleet);
    await fleet.berth(['notify', 'add', `${receiver.origin}/gone`]);
    await fleet.berth(serviceCreateArgs('web'));
    const row = await fleet.until('the notification given up', async () => {
      const [first] = await outbox(fleet);
      return first?.state === 'gave_up' ? first : undefined;
    });
    assert.equal(row.attempts, 1);
    const status = await fleet.berth(['status']);
    assert.match(
      status.stdout,
      /notifications: 1 target failing: .*\/… HTTP 404 after 1 attempt$/m,
    );
  });

  it('a worker SIGKILLed mid-delivery is followed by one that redelivers with the same key', async () => {
    const fleet = await aFleet('notify sigkill');
    const env = { BERTH_NOTIFY_TIMEOUT_MS: '2000' };
    const first = workerProcess(fleet, 'first', env);
    const receiver = await aWebhookReceiver(() => {
      if (first.exitCode === null && first.signalCode === null) {
        // Killed with the request in flight: it never learns the answer.
        first.kill('SIGKILL');
        return 'hang';
      }
      return 200;
    });
    await fleet.berth(['notify', 'add', `${receiver.origin}/hook`]);
    await fleet.berth(serviceCreateArgs('web'));
    await fleet.until('the first worker killed with the request in flight', () =>
      Promise.resolve(first.signalCode === 'SIGKILL' ? true : undefined),
    );
    const started = receiver.requests[0];
    assert.ok(started !== undefined, 'the first worker sent it');

    workerProcess(fleet, 'second', env);
    const redelivered = await fleet.until('the notification redelivered', () =>
      Promise.resolve(
        receiver.requests.find(
          (request, index) => index > 0 && request.body['type'] === started.body['type'],
        ),
      ),
    );
    assert.equal(keyOf(redelivered), keyOf(started), 'the same idempotency key');
    assert.equal(redelivered.body['idempotencyKey'], started.body['idempotencyKey']);
    await fleet.until('the redelivery recorded', async () => {
      const [row] = await outbox(fleet);
      return row?.state === 'delivered' ? true : undefined;
    });
    const attempts = await fleet.db
      .selectFrom('notification_attempts')
      .selectAll()
      .where('outbox_id', '=', 1)
      .orderBy('attempt')
      .execute();
    assert.equal(attempts[0]?.finished_at, null, 'the killed attempt never finished');
    assert.equal(attempts.length, 2);
    assert.equal(attempts[1]?.ok, true);
    assert.notEqual(attempts[0]?.worker, attempts[1]?.worker, 'redelivered by the successor');
  });

  it('a failed verification is told with its exit code and log location, never its command', async () => {
    const database = await testDatabase('notify verification failed');
    await aService(database.url, 'web');
    await berth(database.url, ['notify', 'add', 'https://hooks.example.com/x']);
    // As the verification stage records it (a RunTask of --verify-command that exited 3).
    await appendEvent(database.db, {
      serviceId: 1,
      deploymentId: 1,
      actor: 'worker:w1',
      kind: 'deployment.verification_failed',
      message: 'verification of v1 failed: exit code 3',
      data: {
        exitCode: 3,
        logGroup: '/ecs/web',
        logStream: 'verify/web/abc',
        command: `./smoke --token ${PASSWORD}`,
      },
    });
    const rows = await database.db
      .selectFrom('notification_outbox')
      .select(['type', 'facts'])
      .where('type', '=', 'deployment.verification_failed')
      .execute();
    assert.equal(rows.length, 1, 'written with the event');
    assert.deepEqual(rows[0]?.facts['verification'], {
      exitCode: 3,
      logGroup: '/ecs/web',
      logStream: 'verify/web/abc',
    });
    assert.ok(!JSON.stringify(rows[0]?.facts).includes(PASSWORD), 'the command is not told');
  });
});
