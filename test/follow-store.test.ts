import assert from 'node:assert/strict';
import { it } from 'node:test';
import {
  CreateRepositoryCommand,
  DescribeImagesCommand,
  PutImageCommand,
} from '@aws-sdk/client-ecr';
import { AwsCloud } from '../src/cloud/aws-cloud.ts';
import { createSimulatedAws, simulatedClients } from '../src/cloud/sim/index.ts';
import { simulatedManifest } from '../src/cloud/sim/push.ts';
import { createLogger } from '../src/logging.ts';
import { newestMatchingPush } from '../src/reconciler/follow.ts';
import { finishDeployment } from '../src/store/deployments.ts';
import { deployPush, type Push } from '../src/store/follow.ts';
import { serviceCreateArgs } from './support/builders.ts';
import { berth } from './support/cli.ts';
import { testDatabase } from './support/database.ts';

const REGISTRY = '123456789012.dkr.ecr.us-east-1.amazonaws.com';

function aPush(tag: string, digestHex: string, pushedAt: string): Push {
  const digest = `sha256:${digestHex.repeat(64 / digestHex.length)}`;
  return {
    repository: 'web',
    tag,
    digest,
    pushedAt: new Date(pushedAt),
    image: `${REGISTRY}/web:${tag}@${digest}`,
  };
}

it('a push offered by many workers at once becomes one deployment; its digest is never offered again, nor an older push, nor to a service that stopped following', async () => {
  const { db, url } = await testDatabase('follow store');
  const created = await berth(url, [...serviceCreateArgs('web'), '--follow', 'web:main-*']);
  assert.equal(created.code, 0, created.stderr);
  const service = await db.selectFrom('services').selectAll().executeTakeFirstOrThrow();
  const v1 = await db.selectFrom('deployments').select('id').executeTakeFirstOrThrow();
  await finishDeployment(db, v1.id, 'succeeded', 'v1 is live');
  const follower = { id: service.id, name: 'web', repository: 'web', tagPattern: 'main-*' };

  const push = aPush('main-9', 'a9', '2026-12-01T10:00:00Z');
  const outcomes = await Promise.all(
    Array.from({ length: 8 }, () => deployPush(db, follower, push, null)),
  );
  const kinds = outcomes.map((outcome) => outcome.kind).sort();
  assert.deepEqual(kinds, ['busy', 'busy', 'busy', 'busy', 'busy', 'busy', 'busy', 'deployed']);
  const deployed = outcomes.find((outcome) => outcome.kind === 'deployed');
  assert.ok(deployed?.kind === 'deployed');
  assert.equal(deployed.requested.deployment.requested_by, 'ecr');
  assert.equal(deployed.requested.release.image, push.image);
  assert.equal(deployed.requested.release.image_digest, push.digest);

  // Rolled back: the digest is not offered again, and the primary key refuses a second row.
  await finishDeployment(db, deployed.requested.deployment.id, 'rolled_back', 'canary failed');
  assert.equal((await deployPush(db, follower, push, null)).kind, 'known');
  await assert.rejects(
    db
      .insertInto('followed_images')
      .values({
        service_id: service.id,
        image_digest: push.digest,
        image_tag: 'main-10',
        image_pushed_at: new Date(),
        deployment_id: deployed.requested.deployment.id,
      })
      .execute(),
    { code: '23505' },
  );

  // Pushed before main-9, or before the live image: older, whatever its tag.
  const older = aPush('main-11', 'b1', '2026-12-01T09:59:59Z');
  assert.equal((await deployPush(db, follower, older, null)).kind, 'older');
  const beforeLive = aPush('main-12', 'c1', '2026-12-01T10:00:01Z');
  const live = new Date('2026-12-01T10:00:02Z');
  assert.equal((await deployPush(db, follower, beforeLive, live)).kind, 'older');

  // Unfollowed meanwhile: nothing.
  assert.equal((await berth(url, ['service', 'update', 'web', '--unfollow'])).code, 0);
  const newer = aPush('main-13', 'd1', '2026-12-01T11:00:00Z');
  assert.equal((await deployPush(db, follower, newer, null)).kind, 'unfollowed');
  const count = await db
    .selectFrom('deployments')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('requested_by', '=', 'ecr')
    .executeTakeFirstOrThrow();
  assert.equal(Number(count.n), 1);
});

