import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, it } from 'node:test';
import { CreateRepositoryCommand, PutImageCommand } from '@aws-sdk/client-ecr';
import { sql } from 'kysely';
import { AwsCloud } from '../src/cloud/aws-cloud.ts';
import { simulatedManifest } from '../src/cloud/sim/push.ts';
import { createLogger } from '../src/logging.ts';
import { FollowLoop } from '../src/reconciler/follow.ts';
import { finishDeployment } from '../src/store/deployments.ts';
import { serviceCreateArgs } from './support/builders.ts';
import { berth } from './support/cli.ts';
import { testDatabase } from './support/database.ts';
import { motoClients, sharedMoto, stopSharedMoto } from './support/moto.ts';

after(stopSharedMoto);

const REGISTRY = '123456789012.dkr.ecr.us-east-1.amazonaws.com';

/** moto's digest of a pushed manifest: sha256 of its layers' digests joined (not of its bytes). */
function motoDigest(manifest: string): string {
  const layers = (JSON.parse(manifest) as { layers: { digest: string }[] }).layers;
  const joined = layers.map((layer) => layer.digest).join('');
  return `sha256:${createHash('sha256').update(joined).digest('hex')}`;
}

it('against moto, a PutImage of a matching tag is found by DescribeImages and recorded as exactly one deployment by ecr, however many follow loops look', async () => {
  const moto = await sharedMoto();
  await moto.reset();
  const clients = motoClients(moto.endpoint);
  const database = await testDatabase('follow moto');
  const { db, url } = database;
  await clients.ecr.send(new CreateRepositoryCommand({ repositoryName: 'web' }));

  const created = await berth(url, [...serviceCreateArgs('web'), '--follow', 'web:main-*']);
  assert.equal(created.code, 0, created.stderr);
  // moto runs no tasks: the first release is marked live here, as a finished rollout would.
  const first = await db.selectFrom('deployments').select('id').executeTakeFirstOrThrow();
  await finishDeployment(db, first.id, 'succeeded', 'v1 is live (played by the test)');

  // Each manifest has layers of its own: moto derives the digest from them.
  const main = simulatedManifest('moto main-7');
  await clients.ecr.send(
    new PutImageCommand({
      repositoryName: 'web',
      imageTag: 'dev-8',
      imageManifest: simulatedManifest('moto dev-8'),
    }),
  );
  await clients.ecr.send(
    new PutImageCommand({ repositoryName: 'web', imageTag: 'main-7', imageManifest: main }),
  );

  const logger = createLogger({ level: 'silent' });
  const loops = ['east', 'west', 'north'].map(
    (name) =>
      new FollowLoop({
        db,
        cloud: new AwsCloud(clients, logger),
        logger,
        name,
        intervalSeconds: 1,
      }),
  );
  database.defer(async () => {
    await Promise.all(loops.map((loop) => loop.stop()));
  });
  const listedAt = async () =>
    (
      await db
        .selectFrom('follow_polls')
        .select('last_listed_at')
        .where('repository', '=', 'web')
        .executeTakeFirstOrThrow()
    ).last_listed_at;
  await Promise.all(loops.map((loop) => loop.lookOnce()));
  const firstLook = await listedAt();
  assert.notEqual(firstLook, null, 'one of the loops listed the repository');
  // A second round once the repository is due again (an interval later), with the deployment
  // under way: still one.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await Promise.all(loops.map((loop) => loop.lookOnce()));
  assert.ok(((await listedAt())?.getTime() ?? 0) > (firstLook?.getTime() ?? 0), 'listed again');

  const digest = motoDigest(main);
  const deployments = (
    await sql<{ id: number; image: string; requested_by: string; kind: string }>`
      select d.id, r.image, d.requested_by, d.kind
        from deployments d join releases r on r.id = d.to_release_id
       where d.requested_by = 'ecr'`.execute(db)
  ).rows;
  assert.equal(deployments.length, 1, JSON.stringify(deployments));
  assert.equal(deployments[0]?.image, `${REGISTRY}/web:main-7@${digest}`);
  assert.equal(deployments[0]?.kind, 'deploy');
  const history = await berth(url, ['history', 'web']);
  assert.match(history.stdout, /main-7/);
});
