import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readEnvironment } from '../src/config.ts';
import { InputError } from '../src/validation/input-error.ts';
import { serviceCreateArgs } from './support/builders.ts';
import { berth } from './support/cli.ts';
import { testDatabase, type TestDatabase } from './support/database.ts';

const CREATE_WEB = serviceCreateArgs('web');

/** Rows the CLI may have written: none, after a refusal. */
async function rowsWritten(t: TestDatabase): Promise<{ services: number; events: number }> {
  const services = await t.db
    .selectFrom('services')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const events = await t.db
    .selectFrom('events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return { services: services.n, events: events.n };
}

describe('BERTH_ACTOR', () => {
  it('of 513 characters is refused with exit 2, naming the variable, and nothing is written', async () => {
    const t = await testDatabase('actor too long');
    const result = await berth(t.url, CREATE_WEB, { env: { BERTH_ACTOR: 'a'.repeat(513) } });
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr.split('\n').length, 2, 'one line');
    assert.match(
      result.stderr,
      /^error: BERTH_ACTOR: "a{100}…" \(513 characters\) is too long; expected who is asking, 1 to 512 characters on one line/,
    );
    assert.deepEqual(await rowsWritten(t), { services: 0, events: 0 });
  });

  it('with a line break is refused, and with --json the error is one JSON object naming it', async () => {
    const t = await testDatabase('actor line break');
    const result = await berth(t.url, [...CREATE_WEB, '--json'], {
      env: { BERTH_ACTOR: 'alice\nbob' },
    });
    assert.equal(result.code, 2);
    const error = JSON.parse(result.stderr) as { error: { field: string; message: string } };
    assert.equal(error.error.field, 'BERTH_ACTOR');
    assert.match(error.error.message, /contains a line break or other control character/);
    assert.deepEqual(await rowsWritten(t), { services: 0, events: 0 });
  });

  it('of 512 characters is accepted and recorded as the actor', async () => {
    const t = await testDatabase('actor longest');
    const actor = `${'é'.repeat(500)}@example.com`;
    const result = await berth(t.url, CREATE_WEB, { env: { BERTH_ACTOR: actor } });
    assert.equal(result.code, 0, result.stderr);
    const actors = await t.db.selectFrom('events').select('actor').execute();
    assert.ok(actors.length > 0);
    for (const row of actors) assert.equal(row.actor, actor);
  });
});

describe('a bad variable is refused like a bad flag: exit 2, one line naming it and what is valid', () => {
  const cases: [variable: string, value: string, says: RegExp][] = [
    ['BERTH_CLOUD', 'gcp', /"gcp" is not a cloud; expected sim \(the simulated AWS\) or aws/],
    ['BERTH_WORKERS', '0', /"0" is not a whole number from 1 to 64/],
    ['BERTH_WORKERS', '2.5', /"2\.5" is not a whole number from 1 to 64/],
    ['BERTH_LEASE_SECONDS', 'abc', /"abc" is not a number of seconds from 1 to 3600/],
    ['BERTH_LEASE_SECONDS', '30s', /"30s" is not a number of seconds/],
    ['BERTH_RESYNC_SECONDS', '-5', /"-5" is not a number of seconds from 1 to 86400/],
    ['BERTH_POLL_MS', '1e3', /"1e3" is not a whole number from 10 to 3600000/],
    ['BERTH_METRICS_DELAY_SECONDS', 'soon', /"soon" is not a number of seconds from 0 to 3600/],
    ['BERTH_SIM_SEED', 'seven', /"seven" is not a whole number from 0 to 4294967295/],
    [
      'BERTH_LOG_LEVEL',
      'loud',
      /"loud" is not a log level; expected fatal, error, warn, info, debug, trace or silent/,
    ],
    ['BERTH_DATA_DIR', '   ', /" {3}" is blank; expected a folder/],
    ['BERTH_ACTOR', ' ', /" " is blank/],
    // Checked for every command, not only where the simulated AWS is built.
    ['BERTH_SIM_FAULTS', 'throttle=2', /"throttle=2" is not one/],
    ['BERTH_SIM_LATENCY_MS', 'fast', /BERTH_SIM_LATENCY_MS/],
  ];
  for (const [variable, value, says] of cases) {
    it(`${variable}=${JSON.stringify(value)}`, async () => {
      const t = await testDatabase(`bad ${variable} ${value}`);
      const result = await berth(t.url, CREATE_WEB, { env: { [variable]: value } });
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr.split('\n').length, 2, 'one line');
      assert.ok(result.stderr.startsWith(`error: ${variable}: `), result.stderr);
      assert.match(result.stderr, says);
      assert.deepEqual(await rowsWritten(t), { services: 0, events: 0 });
    });
  }

  it('the same for berth worker, before it reaches for a database', async () => {
    const result = await berth('', ['worker'], {
      env: { DATABASE_URL: '', BERTH_DATA_DIR: '/nonexistent', BERTH_LEASE_SECONDS: '0' },
    });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: BERTH_LEASE_SECONDS: "0" is not a number of seconds/);
  });
});

