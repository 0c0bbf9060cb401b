import assert from 'node:assert/strict';
import { it } from 'node:test';
import { lastLinesClause, toldReason } from '../src/store/notification-facts.ts';

it("a webhook's reason withholds a stopped task's last lines and keeps the rest", () => {
  const reason =
    'rolled back with its app shop (deployment #7): jobs rolled back: canary task stopped: exit 1 (Essential container in task exited)' +
    lastLinesClause(['booting', 'FATAL: DATABASE_URL=postgres://app:hunter2@db/app refused']);
  const told = toldReason(reason) ?? '';
  assert.doesNotMatch(told, /hunter2|FATAL|booting/);
  assert.equal(
    told,
    'rolled back with its app shop (deployment #7): jobs rolled back: canary task stopped: exit 1 (Essential container in task exited); its last lines withheld (berth logs shows them)',
  );
  assert.equal(toldReason('5xx rate 30 % above 1 %'), '5xx rate 30 % above 1 %');
  assert.equal(toldReason(null), null);
  assert.equal(lastLinesClause([]), '');
});
