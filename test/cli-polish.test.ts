/**
 * What a person notices at the command line: the version, flags given twice, names that would
 * make an invalid task definition, what `scale`, `rollback` and `history` say, the warning that
 * only applies to AWS, and columns that line up.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { finishDeployment } from '../src/store/deployments.ts';
import type { DeploymentOutcome } from '../src/store/schema.ts';
import { aService, SECRET_ARN, serviceCreateArgs } from './support/builders.ts';
import { berth, berthJson, ROOT, spawnBerth } from './support/cli.ts';
import { testDatabase, type TestDatabase } from './support/database.ts';
import { aLiveService, aFleet, type Fleet } from './support/fleet.ts';

/** Ends the unfinished deployment of `name` as a worker would. */
async function workerEnds(t: TestDatabase, name: string, outcome: DeploymentOutcome) {
  const deployment = await t.db
    .selectFrom('deployments')
    .innerJoin('services', 'services.id', 'deployments.service_id')
    .select('deployments.id')
    .where('services.name', '=', name)
    .where('deployments.finished_at', 'is', null)
    .executeTakeFirstOrThrow();
  await finishDeployment(t.db, deployment.id, outcome, 'ended by the test');
}

/** Rows in the tables a command could write. */
async function rowCounts(t: TestDatabase): Promise<number[]> {
  return Promise.all(
    (['services', 'releases', 'deployments', 'events'] as const).map(async (table) => {
      const row = await t.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return row.n;
    }),
  );
}

/** Where each column starts in a header line of a table (columns are two spaces apart). */
function columnStarts(header: string, names: readonly string[]): number[] {
  return names.map((name) => header.indexOf(name));
}

const PACKAGE_VERSION = (
  JSON.parse(await readFile(`${ROOT}package.json`, 'utf8')) as { version: string }
).version;

// Made at load, so that they live until the file's tests end (a database made in a `before`
// hook is dropped when the hook ends).
const t = await testDatabase('flags twice');
await aService(t.url, 'web');
const fleet: Fleet = await aFleet('cli polish sim');
fleet.startWorker();
await aLiveService(fleet);

