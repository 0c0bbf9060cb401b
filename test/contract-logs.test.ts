import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { CreateClusterCommand } from '@aws-sdk/client-ecs';
import { AwsCloud, type AwsClients } from '../src/cloud/aws-cloud.ts';
import { streamOwner, type LogEvent, type TaskNetwork } from '../src/cloud/cloud.ts';
import { createLogger } from '../src/logging.ts';
import { aContractCloud, aFargateSpec, type ContractTarget } from './support/contract.ts';
import { eventually } from './support/eventually.ts';
import { stopSharedMoto } from './support/moto.ts';

/*
 * CloudWatch Logs through Berth's adapter (FilterLogEvents with its paging, GetLogEvents with its
 * forward token, DescribeLogGroups and the polling tail where StartLiveTail is missing), against
 * moto and against the simulated AWS with the same assertions. moto runs no container, so the
 * lines a task of the simulated AWS prints are written to moto with PutLogEvents, in the stream
 * the task definition's awslogs settings name.
 */

after(stopSharedMoto);

const CLUSTER = 'prod';
const GROUP = '/berth/web';

interface LogsEnv {
  cloud: AwsCloud;
  clients: AwsClients;
  network: TaskNetwork;
  /** Runs `sh -c SCRIPT` as a one-off task and waits until its lines are in its stream. */
  printed(script: string, lines: string[]): Promise<string>;
}

async function anEnv(target: ContractTarget, label: string): Promise<LogsEnv> {
  const logger = createLogger({ level: process.env['BERTH_TEST_LOG_LEVEL'] ?? 'silent' });
  const account = await aContractCloud(target, label);
  const { clients } = account;
  const network = { ...account.network, assignPublicIp: target === 'moto' };
  await clients.ecs.send(new CreateClusterCommand({ clusterName: CLUSTER }));
  const cloud = new AwsCloud(clients, logger);
  const taskDefinition = await cloud.ensureTaskDefinition(
    aFargateSpec({
      family: 'berth-web',
      logGroup: GROUP,
      containerName: 'web',
      contentHash: 'c'.repeat(64),
    }),
  );
  let groupMade = false;
  const printed = async (script: string, lines: string[]): Promise<string> => {
    const outcome = await cloud.runTask({
      cluster: CLUSTER,
      taskDefinitionArn: taskDefinition,
      containerName: 'web',
      command: ['sh', '-c', script],
      launchType: 'FARGATE',
      network,
      clientToken: `berth-logs-${Math.random().toString(36).slice(2)}`,
      startedBy: 'berth/web/run',
    });
    assert.equal(outcome.kind, 'started');
    if (outcome.kind !== 'started') throw new Error('not started');
    const location = await cloud.taskLogLocation(taskDefinition, 'web', outcome.task.arn);
    assert.ok(location !== undefined, 'the generated container logs with awslogs');
    if (target === 'moto') {
      // What ECS's awslogs driver does on AWS: the group (awslogs-create-group), the stream, the lines.
      if (!groupMade) {
        await clients.logs.send(new CreateLogGroupCommand({ logGroupName: location.group }));
        groupMade = true;
      }
      await clients.logs.send(
        new CreateLogStreamCommand({
          logGroupName: location.group,
          logStreamName: location.stream,
        }),
      );
      const now = Date.now();
      await clients.logs.send(
        new PutLogEventsCommand({
          logGroupName: location.group,
          logStreamName: location.stream,
          logEvents: lines.map((message, index) => ({ timestamp: now + index, message })),
        }),
      );
    } else {
      await eventually(
        `the lines of ${location.stream}`,
        async () =>
          (await cloud.logStreamEvents(location.group, location.stream, undefined)).events.length >=
          lines.length,
        { timeoutMs: 15_000, pollMs: 200 },
      );
    }
    return location.stream;
  };
  return { cloud, clients, network, printed };
}

