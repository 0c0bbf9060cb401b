import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aService } from './support/builders.ts';
import { berth, berthJson } from './support/cli.ts';
import { testDatabase, type TestDatabase } from './support/database.ts';

/** A Slack-style hook: its path is its credential. */
const HOOK = 'https://hooks.example.com/services/T0001/B0002/xoxbSECRETtoken';

interface TargetJson {
  id: number;
  url: string;
  format: string;
  secret: boolean;
  service: string | null;
}

async function rowCounts(database: TestDatabase) {
  const targets = await database.db
    .selectFrom('notification_targets')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const events = await database.db
    .selectFrom('events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return { targets: targets.n, events: events.n };
}

describe('berth notify', () => {
  it('adds, lists and removes targets, audited, never printing a URL in full', async () => {
    const database = await testDatabase('notify add list remove');
    await aService(database.url, 'web');

    const added = await berth(database.url, ['notify', 'add', HOOK]);
    assert.equal(added.code, 0, added.stderr);
    assert.match(
      added.stdout,
      /webhook #1 added: https:\/\/hooks\.example\.com\/… \(json\) hears about every service/,
    );
    const slack = await berthJson<TargetJson>(database.url, [
      'notify',
      'add',
      'http://127.0.0.1:8125/chat',
      '--service',
      'web',
      '--format',
      'slack',
    ]);
    assert.deepEqual(
      { url: slack.url, format: slack.format, service: slack.service },
      { url: 'http://127.0.0.1:8125/…', format: 'slack', service: 'web' },
    );

    const listed = await berthJson<TargetJson[]>(database.url, ['notify', 'list']);
    assert.deepEqual(
      listed.map((target) => [target.id, target.url, target.format, target.service]),
      [
        [1, 'https://hooks.example.com/…', 'json', null],
        [2, 'http://127.0.0.1:8125/…', 'slack', 'web'],
      ],
    );
    const table = await berth(database.url, ['notify', 'list']);
    assert.match(table.stdout, /#2\s+http:\/\/127\.0\.0\.1:8125\/…\s+slack\s+web\s+0\s+0\s+ok/);

    const removed = await berth(database.url, ['notify', 'remove', '#1']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(
      (await berthJson<TargetJson[]>(database.url, ['notify', 'list'])).map((target) => target.id),
      [2],
    );

    const audit = await database.db
      .selectFrom('events')
      .select(['kind', 'message', 'data', 'service_id'])
      .where('kind', 'like', 'notification.%')
      .orderBy('id')
      .execute();
    assert.deepEqual(
      audit.map((event) => event.kind),
      ['notification.target_added', 'notification.target_added', 'notification.target_removed'],
    );
    assert.equal(audit[1]?.service_id, 1, 'a service target is in the service audit log');
    const everything = [added, table, removed].map((r) => r.stdout + r.stderr).join('\n');
    const recorded = JSON.stringify(audit);
    for (const text of [everything, recorded]) {
      assert.ok(!text.includes('xoxbSECRETtoken'), 'the hook token is never shown or recorded');
      assert.ok(!text.includes('/services/T0001'), 'nor its path');
    }
  });

  it('refuses bad targets with exit 2, one line naming the field, and writes nothing', async () => {
    const database = await testDatabase('notify bad input');
    await aService(database.url, 'web');
    await berth(database.url, ['notify', 'add', HOOK]);
    const before = await rowCounts(database);

    const cases: [string[], RegExp][] = [
      [
        ['notify', 'add', 'ftp://files.example.com/hook'],
        /^error: URL: is a "ftp:" URL; expected an http:\/\/ or https:\/\/ URL$/,
      ],
      [['notify', 'add', 'hooks.example.com/x'], /^error: URL: is not a URL \(not shown/],
      [
        ['notify', 'add', 'http://127.0.0.1:9/x'],
        /^error: URL: uses port 9, which HTTP clients refuse to connect to/,
      ],
      [
        ['notify', 'add', 'https://bot:pa55word@hooks.example.com/x'],
        /^error: URL: carries credentials \(https:\/\/hooks\.example\.com\/… with user:password@, not shown\); mark the target --secret/,
      ],
      [
        ['notify', 'add', 'https://hooks.example.com/y', '--format', 'xml'],
        /^error: --format: "xml" is not a format; expected json or slack$/,
      ],
      [
        ['notify', 'add', 'https://hooks.example.com/y', '--service', 'wbe'],
        /^error: --service: no service named "wbe"; did you mean "web"\?$/,
      ],
      [['notify', 'add', HOOK], /^error: URL: is already target #1; remove it first/],
      [['notify', 'remove', '7'], /^error: ID: no notification target #7; there are #1/],
      [['notify', 'remove', 'all'], /^error: ID: "all" is not a whole number/],
    ];
    for (const [args, message] of cases) {
      const result = await berth(database.url, args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr.trim(), message, args.join(' '));
      assert.equal(result.stderr.trim().split('\n').length, 1, 'one line');
      assert.ok(!result.stderr.includes('pa55word'), 'a password is never echoed');
      assert.equal(result.stdout, '');
    }
    const json = await berth(database.url, ['notify', 'add', 'gopher://x', '--json']);
    assert.equal(json.code, 2);
    assert.equal((JSON.parse(json.stderr) as { error: { field: string } }).error.field, 'URL');
    assert.deepEqual(await rowCounts(database), before, 'nothing written');
  });

  it('stores credentials in a URL marked --secret, and shows them nowhere', async () => {
    const database = await testDatabase('notify secret');
    const added = await berthJson<TargetJson>(database.url, [
      'notify',
      'add',
      'https://bot:pa55word@hooks.example.com/x',
      '--secret',
    ]);
    assert.deepEqual(
      { url: added.url, secret: added.secret },
      { url: 'https://hooks.example.com/…', secret: true },
    );
    const stored = await database.db
      .selectFrom('notification_targets')
      .select('url')
      .executeTakeFirstOrThrow();
    assert.equal(stored.url, 'https://bot:pa55word@hooks.example.com/x', 'kept to deliver with');
    const list = await berth(database.url, ['notify', 'list']);
    assert.ok(!list.stdout.includes('pa55word'));
  });
});