describe('the command line as a person meets it', () => {
  describe('berth --version', () => {
    it('prints the version in package.json and exits 0, from the binary too', async () => {
      const result = await spawnBerth(['--version'], {});
      assert.deepEqual(result, { code: 0, stdout: `${PACKAGE_VERSION}\n`, stderr: '' });
    });
  });

  describe('flags given twice', () => {
    for (const [title, args, line] of [
      [
        'a value flag',
        ['deploy', 'web', '--image', 'nginx:1.28', '--message', 'a', '--message', 'b'],
        'error: --message: given twice; give it once',
      ],
      [
        'a value flag, once as --flag=value',
        ['deploy', 'web', '--image', 'nginx:1.28', '--message=a', '--message', 'b'],
        'error: --message: given twice; give it once',
      ],
      [
        // --image is repeatable (CONTAINER=IMG), but each container takes one image.
        'an image for the main container',
        ['deploy', 'web', '--image=nginx:1.28', '--image', 'nginx:1.29'],
        'error: --image: the main container is given two images; give it once',
      ],
      [
        'a switch',
        ['deploy', 'web', '--image', 'nginx:1.28', '--replace', '--replace'],
        'error: --replace: given twice; give it once',
      ],
      [
        'a switch and its negation',
        ['service', 'update', 'web', '--public-ip', '--no-public-ip'],
        'error: --public-ip: given as both --public-ip and --no-public-ip; give one of them',
      ],
      [
        'a policy flag of service create',
        serviceCreateArgs('api', ['--bake', '1m', '--bake', '2m']),
        'error: --bake: given twice; give it once',
      ],
    ] as const) {
      it(`${title} is bad input: exit 2, one line naming it, nothing written`, async () => {
        const was = await rowCounts(t);
        const result = await berth(t.url, args);
        assert.deepEqual(result, { code: 2, stdout: '', stderr: `${line}\n` });
        assert.deepEqual(await rowCounts(t), was);
      });
    }

    it('--json reports it as one JSON object naming the field', async () => {
      const result = await berth(t.url, ['scale', 'web', '3', '--json', '--json']);
      assert.equal(result.code, 2);
      assert.deepEqual(JSON.parse(result.stderr), {
        error: { field: '--json', message: '--json: given twice; give it once' },
      });
    });

    it('--secret stays repeatable: both references are stored', async () => {
      const other = SECRET_ARN.replace('db-password', 'api-key');
      const result = await berth(t.url, [
        'config',
        'set',
        'web',
        '--secret',
        `DB_PASSWORD=${SECRET_ARN}`,
        '--secret',
        `API_KEY=${other}`,
        '--replace',
      ]);
      assert.equal(result.code, 0, result.stderr);
      const shown = await berthJson<{ secrets: Record<string, string> }>(t.url, [
        'config',
        'show',
        'web',
      ]);
      assert.deepEqual(shown.secrets, { DB_PASSWORD: SECRET_ARN, API_KEY: other });
    });
  });

  describe('service names and their task definition family', () => {
    it('refuses at create a name whose family berth-NAME would pass 255 characters', async () => {
      const t = await testDatabase('family too long');
      const was = await rowCounts(t);
      const result = await berth(t.url, serviceCreateArgs('a'.repeat(250)));
      assert.equal(result.code, 2);
      assert.equal(result.stdout, '');
      assert.match(
        result.stderr,
        /^error: NAME: "a{250}" is too long: its task definition family berth-NAME would be 256 characters and ECS allows 255; use at most 249\n$/,
      );
      assert.deepEqual(await rowCounts(t), was);
    });

    it('accepts the longest name that fits, and stores it whole', async () => {
      const t = await testDatabase('family longest');
      const name = `svc_${'x'.repeat(244)}-`;
      assert.equal(name.length, 249);
      await aService(t.url, name);
      const shown = await berthJson<{ name: string }>(t.url, ['service', 'show', name]);
      assert.equal(shown.name, name);
    });
  });

  describe('rollback goes to the release that was live before the current one, in time', () => {
    it('v1 live → v2 live → v3 rolled back: rollback goes to v1', async () => {
      const t = await testDatabase('rollback in time 1');
      await aService(t.url, 'web');
      await workerEnds(t, 'web', 'succeeded');
      await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.28']);
      await workerEnds(t, 'web', 'succeeded');
      await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.29-5xx']);
      await workerEnds(t, 'web', 'rolled_back');
      const result = await berth(t.url, ['rollback', 'web']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, 'web: rollback to v1 requested as deployment #4\n');
    });

    it('after rolling back from v2 to v1, rollback goes to v2 again, not to "v0"', async () => {
      const t = await testDatabase('rollback in time 2');
      await aService(t.url, 'web');
      await workerEnds(t, 'web', 'succeeded');
      await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.28']);
      await workerEnds(t, 'web', 'succeeded');
      await berth(t.url, ['rollback', 'web']);
      await workerEnds(t, 'web', 'succeeded'); // v1 live again
      const result = await berth(t.url, ['rollback', 'web']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, 'web: rollback to v2 requested as deployment #4\n');
    });

    it('after rollback --to v1 from v3, rollback goes to v3', async () => {
      const t = await testDatabase('rollback in time 3');
      await aService(t.url, 'web');
      await workerEnds(t, 'web', 'succeeded');
      for (const image of ['nginx:1.28', 'nginx:1.29']) {
        await berth(t.url, ['deploy', 'web', '--image', image]);
        await workerEnds(t, 'web', 'succeeded');
      }
      await berth(t.url, ['rollback', 'web', '--to', 'v1']);
      await workerEnds(t, 'web', 'succeeded');
      const result = await berth(t.url, ['rollback', 'web']);
      assert.equal(result.stdout, 'web: rollback to v3 requested as deployment #5\n');
    });
  });

  describe('berth history marks what became of each release', () => {
    it('live, was live, rolled back, failed, replaced and deploying, in text and JSON', async () => {
      const t = await testDatabase('history marks');
      await aService(t.url, 'web');
      await workerEnds(t, 'web', 'succeeded'); // v1 live
      await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.28']);
      await workerEnds(t, 'web', 'succeeded'); // v2 live
      await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.29-5xx']);
      await workerEnds(t, 'web', 'rolled_back'); // v3 rolled back by the workers
      await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.29-crash']);
      await workerEnds(t, 'web', 'failed'); // v4 failed
      await berth(t.url, ['rollback', 'web']);
      await workerEnds(t, 'web', 'succeeded'); // v1 live; v2 rolled back from by a person
      await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.30']);
      await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.31', '--replace']); // v5 replaced

      const json = await berthJson<{ releases: { version: number; status: string | null }[] }>(
        t.url,
        ['history', 'web'],
      );
      assert.deepEqual(
        json.releases.map((release) => [release.version, release.status]),
        [
          [6, 'deploying'],
          [5, 'replaced'],
          [4, 'failed'],
          [3, 'rolled back'],
          [2, 'rolled back'],
          [1, 'live'],
        ],
      );
      const text = (await berth(t.url, ['history', 'web'])).stdout;
      for (const [version, mark] of [
        ['v6', 'deploying'],
        ['v4', 'failed'],
        ['v3', 'rolled back'],
        ['v1', 'live'],
      ]) {
        assert.match(text, new RegExp(`^${version}\\s+${mark}\\s+nginx:`, 'm'));
      }
    });

    it('shows a pinned digest cut to 12 hex digits in its table, and whole in --json', async () => {
      const t = await testDatabase('history digest');
      const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
      await aService(t.url, 'web', ['--image', `nginx@${digest}`]);
      const text = (await berth(t.url, ['history', 'web'])).stdout;
      assert.match(text, /^v1\s+deploying\s+nginx@sha256:0123456789ab… /m);
      assert.doesNotMatch(text, new RegExp(digest));
      const json = await berthJson<{ releases: { image: string }[] }>(t.url, ['history', 'web']);
      assert.equal(json.releases[0]?.image, `nginx@${digest}`);
    });

    it('a release that a newer one replaced as live is marked was live', async () => {
      const t = await testDatabase('history was live');
      await aService(t.url, 'web');
      await workerEnds(t, 'web', 'succeeded');
      await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.28']);
      await workerEnds(t, 'web', 'succeeded');
      const text = (await berth(t.url, ['history', 'web'])).stdout;
      assert.match(text, /^VERSION\s+STATUS\s+IMAGE/m);
      assert.match(text, /^v2\s+live\s+nginx:1\.28/m);
      assert.match(text, /^v1\s+was live\s+nginx:1\.27/m);
    });
  });

  describe('on the simulated AWS', () => {
    it('berth scale on an idle service is recorded as a scale applied, not as drift', async () => {
      assert.equal((await fleet.berth(['scale', 'web', '3'])).code, 0);
      const applied = await fleet.until('the scale to reach ECS and the audit log', async () => {
        const found = await fleet.db
          .selectFrom('events')
          .select('message')
          .where('kind', '=', 'service.scale_applied')
          .execute();
        return found.length > 0 ? found : undefined;
      });
      assert.deepEqual(applied, [{ message: 'desired count 10 → 3 applied to ECS' }]);
      const observed = (await fleet.cloud.describeServices('demo', ['web'])).get('web');
      assert.equal(observed?.desiredCount, 3);
      const text = (await fleet.berth(['events', 'web'])).stdout;
      assert.doesNotMatch(text, /drift/);
      assert.match(
        text,
        /service\.scaled\s+tester@berth-tests\s+desired count of web set from 10 to 3/,
      );
    });

    it('no short-interval warning where the database holds the simulated AWS, even without BERTH_CLOUD', async () => {
      const result = await berth(fleet.url, serviceCreateArgs('api', ['--interval', '5s']));
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '');
    });

    it('the warning stays when BERTH_CLOUD=aws says the fleet is on AWS', async () => {
      const result = await berth(fleet.url, serviceCreateArgs('batch', ['--interval', '5s']), {
        env: { BERTH_CLOUD: 'aws' },
      });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /^warning: --interval 5s is shorter than the 1-minute period/);
    });

    it('events are aligned columns under a header: every message starts in one column', async () => {
      const lines = (await fleet.berth(['events', 'web'])).stdout.trimEnd().split('\n');
      const [header, ...rows] = lines;
      assert.ok(header !== undefined && rows.length > 5, 'a header and events');
      const [, kind, actor, message] = columnStarts(header, ['AT', 'KIND', 'ACTOR', 'MESSAGE']);
      assert.match(header, /^AT\s+KIND\s+ACTOR\s+MESSAGE$/);
      for (const row of rows) {
        // The cell before each column ends in a non-space followed by at least two spaces.
        for (const start of [kind, actor, message]) {
          assert.ok(start !== undefined && start > 0);
          assert.match(row.slice(start - 2, start + 1), /^ {2}\S$/, `aligned at ${start}: ${row}`);
        }
      }
    });

    it('status is aligned columns under a header for every service', async () => {
      const text = (await fleet.berth(['status'])).stdout;
      const [header, ...rows] = text.trimEnd().split('\n');
      assert.ok(header !== undefined);
      const names = ['SERVICE', 'DESIRED', 'OBSERVED', 'LIVE', 'DEPLOYMENT'];
      assert.match(header, /^SERVICE\s+DESIRED\s+OBSERVED\s+LIVE\s+DEPLOYMENT$/);
      const starts = columnStarts(header, names);
      // The table's rows come first; a rollout's notes follow, each starting with its service's
      // name too (`api tasks: …`), so they are not told from rows by their first word.
      const serviceRows = rows.slice(0, 3);
      assert.deepEqual(serviceRows.map((row) => row.split(' ')[0]).sort(), ['api', 'batch', 'web']);
      for (const row of serviceRows) {
        for (const start of starts.slice(1)) {
          assert.match(row.slice(start - 2, start + 1), /^ {2}\S$/, `aligned at ${start}: ${row}`);
        }
      }
    });
  });
});
