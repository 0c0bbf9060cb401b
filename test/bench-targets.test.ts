import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bucketLoads,
  fleetFloorSeconds,
  fleetTimeMet,
  rateFigures,
  timeForAll,
} from '../bench/fleet.ts';
import { reactionFigures, type ReactionRun } from '../bench/reaction.ts';
import { rollbackFigures } from '../bench/rollback.ts';
import { callFloor, figuresOf, type Cycle } from '../bench/steady.ts';
import type { Figure } from '../bench/support/report.ts';
import type { JournalEntry } from '../src/cloud/sim/index.ts';

// Each target of `npm run bench` is fed figures that miss it, and figures that meet it: a check
// that cannot fail would print "met" whatever was measured.

const T0 = Date.parse('2026-12-07T06:00:00Z');

function figure(figures: readonly Figure[], name: RegExp): Figure {
  const found = figures.find((f) => name.test(f.name));
  assert.ok(
    found !== undefined,
    `no figure ${String(name)} in ${figures.map((f) => f.name).join('; ')}`,
  );
  return found;
}

describe('steady state', () => {
  const aCycle = (overrides: Partial<Cycle> = {}): Cycle => ({
    services: 1000,
    wallMs: 8000,
    calls: { 'ecs:DescribeServices': 100, 'elbv2:DescribeRules': 3 },
    queries: 1200,
    rows: 3000,
    heapMb: 1,
    peakHeapMb: 20,
    ...overrides,
  });

  it("the call floor is AWS's: ten services a DescribeServices, 400 rules a DescribeRules", () => {
    assert.equal(callFloor(1000), 100 + 3);
    assert.equal(callFloor(5000), 500 + 13);
  });

  it('AWS calls above 1.05 × the floor miss their target', () => {
    const met = figure(figuresOf([aCycle()], []), /^AWS calls per cycle/);
    assert.equal(met.met, true);
    // Berth's twenty rules a call: 50 DescribeRules for 1,000 services.
    const missed = figure(
      figuresOf(
        [aCycle({ calls: { 'ecs:DescribeServices': 100, 'elbv2:DescribeRules': 50 } })],
        [],
      ),
      /^AWS calls per cycle/,
    );
    assert.equal(missed.met, false);
    assert.equal(missed.floor, 103);
  });

  it('heap held above 10 MB per 1,000 services misses its target, and noise below zero shows as such', () => {
    assert.equal(figure(figuresOf([aCycle({ heapMb: 11 })], []), /^heap/).met, false);
    const noise = figure(figuresOf([aCycle({ heapMb: -0.5 })], []), /^heap/);
    assert.equal(noise.value, -0.5, 'not clipped at zero');
    assert.equal(noise.met, true);
  });
});

describe('reaction', () => {
  const aRun = (berthMs: number[], deployed = berthMs.length): ReactionRun => ({
    processes: 1,
    deployed,
    reactionMs: berthMs.map((ms) => ms + 5),
    berthMs,
    bucketWaitMs: berthMs.map(() => 5),
    floorMs: berthMs.map(() => 0),
  });
  const fast = Array.from({ length: 100 }, (_, i) => 20 + (i % 10));

  it("Berth's part meets p50 ≤ 50 ms and p99 ≤ 250 ms, and the bucket's wait is its own figure", () => {
    const figures = reactionFigures([aRun(fast)], 100);
    assert.equal(figure(figures, /p50/).met, true);
    assert.equal(figure(figures, /Berth's part, p99/).met, true);
    assert.equal(figure(figures, /wait for AWS's 1\/s RegisterTaskDefinition bucket/).value, 5);
  });

  it('a slow p99 misses, and so does a run cut short, however fast', () => {
    const slow = [...fast.slice(0, 98), 400, 900];
    assert.equal(figure(reactionFigures([aRun(slow)], 100), /Berth's part, p99/).met, false);
    const cut = reactionFigures([aRun(fast.slice(0, 50))], 100);
    assert.equal(figure(cut, /Berth's part, p99/).met, false);
    assert.match(figure(cut, /Berth's part, p99/).cut ?? '', /50 of 100 deploys/);
  });
});

describe('rollback at one failing service', () => {
  it('p99 over a second misses; no sample at all misses too', () => {
    assert.equal(figure(rollbackFigures([200, 300, 400]), /p99/).met, true);
    assert.equal(figure(rollbackFigures([200, 300, 1400]), /p99/).met, false);
    assert.equal(figure(rollbackFigures([]), /p99/).met, false);
    assert.equal(figure(rollbackFigures([200]), /p99/).floor, 60);
  });
});

describe('fleet deploy and mass rollback', () => {
  it('the floor is the slowest bucket the work needs, not registrations alone', () => {
    // 200 rollouts: 200 registrations (1/s after 10), 400 ModifyRules (3/s after 10), 600 ECS
    // writes (5/s after 50).
    assert.equal(fleetFloorSeconds(200), 190);
    // 20 rollouts: 40 ModifyRules take 10 s, 20 registrations 10 s, 60 ECS writes 2 s.
    assert.equal(fleetFloorSeconds(20), 10);
  });

  it('time to all done misses beyond 1.1 × the floor, behind the naive controller, or cut', () => {
    assert.equal(fleetTimeMet(205, 190, 230, false), true);
    assert.equal(fleetTimeMet(215, 190, 230, false), false, 'beyond 1.1 × the floor');
    assert.equal(fleetTimeMet(205, 190, 195, false), false, 'behind naive by more than 2 %');
    assert.equal(fleetTimeMet(198, 190, 195, false), true, 'within 2 % of naive at its floor');
    assert.equal(fleetTimeMet(205, 190, null, false), true, 'no naive run beside it');
    assert.equal(fleetTimeMet(100, 190, null, true), false, 'cut');
    assert.equal(timeForAll({ seconds: 100, cut: true }, 50, 200), 400);
    assert.equal(timeForAll({ seconds: 100, cut: true }, 0, 200), Infinity);
  });

  const registrations = (times: readonly number[]): JournalEntry[] =>
    times.map((ms, seq) => ({
      seq,
      at: new Date(T0 + ms),
      api: 'ecs',
      operation: 'RegisterTaskDefinition',
      request: {},
      arns: [],
    }));

  it('writes within the burst and the sustained rate pass; a second of 12 registrations fails', () => {
    // Ten at once (the burst), then one a second.
    const kept = registrations([
      ...Array.from({ length: 10 }, () => 0),
      ...Array.from({ length: 20 }, (_, i) => 1000 * (i + 1)),
    ]);
    const keptLoads = bucketLoads(kept, T0);
    assert.equal(keptLoads[0]?.bucket, 'ecs:RegisterTaskDefinition');
    assert.equal(
      figure(rateFigures('fleet', 'x', keptLoads, 0, null), /above AWS's sustained/).met,
      true,
    );

    const storm = registrations(Array.from({ length: 12 }, (_, i) => i * 50));
    const stormLoads = bucketLoads(storm, T0);
    assert.equal(stormLoads[0]?.peakPerSecond, 12);
    assert.equal(
      figure(rateFigures('fleet', 'x', stormLoads, 0, null), /above AWS's sustained/).met,
      false,
    );
  });

  it('a single throttling error misses its target of none', () => {
    assert.equal(figure(rateFigures('fleet', 'x', [], 1, 5000), /throttling errors/).met, false);
    assert.equal(figure(rateFigures('fleet', 'x', [], 0, 5000), /throttling errors/).met, true);
  });
});
