import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PutImageCommand } from '@aws-sdk/client-ecr';
import { simulatedClients } from '../src/cloud/sim/index.ts';
import { simulatedManifest } from '../src/cloud/sim/push.ts';
import { createLogger } from '../src/logging.ts';
import { FollowLoop } from '../src/reconciler/follow.ts';
import { aFleet, aLiveService, workerProcess } from './support/fleet.ts';
import { aWholeLookAt, ecrDeployments, nthEcrDeploymentFinished, push } from './support/follow.ts';

const REGISTRY = '123456789012.dkr.ecr.us-east-1.amazonaws.com';

it('three worker processes (one of them SIGKILLed on the way) turn one push of a matching tag into exactly one deployment by ecr that goes live; other tags, older images and a rolled-back digest deploy nothing', async () => {
  const fleet = await aFleet('follow three workers');
  const workers = ['f1', 'f2', 'f3'].map((name) =>
    workerProcess(fleet, name, { BERTH_FOLLOW_INTERVAL: '1' }),
  );
  await aLiveService(fleet, 'web', ['--follow', 'web:main-*']);

  // A matching push: one deployment, whichever of the three workers lists the repository.
  const first = await push(fleet, 'web:main-1');
  const live = await nthEcrDeploymentFinished(fleet, 1);
  await aWholeLookAt(fleet, 'web');
  await aWholeLookAt(fleet, 'web');
  assert.deepEqual(await ecrDeployments(fleet), [
    {
      id: live.id,
      service: 'web',
      image: `${REGISTRY}/web:main-1@${first}`,
      digest: first,
      outcome: 'succeeded',
    },
  ]);
  const show = await fleet.json<{ currentVersion: number | null }[]>(['service', 'list']);
  assert.equal(show[0]?.currentVersion, 2, 'the pushed release, v2, is live');

  // A tag the pattern does not match: nothing.
  await push(fleet, 'web:dev-2');
  await aWholeLookAt(fleet, 'web');
  assert.equal((await ecrDeployments(fleet)).length, 1, 'dev-2 does not match main-*');

  // An image built before the live one and tagged main-… only now (a retag): nothing.
  const { ecr } = simulatedClients(fleet.sim);
  const older = simulatedManifest('an image built before main-1 went live');
  await ecr.send(
    new PutImageCommand({ repositoryName: 'web', imageTag: 'build-0', imageManifest: older }),
  );
  const newer = await push(fleet, 'web:main-3');
  // A worker killed at whatever point it has reached (claiming, listing, recording): the push
  // is still deployed once, by one of the two left.
  workers[0]?.kill('SIGKILL');
  assert.equal((await nthEcrDeploymentFinished(fleet, 2)).outcome, 'succeeded');
  await ecr.send(
    new PutImageCommand({ repositoryName: 'web', imageTag: 'main-4', imageManifest: older }),
  );
  await aWholeLookAt(fleet, 'web');
  await aWholeLookAt(fleet, 'web');
  assert.deepEqual(
    (await ecrDeployments(fleet)).map((deployment) => deployment.digest),
    [first, newer],
    'main-4 was pushed (as build-0) before main-3',
  );

  // A push that fails its canary is rolled back, and not tried again.
  const bad = await push(fleet, 'web:main-5-5xx');
  const rolledBack = await nthEcrDeploymentFinished(fleet, 3);
  assert.equal(rolledBack.outcome, 'rolled_back');
  await aWholeLookAt(fleet, 'web');
  await aWholeLookAt(fleet, 'web');
  const deployments = await ecrDeployments(fleet);
  assert.deepEqual(
    deployments.map((deployment) => [deployment.digest, deployment.outcome]),
    [
      [first, 'succeeded'],
      [newer, 'succeeded'],
      [bad, 'rolled_back'],
    ],
  );
  assert.equal((await fleet.deployment('web')).id, rolledBack.id, 'no deployment after it');

  // A person may still ask for that digest.
  const asked = await fleet.berth(['deploy', 'web', '--image', `${REGISTRY}/web@${bad}`]);
  assert.equal(asked.code, 0, asked.stderr);
  const events = await fleet.berth(['events', 'web']);
  // The audit log's columns: time, kind, actor, message.
  assert.match(events.stdout, /deployment\.requested\s+ecr\s+deploy of web to v2 requested$/m);
  assert.match(
    events.stdout,
    /release\.created\s+ecr\s+release v2 of web: \S+\/web:main-1@sha256:\S+$/m,
  );
});

it('pushes during a deployment wait for it to finish; then the newest matching push deploys, and the one before it never does', async () => {
  const fleet = await aFleet('follow while busy');
  fleet.startWorker();
  await aLiveService(fleet, 'web', ['--follow', 'web:main-*']);
  const logger = createLogger({ level: 'silent' });
  const loop = new FollowLoop({
    db: fleet.db,
    cloud: fleet.cloud,
    logger,
    name: 'follow',
    intervalSeconds: 1,
  });
  fleet.defer(() => loop.stop());

  // A person's deployment, held at its step so that it is certainly under way.
  assert.equal((await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28'])).code, 0);
  assert.equal((await fleet.berth(['pause', 'web'])).code, 0);
  const skipped = await push(fleet, 'web:main-1');
  const newest = await push(fleet, 'web:main-2');
  loop.start();
  await aWholeLookAt(fleet, 'web');
  await aWholeLookAt(fleet, 'web');
  assert.deepEqual(await ecrDeployments(fleet), [], 'nothing replaces a deployment under way');

  assert.equal((await fleet.berth(['resume', 'web'])).code, 0);
  const deployed = await nthEcrDeploymentFinished(fleet, 1);
  assert.equal(deployed.digest, newest);
  assert.equal(deployed.outcome, 'succeeded');
  await aWholeLookAt(fleet, 'web');
  await aWholeLookAt(fleet, 'web');
  const all = await ecrDeployments(fleet);
  assert.equal(all.length, 1, 'main-1 was pushed before main-2 and is never deployed');
  assert.notEqual(all[0]?.digest, skipped);
  const history = await fleet.json<{ deployments: { requestedBy: string; outcome: string }[] }>([
    'history',
    'web',
  ]);
  assert.deepEqual(
    history.deployments.map((deployment) => [deployment.requestedBy, deployment.outcome]),
    [
      ['ecr', 'succeeded'],
      ['tester@berth-tests', 'succeeded'],
      ['tester@berth-tests', 'succeeded'],
    ],
  );
});

it('a repository whose listing fails does not keep the other followed repositories from being looked at', async () => {
  const fleet = await aFleet('follow one listing fails');
  fleet.startWorker();
  await aLiveService(fleet, 'web', ['--follow', 'web:main-*']);
  await aLiveService(fleet, 'api', ['--follow', 'api:main-*']);
  await push(fleet, 'web:main-1');
  await push(fleet, 'api:main-1');
  // Every attempt of the first listing fails (the adapter retries 500s eight times).
  await fleet.sim.injectFaults({
    failNext: { 'ecr:DescribeImages': { count: 8, kind: 'server' } },
  });
  const loop = new FollowLoop({
    db: fleet.db,
    cloud: fleet.cloud,
    logger: createLogger({ level: 'silent' }),
    name: 'follow',
    intervalSeconds: 1,
  });
  fleet.defer(() => loop.stop());
  await loop.lookOnce();
  assert.equal((await ecrDeployments(fleet)).length, 1, 'the other repository was looked at');
});
