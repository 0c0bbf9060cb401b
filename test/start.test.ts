import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { DEMO_FLEET, seedDemoFleet } from '../src/cli/demo-fleet.ts';
import { postmasterPid, processAlive } from '../src/store/embedded-postgres.ts';
import { ACTOR, BIN, ROOT, berth, berthJson } from './support/cli.ts';
import { testDatabase } from './support/database.ts';
import { aFleet, finished, workerProcess } from './support/fleet.ts';
import { ecrDeployments, nthEcrDeploymentFinished, push } from './support/follow.ts';
import { eventually } from './support/eventually.ts';

/** A data folder of the test's own, as a fresh clone would have: no DATABASE_URL at all. */
async function freshDataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-start-'));
  after(async () => {
    // A Berth that failed to stop its Postgres (what these tests look for) leaves it to us.
    const pid = await postgresPid(dir);
    if (pid !== undefined && processAlive(pid)) {
      process.kill(pid, 'SIGQUIT');
      await eventually('the leftover postgres stopped', () => Promise.resolve(!processAlive(pid)), {
        timeoutMs: 30_000,
      });
    }
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

/** The pid of the embedded Postgres of `berth up` with this data folder, while it runs. */
function postgresPid(dataDir: string): Promise<number | undefined> {
  return postmasterPid(path.join(dataDir, 'pg'));
}

/**
 * A shell pipeline in a process group of its own, as a terminal runs one: a signal to the group
 * reaches npm, Berth and the reader at once, as Ctrl-C does. Killed when the test ends.
 */
function pipeline(script: string, env: NodeJS.ProcessEnv): ChildProcess {
  const inherited = { ...process.env };
  delete inherited['DATABASE_URL'];
  delete inherited['BERTH_HTTP_TOKEN'];
  delete inherited['BERTH_LOG_FORMAT'];
  const shell = spawn('sh', ['-c', script], {
    cwd: ROOT,
    detached: true,
    env: { ...inherited, BERTH_ACTOR: ACTOR, ...env },
    stdio: 'ignore',
  });
  after(() => {
    if (shell.exitCode === null && shell.signalCode === null && shell.pid !== undefined) {
      try {
        process.kill(-shell.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  return shell;
}

describe('npm start', () => {
  it('opens on the demo fleet, and Ctrl-C with its output piped into tee stops the embedded Postgres too', async () => {
    const dataDir = await freshDataDir();
    const log = path.join(dataDir, 'start.log');
    // Port 0: a free port, so that tests running at once do not contend for 7070.
    const shell = pipeline(`npm start -- --http 127.0.0.1:0 2>&1 | tee "${log}"`, {
      BERTH_DATA_DIR: dataDir,
    });
    const output = async () => readFile(log, 'utf8').catch(() => '');
    await eventually(
      'npm start printed what to try',
      async () => (await output()).includes('npx berth watch web'),
      { timeoutMs: 120_000 },
    );
    const printed = await output();
    assert.match(printed, /^dashboard: http:\/\/127\.0\.0\.1:\d+\/$/m);
    assert.match(printed, /^demo fleet seeded on the simulated AWS: api, checkout, web$/m);
    // The migrations a fresh database got, as a count: their names are berth migrate's business.
    assert.match(printed, /^berth is up: .*, schema current \(\d+ migration\(s\) applied\); /m);
    assert.doesNotMatch(printed, /\d{8}T\d{4}_\w+/);
    assert.match(printed, /npx berth deploy web --image nginx:1\.28 --wait/);
    assert.match(printed, /npx berth deploy checkout --image httpd:2\.4-5xx --wait/);
    assert.match(printed, /npx berth sim push api:main-2 +# a push to ECR: integration tests/);
    // Not a terminal: the logs stay one JSON object a line, for whatever stores them.
    const logLines = printed.split('\n').filter((line) => line.startsWith('{'));
    assert.ok(logLines.length > 0, printed);
    for (const line of logLines)
      assert.equal(typeof (JSON.parse(line) as { msg: unknown }).msg, 'string');

    const postgres = await postgresPid(dataDir);
    assert.ok(
      postgres !== undefined && processAlive(postgres),
      'berth up runs the embedded postgres',
    );
    assert.ok(shell.pid !== undefined);
    process.kill(-shell.pid, 'SIGINT'); // Ctrl-C: npm, node and tee all get it; tee dies at once
    await eventually(
      'the embedded postgres stopped',
      async () => !processAlive(postgres) && (await postgresPid(dataDir)) === undefined,
      { timeoutMs: 30_000 },
    );
    await eventually(
      'npm start exited',
      () => Promise.resolve(shell.exitCode !== null || shell.signalCode !== null),
      { timeoutMs: 30_000 },
    );

    // The fleet and its history are where they were left.
    const again = await berth('', ['history', 'web', '--json'], {
      env: { DATABASE_URL: '', BERTH_DATA_DIR: dataDir },
    });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      (JSON.parse(again.stdout) as { releases: { version: number }[] }).releases.map(
        (r) => r.version,
      ),
      [1],
    );
  });

  it('stops cleanly, embedded Postgres included, when the reader of its output goes away first', async () => {
    const dataDir = await freshDataDir();
    // head leaves after the first 200 bytes: every later write of berth up meets a closed pipe.
    const shell = pipeline(`node "${BIN}" up --http 127.0.0.1:0 2>&1 | head -c 200 >/dev/null`, {
      BERTH_DATA_DIR: dataDir,
    });
    let postgres: number | undefined;
    await eventually(
      'the pipeline ended',
      async () => {
        postgres ??= await postgresPid(dataDir);
        return shell.exitCode !== null || shell.signalCode !== null;
      },
      { timeoutMs: 120_000 },
    );
    assert.equal(shell.exitCode, 0, 'berth up stopped as if interrupted, not killed by EPIPE');
    assert.ok(postgres !== undefined, 'berth up had started the embedded postgres');
    await eventually(
      'the embedded postgres stopped',
      async () => !processAlive(postgres ?? 0) && (await postgresPid(dataDir)) === undefined,
      { timeoutMs: 30_000 },
    );
  });
});

describe('berth up', () => {
  it('stops the embedded Postgres when its terminal hangs up (SIGHUP)', async () => {
    const dataDir = await freshDataDir();
    const inherited = { ...process.env };
    delete inherited['DATABASE_URL'];
    const up = spawn(process.execPath, [BIN, 'up', '--http', '127.0.0.1:0', '--no-demo'], {
      cwd: ROOT,
      env: { ...inherited, BERTH_ACTOR: ACTOR, BERTH_DATA_DIR: dataDir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    up.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    after(() => {
      if (up.exitCode === null && up.signalCode === null) up.kill('SIGKILL');
    });
    await eventually('berth up started', () => Promise.resolve(stderr.includes('berth is up')), {
      timeoutMs: 60_000,
    });
    const postgres = await postgresPid(dataDir);
    assert.ok(postgres !== undefined && processAlive(postgres));
    up.kill('SIGHUP');
    const [code] = (await once(up, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
    assert.equal(processAlive(postgres), false, 'the postmaster is gone');
    assert.equal(await postgresPid(dataDir), undefined);
  });
});

describe('the demo fleet', () => {
  it('is seeded into a database never used, once: a restart finds it as it was left', async () => {
    const database = await testDatabase('demo fleet once');
    assert.equal(await seedDemoFleet(database.db), true);
    const services = await berthJson<{ name: string; cluster: string }[]>(database.url, [
      'service',
      'list',
    ]);
    assert.deepEqual(
      services.map((service) => service.name).sort(),
      DEMO_FLEET.map((service) => service.name).sort(),
    );
    const web = await berthJson<{ policy: Record<string, unknown> }>(database.url, [
      'service',
      'show',
      'web',
    ]);
    assert.deepEqual(web.policy['steps'], [10, 100]);
    assert.equal(web.policy['analysisIntervalSeconds'], 2);
    assert.equal(web.policy['bakeSeconds'], 10);

    assert.equal(await seedDemoFleet(database.db), false, 'a second start seeds nothing');
    assert.equal((await berthJson<unknown[]>(database.url, ['service', 'list'])).length, 3);
  });

  it('turns the printed `berth sim push api:main-2` into a verified rollout by ecr, with no other command', async () => {
    // The demo's own policies, but more traffic than its 50 requests a second: the 10 % step is
    // decided in a window or two instead of about 40 s.
    const fleet = await aFleet('demo fleet push');
    assert.equal(await seedDemoFleet(fleet.db), true);
    workerProcess(fleet, 'demo', { BERTH_FOLLOW_INTERVAL: '1' });
    const api = await berthJson<{ follow: { repository: string; tagPattern: string } | null }>(
      fleet.url,
      ['service', 'show', 'api'],
    );
    assert.deepEqual(api.follow && [api.follow.repository, api.follow.tagPattern], [
      'api',
      'main-*',
    ]);
    assert.equal((await finished(fleet, 'api', 90_000)).outcome, 'succeeded');
    const opened = await fleet.json<{ kind: string }[]>(['events', 'api', '--limit', '1000']);
    assert.ok(
      opened.every((event) => event.kind !== 'follow.failed'),
      'its ECR repository is there from the start: nothing to fix before the first push',
    );

    const digest = await push(fleet, 'api:main-2');
    const deployed = await nthEcrDeploymentFinished(fleet, 1, 'api', 120_000);
    assert.equal(deployed.digest, digest);
    assert.equal(deployed.outcome, 'succeeded');
    const tests = await fleet.db
      .selectFrom('verification_tasks')
      .select(['command', 'outcome', 'exit_code'])
      .where('deployment_id', '=', deployed.id)
      .execute();
    assert.deepEqual(tests, [
      { command: 'npm run integration-tests', outcome: 'passed', exit_code: 0 },
    ]);
    assert.deepEqual(
      (await ecrDeployments(fleet)).map((deployment) => deployment.service),
      ['api'],
      'only api follows a repository',
    );
  });

  it('is not seeded into a database that already has services of its own', async () => {
    const database = await testDatabase('demo fleet not over mine');
    const created = await berth(database.url, [
      'service',
      'create',
      'shop',
      '--cluster',
      'prod',
      '--image',
      'nginx:1.27',
      '--port',
      '80',
    ]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(await seedDemoFleet(database.db), false);
    const services = await berthJson<{ name: string }[]>(database.url, ['service', 'list']);
    assert.deepEqual(
      services.map((service) => service.name),
      ['shop'],
    );
  });
});

describe('the logs of berth up and berth worker', () => {
  it('are readable lines with BERTH_LOG_FORMAT=pretty (the default on a terminal)', async () => {
    const database = await testDatabase('pretty logs');
    const worker = spawn(process.execPath, [BIN, 'worker'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: database.url,
        BERTH_CLOUD: 'sim',
        BERTH_LOG_FORMAT: 'pretty',
        BERTH_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    worker.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    database.defer(async () => {
      if (worker.exitCode === null && worker.signalCode === null) {
        worker.kill('SIGKILL');
        await once(worker, 'exit');
      }
    });
    await eventually(
      'the worker logged its start',
      () => Promise.resolve(stderr.includes('worker started')),
      { timeoutMs: 30_000 },
    );
    worker.kill('SIGTERM');
    await once(worker, 'exit');
    assert.match(stderr, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(berth-worker\): worker started$/m);
    assert.match(stderr, /INFO \(berth-worker\): worker stopped/, 'the last line is flushed');
    assert.doesNotMatch(stderr, /"level":/);
  });
});