it('the simulated ECR pages DescribeImages as ECR does, and the adapter reads every page: tagged images only', async () => {
  const { db } = await testDatabase('follow paging');
  const sim = createSimulatedAws(db, { throttling: false });
  const clients = simulatedClients(sim);
  const cloud = new AwsCloud(clients, createLogger({ level: 'silent' }));
  await clients.ecr.send(new CreateRepositoryCommand({ repositoryName: 'web' }));
  for (const tag of ['main-1', 'main-2', 'main-3', 'dev-4', 'main-5']) {
    await clients.ecr.send(
      new PutImageCommand({
        repositoryName: 'web',
        imageTag: tag,
        imageManifest: simulatedManifest(`paging ${tag}`),
      }),
    );
  }
  // Moving main-5 to a new image leaves the old one untagged: not listed.
  await clients.ecr.send(
    new PutImageCommand({
      repositoryName: 'web',
      imageTag: 'main-5',
      imageManifest: simulatedManifest('paging main-5 rebuilt'),
    }),
  );
  const page = await clients.ecr.send(
    new DescribeImagesCommand({ repositoryName: 'web', maxResults: 2 }),
  );
  assert.equal(page.imageDetails?.length, 2);
  assert.notEqual(page.nextToken, undefined);

  const before = (await sim.callCounts())['ecr:DescribeImages'] ?? 0;
  const listing = await cloud.listRepositoryImages('web', { pageSize: 2 });
  assert.equal(
    (await sim.callCounts())['ecr:DescribeImages'],
    before + 3,
    '5 tagged images, 2 a page',
  );
  assert.ok(listing.kind === 'listed');
  assert.deepEqual(listing.images.flatMap((image) => image.tags).sort(), [
    'dev-4',
    'main-1',
    'main-2',
    'main-3',
    'main-5',
  ]);
  assert.deepEqual(await cloud.listRepositoryImages('api'), {
    kind: 'missing',
    message:
      "ecr:DescribeImages found no repository api (The repository with name 'api' does not exist in the registry with id '123456789012')",
  });
});

it('the newest push is the newest image with a matching tag: * matches any run of characters, other tags and older images lose', () => {
  const image = (digest: string, tags: string[], pushedAt: string) => ({
    digest: `sha256:${digest.repeat(64 / digest.length)}`,
    tags,
    pushedAt: new Date(pushedAt),
    repositoryUri: `${REGISTRY}/web`,
  });
  const images = [
    image('a1', ['main-1'], '2026-12-01T10:00:00Z'),
    image('b2', ['dev-9', 'latest'], '2026-12-01T12:00:00Z'),
    image('c3', ['main-2', 'main-2-rc', 'candidate'], '2026-12-01T11:00:00Z'),
    image('d4', ['xmain-3'], '2026-12-01T13:00:00Z'),
  ];
  const newest = newestMatchingPush('web', 'main-*', images);
  assert.deepEqual(newest, {
    repository: 'web',
    tag: 'main-2-rc',
    digest: `sha256:${'c3'.repeat(32)}`,
    pushedAt: new Date('2026-12-01T11:00:00Z'),
    image: `${REGISTRY}/web:main-2-rc@sha256:${'c3'.repeat(32)}`,
  });
  assert.equal(newestMatchingPush('web', '*', images)?.tag, 'xmain-3');
  assert.equal(newestMatchingPush('web', '*main-*', images)?.tag, 'xmain-3');
  assert.equal(newestMatchingPush('web', 'main-1', images)?.tag, 'main-1');
  assert.equal(newestMatchingPush('web', 'main.1', images), undefined, '. is no wildcard');
  assert.equal(newestMatchingPush('web', 'release-*', images), undefined);
  // Pushed in the same second (moto's resolution): every worker picks the same one.
  const tied = [
    image('e5', ['main-5'], '2026-12-01T14:00:00Z'),
    image('f6', ['main-6'], '2026-12-01T14:00:00Z'),
  ];
  assert.equal(newestMatchingPush('web', 'main-*', tied)?.tag, 'main-6');
  assert.equal(newestMatchingPush('web', 'main-*', [...tied].reverse())?.tag, 'main-6');
});
