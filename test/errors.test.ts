import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect as connectSocket, type Server, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { it } from 'node:test';
import { AwsCloud } from '../src/cloud/aws-cloud.ts';
import { awsClientsAt } from '../src/cloud/aws/clients.ts';
import { createLogger } from '../src/logging.ts';
import { serviceCreateArgs, TRAFFIC_FLAGS } from './support/builders.ts';
import { ACTOR, BIN, berth, ROOT } from './support/cli.ts';
import { testDatabase } from './support/database.ts';
import { eventually } from './support/eventually.ts';

/** Long enough for a slow CI machine, short enough that a hang fails the test instead. */
const DEADLINE_MS = 20_000;
const PASSWORD = 'pw-that-must-never-show';

/** A local port that nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** `url` with its host and port replaced: the same database, reached another way. */
function throughPort(url: string, port: number): string {
  const moved = new URL(url);
  moved.hostname = '127.0.0.1';
  moved.port = String(port);
  return moved.toString();
}

/** A TCP relay on `port` to the server of `url`: the database "comes up" when it starts. */
async function relay(port: number, url: string): Promise<{ close(): Promise<void> }> {
  const target = new URL(url);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connectSocket(Number(target.port || '5432'), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(upstream).pipe(client);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

type Child = ChildProcessByStdio<null, Readable, Readable>;

/** `node bin/berth.ts worker` with `env`, and its stderr as it comes. */
function workerProcess(env: NodeJS.ProcessEnv, cleanup: (fn: () => Promise<void>) => void) {
  const child: Child = spawn(process.execPath, [BIN, 'worker'], {
    cwd: ROOT,
    env: { ...process.env, BERTH_ACTOR: ACTOR, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  cleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return {
    child,
    output: () => output,
    /** Resolves when the output matches `pattern`; fails with the output so far at the deadline. */
    async says(pattern: RegExp): Promise<string> {
      await eventually(
        `the worker to say ${pattern}`,
        () => {
          if (child.exitCode !== null) {
            assert.fail(`the worker exited ${child.exitCode} before saying ${pattern}:\n${output}`);
          }
          return pattern.test(output);
        },
        { timeoutMs: DEADLINE_MS, explain: () => output },
      );
      return output;
    },
    /** SIGTERM, then the exit code, within the deadline. */
    async stop(): Promise<number | null> {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
      const [code] = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

it('berth worker waits for a database that is down, saying where and why, and starts when it comes up', async () => {
  const t = await testDatabase('worker waits for the database');
  const port = await closedPort();
  const worker = workerProcess(
    { DATABASE_URL: throughPort(t.url, port), BERTH_CLOUD: 'sim', BERTH_POLL_MS: '100' },
    (cleanup) => {
      t.defer(cleanup);
    },
  );
  const waiting = new RegExp(
    `waiting for the database at 127\\.0\\.0\\.1:${port} \\(DATABASE_URL\\): connect ECONNREFUSED 127\\.0\\.0\\.1:${port}; retrying in [\\d.]+s`,
  );
  await worker.says(waiting);
  // Still there on a later attempt: it did not give up after the first.
  await worker.says(/"attempt":2/);
  assert.equal(worker.child.exitCode, null, 'the worker is still running');

  const database = await relay(port, t.url);
  t.defer(() => database.close());
  await worker.says(/1 worker\(s\) reconciling against the simulated AWS \(DATABASE_URL\)/);
  assert.equal(await worker.stop(), 0, worker.output());
  const password = new URL(t.url).password;
  assert.ok(password !== '' && !worker.output().includes(password), 'no password in the output');
});

it('berth worker stopped while it waits for the database exits 0', async () => {
  const t = await testDatabase('worker stopped while waiting');
  const port = await closedPort();
  const worker = workerProcess(
    {
      DATABASE_URL: `postgres://berth:${PASSWORD}@127.0.0.1:${port}/berth`,
      BERTH_CLOUD: 'sim',
    },
    (cleanup) => {
      t.defer(cleanup);
    },
  );
  await worker.says(/waiting for the database at 127\.0\.0\.1:\d+ \(DATABASE_URL\)/);
  assert.equal(await worker.stop(), 0, worker.output());
  assert.match(worker.output(), /stopped while waiting for the database at 127\.0\.0\.1:\d+/);
  assert.ok(!worker.output().includes(PASSWORD), 'no password in the output');
});

it('berth worker does not wait for a database that refuses its password: exit 1 at once, saying so', async () => {
  const t = await testDatabase('worker wrong password');
  const wrong = new URL(t.url);
  wrong.password = PASSWORD;
  const result = await berth(wrong.toString(), ['worker'], { env: { BERTH_CLOUD: 'sim' } });
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /^error: cannot reach the database at [^\s]+:\d+ \(DATABASE_URL\): password authentication failed for user "[^"]+"\n$/,
  );
  assert.ok(!result.stderr.includes(PASSWORD));
});

it('a command against a database that is down says which database and why, without the password, and exits 1', async () => {
  const port = await closedPort();
  const url = `postgres://berth:${PASSWORD}@127.0.0.1:${port}/berth`;
  const text = await berth(url, ['status']);
  assert.equal(text.code, 1);
  assert.equal(
    text.stderr,
    `error: cannot reach the database at 127.0.0.1:${port} (DATABASE_URL): connect ECONNREFUSED 127.0.0.1:${port}\n`,
  );
  assert.equal(text.stdout, '');

  const json = await berth(url, serviceCreateArgs('web', ['--json']));
  assert.equal(json.code, 1);
  assert.equal(json.stderr.trimEnd().split('\n').length, 1, 'one JSON object on one line');
  assert.deepEqual(JSON.parse(json.stderr), {
    error: {
      message: `cannot reach the database at 127.0.0.1:${port} (DATABASE_URL): connect ECONNREFUSED 127.0.0.1:${port}`,
    },
  });
  for (const output of [text.stderr, json.stderr]) assert.ok(!output.includes(PASSWORD));
});

it('a command against a database that refuses the password names the database and the refusal', async () => {
  const t = await testDatabase('cli wrong password');
  const wrong = new URL(t.url);
  wrong.password = PASSWORD;
  const result = await berth(wrong.toString(), ['service', 'list']);
  assert.equal(result.code, 1);
  const address = `${new URL(t.url).hostname}:${new URL(t.url).port || '5432'}`;
  assert.equal(
    result.stderr.split(': password authentication failed')[0],
    `error: cannot reach the database at ${address} (DATABASE_URL)`,
  );
  assert.ok(!result.stderr.includes(PASSWORD));
});

it('an AWS endpoint that is down is named with the operation, and the cause is said once', async () => {
  const port = await closedPort();
  const cloud = new AwsCloud(
    // As `awsClients()` would make them, for an endpoint that nothing answers.
    awsClientsAt({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    }),
    createLogger({ level: 'silent' }),
  );
  await assert.rejects(cloud.describeServices('demo', ['web']), (error: Error) => {
    assert.equal(
      error.message,
      `ecs:DescribeServices failed: cannot reach the AWS endpoint 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    assert.ok(error.cause instanceof Error, 'the original is the cause');
    assert.equal(error.cause.message, `connect ECONNREFUSED 127.0.0.1:${port}`);
    assert.equal(error.name, error.cause.name, 'the name the SDK (here: Node) gave the error');
    assert.equal(String(error).match(/Error: /g)?.length, 1, 'the name is said once');
    return true;
  });
});

it('berth worker on an AWS endpoint that is down says which operation and which endpoint, in its log and in the audit log', async () => {
  const t = await testDatabase('aws endpoint down');
  const created = await berth(t.url, serviceCreateArgs('web', TRAFFIC_FLAGS));
  assert.equal(created.code, 0, created.stderr);
  const port = await closedPort();
  const endpoint = `http://127.0.0.1:${port}`;
  const worker = workerProcess(
    {
      DATABASE_URL: t.url,
      BERTH_CLOUD: 'aws',
      BERTH_POLL_MS: '100',
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
    },
    (cleanup) => {
      t.defer(cleanup);
    },
  );
  await worker.says(/"msg":"pass failed; retrying later"/);

  // The endpoint as configured, and the variable that configured it.
  const explained = new RegExp(
    `^(ecs|elbv2|ecr|cloudwatch):[A-Za-z]+ failed: cannot reach the AWS endpoint ${endpoint.replace(/\./g, '\\.')} \\(AWS_ENDPOINT_URL\\): connect ECONNREFUSED 127\\.0\\.0\\.1:${port}`,
  );
  const logged = worker
    .output()
    .split('\n')
    .filter((line) => line.includes('"pass failed; retrying later"'))
    .map((line) => JSON.parse(line) as { err: { message: string } })[0];
  assert.ok(logged !== undefined);
  assert.match(logged.err.message, explained);

  // The audit log, which is what a person reads: `Name: message <- Name: cause`.
  const message = await eventually(
    'a service.pass_failed event',
    async () =>
      (
        await t.db
          .selectFrom('events')
          .select('message')
          .where('kind', '=', 'service.pass_failed')
          .executeTakeFirst()
      )?.message,
    { timeoutMs: DEADLINE_MS },
  );
  const explanation = message.replace(/^pass failed, retrying: Error: /, '').split(' <- ')[0];
  assert.match(explanation ?? '', explained);
  assert.doesNotMatch(message, /Error: Error/);
  assert.equal(await worker.stop(), 0, worker.output());
});
