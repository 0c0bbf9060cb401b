import assert from 'node:assert/strict';
import { it } from 'node:test';
import { AwsCloud } from '../src/cloud/aws-cloud.ts';
import { createSimulatedAws, simulatedClients } from '../src/cloud/sim/index.ts';
import { createLogger } from '../src/logging.ts';
import { aService, serviceCreateArgs } from './support/builders.ts';
import { berth, berthJson } from './support/cli.ts';
import { testDatabase } from './support/database.ts';

interface ShownService {
  follow: { repository: string; tagPattern: string; problem: string | null } | null;
}

it('--follow refuses a bad repository or pattern with one line naming the flag, exit 2, and nothing written', async () => {
  const { url, db } = await testDatabase('follow flags');
  const refused: [string, RegExp][] = [
    ['web', /^error: --follow: "web" has no tag pattern; expected REPO:PATTERN/],
    ['Web:main-*', /^error: --follow: repository "Web" is not an ECR repository name/],
    ['web:', /^error: --follow: the tag pattern after "web:" is empty/],
    ['web:main-?', /^error: --follow: tag pattern "main-\?" uses "\?"; only \* is a wildcard/],
    ['web:main/x', /^error: --follow: tag pattern "main\/x" is not 1 to 128 letters/],
    [
      '123456789012.dkr.ecr.us-east-1.amazonaws.com/web:main-*',
      /^error: --follow: "123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com\/web" is a registry address; give the repository name only/,
    ],
  ];
  for (const [value, message] of refused) {
    const result = await berth(url, [...serviceCreateArgs('web'), '--follow', value]);
    assert.equal(result.code, 2, value);
    assert.match(result.stderr, message);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  }
  const json = await berth(url, [...serviceCreateArgs('web'), '--follow', 'web:a[b]', '--json']);
  assert.equal(json.code, 2);
  assert.equal((JSON.parse(json.stderr) as { error: { field: string } }).error.field, '--follow');
  assert.equal((await db.selectFrom('services').select('id').execute()).length, 0);

  const created = await berth(url, [...serviceCreateArgs('web'), '--follow', 'team/web:main-*']);
  assert.equal(created.code, 0, created.stderr);
  const both = await berth(url, ['service', 'update', 'web', '--follow', 'web:*', '--unfollow']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /^error: --unfollow: cannot be given with --follow/);
  const shown = await berthJson<ShownService>(url, ['service', 'show', 'web']);
  assert.deepEqual(shown.follow, { repository: 'team/web', tagPattern: 'main-*', problem: null });
});

it('service update --follow and --unfollow change what a service follows, recorded in the audit log', async () => {
  const { url } = await testDatabase('follow update');
  assert.equal((await berth(url, serviceCreateArgs('web'))).code, 0);
  let shown = await berthJson<ShownService>(url, ['service', 'show', 'web']);
  assert.equal(shown.follow, null);

  const follow = await berth(url, ['service', 'update', 'web', '--follow', 'web:release-*']);
  assert.equal(follow.code, 0, follow.stderr);
  shown = await berthJson<ShownService>(url, ['service', 'show', 'web']);
  assert.deepEqual(shown.follow, { repository: 'web', tagPattern: 'release-*', problem: null });
  const text = await berth(url, ['service', 'show', 'web']);
  assert.match(text.stdout, /follows: +ECR web:release-\*, pushes deploy as ecr/);

  const unfollow = await berth(url, ['service', 'update', 'web', '--unfollow']);
  assert.equal(unfollow.code, 0, unfollow.stderr);
  shown = await berthJson<ShownService>(url, ['service', 'show', 'web']);
  assert.equal(shown.follow, null);
  const events = await berth(url, ['events', 'web']);
  assert.match(
    events.stdout,
    // The audit log's columns: time, kind, actor, message.
    /service\.updated\s+\S+\s+service web updated: follow_repository, follow_tag_pattern/,
  );
});

it('berth sim push refuses a real cloud and a bad image with exit 2, and pushes a new image each time on the simulated AWS', async () => {
  const { url } = await testDatabase('sim push');
  const onAws = await berth(url, ['sim', 'push', 'web:main-1'], { env: { BERTH_CLOUD: 'aws' } });
  assert.equal(onAws.code, 2);
  assert.equal(
    onAws.stderr,
    'error: BERTH_CLOUD: berth sim works on the simulated AWS only, and BERTH_CLOUD is aws; push to ECR with docker push\n',
  );
  const bad = await berth(url, ['sim', 'push', 'web:main*']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^error: REPO:TAG: tag "main\*" is not 1 to 128 letters/);

  const first = await berthJson<{ image: string; digest: string; createdRepository: boolean }>(
    url,
    ['sim', 'push', 'web:main-1'],
  );
  assert.equal(first.image, '123456789012.dkr.ecr.us-east-1.amazonaws.com/web:main-1');
  assert.match(first.digest, /^sha256:[a-f0-9]{64}$/);
  assert.equal(first.createdRepository, true);
  const again = await berth(url, ['sim', 'push', 'web:main-1']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(
    again.stdout,
    /^pushed 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com\/web:main-1 \(sha256:[a-f0-9]{64}\)\nno service or app follows web with a pattern matching main-1\n$/,
  );
  assert.doesNotMatch(again.stdout, new RegExp(first.digest), 'a rebuild is a new image');

  // A push someone follows says who deploys it, and how to watch it happen.
  await aService(url, 'web', ['--follow', 'web:main-*']);
  const followed = await berth(url, ['sim', 'push', 'web:main-2']);
  assert.equal(followed.code, 0, followed.stderr);
  assert.match(
    followed.stdout,
    /\nfollowed by web: the workers deploy it at their next look \(every \d+s here\); watch it with npx berth watch web --next\n$/,
  );
});

it('berth sim push gets through a simulated AWS that throttles and fails calls, as the workers do', async () => {
  const { url, db } = await testDatabase('sim push faults');
  await createSimulatedAws(db).injectFaults({ rates: { throttle: 0.3, error: 0.2, lost: 0.1 } });
  const digests = new Set<string>();
  for (const tag of ['main-1', 'main-2', 'main-3', 'main-4']) {
    const result = await berth(url, ['sim', 'push', `web:${tag}`, '--json']);
    assert.equal(result.code, 0, result.stderr);
    digests.add((JSON.parse(result.stdout) as { digest: string }).digest);
  }
  assert.equal(digests.size, 4);
  const listing = await new AwsCloud(
    simulatedClients(createSimulatedAws(db, { throttling: false })),
    createLogger({ level: 'silent' }),
  ).listRepositoryImages('web');
  // Listed through the same faults, retried.
  assert.ok(listing.kind === 'listed');
  assert.deepEqual(new Set(listing.images.map((image) => image.digest)), digests);
});

it('a bad BERTH_FOLLOW_INTERVAL is refused with exit 2 naming the variable, before the worker starts', async () => {
  for (const value of ['0', 'soon', '2h']) {
    const result = await berth('', ['worker'], {
      env: { BERTH_FOLLOW_INTERVAL: value, BERTH_CLOUD: 'sim' },
    });
    assert.equal(result.code, 2, value);
    assert.match(result.stderr, /^error: BERTH_FOLLOW_INTERVAL: /);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  }
});