describe('DATABASE_URL', () => {
  it('that is not a postgres URL is refused with exit 2, without showing its password', async () => {
    for (const url of ['mysql://berth:hunter2-secret@db/berth', 'hunter2-secret at db']) {
      const result = await berth(url, ['service', 'list']);
      assert.equal(result.code, 2, result.stderr);
      assert.match(
        result.stderr,
        /^error: DATABASE_URL: .*expected a postgres:\/\/ or postgresql:\/\/ URL, e\.g\. postgres:\/\/user:password@host:5432\/berth\n$/,
      );
      assert.ok(!result.stderr.includes('hunter2'), result.stderr);
    }
  });

  it('as postgresql:// is accepted', () => {
    const url = 'postgresql://berth:secret@db.internal:5433/berth?sslmode=require';
    assert.equal(readEnvironment({ DATABASE_URL: url }).databaseUrl, url);
  });
});

it('an empty variable counts as unset: the defaults apply', () => {
  const environment = readEnvironment({
    DATABASE_URL: '',
    BERTH_DATA_DIR: '',
    BERTH_ACTOR: '',
    BERTH_CLOUD: '',
    BERTH_WORKERS: '',
    BERTH_LEASE_SECONDS: '',
    BERTH_METRICS_DELAY_SECONDS: '',
  });
  assert.equal(environment.databaseUrl, undefined);
  assert.equal(environment.dataDir, '.berth');
  assert.match(environment.actor, /.@./);
  assert.equal(environment.cloud, undefined);
  assert.equal(environment.workers, 1);
  assert.equal(environment.leaseSeconds, 30);
  assert.equal(environment.metricsDelaySeconds, undefined);
});

it('valid values are read as given', () => {
  const environment = readEnvironment({
    BERTH_CLOUD: 'aws',
    BERTH_WORKERS: '4',
    BERTH_LEASE_SECONDS: '2.5',
    BERTH_RESYNC_SECONDS: '600',
    BERTH_POLL_MS: '100',
    BERTH_METRICS_DELAY_SECONDS: '0',
    BERTH_SIM_SEED: '0',
    BERTH_LOG_LEVEL: 'debug',
    BERTH_ACTOR: 'ci@build-7',
    BERTH_DATA_DIR: '/var/tmp/berth',
  });
  assert.deepEqual(
    {
      databaseUrl: environment.databaseUrl,
      dataDir: environment.dataDir,
      logLevel: environment.logLevel,
      actor: environment.actor,
      cloud: environment.cloud,
      workers: environment.workers,
      leaseSeconds: environment.leaseSeconds,
      resyncSeconds: environment.resyncSeconds,
      pollMs: environment.pollMs,
      simSeed: environment.simSeed,
      metricsDelaySeconds: environment.metricsDelaySeconds,
    },
    {
      databaseUrl: undefined,
      dataDir: '/var/tmp/berth',
      logLevel: 'debug',
      actor: 'ci@build-7',
      cloud: 'aws',
      workers: 4,
      leaseSeconds: 2.5,
      resyncSeconds: 600,
      pollMs: 100,
      simSeed: 0,
      metricsDelaySeconds: 0,
    },
  );
  assert.throws(() => readEnvironment({ BERTH_CLOUD: 'gcp' }), InputError);
});
