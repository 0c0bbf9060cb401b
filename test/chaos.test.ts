import assert from 'node:assert/strict';
import { it } from 'node:test';
import { FULL_RUN, printReport, runChaos } from '../bench/chaos.ts';

it('the short chaos run: 20 rollouts with a worker SIGKILLed, AWS faults and a Postgres restart break no promise', async () => {
  const options = {
    ...FULL_RUN,
    rollouts: 20,
    services: 10,
    maxKills: 2,
    killEverySeconds: 5,
    timeoutSeconds: 240,
  };
  const lines: string[] = [];
  const report = await runChaos(options, (line) => lines.push(line));
  const held = printReport(report, options, (line) => lines.push(line));
  assert.equal(report.rollouts, 20, lines.join('\n'));
  assert.equal(report.postgresRestarts, 1, 'postgres was restarted once');
  assert.ok(report.kills >= 1, 'a worker was SIGKILLed');
  assert.ok(held, lines.join('\n'));
  // The failing images were all caught: every deployment of a 5xx image rolled back.
  const promoted5xx = Object.entries(report.outcomes).filter(
    ([outcome]) => outcome.includes('5xx') && outcome.startsWith('succeeded'),
  );
  assert.deepEqual(promoted5xx, []);
});
