import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  endStateBreaches,
  healthyNotLive,
  promotedFailures,
  repeatedCreates,
  splitApps,
  strandedSplits,
  unannouncedWrites,
  unfinishedDeployments,
  type AppDeploymentRecord,
  type DeploymentRecord,
  type EndState,
} from '../bench/chaos-checks.ts';
import type { JournalEntry } from '../src/cloud/sim/index.ts';

// Each check of the chaos run is fed a record that breaks its promise, and one that keeps it.

const T0 = Date.parse('2026-12-07T04:00:00Z');

function aDeployment(overrides: Partial<DeploymentRecord & { toReleaseId: number }> = {}) {
  return {
    id: 1,
    service: 'web',
    createdAt: T0,
    finishedAt: T0 + 10_000,
    outcome: 'succeeded',
    reason: 'release is live',
    image: 'nginx:1.1',
    toReleaseId: 11,
    ...overrides,
  };
}

function aWrite(operation: string, atMs: number, seq = atMs): JournalEntry {
  return {
    seq,
    at: new Date(T0 + atMs),
    api: operation === 'ModifyRule' ? 'elbv2' : 'ecs',
    operation,
    request: { service: 'web' },
    arns: [],
  };
}

function anEndState(overrides: Partial<EndState> = {}): EndState {
  return {
    service: 'web',
    desiredCount: 2,
    primaryTaskSet: 'ts-live',
    warmTaskSet: null,
    liveTargetGroup: 'tg-a',
    idleTargetGroup: 'tg-b',
    ecsDesiredCount: 2,
    taskSets: [{ arn: 'ts-live', status: 'PRIMARY', scalePercent: 100 }],
    weights: { 'tg-a': 100, 'tg-b': 0 },
    ...overrides,
  };
}

