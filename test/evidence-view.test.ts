/**
 * What a person sees of a canary's analysis while it runs: the pooled evidence of the current
 * step in `berth status`, the policy a deployment runs under in `berth service show`, and each
 * judged window as `--wait` follows a deployment. No worker runs: the tests write the rows a
 * worker would (judged windows, the policy snapshot, the finish) through the store.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CliContext } from '../src/cli/context.ts';
import { runCli } from '../src/cli/program.ts';
import { waitForDeployment } from '../src/cli/wait.ts';
import type { Db } from '../src/store/database.ts';
import { finishDeployment } from '../src/store/deployments.ts';
import { policySnapshotOf, recordAnalysisWindow } from '../src/store/rollout.ts';
import type { PolicySnapshot } from '../src/store/schema.ts';
import { aService } from './support/builders.ts';
import { ACTOR, berth, berthJson } from './support/cli.ts';
import { testDatabase } from './support/database.ts';
import { eventually } from './support/eventually.ts';
import { findService } from '../src/store/services.ts';

/** A service `web` whose first deployment is over, and a deployment of a new image under way. */
async function aDeploymentUnderWay(label: string) {
  const t = await testDatabase(label);
  await aService(t.url, 'web');
  await finishFirst(t.db);
  const deployed = await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.28']);
  assert.equal(deployed.code, 0, deployed.stderr);
  return { ...t, deploymentId: await unfinishedDeployment(t.db) };
}

async function finishFirst(db: Db): Promise<void> {
  const first = await unfinishedDeployment(db);
  assert.ok(await finishDeployment(db, first, 'succeeded', 'finished by the test'));
}

