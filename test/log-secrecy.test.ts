import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { it } from 'node:test';
import { BIN, ROOT, spawnBerth } from './support/cli.ts';
import { aFleet, aLiveService, finished } from './support/fleet.ts';

const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY';

it('worker logs carry neither the database password nor AWS credentials, even at debug level', async () => {
  const fleet = await aFleet('log secrecy');
  const password = new URL(fleet.url).password;
  assert.ok(password.length > 0, 'the test database URL has a password to leak');
  const child = spawn(process.execPath, [BIN, 'worker'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: fleet.url,
      BERTH_CLOUD: 'sim',
      BERTH_SIM_SEED: '7',
      BERTH_POLL_MS: '100',
      BERTH_LOG_LEVEL: 'trace',
      AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
      AWS_SECRET_ACCESS_KEY: AWS_SECRET,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  fleet.defer(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });

  await aLiveService(fleet);
  await fleet.berth([
    'config',
    'set',
    'web',
    'MODE=on',
    '--secret',
    'DB_PASSWORD=arn:aws:secretsmanager:us-east-1:123456789012:secret:web/db-AbCdEf',
  ]);
  assert.equal((await finished(fleet, 'web')).outcome, 'succeeded');
  child.kill('SIGTERM');
  await once(child, 'exit');

  assert.ok(output.includes('worker started'), 'the logs were captured');
  // The connection string is logged — with its password masked — so the check below can bite.
  assert.match(output, /postgres(?:ql)?:\/\/[^:\s"]+:\*\*\*@/);
  assert.ok(!output.includes(password), 'no database password in the logs');
  assert.ok(!output.includes(AWS_SECRET), 'no AWS secret key in the logs');
  assert.ok(!output.includes(fleet.url), 'no connection string in the logs');
});

it("the CLI's logs, made only when a line is due, still mask the database password", async () => {
  const fleet = await aFleet('cli log secrecy');
  const password = new URL(fleet.url).password;
  const quiet = await spawnBerth(['status'], { DATABASE_URL: fleet.url });
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stderr, '', 'nothing logged at the CLI default level');

  const debug = await spawnBerth(['status'], { DATABASE_URL: fleet.url, BERTH_LOG_LEVEL: 'debug' });
  assert.equal(debug.code, 0, debug.stderr);
  const line = debug.stderr.split('\n').find((text) => text.includes('using DATABASE_URL'));
  assert.ok(line !== undefined, `a debug line names the database: ${debug.stderr}`);
  assert.equal((JSON.parse(line) as { name: string }).name, 'berth-cli');
  assert.match(line, /postgres(?:ql)?:\/\/[^:\s"]+:\*\*\*@/);
  assert.ok(!debug.stderr.includes(password), 'no database password in the logs');
});