for (const target of ['moto', 'sim'] as const) {
  describe(target, () => {
    it('reads a task’s lines by stream prefix (FilterLogEvents) and by stream from a token (GetLogEvents)', async () => {
      const env = await anEnv(target, `logs contract ${target}`);
      const { cloud } = env;
      const start = new Date(Date.now() - 60_000);
      // Before any task ran: no group yet on AWS (ECS makes it), and no line.
      assert.deepEqual(await cloud.logEvents({ group: GROUP, streamPrefix: 'berth/', start }), []);

      const lines = ["+ sh -c 'echo one && echo two'", 'one', 'two'];
      const stream = await env.printed('echo one && echo two', lines);
      assert.match(stream, /^berth\/web\/[0-9a-f-]{32,36}$/);
      assert.equal(streamOwner(stream).container, 'web');

      const read = await cloud.logEvents({ group: GROUP, streamPrefix: 'berth/web/', start });
      assert.deepEqual(
        read.map((event) => [event.stream, event.message]),
        lines.map((line) => [stream, line]),
      );
      assert.equal(new Set(read.map((event) => event.id)).size, 3, 'each line its own id');
      assert.deepEqual(
        (await cloud.logEvents({ group: GROUP, streams: [stream], start })).map((e) => e.message),
        lines,
      );
      assert.deepEqual(
        await cloud.logEvents({ group: GROUP, streamPrefix: 'berth/nginx/', start }),
        [],
      );
      assert.deepEqual(await cloud.logEvents({ group: GROUP, streamPrefix: 'berth/', start }, 1), [
        read[2],
      ]);

      const first = await cloud.logStreamEvents(GROUP, stream, undefined);
      assert.equal(first.exists, true);
      assert.deepEqual(
        first.events.map((event) => event.message),
        lines,
      );
      // Read on from the token: nothing new, and the token to go on from again.
      const again = await cloud.logStreamEvents(GROUP, stream, first.nextToken);
      assert.deepEqual(again.events, []);
      assert.equal(again.exists, true);
      const third = await cloud.logStreamEvents(GROUP, stream, again.nextToken);
      assert.deepEqual(third.events, []);

      const missing = await cloud.logStreamEvents(GROUP, 'berth/web/0000000000000000', undefined);
      assert.deepEqual(missing, { events: [], nextToken: undefined, exists: false });
      assert.deepEqual(await cloud.logEvents({ group: '/berth/nothing', start }), []);
    });

    it('follows a group: the lines there, then new ones as they come (no Live Tail here: polling)', async () => {
      const env = await anEnv(target, `logs tail contract ${target}`);
      const { cloud } = env;
      const start = new Date(Date.now() - 60_000);
      await env.printed('echo before', ["+ sh -c 'echo before'", 'before']);
      const stop = new AbortController();
      const seen: LogEvent[] = [];
      const following = (async () => {
        for await (const event of cloud.tailLogEvents(
          { group: GROUP, streamPrefix: 'berth/', start },
          stop.signal,
        )) {
          seen.push(event);
        }
      })();
      const shown = (message: string) => seen.some((event) => event.message === message);
      await eventually('the line already there', () => shown('before'), { timeoutMs: 20_000 });
      await env.printed('echo after', ["+ sh -c 'echo after'", 'after']);
      await eventually('the new line', () => shown('after'), { timeoutMs: 20_000 });
      stop.abort();
      await following;
      assert.deepEqual(
        seen.map((event) => event.message),
        ["+ sh -c 'echo before'", 'before', "+ sh -c 'echo after'", 'after'],
        'each line once, in order',
      );
    });
  });
}

it('moto: FilterLogEvents is read page after page past its 10,000 events', async () => {
  const { clients } = await aContractCloud('moto', 'logs paging');
  const cloud = new AwsCloud(clients, createLogger({ level: 'silent' }));
  await clients.logs.send(new CreateLogGroupCommand({ logGroupName: GROUP }));
  const start = Date.now() - 60_000;
  for (const stream of ['berth/web/a', 'berth/web/b']) {
    await clients.logs.send(
      new CreateLogStreamCommand({ logGroupName: GROUP, logStreamName: stream }),
    );
    await clients.logs.send(
      new PutLogEventsCommand({
        logGroupName: GROUP,
        logStreamName: stream,
        logEvents: Array.from({ length: 6_000 }, (_, index) => ({
          timestamp: start + index,
          message: `${stream} ${index}`,
        })),
      }),
    );
  }
  const read = await cloud.logEvents({
    group: GROUP,
    streamPrefix: 'berth/',
    start: new Date(start),
  });
  assert.equal(read.length, 12_000);
  assert.equal(new Set(read.map((event) => event.id)).size, 12_000);
  assert.ok(
    read.every(
      (event, index) => index === 0 || event.timestamp >= (read[index - 1]?.timestamp ?? 0),
    ),
    'oldest first',
  );
});

it('sim: a CloudWatch Logs call it does not implement is refused by name', async () => {
  const { logs } = (await aContractCloud('sim', 'logs unsupported')).clients;
  await assert.rejects(
    logs.send(new CreateLogGroupCommand({ logGroupName: GROUP })),
    (error: Error) => {
      assert.equal(error.name, 'UnsupportedOperation');
      assert.equal(error.message, 'the simulated AWS does not implement logs:CreateLogGroup');
      return true;
    },
  );
});
