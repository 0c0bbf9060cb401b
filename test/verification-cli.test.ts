import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { RolloutPolicy } from '../src/store/schema.ts';
import { serviceCreateArgs } from './support/builders.ts';
import { berth, berthJson } from './support/cli.ts';
import { testDatabase } from './support/database.ts';

/* The flags of verification tasks: what `service create` and `update` store, and what they refuse. */

it('service create stores the verification commands and timeout; update changes one and clears another with an empty value', async () => {
  const { url } = await testDatabase('verification flags');
  const created = await berth(
    url,
    serviceCreateArgs('web', [
      '--pre-deploy-command',
      '  ./migrate up  ',
      '--verify-command',
      'npm test -- --grep smoke && curl -f "$SMOKE_URL"',
      '--verify-timeout',
      '90s',
    ]),
  );
  assert.equal(created.code, 0, created.stderr);
  const shown = await berthJson<{ policy: RolloutPolicy }>(url, ['service', 'show', 'web']);
  assert.equal(shown.policy.preDeployCommand, './migrate up');
  assert.equal(shown.policy.verifyCommand, 'npm test -- --grep smoke && curl -f "$SMOKE_URL"');
  assert.equal(shown.policy.verifyTimeoutSeconds, 90);
  const text = await berth(url, ['service', 'show', 'web']);
  assert.match(text.stdout, /pre-deploy sh -c "\.\/migrate up"/);
  assert.match(text.stdout, /verification timeout 1m30s/);

  const updated = await berth(url, ['service', 'update', 'web', '--verify-command', '']);
  assert.equal(updated.code, 0, updated.stderr);
  const after = await berthJson<{ policy: RolloutPolicy }>(url, ['service', 'show', 'web']);
  assert.equal(after.policy.verifyCommand, null, 'cleared');
  assert.equal(after.policy.preDeployCommand, './migrate up', 'left alone');
  assert.equal(after.policy.verifyTimeoutSeconds, 90, 'left alone');
});

it('a command with a line break or a timeout out of range is refused with one line naming the flag, nothing written', async () => {
  const { url, db } = await testDatabase('verification flags refused');
  const cases: [string[], RegExp][] = [
    [['--verify-command', 'npm test\nrm -rf /'], /^error: --verify-command: .*line break/],
    [['--pre-deploy-command', 'x'.repeat(4097)], /^error: --pre-deploy-command: .*at most 4096/],
    [['--verify-timeout', '0s'], /^error: --verify-timeout: must be from 1s to 24h/],
    [['--verify-timeout', 'soon'], /^error: --verify-timeout: .*not a duration/],
  ];
  for (const [flags, message] of cases) {
    const result = await berth(url, serviceCreateArgs('web', flags));
    assert.equal(result.code, 2, `${flags.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  }
  const services = await db.selectFrom('services').select('id').execute();
  assert.deepEqual(services, [], 'nothing written');
});
