import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import { BIN, ROOT, berth } from './support/cli.ts';
import { createDatabase, dropDatabase } from './support/database.ts';
import { sharedMoto, stopSharedMoto } from './support/moto.ts';

interface ComposeService {
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
}

// `merge: true`: the file shares the AWS settings through a `<<: *aws` merge key.
const compose = parse(await readFile(new URL('../docker-compose.yml', import.meta.url), 'utf8'), {
  merge: true,
}) as { services: Record<string, ComposeService> };

after(stopSharedMoto);

/** The service's environment with the stack's hosts replaced by this test's servers. */
function environmentOf(name: string, replacements: { databaseUrl: string; motoEndpoint: string }) {
  const environment = { ...(compose.services[name]?.environment ?? {}) };
  if (environment['DATABASE_URL'] !== undefined)
    environment['DATABASE_URL'] = replacements.databaseUrl;
  if (environment['AWS_ENDPOINT_URL'] !== undefined) {
    environment['AWS_ENDPOINT_URL'] = replacements.motoEndpoint;
  }
  return environment;
}

function commandOf(name: string): string[] {
  const command = compose.services[name]?.command;
  assert.ok(command !== undefined, `compose service ${name} has a command`);
  return command;
}

describe('docker-compose.yml, piece by piece, against Postgres and moto', () => {
  const database = `berth_compose_${process.pid}`;
  after(async () => {
    await dropDatabase(database);
    await dropDatabase(`${database}_workers`);
  });

  it('builds Berth for its migrate, bootstrap and workers services', () => {
    for (const name of ['migrate', 'bootstrap', 'workers']) {
      assert.equal(compose.services[name]?.build, '.', `${name} is built from the Dockerfile`);
    }
  });

  it('passes the workers only settings Berth reads', () => {
    const known =
      /^(DATABASE_URL|BERTH_(CLOUD|WORKERS|LEASE_SECONDS|RESYNC_SECONDS|POLL_MS|LOG_LEVEL|ACTOR|DATA_DIR)|AWS_(ENDPOINT_URL|REGION|ACCESS_KEY_ID|SECRET_ACCESS_KEY))$/;
    for (const key of Object.keys(compose.services['workers']?.environment ?? {})) {
      assert.match(key, known);
    }
    assert.equal(compose.services['workers']?.environment?.['BERTH_CLOUD'], 'aws');
  });

  it('its migrate command migrates an empty database', async () => {
    const url = await createDatabase(database, { migrated: false });
    const moto = await sharedMoto();
    const env = environmentOf('migrate', { databaseUrl: url, motoEndpoint: moto.endpoint });
    const result = await berth(url, [...commandOf('migrate'), '--json'], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.ok((JSON.parse(result.stdout) as { applied: string[] }).applied.length > 0);
  });

  it('its bootstrap command creates the demo infrastructure in moto', async () => {
    const moto = await sharedMoto();
    await moto.reset();
    const env = environmentOf('bootstrap', { databaseUrl: '', motoEndpoint: moto.endpoint });
    const result = await berth('', [...commandOf('bootstrap'), '--json'], { env });
    assert.equal(result.code, 0, result.stderr);
    const out = JSON.parse(result.stdout) as {
      services: { name: string; listenerRuleArn: string }[];
    };
    assert.deepEqual(
      out.services.map((service) => service.name),
      ['web'],
    );
    assert.match(out.services[0]?.listenerRuleArn ?? '', /:listener-rule\/app\/berth-demo\//);
  });

  it('its workers command starts against moto and drains on SIGTERM', async () => {
    const moto = await sharedMoto();
    const url = await createDatabase(`${database}_workers`, { migrated: true });
    const env = environmentOf('workers', { databaseUrl: url, motoEndpoint: moto.endpoint });
    const child = spawn(process.execPath, [BIN, ...commandOf('workers')], {
      cwd: ROOT,
      env: { ...process.env, ...env, BERTH_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`the workers did not start: ${stderr}`));
      }, 20_000);
      child.stderr.on('data', () => {
        if (stderr.includes('reconciling against AWS')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    assert.match(stderr, /2 worker\(s\) reconciling against AWS/);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
  });
});
