import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { spawnBerth } from './support/cli.ts';

interface History {
  releases: { version: number }[];
  deployments: { toVersion: number; outcome: string | null; finished: boolean }[];
}

it('a new user, with nothing but Node, walks through the README with the real binary', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-first-use-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const env = { DATABASE_URL: '', BERTH_DATA_DIR: dir };
  const history = async (): Promise<History> => {
    const result = await spawnBerth(['history', 'web', '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as History;
  };

  const created = await spawnBerth(
    ['service', 'create', 'web', '--cluster', 'demo', '--image', 'nginx:1.27', '--port', '80'],
    env,
  );
  assert.equal(created.code, 0, created.stderr);

  // No worker runs, so v1's deployment stays unfinished and a second deploy is refused.
  const refused = await spawnBerth(['deploy', 'web', '--image', 'nginx:1.28'], env);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /unfinished deployment #1/);

  const replaced = await spawnBerth(['deploy', 'web', '--image', 'nginx:1.28', '--replace'], env);
  assert.equal(replaced.code, 0, replaced.stderr);
  const after2 = await history();
  assert.deepEqual(
    after2.releases.map((r) => r.version),
    [2, 1],
  );
  assert.deepEqual(
    after2.deployments.map((d) => [d.toVersion, d.outcome, d.finished]),
    [
      [2, null, false],
      [1, 'replaced', true],
    ],
  );

  const badRef = await spawnBerth(['deploy', 'web', '--image', 'NOT A REF'], env);
  assert.equal(badRef.code, 2);
  assert.match(badRef.stderr, /^error: --image: "NOT A REF"/);
  const typo = await spawnBerth(['scale', 'wbe', '3'], env);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /did you mean "web"\?/);
  assert.deepEqual(await history(), after2, 'refused commands changed nothing');
});
