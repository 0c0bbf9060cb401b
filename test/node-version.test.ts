/**
 * A newcomer on an old Node: `berth` and `npm start` say which Node Berth needs and how to get
 * it, instead of failing on the first `.ts` file with ERR_UNKNOWN_FILE_EXTENSION.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BIN, ROOT } from './support/cli.ts';
import { testDatabase } from './support/database.ts';

const run = promisify(execFile);

/** What an old Node prints and its exit code, for `node ARGS` with `nodeBinary`. */
async function runOld(
  nodeBinary: string,
  args: readonly string[],
): Promise<{ code: number; stderr: string; stdout: string }> {
  try {
    const { stdout, stderr } = await run(nodeBinary, [...args], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** The machine's own Node when it is older than Berth needs (Debian's is 20), else undefined. */
async function machineOldNode(): Promise<{ path: string; version: string } | undefined> {
  for (const path of ['/usr/bin/node', '/usr/local/bin/node', '/bin/node']) {
    try {
      await access(path);
      const { stdout } = await run(path, ['--version']);
      const [major = 0, minor = 0] = stdout.trim().replace(/^v/, '').split('.').map(Number);
      if (major < 22 || (major === 22 && minor < 18)) return { path, version: stdout.trim() };
    } catch {
      // not there, or not a Node: look further
    }
  }
  return undefined;
}

function assertToldWhatToDo(result: { code: number; stderr: string }, version: string): void {
  assert.equal(result.code, 1, result.stderr);
  const lines = result.stderr.split('\n');
  assert.equal(lines[0], `Berth needs Node ≥ 22.18 (you have ${version.replace(/^v/, '')}).`);
  // The README's recipe, for this machine's platform and architecture.
  assert.match(result.stderr, /npm install --prefix ~\/\.cache\/node24 node-\w+-\w+@24\n/);
  assert.match(
    result.stderr,
    /export PATH=~\/\.cache\/node24\/node_modules\/node-\w+-\w+\/bin:\$PATH/,
  );
  assert.doesNotMatch(result.stderr, /ERR_UNKNOWN_FILE_EXTENSION|TypeError|SyntaxError/);
}

describe('an old Node', () => {
  it('is told the Node Berth needs and how to get it, by the binary and by npm start', async () => {
    // npm start and the installed `berth` both go through the entry that checks.
    const manifest = JSON.parse(await readFile(`${ROOT}package.json`, 'utf8')) as {
      bin: { berth: string };
      scripts: { start: string };
    };
    assert.equal(manifest.bin.berth, 'bin/berth.js');
    assert.equal(manifest.scripts.start, 'node bin/berth.js up');
    const old = await machineOldNode();
    if (old !== undefined) {
      // The machine's own old Node: proof that it can parse and run the entry.
      assertToldWhatToDo(await runOld(old.path, [BIN, '--version']), old.version);
      assertToldWhatToDo(await runOld(old.path, [BIN, 'up']), old.version);
    }
    // Always, on every machine: this Node made to report an older version before the entry runs.
    const pretend = `data:text/javascript,Object.defineProperty(process.versions,'node',{value:'22.17.1'})`;
    const pretended = await runOld(process.execPath, ['--import', pretend, BIN, 'status']);
    assertToldWhatToDo(pretended, '22.17.1');
    assert.equal(pretended.stdout, '');
  });

  it('runs berth as usual on a Node that is new enough', async () => {
    const result = await runOld(process.execPath, [BIN, '--version']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});

describe('berth installed as a package', () => {
  it('runs from under node_modules, where Node strips no types by itself', async () => {
    // As `npm install -g berth-0.1.0.tgz` lays it out: the files themselves, not a link to a
    // clone, under a node_modules; its dependencies found above it, as npm would hoist them.
    const cache = path.join(ROOT, 'node_modules', '.cache');
    await mkdir(cache, { recursive: true });
    const prefix = await mkdtemp(path.join(cache, 'berth-installed-'));
    try {
      const installed = path.join(prefix, 'node_modules', 'berth');
      for (const entry of ['bin', 'src', 'migrations', 'package.json']) {
        await cp(path.join(ROOT, entry), path.join(installed, entry), { recursive: true });
      }
      const bin = path.join(installed, 'bin', 'berth.js');
      const version = await runOld(process.execPath, [bin, '--version']);
      assert.equal(version.code, 0, version.stderr);
      assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
      assert.equal(version.stderr, '', 'no warning about how the sources were loaded');

      // A command that loads the store, Kysely and pg, and reads a migrated database.
      const { url } = await testDatabase('installed berth');
      const status = await run(process.execPath, [bin, 'status', '--json'], {
        env: { ...process.env, DATABASE_URL: url },
      });
      assert.equal(status.stderr, '');
      assert.deepEqual(JSON.parse(status.stdout), [], 'no services yet');
    } finally {
      await rm(prefix, { recursive: true, force: true });
    }
  });
});
