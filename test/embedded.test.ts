import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ACTOR, BIN, ROOT, spawnBerth } from './support/cli.ts';

/** A data folder of the test's own, as a fresh machine would have: no DATABASE_URL at all. */
async function freshDataDir(): Promise<NodeJS.ProcessEnv> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-embedded-'));
  after(() => rm(dir, { recursive: true, force: true }));
  return { DATABASE_URL: '', BERTH_DATA_DIR: dir };
}

const postmasterPid = async (env: NodeJS.ProcessEnv): Promise<string | undefined> => {
  try {
    return (
      await readFile(path.join(env['BERTH_DATA_DIR'] ?? '', 'pg', 'postmaster.pid'), 'utf8')
    ).split('\n')[0];
  } catch {
    return undefined;
  }
};

describe('the embedded postgres', () => {
  it('lets the CLI work with no DATABASE_URL, and keeps the data across runs', async () => {
    const env = await freshDataDir();
    const created = await spawnBerth(
      ['service', 'create', 'web', '--cluster', 'demo', '--image', 'nginx:1.27', '--port', '80'],
      env,
    );
    assert.equal(created.code, 0, created.stderr);
    const history = await spawnBerth(['history', 'web', '--json'], env);
    assert.equal(history.code, 0, history.stderr);
    assert.deepEqual(
      (JSON.parse(history.stdout) as { releases: { version: number }[] }).releases.map(
        (r) => r.version,
      ),
      [1],
    );
    assert.equal(
      await postmasterPid(env),
      undefined,
      'a short command stops the server it started',
    );
  });

  it('commands connect to the server `berth up` runs instead of starting a second one', async () => {
    const env = await freshDataDir();
    // Port 0: a free port, so that tests running at once do not contend for 7070.
    const upProcess = spawn(process.execPath, [BIN, 'up', '--http', '127.0.0.1:0', '--no-demo'], {
      cwd: ROOT,
      env: { ...process.env, BERTH_ACTOR: ACTOR, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let upErr = '';
    await new Promise<void>((resolve, reject) => {
      upProcess.stderr.on('data', (chunk: Buffer) => {
        upErr += chunk.toString();
        if (upErr.includes('berth is up')) resolve();
      });
      upProcess.on('exit', () => {
        reject(new Error(`berth up exited early: ${upErr}`));
      });
    });
    const pidBefore = await postmasterPid(env);
    assert.notEqual(pidBefore, undefined);

    const created = await spawnBerth(
      ['service', 'create', 'web', '--cluster', 'demo', '--image', 'nginx:1.27', '--port', '80'],
      env,
    );
    assert.equal(created.code, 0, created.stderr);
    const status = await spawnBerth(['status', 'web', '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(await postmasterPid(env), pidBefore, 'still the server berth up started');
    assert.equal(upProcess.exitCode, null, 'berth up is still running');

    upProcess.kill('SIGTERM');
    const [code] = (await once(upProcess, 'exit')) as [number | null];
    assert.equal(code, 0);
    assert.equal(await postmasterPid(env), undefined, 'berth up stops its server on SIGTERM');
  });

  it('two commands starting at once on a fresh folder both succeed', async () => {
    const env = await freshDataDir();
    // Initialise first so that the race is over who starts the server, not who runs initdb.
    assert.equal((await spawnBerth(['migrate'], env)).code, 0);
    const [a, b] = await Promise.all([
      spawnBerth(
        ['service', 'create', 'web', '--cluster', 'demo', '--image', 'nginx:1.27', '--port', '80'],
        env,
      ),
      spawnBerth(
        ['service', 'create', 'api', '--cluster', 'demo', '--image', 'nginx:1.27', '--port', '80'],
        env,
      ),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
  });

  it('says which folder it cannot use rather than failing obscurely', async () => {
    const env = await freshDataDir();
    const blocked = path.join(env['BERTH_DATA_DIR'] ?? '', 'file-not-folder');
    await import('node:fs/promises').then((fs) => fs.writeFile(blocked, 'x'));
    const result = await spawnBerth(['service', 'list'], {
      ...env,
      BERTH_DATA_DIR: path.join(blocked, 'data'),
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^error: .*file-not-folder/m);
    assert.equal(existsSync(path.join(blocked, 'data')), false);
  });
});