async function unfinishedDeployment(db: Db): Promise<number> {
  const row = await db
    .selectFrom('deployments')
    .select('id')
    .where('finished_at', 'is', null)
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Fixes the policy a deployment runs under, as a worker does when it first claims it. */
async function snapshotPolicy(
  db: Db,
  deploymentId: number,
  changes: Partial<PolicySnapshot> = {},
): Promise<PolicySnapshot> {
  const service = await findService(db, 'web');
  const policy = { ...policySnapshotOf(service, false), ...changes };
  await db
    .updateTable('deployments')
    .set({ policy: JSON.stringify(policy) })
    .where('id', '=', deploymentId)
    .execute();
  return policy;
}

const T0 = new Date('2026-12-02T10:00:00Z');

/**
 * A judged window of one second, starting `index` seconds after T0, whose canary served 5
 * requests; `pooled` and the rest are the step's evidence after it, as a worker records them.
 */
async function judgedWindow(
  db: Db,
  deploymentId: number,
  window: {
    stepIndex?: number;
    index: number;
    errors?: number;
    pooledRequests: number;
    pooled5xx?: number;
    confidence: number;
    favours: 'good' | 'bad';
    moreRequestsNeeded: number | null;
    verdict: 'pass' | 'fail' | 'inconclusive';
    reason: string;
  },
): Promise<void> {
  const startedAt = new Date(T0.getTime() + window.index * 1000);
  const errors = window.errors ?? 0;
  await recordAnalysisWindow(db, {
    deploymentId,
    stepIndex: window.stepIndex ?? 0,
    windowIndex: window.index,
    startedAt,
    endedAt: new Date(startedAt.getTime() + 1000),
    canary: { requests: 5, errors5xx: errors, rate5xx: errors / 5, p99Ms: 120, avgMs: 40 },
    baseline: { requests: 45, errors5xx: 0, rate5xx: 0, p99Ms: 110, avgMs: 35 },
    thresholds: { max5xxRate: 0.01, maxP99Ms: 800, minRequests: 100, confidence: 0.95 },
    verdict: window.verdict,
    reason: window.reason,
    pooled: {
      canaryRequests: window.pooledRequests,
      canary5xx: window.pooled5xx ?? 0,
      baselineRequests: window.pooledRequests * 9,
      baseline5xx: 0,
    },
    confidence: window.confidence,
    moreRequestsNeeded: window.moreRequestsNeeded,
    evidence: { verdict: window.verdict, errors: { favours: window.favours } },
  });
}

/** Eleven clean windows of 5 requests each: 55 requests in 11 s, 5 a second. */
async function elevenCleanWindows(db: Db, deploymentId: number): Promise<void> {
  for (let index = 0; index < 11; index++) {
    const pooled = 5 * (index + 1);
    await judgedWindow(db, deploymentId, {
      index,
      pooledRequests: pooled,
      confidence: index === 10 ? 0.61 : 0.05 * index,
      favours: 'good',
      moreRequestsNeeded: index === 10 ? 115 : 170 - pooled,
      verdict: 'inconclusive',
      reason: `5xx 0 of ${pooled} requests over ${index + 1} windows`,
    });
  }
}

interface EvidenceJson {
  windows: number;
  canaryRequests: number;
  canary5xx: number;
  rate5xx: number | null;
  confidence: number | null;
  favours: string | null;
  moreRequestsNeeded: number | null;
  requestsPerSecond: number | null;
  etaSeconds: number | null;
  verdict: string;
  reason: string;
}

interface StatusJson {
  name: string;
  currentStep: { index: number; percent: number | null; of: number } | null;
  evidence: EvidenceJson | null;
  overriddenFailure: { promotedBy: string | null; reason: string } | null;
}

describe('berth status shows the evidence of the step under way', () => {
  it('pooled requests and 5xx, the confidence reached and how long the rest should take', async () => {
    const t = await aDeploymentUnderWay('status evidence');
    // The deployment was claimed with steps 20,100: its own steps name the percent, not the
    // service's 10,100.
    await snapshotPolicy(t.db, t.deploymentId, { steps: [20, 100] });
    const before = await berthJson<StatusJson>(t.url, ['status', 'web']);
    assert.equal(before.evidence, null, 'no window judged yet');
    await elevenCleanWindows(t.db, t.deploymentId);

    const text = await berth(t.url, ['status', 'web']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /step 1 of 2 \(20%\)/);
    const lines = text.stdout.trimEnd().split('\n');
    assert.equal(
      lines.at(-1),
      'evidence: 0 of 55 requests 5xx over 11 windows (rate 0), confidence 0.61 of 0.95 ' +
        'toward at most 0.0025 (vs at least 0.02); about 115 more requests needed, ~23s at 5.0 req/s',
    );

    const json = await berthJson<StatusJson>(t.url, ['status', 'web']);
    assert.deepEqual(json.currentStep, { index: 0, percent: 20, of: 2 });
    assert.ok(json.evidence !== null);
    assert.deepEqual(
      {
        windows: json.evidence.windows,
        canaryRequests: json.evidence.canaryRequests,
        canary5xx: json.evidence.canary5xx,
        rate5xx: json.evidence.rate5xx,
        confidence: json.evidence.confidence,
        favours: json.evidence.favours,
        moreRequestsNeeded: json.evidence.moreRequestsNeeded,
        requestsPerSecond: json.evidence.requestsPerSecond,
        etaSeconds: json.evidence.etaSeconds,
        verdict: json.evidence.verdict,
        reason: json.evidence.reason,
      },
      {
        windows: 11,
        canaryRequests: 55,
        canary5xx: 0,
        rate5xx: 0,
        confidence: 0.61,
        favours: 'good',
        moreRequestsNeeded: 115,
        requestsPerSecond: 5,
        etaSeconds: 23,
        verdict: 'inconclusive',
        reason: '5xx 0 of 55 requests over 11 windows',
      },
    );
    assert.equal(json.overriddenFailure, null);

    const all = await berth(t.url, ['status']);
    assert.match(all.stdout, /^web evidence: 0 of 55 requests 5xx over 11 windows/m);
    const allJson = await berthJson<StatusJson[]>(t.url, ['status']);
    assert.equal(allJson[0]?.evidence?.canaryRequests, 55);
  });

  it('counts only the windows of the current step', async () => {
    const t = await aDeploymentUnderWay('status evidence step');
    await snapshotPolicy(t.db, t.deploymentId);
    await elevenCleanWindows(t.db, t.deploymentId);
    // The step advances: the evidence starts again from the new step's first window.
    await t.db
      .updateTable('deployments')
      .set({ step_index: 1 })
      .where('id', '=', t.deploymentId)
      .execute();
    assert.equal((await berthJson<StatusJson>(t.url, ['status', 'web'])).evidence, null);
    for (const index of [20, 21]) {
      await judgedWindow(t.db, t.deploymentId, {
        stepIndex: 1,
        index,
        errors: 1,
        pooledRequests: index === 20 ? 5 : 10,
        pooled5xx: index === 20 ? 1 : 2,
        confidence: 0.999,
        favours: 'bad',
        moreRequestsNeeded: null,
        verdict: 'fail',
        reason: '5xx rate 0.2 > 0.01: 2 of 10 requests over 2 windows',
      });
    }
    const json = await berthJson<StatusJson>(t.url, ['status', 'web']);
    assert.equal(json.evidence?.windows, 2);
    assert.equal(json.evidence.canaryRequests, 10);
    assert.equal(json.evidence.rate5xx, 0.2);
    assert.equal(json.evidence.favours, 'bad');
    assert.equal(json.evidence.etaSeconds, null);
    const text = await berth(t.url, ['status', 'web']);
    assert.match(
      text.stdout,
      /evidence: 2 of 10 requests 5xx over 2 windows \(rate 0\.2\), confidence 0\.999 of 0\.95 toward at least 0\.02 \(vs at most 0\.0025\); the step failed: 5xx rate 0\.2 > 0\.01/,
    );
  });

  it('says when a person promoted the deployment over a failing window', async () => {
    const t = await aDeploymentUnderWay('status overridden');
    await snapshotPolicy(t.db, t.deploymentId);
    const reason = '5xx rate 0.4 > 0.01: 2 of 5 requests over 1 window, confidence 0.97';
    await judgedWindow(t.db, t.deploymentId, {
      index: 0,
      errors: 2,
      pooledRequests: 5,
      pooled5xx: 2,
      confidence: 0.97,
      favours: 'bad',
      moreRequestsNeeded: null,
      verdict: 'fail',
      reason,
    });
    const unpromoted = await berthJson<StatusJson>(t.url, ['status', 'web']);
    assert.equal(unpromoted.overriddenFailure, null, 'not promoted: nothing overridden');

    const promoted = await berth(t.url, ['promote', 'web']);
    assert.equal(promoted.code, 0, promoted.stderr);
    const text = await berth(t.url, ['status', 'web']);
    assert.ok(
      text.stdout.includes(`promoted by ${ACTOR}, overriding a failing window: ${reason}`),
      text.stdout,
    );
    const json = await berthJson<StatusJson>(t.url, ['status', 'web']);
    assert.equal(json.overriddenFailure?.promotedBy, ACTOR);
    assert.equal(json.overriddenFailure.reason, reason);
  });
});

describe('berth service show and the policy a deployment started with', () => {
  interface ShowJson {
    policy: { steps: number[]; confidence: number };
    activeDeploymentPolicy: PolicySnapshot | null;
    policyDiffers: boolean;
  }

  it('says so when the service policy changed since the deployment was claimed', async () => {
    const t = await aDeploymentUnderWay('show policy differs');
    const unclaimed = await berthJson<ShowJson>(t.url, ['service', 'show', 'web']);
    assert.equal(unclaimed.activeDeploymentPolicy, null);
    assert.equal(unclaimed.policyDiffers, false);

    const snapshot = await snapshotPolicy(t.db, t.deploymentId);
    const same = await berth(t.url, ['service', 'show', 'web']);
    assert.doesNotMatch(same.stdout, /note:/);
    assert.match(same.stdout, /confidence 0\.95, analysis at most 30m/);
    const sameJson = await berthJson<ShowJson>(t.url, ['service', 'show', 'web']);
    assert.deepEqual(sameJson.activeDeploymentPolicy, snapshot);
    assert.equal(sameJson.policyDiffers, false);

    const updated = await berth(t.url, ['service', 'update', 'web', '--steps', '5,100']);
    assert.equal(updated.code, 0, updated.stderr);
    const shown = await berth(t.url, ['service', 'show', 'web']);
    assert.ok(
      shown.stdout.includes(
        `  note:         deployment #${t.deploymentId} runs under the policy it started with ` +
          '(steps 10,100%); the current policy applies to the next deployment',
      ),
      shown.stdout,
    );
    assert.match(shown.stdout, /policy: {7}steps 5,100%/);
    const json = await berthJson<ShowJson>(t.url, ['service', 'show', 'web']);
    assert.equal(json.policyDiffers, true);
    assert.deepEqual(json.activeDeploymentPolicy?.steps, [10, 100]);
    assert.deepEqual(json.policy.steps, [5, 100]);

    await berth(t.url, ['service', 'update', 'web', '--confidence', '99%']);
    const both = await berth(t.url, ['service', 'show', 'web']);
    assert.match(both.stdout, /started with \(steps 10,100%, confidence 0\.95\)/);
  });
});

/** `berth …` in this process, its output readable while it runs; aborted at the deadline. */
function startBerth(url: string, args: readonly string[], deadlineMs = 30_000) {
  const output = { stdout: '', stderr: '' };
  const controller = new AbortController();
  const deadline = setTimeout(() => {
    controller.abort();
  }, deadlineMs);
  const code = runCli(args, {
    stdout: (text) => (output.stdout += text),
    stderr: (text) => (output.stderr += text),
    env: { DATABASE_URL: url, BERTH_ACTOR: ACTOR, BERTH_LOG_LEVEL: 'silent' },
    signal: controller.signal,
  }).finally(() => {
    clearTimeout(deadline);
  });
  return { output, code };
}

describe('--wait follows the analysis window by window', () => {
  it('prints each window as it is judged, a promotion, and the outcome with its reason', async () => {
    const t = await testDatabase('wait windows');
    await aService(t.url, 'web');
    await finishFirst(t.db);
    const run = startBerth(t.url, ['deploy', 'web', '--image', 'nginx:1.28', '--wait']);
    await eventually('the deployment to be followed', () =>
      run.output.stderr.includes('deployment #2: pending'),
    );
    await snapshotPolicy(t.db, 2, { steps: [25, 100] });

    await judgedWindow(t.db, 2, {
      index: 0,
      pooledRequests: 5,
      confidence: 0.05,
      favours: 'good',
      moreRequestsNeeded: 165,
      verdict: 'inconclusive',
      reason: 'first reason',
    });
    await eventually('window 1', () =>
      run.output.stderr.includes('step 1 (25%) window 1: inconclusive — first reason'),
    );
    assert.doesNotMatch(run.output.stderr, /window 2/, 'window 2 is not judged yet');
    await judgedWindow(t.db, 2, {
      index: 1,
      pooledRequests: 10,
      confidence: 0.1,
      favours: 'good',
      moreRequestsNeeded: 160,
      verdict: 'inconclusive',
      reason: 'second reason',
    });
    await eventually('window 2', () =>
      run.output.stderr.includes('step 1 (25%) window 2: inconclusive — second reason'),
    );

    assert.equal((await berth(t.url, ['promote', 'web'])).code, 0);
    await eventually('the promotion', () => run.output.stderr.includes(`promoted by ${ACTOR} at `));
    assert.match(
      run.output.stderr,
      /promoted by \S+ at \d{4}-\d\d-\d\dT[\d:.]+Z: skipping the remaining steps and the analysis/,
    );
    await finishDeployment(t.db, 2, 'succeeded', 'promoted by a person');

    assert.equal(await run.code, 0, run.output.stderr);
    const lines = run.output.stderr.trimEnd().split('\n');
    assert.equal(lines.at(-1), 'deployment #2 succeeded: promoted by a person');
    const order = ['#2: pending', 'window 1', 'window 2', 'promoted by', '#2 succeeded'];
    const positions = order.map((text) => run.output.stderr.indexOf(text));
    assert.deepEqual(
      positions.map((p) => p >= 0),
      order.map(() => true),
    );
    assert.deepEqual(
      [...positions].sort((a, b) => a - b),
      positions,
      'in the order they happened',
    );
  });

  it('with --json streams one JSON object a line: the request, then each change', async () => {
    const t = await testDatabase('wait json');
    await aService(t.url, 'web');
    await finishFirst(t.db);
    const run = startBerth(t.url, ['deploy', 'web', '--image', 'nginx:1.28', '--wait', '--json']);
    await eventually('the phase event', () => run.output.stdout.includes('"event":"phase"'));
    await judgedWindow(t.db, 2, {
      index: 0,
      pooledRequests: 5,
      pooled5xx: 1,
      errors: 1,
      confidence: 0.98,
      favours: 'bad',
      moreRequestsNeeded: null,
      verdict: 'fail',
      reason: '5xx rate 0.2 > 0.01',
    });
    await finishDeployment(t.db, 2, 'rolled_back', 'canary failed analysis: 5xx rate 0.2 > 0.01');

    assert.equal(await run.code, 1, 'the deployment did not succeed');
    assert.equal(run.output.stderr, '', 'nothing on stderr with --json');
    const lines = run.output.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const [request, ...events] = lines;
    assert.equal((request?.['deployment'] as { id: number }).id, 2);
    assert.deepEqual(
      events.map((event) => event['event']),
      ['phase', 'window', 'outcome'],
    );
    assert.deepEqual(events[0], {
      event: 'phase',
      deploymentId: 2,
      phase: 'pending',
      stepIndex: 0,
      percent: 10,
      paused: false,
    });
    const window = events[1] as { verdict: string; percent: number; evidence: EvidenceJson };
    assert.equal(window.verdict, 'fail');
    assert.equal(window.percent, 10);
    assert.equal(window.evidence.canary5xx, 1);
    assert.equal(window.evidence.favours, 'bad');
    assert.deepEqual(events[2], {
      event: 'outcome',
      deploymentId: 2,
      outcome: 'rolled_back',
      reason: 'canary failed analysis: 5xx rate 0.2 > 0.01',
    });
  });

  it('the heartbeat while nothing changes carries the newest evidence', async () => {
    const t = await testDatabase('wait heartbeat');
    await aService(t.url, 'web');
    await finishFirst(t.db);
    assert.equal((await berth(t.url, ['deploy', 'web', '--image', 'nginx:1.28'])).code, 0);
    await snapshotPolicy(t.db, 2);
    await elevenCleanWindows(t.db, 2);
    const service = await findService(t.db, 'web');

    let stderr = '';
    const controller = new AbortController();
    const context = new CliContext({
      stdout: () => undefined,
      stderr: (text) => (stderr += text),
      env: { DATABASE_URL: t.url, BERTH_LOG_LEVEL: 'silent' },
      signal: controller.signal,
    });
    const waiting = waitForDeployment(context, t.db, 2, service, {
      pollMs: 20,
      heartbeatMs: 100,
    });
    try {
      await eventually('a heartbeat', () => stderr.includes('still pending'), { timeoutMs: 5_000 });
    } finally {
      controller.abort();
    }
    assert.equal(await waiting, undefined, 'interrupted, the deployment goes on');
    assert.match(
      stderr,
      /deployment #2: still pending at 10% after \d+s; evidence: 0 of 55 requests 5xx over 11 windows \(rate 0\), confidence 0\.61 of 0\.95 toward at most 0\.0025 \(vs at least 0\.02\); about 115 more requests needed, ~23s at 5\.0 req\/s/,
    );
  });
});