describe('the chaos run’s checks fire on a broken record', () => {
  it('every AWS write has its own announcement: two writes after one entry break it', () => {
    const serviceOf = () => 'web';
    const intents = [{ service: 'web', operation: 'ModifyRule', at: T0 }];
    const one = unannouncedWrites([aWrite('ModifyRule', 100)], intents, serviceOf);
    assert.deepEqual(one.breaches, []);
    assert.equal(one.matched, 1);
    const resent = unannouncedWrites(
      [aWrite('ModifyRule', 100), aWrite('ModifyRule', 2_000)],
      intents,
      serviceOf,
    );
    assert.equal(resent.breaches.length, 1, 'the second send had no entry of its own');
    const late = unannouncedWrites(
      [aWrite('ModifyRule', 100)],
      [{ service: 'web', operation: 'ModifyRule', at: T0 + 5_000 }],
      serviceOf,
    );
    assert.equal(late.breaches.length, 1, 'announced only after it took effect');
  });

  it('a healthy release not live at the end, and not superseded, is a breach', () => {
    const live = new Map([['web', 11]]);
    assert.deepEqual(healthyNotLive([aDeployment()], live), []);
    const rolledBack = aDeployment({ outcome: 'rolled_back', reason: 'canary analysis failed' });
    assert.equal(healthyNotLive([rolledBack], live).length, 1);
    assert.equal(
      healthyNotLive([aDeployment()], new Map([['web', 10]])).length,
      1,
      'succeeded, yet another release is live',
    );
    // Superseded by a later deployment of the service: not its to be live.
    assert.deepEqual(
      healthyNotLive([rolledBack, aDeployment({ id: 2, toReleaseId: 12 })], new Map([['web', 12]])),
      [],
    );
    // A failing image rolled back is what should happen.
    assert.deepEqual(
      healthyNotLive([aDeployment({ image: 'nginx:5xx-1', outcome: 'rolled_back' })], live),
      [],
    );
  });

  it('the end state must equal the desired state', () => {
    assert.deepEqual(endStateBreaches([anEndState()]), []);
    const broken: [string, Partial<EndState>][] = [
      [
        'a stray task set',
        {
          taskSets: [
            { arn: 'ts-live', status: 'PRIMARY', scalePercent: 100 },
            { arn: 'ts-old', status: 'ACTIVE', scalePercent: 0 },
          ],
        },
      ],
      [
        'the live set not primary',
        { taskSets: [{ arn: 'ts-live', status: 'ACTIVE', scalePercent: 100 }] },
      ],
      [
        'the live set below 100 %',
        { taskSets: [{ arn: 'ts-live', status: 'PRIMARY', scalePercent: 10 }] },
      ],
      ['split weights', { weights: { 'tg-a': 90, 'tg-b': 10 } }],
      ['the desired count not the last scale', { ecsDesiredCount: 3 }],
      ['the live task set gone', { taskSets: [] }],
    ];
    for (const [what, overrides] of broken) {
      assert.equal(endStateBreaches([anEndState(overrides)]).length >= 1, true, what);
    }
    // A deleted set still DRAINING (ECS lists it until its targets deregister) is no stray.
    assert.deepEqual(
      endStateBreaches([
        anEndState({
          taskSets: [
            { arn: 'ts-live', status: 'PRIMARY', scalePercent: 100 },
            { arn: 'ts-old', status: 'DRAINING', scalePercent: 100 },
          ],
        }),
      ]),
      [],
    );
    // The warm task set, kept for a rollback, is no stray.
    assert.deepEqual(
      endStateBreaches([
        anEndState({
          warmTaskSet: 'ts-warm',
          taskSets: [
            { arn: 'ts-live', status: 'PRIMARY', scalePercent: 100 },
            { arn: 'ts-warm', status: 'ACTIVE', scalePercent: 100 },
          ],
        }),
      ]),
      [],
    );
  });

  it('unfinished deployments, promoted failures, stranded splits and repeated creates are breaches', () => {
    assert.equal(
      unfinishedDeployments([aDeployment({ finishedAt: null, outcome: null })]).length,
      1,
    );
    assert.equal(promotedFailures([aDeployment({ image: 'nginx:5xx-2' })]).length, 1);
    const rule = {
      service: 'web',
      changes: [
        { at: T0 + 1_000, weights: { a: 90, b: 10 } },
        { at: T0 + 60_000, weights: { a: 100, b: 0 } },
      ],
    };
    assert.equal(strandedSplits([rule], [aDeployment()], T0 + 90_000, 5_000).length, 1);
    const made = (arn: string, token: string): JournalEntry => ({
      ...aWrite('CreateTaskSet', 0),
      request: { clientToken: token },
      arns: [arn],
    });
    assert.equal(
      repeatedCreates([made('ts-1', 'berth-7-0-0'), made('ts-2', 'berth-7-0-1')]).length,
      1,
    );
  });

  it('an app deployment with one member live and another rolled back is a breach', () => {
    const member = (service: string, outcome: string | null, reverted = false) => ({
      service,
      deploymentId: service === 'web' ? 1 : 2,
      outcome,
      reverted,
    });
    const anApp = (overrides: Partial<AppDeploymentRecord>): AppDeploymentRecord => ({
      id: 7,
      app: 'shop',
      outcome: 'succeeded',
      reason: null,
      members: [member('web', 'succeeded'), member('api', 'succeeded')],
      ...overrides,
    });
    const rolledBack = {
      outcome: 'rolled_back',
      reason: 'api rolled back: canary analysis failed',
    };
    // Kept: all live, all rolled back, and one live then reverted with its app.
    assert.deepEqual(splitApps([anApp({})]), []);
    assert.deepEqual(
      splitApps([
        anApp({
          ...rolledBack,
          members: [member('web', 'rolled_back'), member('api', 'rolled_back')],
        }),
      ]),
      [],
    );
    assert.deepEqual(
      splitApps([
        anApp({
          ...rolledBack,
          members: [member('web', 'succeeded', true), member('api', 'rolled_back')],
        }),
      ]),
      [],
    );
    // Broken: one member live beside one rolled back.
    const split = splitApps([
      anApp({ ...rolledBack, members: [member('web', 'succeeded'), member('api', 'rolled_back')] }),
    ]);
    assert.equal(split.length, 1);
    assert.match(split[0]?.detail ?? '', /split: live web .*; not live api/);
    // Broken: the app says live while its members went back, and an app that never ended.
    assert.equal(
      splitApps([anApp({ members: [member('web', 'failed'), member('api', 'rolled_back')] })])
        .length,
      1,
    );
    assert.equal(splitApps([anApp({ outcome: null })]).length, 1);
  });
});
