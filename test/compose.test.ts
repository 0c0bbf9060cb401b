import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import { readEnvironment } from '../src/config.ts';
import { BIN, ROOT, berth } from './support/cli.ts';
import { createDatabase, dropDatabase } from './support/database.ts';
import { sharedMoto, stopSharedMoto } from './support/moto.ts';
import { eventually } from './support/eventually.ts';

interface ComposeService {
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  profiles?: string[];
  volumes?: string[];
  healthcheck?: { disable?: boolean };
}

/** `${NAME:-default}` as compose substitutes it, for a user with no .env file. */
function substituted(value: string): string {
  return value.replace(
    /\$\{(\w+):-([^}]*)\}/g,
    (_all, _name: string, fallback: string) => fallback,
  );
}

// `merge: true`: the file shares the AWS settings through a `<<: *aws` merge key.
const compose = parse(await readFile(new URL('../docker-compose.yml', import.meta.url), 'utf8'), {
  merge: true,
}) as { services: Record<string, ComposeService> };

after(stopSharedMoto);

/** The service's environment with the stack's hosts replaced by this test's servers. */
function environmentOf(name: string, replacements: { databaseUrl: string; motoEndpoint: string }) {
  const environment = Object.fromEntries(
    Object.entries(compose.services[name]?.environment ?? {}).map(([key, value]) => [
      key,
      substituted(value),
    ]),
  );
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
    await dropDatabase(`${database}_up`);
  });

  const berthServices = ['migrate', 'up', 'migrate-moto', 'bootstrap', 'stand-in', 'workers'];

  it('runs Postgres, migrate and berth up by default, and the moto path under --profile moto', () => {
    const byProfile = (profile: string | undefined) =>
      Object.entries(compose.services)
        .filter(([, service]) => service.profiles?.[0] === profile)
        .map(([name]) => name)
        .sort();
    assert.deepEqual(byProfile(undefined), ['migrate', 'postgres', 'up']);
    assert.deepEqual(byProfile('moto'), [
      'bootstrap',
      'migrate-moto',
      'moto',
      'stand-in',
      'workers',
    ]);
    for (const name of berthServices) {
      assert.equal(compose.services[name]?.build, '.', `${name} is built from the Dockerfile`);
    }
  });

  it('passes Berth only settings it reads, each valid as given', () => {
    const known =
      /^(DATABASE_URL|BERTH_(CLOUD|WORKERS|LEASE_SECONDS|RESYNC_SECONDS|POLL_MS|LOG_LEVEL|ACTOR|DATA_DIR|HTTP_TOKEN|METRICS_DELAY_SECONDS|METRIC_RESOLUTION_SECONDS)|AWS_(ENDPOINT_URL|REGION|ACCESS_KEY_ID|SECRET_ACCESS_KEY))$/;
    for (const name of berthServices) {
      const environment = environmentOf(name, { databaseUrl: '', motoEndpoint: '' });
      for (const key of Object.keys(environment)) assert.match(key, known, `${name}: ${key}`);
      assert.doesNotThrow(() => readEnvironment(environment), `${name}'s environment`);
    }
    assert.equal(compose.services['workers']?.environment?.['BERTH_CLOUD'], 'aws');
    assert.equal(compose.services['up']?.environment?.['BERTH_CLOUD'], 'sim');
    // The Dockerfile's healthcheck asks the database: a long-running service without one opts out.
    for (const [name, service] of Object.entries(compose.services)) {
      if (service.build === '.' && service.environment?.['DATABASE_URL'] === undefined) {
        assert.ok(
          name === 'bootstrap' || service.healthcheck?.disable === true,
          `${name} runs without a database and must disable the image's healthcheck`,
        );
      }
    }
  });

  it('builds an image whose entry and healthcheck run the binary users run', async () => {
    const dockerfile = await readFile(new URL('../Dockerfile', import.meta.url), 'utf8');
    const packageJson = JSON.parse(
      await readFile(new URL('../package.json', import.meta.url), 'utf8'),
    ) as { bin: { berth: string } };
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
    assert.deepEqual(JSON.parse(entry ?? 'null'), ['node', packageJson.bin.berth]);
    const healthcheck = /^\s*CMD (\[.*\])$/m.exec(dockerfile.split('HEALTHCHECK')[1] ?? '')?.[1];
    assert.deepEqual(JSON.parse(healthcheck ?? 'null'), [
      'node',
      packageJson.bin.berth,
      'service',
      'list',
      '--json',
    ]);
    // What the image copies holds the entry and what it imports.
    for (const folder of ['bin', 'src', 'migrations']) {
      assert.match(dockerfile, new RegExp(`^COPY ${folder} \\./${folder}$`, 'm'));
    }
  });

  it("publishes berth up's daemon on the host's loopback only, behind a token", () => {
    assert.deepEqual(compose.services['up']?.ports, ['127.0.0.1:7070:7070']);
    assert.deepEqual(commandOf('up'), ['up', '--http', '0.0.0.0:7070']);
    const token = environmentOf('up', { databaseUrl: '', motoEndpoint: '' })['BERTH_HTTP_TOKEN'];
    assert.equal(readEnvironment({ BERTH_HTTP_TOKEN: token }).httpToken, token);
  });

  it("gives the moto profile its own database, made by Postgres's init script", async () => {
    const mounted = compose.services['postgres']?.volumes ?? [];
    assert.ok(
      mounted.includes('./compose/postgres-init.sql:/docker-entrypoint-initdb.d/berth-moto.sql:ro'),
    );
    const script = await readFile(new URL('../compose/postgres-init.sql', import.meta.url), 'utf8');
    for (const name of ['migrate-moto', 'workers']) {
      const url = new URL(compose.services[name]?.environment?.['DATABASE_URL'] ?? '');
      assert.match(
        script,
        new RegExp(`^create database ${url.pathname.slice(1)} owner berth;$`, 'm'),
      );
    }
    assert.equal(
      new URL(compose.services['up']?.environment?.['DATABASE_URL'] ?? '').pathname,
      '/berth',
      'the simulated AWS stack keeps the database the postgres image makes',
    );
  });

  it('its migrate command migrates an empty database', async () => {
    const url = await createDatabase(database, { migrated: false });
    const moto = await sharedMoto();
    const env = environmentOf('migrate', { databaseUrl: url, motoEndpoint: moto.endpoint });
    const result = await berth(url, [...commandOf('migrate'), '--json'], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.ok((JSON.parse(result.stdout) as { applied: string[] }).applied.length > 0);
  });

  it('its up command serves the daemon with the token and takes the demo fleet through rollouts', async () => {
    const url = await createDatabase(`${database}_up`, { migrated: true });
    const env = environmentOf('up', { databaseUrl: url, motoEndpoint: '' });
    // Port 0 instead of 7070: a free port, so that runs at once do not contend.
    const command = commandOf('up').map((part) => part.replace(/:7070$/, ':0'));
    const child = spawn(process.execPath, [BIN, ...command], {
      cwd: ROOT,
      env: { ...process.env, ...env, BERTH_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    after(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    });
    await eventually(
      'berth up printed what to try',
      () => Promise.resolve(stderr.includes('npx berth watch web')),
      { timeoutMs: 60_000 },
    );
    assert.match(stderr, /demo fleet seeded on the simulated AWS: api, checkout, web/);
    assert.match(
      stderr,
      /^dashboard: http:\/\/127\.0\.0\.1:\d+\/$/m,
      'the address a browser opens',
    );
    const port =
      /serving the dashboard, \/healthz, \/readyz and \/metrics on http:\/\/0\.0\.0\.0:(\d+)/.exec(
        stderr,
      )?.[1];
    assert.ok(port !== undefined, stderr);
    const metrics = `http://127.0.0.1:${port}/metrics`;
    assert.equal((await fetch(metrics)).status, 401, 'no token, no metrics');
    const authorized = await fetch(metrics, {
      headers: { authorization: `Bearer ${env['BERTH_HTTP_TOKEN'] ?? ''}` },
    });
    assert.equal(authorized.status, 200);
    assert.match(await authorized.text(), /berth_reconcile_passes_total/);

    const firstOutcome = async (name: string) => {
      const history = await berth(url, ['history', name, '--json']);
      return (JSON.parse(history.stdout) as { deployments: { outcome: string | null }[] })
        .deployments[0]?.outcome;
    };
    await eventually(
      'the demo fleet went live',
      async () => {
        const outcomes = await Promise.all(['web', 'api', 'checkout'].map(firstOutcome));
        return outcomes.every((outcome) => outcome === 'succeeded');
      },
      { timeoutMs: 90_000 },
    );
    // The quick start's bad release, against the stack as compose runs it: a canary, judged,
    // rolled back.
    const bad = await berth(url, ['deploy', 'checkout', '--image', 'httpd:2.4-5xx', '--wait']);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /rolled back: canary analysis failed: 5xx rate/);

    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
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

  it('its stand-in command plays ECS and the ALB for moto until SIGTERM', async () => {
    const moto = await sharedMoto();
    const env = environmentOf('stand-in', { databaseUrl: '', motoEndpoint: moto.endpoint });
    const child = spawn(process.execPath, [BIN, ...commandOf('stand-in')], {
      cwd: ROOT,
      env: { ...process.env, ...env, BERTH_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await eventually(
      'the stand-in started',
      () => Promise.resolve(stderr.includes('standing in for ECS and the ALB')),
      { timeoutMs: 20_000 },
    );
    assert.match(stderr, new RegExp(`at ${moto.endpoint}: .* on demo;`));
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /tick failed/, 'every tick against moto answered');
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
