/**
 * A newcomer on an old Node: `berth` and `npm start` say which Node Berth needs and how to get
 * it, instead of failing on the first `.ts` file with ERR_UNKNOWN_FILE_EXTENSION.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BIN, ROOT } from './support/cli.ts';

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
