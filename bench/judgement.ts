/**
 * `npm run bench -- judgement`: how often canary analysis judges a release wrongly at low
 * traffic, under the rule Berth used until now and under the pooled sequential test.
 *
 * Thousands of simulated canaries per true 5xx rate, each seeing Poisson(5) requests per
 * analysis window and a 5xx on each request with the true rate, against a 1 % threshold. Every
 * canary's windows are drawn once and shown to every rule, so the rules are compared on the
 * same traffic rather than on three different samples of it.
 *
 * A second part measures the two-sample test against the stable baseline (`errorIncreaseTest`,
 * `--max-5xx-rate-increase`): canaries at 10 % of the traffic beside a baseline at 90 %, at a
 * quiet and a noisy baseline rate, for true increases below, at and above the allowed one. Its
 * error bounds are only approximate (the baseline's rate is profiled out, and a profile
 * likelihood ratio is no martingale under a composite null), so its figures are measured against
 * the bounds and printed, but they do not decide the exit code.
 *
 * Pure and seeded: no clock in the figures, no database, no AWS. The seed is printed and can be
 * set with BENCH_SEED, so a surprising figure can be reproduced exactly. Everything printed is
 * also written to bench/results/judgement.json, which is meant to be committed.
 *
 * Exit code: 0 when the new one-sample rule meets every target, 1 when one is missed, 2 on a bad
 * BENCH_SEED. The two-sample part's targets are informational.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { boundary, errorIncreaseTest, errorRateTest } from '../src/analysis/sequential-test.ts';
import {
  DEPLOYMENT_RUNS,
  DEPLOYMENT_TARGETS,
  HEADLINE_REQUESTS_PER_MINUTE,
  measureDeployments,
  SCENARIOS,
  SETTINGS,
  type DeploymentRow,
} from './judgement-deployment.ts';
import { mulberry32, poisson, type Random } from './support/random.ts';

/** The policy every canary is judged against: `--max-5xx-rate 0.01`. */
const MAX_5XX_RATE = 0.01;
/** The sequential test's confidence: each wrong call is bounded by 1 − 0.95. */
const CONFIDENCE = 0.95;
/** "5 requests per window": a quiet service, or 10 % of a service that gets 50 a window. */
const MEAN_REQUESTS_PER_WINDOW = 5;
/** The old rule's `--failure-limit` default. */
const FAILURE_LIMIT = 2;
/** The `--min-requests` default, for both rules. */
const DEFAULT_MIN_REQUESTS = 100;
/** The old rule's best case at 5 requests a window: every full-ish window is judged. */
const OLD_BEST_MIN_REQUESTS = 5;
/**
 * Windows simulated per canary: a stand-in for `--max-analysis` (6 hours of 1-minute windows).
 * The new rule rolls back a canary still undecided here; the old rule had no such limit, so
 * undecided there means the deployment would wait forever.
 */
const DEADLINE_WINDOWS = 360;
/** A release answering 30 % 5xx should be stopped before it has served this many requests. */
const QUICK_FAIL_REQUESTS = 20;
/** Simulated canaries per true rate: a share's standard error is at most 0.35 points. */
const RUNS_PER_RATE = 20_000;
/** A healthy release's true 5xx rate: a tenth of the threshold. */
const HEALTHY_RATE = 0.001;
/** A plainly broken release: the simulator's `5xx` image. */
const BROKEN_RATE = 0.3;
/** True 5xx rates: well below, below, at, and above the 1 % threshold. */
const TRUE_RATES = [HEALTHY_RATE, 0.005, 0.01, 0.02, 0.05, BROKEN_RATE] as const;
/** Used unless BENCH_SEED says otherwise. */
const DEFAULT_SEED = 20261202;

const RESULTS_FILE = fileURLToPath(new URL('./results/judgement.json', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Random numbers

/**
 * A seed of its own for each true rate (MurmurHash3's finaliser over seed and index), so the
 * figures for one rate do not change when another rate is added, removed or run longer.
 */
function streamSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b9)) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Binomial(trials, p) as the sum of its Bernoulli trials: each request fails on its own. */
function binomial(random: Random, trials: number, p: number): number {
  let successes = 0;
  for (let i = 0; i < trials; i++) if (random() < p) successes++;
  return successes;
}

// ---------------------------------------------------------------------------------------------
// The rules

/** Requests and 5xx of one analysis window (or of a whole step, pooled). */
export interface Counts {
  requests: number;
  errors: number;
}

/** Where a step stands after a window: decided either way, or waiting for more windows. */
export type StepDecision = 'pass' | 'fail' | 'continue';

/**
 * Judges one canary step window by window. Stateful: made afresh for every canary, it keeps
 * what the step has seen so far (failed windows for the old rule, pooled counts for the new).
 */
export type StepJudge = (window: Counts) => StepDecision;

/**
 * The OLD per-window rule Berth used until now (`judge` + `stepOutcome` in
 * src/analysis/judge.ts before the sequential test), re-implemented here for comparison and
 * restricted to the 5xx check. Each window is judged alone: fewer than `minRequests` requests
 * → inconclusive; a 5xx rate above `maxRate` → the window fails; else it passes. The step fails
 * once `failureLimit` windows have failed (not necessarily consecutive) and passes as soon as
 * the newest window passed.
 *
 * Why it is replaced: a window of 5 requests with one 5xx reads as a 20 % rate, so one unlucky
 * request fails a window of a healthy release, and five clean requests pass a broken one; with
 * the default minimum of 100 requests, a quiet service's windows are all inconclusive and the
 * step never ends.
 */
export function oldPerWindowRule(policy: {
  maxRate: number;
  minRequests: number;
  failureLimit: number;
}): StepJudge {
  let failedWindows = 0;
  return (window) => {
    const verdict = oldWindowVerdict(window, policy);
    if (verdict === 'fail') failedWindows++;
    if (failedWindows >= policy.failureLimit) return 'fail';
    return verdict === 'pass' ? 'pass' : 'continue';
  };
}

/** One window judged alone, as the old `judge` did for the 5xx rate. */
function oldWindowVerdict(
  window: Counts,
  policy: { maxRate: number; minRequests: number },
): 'pass' | 'fail' | 'inconclusive' {
  // No requests means no rate at all, even with a minimum of 0.
  if (window.requests === 0 || window.requests < policy.minRequests) return 'inconclusive';
  return window.errors / window.requests > policy.maxRate ? 'fail' : 'pass';
}

/**
 * The NEW rule: `errorRateTest` on the counts pooled since the step began, asked again after
 * every window. Its boundaries hold under repeated looks, so asking every window costs nothing.
 */
export function pooledSequentialRule(policy: {
  maxRate: number;
  confidence: number;
  minRequests: number;
}): StepJudge {
  const pooled: Counts = { requests: 0, errors: 0 };
  return (window) => {
    pooled.requests += window.requests;
    pooled.errors += window.errors;
    return errorRateTest(pooled, policy).decision;
  };
}

/** A rule as the bench runs it. */
interface RuleSpec {
  id: string;
  title: string;
  /**
   * What a canary still undecided at the deadline means: the new rule rolls it back (it never
   * promotes without evidence); the old rule had no deadline, so it would wait forever.
   */
  atDeadline: 'rollback' | 'hangs';
  /** Whether the targets are checked against this rule's figures. */
  checked: boolean;
  newJudge: () => StepJudge;
}

const RULES: readonly RuleSpec[] = [
  {
    id: 'old-min5',
    title: `OLD per-window rule, minRequests ${OLD_BEST_MIN_REQUESTS} (its best case at this traffic), failureLimit ${FAILURE_LIMIT}`,
    atDeadline: 'hangs',
    checked: false,
    newJudge: () =>
      oldPerWindowRule({
        maxRate: MAX_5XX_RATE,
        minRequests: OLD_BEST_MIN_REQUESTS,
        failureLimit: FAILURE_LIMIT,
      }),
  },
  {
    id: 'old-min100',
    title: `OLD per-window rule, minRequests ${DEFAULT_MIN_REQUESTS} (the default), failureLimit ${FAILURE_LIMIT}`,
    atDeadline: 'hangs',
    checked: false,
    newJudge: () =>
      oldPerWindowRule({
        maxRate: MAX_5XX_RATE,
        minRequests: DEFAULT_MIN_REQUESTS,
        failureLimit: FAILURE_LIMIT,
      }),
  },
  {
    id: 'new-sequential',
    title: `NEW pooled sequential rule (errorRateTest), minRequests ${DEFAULT_MIN_REQUESTS}, confidence ${CONFIDENCE}, deadline ${DEADLINE_WINDOWS} windows (undecided = rolled back)`,
    atDeadline: 'rollback',
    checked: true,
    newJudge: () =>
      pooledSequentialRule({
        maxRate: MAX_5XX_RATE,
        confidence: CONFIDENCE,
        minRequests: DEFAULT_MIN_REQUESTS,
      }),
  },
];

// ---------------------------------------------------------------------------------------------
// Simulation

/** How one canary ended under one rule. */
interface CanaryOutcome {
  result: 'promoted' | 'failed' | 'undecided';
  /** Pooled requests seen when it was decided (or at the deadline). */
  requests: number;
  /** Windows judged when it was decided (or at the deadline). */
  windows: number;
}

/** One analysis window of a canary whose true 5xx rate is `rate`. */
function drawWindow(random: Random, rate: number): Counts {
  const requests = poisson(random, MEAN_REQUESTS_PER_WINDOW);
  return { requests, errors: binomial(random, requests, rate) };
}

/**
 * One canary, shown to every rule: windows are drawn until every rule has decided or the
 * deadline is reached, and each rule stops looking at its first decision.
 */
function simulateCanary(random: Random, rate: number, rules: readonly RuleSpec[]): CanaryOutcome[] {
  const judges = rules.map((rule) => rule.newJudge());
  const outcomes: (CanaryOutcome | null)[] = rules.map(() => null);
  let open = rules.length;
  let requests = 0;
  let windows = 0;
  while (open > 0 && windows < DEADLINE_WINDOWS) {
    const window = drawWindow(random, rate);
    requests += window.requests;
    windows++;
    judges.forEach((judgeWindow, i) => {
      if (outcomes[i] !== null) return;
      const decision = judgeWindow(window);
      if (decision === 'continue') return;
      outcomes[i] = { result: decision === 'pass' ? 'promoted' : 'failed', requests, windows };
      open--;
    });
  }
  return outcomes.map((outcome) => outcome ?? { result: 'undecided', requests, windows });
}

// ---------------------------------------------------------------------------------------------
// Figures

/** A measured share of runs, with its binomial standard error √(p(1 − p)/n). */
export interface Share {
  count: number;
  runs: number;
  share: number;
  standardError: number;
}

function shareOf(count: number, runs: number): Share {
  const share = runs === 0 ? 0 : count / runs;
  return {
    count,
    runs,
    share,
    standardError: runs === 0 ? 0 : Math.sqrt((share * (1 - share)) / runs),
  };
}

/** One rule's figures at one true rate. */
export interface RowResult {
  trueRate: number;
  runs: number;
  promoted: Share;
  /** Failed by the rule itself, before the deadline. */
  failed: Share;
  /** Still undecided at the deadline: rolled back by the new rule, hanging under the old. */
  undecided: Share;
  /** Below the threshold: share rolled back (failed, plus undecided where that means rollback). */
  falseRollback: Share | null;
  /** Above the threshold: share promoted. */
  falsePromotion: Share | null;
  /** Over runs decided before the deadline; null when none was. */
  medianRequestsToDecision: number | null;
  medianWindowsToDecision: number | null;
  /** Share of all runs failed with at most QUICK_FAIL_REQUESTS pooled requests seen. */
  failedWithinQuickFailRequests: Share;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  const upper = sorted[mid] ?? 0;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? 0) + upper) / 2;
}

function summarise(
  trueRate: number,
  rule: RuleSpec,
  outcomes: readonly CanaryOutcome[],
): RowResult {
  const runs = outcomes.length;
  const count = (test: (o: CanaryOutcome) => boolean) => outcomes.filter(test).length;
  const promoted = count((o) => o.result === 'promoted');
  const failed = count((o) => o.result === 'failed');
  const undecided = count((o) => o.result === 'undecided');
  const rolledBack = failed + (rule.atDeadline === 'rollback' ? undecided : 0);
  const decided = outcomes.filter((o) => o.result !== 'undecided');
  return {
    trueRate,
    runs,
    promoted: shareOf(promoted, runs),
    failed: shareOf(failed, runs),
    undecided: shareOf(undecided, runs),
    // A release exactly at the threshold may go either way: neither call is wrong there.
    falseRollback: trueRate < MAX_5XX_RATE ? shareOf(rolledBack, runs) : null,
    falsePromotion: trueRate > MAX_5XX_RATE ? shareOf(promoted, runs) : null,
    medianRequestsToDecision: median(decided.map((o) => o.requests)),
    medianWindowsToDecision: median(decided.map((o) => o.windows)),
    failedWithinQuickFailRequests: shareOf(
      count((o) => o.result === 'failed' && o.requests <= QUICK_FAIL_REQUESTS),
      runs,
    ),
  };
}

/** Every rule's figures at one true rate, from one stream of simulated canaries. */
function simulateRate(seed: number, trueRate: number): RowResult[] {
  const random = mulberry32(seed);
  const perRule: CanaryOutcome[][] = RULES.map(() => []);
  for (let run = 0; run < RUNS_PER_RATE; run++) {
    simulateCanary(random, trueRate, RULES).forEach((outcome, i) => perRule[i]?.push(outcome));
  }
  return RULES.map((rule, i) => summarise(trueRate, rule, perRule[i] ?? []));
}

// ---------------------------------------------------------------------------------------------
// Targets

/** A promise the new rule is measured against. */
export interface TargetResult {
  id: string;
  description: string;
  trueRate: number;
  bound: number;
  direction: 'atMost' | 'atLeast';
  measured: Share;
  met: boolean;
}

interface TargetSpec {
  id: string;
  description: string;
  trueRate: number;
  bound: number;
  direction: 'atMost' | 'atLeast';
  measure: (row: RowResult) => Share | null;
}

const TARGETS: readonly TargetSpec[] = [
  {
    id: 'healthy-rolled-back',
    description: `healthy (${formatRate(HEALTHY_RATE)}) releases rolled back <= 1 %`,
    trueRate: HEALTHY_RATE,
    bound: 0.01,
    direction: 'atMost',
    measure: (row) => row.falseRollback,
  },
  ...[0.02, 0.05, BROKEN_RATE].map((trueRate): TargetSpec => ({
    id: `promoted-at-${trueRate}`,
    description: `releases at ${formatRate(trueRate)} promoted <= 5 %`,
    trueRate,
    bound: 0.05,
    direction: 'atMost',
    measure: (row) => row.falsePromotion,
  })),
  {
    id: 'bad-failed-quickly',
    description: `${formatRate(BROKEN_RATE)} releases failed within their first ${QUICK_FAIL_REQUESTS} requests >= 95 %`,
    trueRate: BROKEN_RATE,
    bound: 0.95,
    direction: 'atLeast',
    measure: (row) => row.failedWithinQuickFailRequests,
  },
];

function checkTargets(rows: readonly RowResult[]): TargetResult[] {
  return TARGETS.map((target) => {
    const row = rows.find((r) => r.trueRate === target.trueRate);
    const measured = (row && target.measure(row)) ?? shareOf(0, 0);
    // The point estimate decides; the standard error is printed beside it so a figure close to
    // its bound reads as the coin-flip it is.
    const met =
      measured.runs > 0 &&
      (target.direction === 'atMost'
        ? measured.share <= target.bound
        : measured.share >= target.bound);
    const { id, description, trueRate, bound, direction } = target;
    return { id, description, trueRate, bound, direction, measured, met };
  });
}

// ---------------------------------------------------------------------------------------------
// The two-sample test against the baseline

/** `--max-5xx-rate-increase 0.01`: the canary may answer at most 1 point more 5xx than stable. */
const MAX_INCREASE = 0.01;
/** The stable baseline beside a canary at 10 % of the traffic: 90 % of 50 requests a window. */
const BASELINE_MEAN_REQUESTS_PER_WINDOW = 45;
/** The baseline's true 5xx rates: a quiet service, and a noisy one at twice the allowed increase. */
const BASELINE_RATES = [0.001, 0.02] as const;
/** The canary's true increase over the baseline: none, t / 4 (good point), t, 2 t (bad point), 5 t. */
const TRUE_INCREASES = [0, 0.0025, 0.01, 0.02, 0.05] as const;
/**
 * Simulated canaries per baseline rate and increase: a share near 5 % has a standard error of
 * 0.34 points. Fewer than the one-sample part's: each window costs a profile likelihood (two
 * golden-section searches), and the whole bench should stay under ~40 s on 2 cores.
 */
const INCREASE_RUNS_PER_ROW = 4_000;
/** Runs per row whose every window is also put to the full test (see `pooledIncreaseRule`). */
const CHECKED_RUNS_PER_ROW = 10;
/** The bound both wrong calls are measured against: 1 − confidence. */
const INCREASE_TARGET_BOUND = 0.05;
/** Stream indices of the two-sample rows, clear of the one-sample rates' (0 up). */
const INCREASE_STREAM_BASE = 1000;

/** The two-sample test's policy, as `judgeStep` passes it. */
interface IncreasePolicy {
  maxIncrease: number;
  confidence: number;
  minRequests: number;
}

const INCREASE_POLICY: IncreasePolicy = {
  maxIncrease: MAX_INCREASE,
  confidence: CONFIDENCE,
  minRequests: DEFAULT_MIN_REQUESTS,
};

/** One analysis window of the canary and of the stable baseline beside it, over the same period. */
export interface PairCounts {
  canary: Counts;
  baseline: Counts;
}

/** Judges one canary step against its baseline window by window; made afresh for every canary. */
export type PairJudge = (window: PairCounts) => StepDecision;

/**
 * What `errorIncreaseTest` decides on these counts, at the cost of its log-likelihood ratio alone.
 *
 * A full call that does not decide goes on to search for the canary requests still needed to
 * pass, a doubling and bisection over further ratios that takes some nine tenths of its time and
 * that a simulation has no use for. Asked at confidence 0, the test's boundaries meet at 0 and it
 * returns without that search; its ratio does not depend on the confidence. The boundaries are
 * then applied as the test applies them: fail at ln LR ≥ ln(1 / (1 − c)), pass at
 * ln LR ≤ −ln(1 / (1 − c)) once `minRequests` canary requests (and at least one) were seen.
 */
function screenIncrease(canary: Counts, baseline: Counts, policy: IncreasePolicy): StepDecision {
  const { logLikelihoodRatio: llr } = errorIncreaseTest(canary, baseline, {
    ...policy,
    confidence: 0,
  });
  const limit = boundary(policy.confidence);
  if (llr >= limit) return 'fail';
  const enough = canary.requests > 0 && canary.requests >= policy.minRequests;
  return llr <= -limit && enough ? 'pass' : 'continue';
}

/**
 * The two-sample rule as `judgeStep` runs it: `errorIncreaseTest` on the canary's and the
 * baseline's counts pooled since the step began, asked after every window once the baseline has
 * served `minRequests` requests of its own (before that, judgeStep skips the comparison).
 *
 * Every decision is the full test's, at the policy's confidence; only the windows it would not
 * decide are found by `screenIncrease`. With `checkEveryWindow`, every window goes to the full
 * test as well; any disagreement throws, so the shortcut is shown, not assumed, to change
 * nothing. `tally.compared` counts the windows put to both.
 */
export function pooledIncreaseRule(
  policy: IncreasePolicy,
  tally: { compared: number },
  checkEveryWindow: boolean,
): PairJudge {
  const canary: Counts = { requests: 0, errors: 0 };
  const baseline: Counts = { requests: 0, errors: 0 };
  return (window) => {
    canary.requests += window.canary.requests;
    canary.errors += window.canary.errors;
    baseline.requests += window.baseline.requests;
    baseline.errors += window.baseline.errors;
    if (baseline.requests < Math.max(1, policy.minRequests)) return 'continue';
    const screened = screenIncrease(canary, baseline, policy);
    if (screened === 'continue' && !checkEveryWindow) return 'continue';
    const { decision } = errorIncreaseTest(canary, baseline, policy);
    tally.compared++;
    if (decision !== screened) {
      throw new Error(
        `two-sample screen says ${screened} but errorIncreaseTest says ${decision} at canary ` +
          `${canary.errors}/${canary.requests}, baseline ${baseline.errors}/${baseline.requests}`,
      );
    }
    return decision;
  };
}

/** One row of the two-sample part: the baseline's true 5xx rate and the canary's increase on it. */
interface IncreaseScenario {
  baselineRate: number;
  increase: number;
}

/** One window of a canary at 10 % of the traffic and of the baseline at 90 %. */
function drawPairWindow(random: Random, scenario: IncreaseScenario): PairCounts {
  const canaryRate = scenario.baselineRate + scenario.increase;
  const canaryRequests = poisson(random, MEAN_REQUESTS_PER_WINDOW);
  const baselineRequests = poisson(random, BASELINE_MEAN_REQUESTS_PER_WINDOW);
  return {
    canary: { requests: canaryRequests, errors: binomial(random, canaryRequests, canaryRate) },
    baseline: {
      requests: baselineRequests,
      errors: binomial(random, baselineRequests, scenario.baselineRate),
    },
  };
}

/**
 * One canary against its baseline, until the test passes or fails it or the deadline is reached;
 * `requests` are the canary's own, the ones `minRequests` counts.
 */
function simulateIncreaseCanary(
  random: Random,
  scenario: IncreaseScenario,
  judge: PairJudge,
): CanaryOutcome {
  let requests = 0;
  for (let windows = 1; windows <= DEADLINE_WINDOWS; windows++) {
    const window = drawPairWindow(random, scenario);
    requests += window.canary.requests;
    const decision = judge(window);
    if (decision !== 'continue') {
      return { result: decision === 'pass' ? 'promoted' : 'failed', requests, windows };
    }
  }
  return { result: 'undecided', requests, windows: DEADLINE_WINDOWS };
}

/** The two-sample test's figures at one baseline rate and true increase. */
export interface IncreaseRowResult {
  baselineRate: number;
  increase: number;
  runs: number;
  /** Passed by the test: the canary is promoted. */
  passed: Share;
  /** Failed by the test itself, before the deadline. */
  failed: Share;
  /** Still undecided at the deadline: rolled back. */
  undecided: Share;
  /** At an increase ≤ maxIncrease / 4: share failed by the test; else null. */
  falseFail: Share | null;
  /** At an increase ≥ 2 × maxIncrease: share passed (promoted); else null. */
  falsePass: Share | null;
  /** Canary requests pooled at the decision, over runs decided before the deadline. */
  medianCanaryRequestsToDecision: number | null;
  medianWindowsToDecision: number | null;
}

function summariseIncrease(
  scenario: IncreaseScenario,
  outcomes: readonly CanaryOutcome[],
): IncreaseRowResult {
  const runs = outcomes.length;
  const count = (result: CanaryOutcome['result']) =>
    outcomes.filter((o) => o.result === result).length;
  const passed = shareOf(count('promoted'), runs);
  const failed = shareOf(count('failed'), runs);
  const decided = outcomes.filter((o) => o.result !== 'undecided');
  return {
    ...scenario,
    runs,
    passed,
    failed,
    undecided: shareOf(count('undecided'), runs),
    // Between the two points either call may come: neither is wrong there.
    falseFail: scenario.increase <= MAX_INCREASE / 4 ? failed : null,
    falsePass: scenario.increase >= 2 * MAX_INCREASE ? passed : null,
    medianCanaryRequestsToDecision: median(decided.map((o) => o.requests)),
    medianWindowsToDecision: median(decided.map((o) => o.windows)),
  };
}

/** A seed of its own for each row, so adding a baseline rate or an increase moves no other row. */
function increaseSeed(seed: number, baselineIndex: number, increaseIndex: number): number {
  return streamSeed(streamSeed(seed, INCREASE_STREAM_BASE + baselineIndex), increaseIndex);
}

/** One row's simulated canaries; the full-test checks draw no random numbers of their own. */
function simulateIncreaseRow(
  seed: number,
  scenario: IncreaseScenario,
  tally: { compared: number },
): IncreaseRowResult {
  const random = mulberry32(seed);
  const outcomes: CanaryOutcome[] = [];
  for (let run = 0; run < INCREASE_RUNS_PER_ROW; run++) {
    const judge = pooledIncreaseRule(INCREASE_POLICY, tally, run < CHECKED_RUNS_PER_ROW);
    outcomes.push(simulateIncreaseCanary(random, scenario, judge));
  }
  return summariseIncrease(scenario, outcomes);
}

/** A bound the two-sample test is measured against: informational, not in the exit code. */
export interface IncreaseTargetResult {
  id: string;
  description: string;
  /** The description without its row, as the table's last column shows it. */
  check: string;
  baselineRate: number;
  increase: number;
  bound: number;
  direction: 'atMost';
  measured: Share;
  met: boolean;
}

/** False fails at increases ≤ t / 4 and false passes at ≥ 2 t, each at most 5 %. */
function checkIncreaseTargets(rows: readonly IncreaseRowResult[]): IncreaseTargetResult[] {
  return rows.flatMap((row) => {
    const at = `baseline ${formatRate(row.baselineRate)}, increase ${formatRate(row.increase)}`;
    const wrongCalls = [
      { kind: 'false-fail', what: 'false fail', measured: row.falseFail },
      { kind: 'false-pass', what: 'false pass', measured: row.falsePass },
    ];
    return wrongCalls.flatMap(({ kind, what, measured }) => {
      if (measured === null) return [];
      const check = `${what} <= ${formatRate(INCREASE_TARGET_BOUND)}`;
      return [
        {
          id: `${kind}-baseline-${row.baselineRate}-increase-${row.increase}`,
          description: `${at}: ${check}`,
          check,
          baselineRate: row.baselineRate,
          increase: row.increase,
          bound: INCREASE_TARGET_BOUND,
          direction: 'atMost' as const,
          measured,
          met: measured.runs > 0 && measured.share <= INCREASE_TARGET_BOUND,
        },
      ];
    });
  });
}

/** The two-sample part as printed and as written under `increase` in judgement.json. */
interface IncreaseReport {
  test: 'errorIncreaseTest';
  /** Its error bounds are approximate: measured here, not guaranteed. */
  guarantee: 'approximate';
  /** Its targets are informational: the exit code follows the one-sample targets only. */
  affectsExitCode: false;
  runsPerRow: number;
  settings: Record<string, unknown>;
  /** Windows put to both the screen and the full test (see `pooledIncreaseRule`): all agreed. */
  windowsCheckedAgainstFullTest: number;
  elapsedMs: number;
  rows: IncreaseRowResult[];
  targets: IncreaseTargetResult[];
  allTargetsMet: boolean;
}

/** Simulates every baseline rate and increase and measures the test against its bounds. */
function measureIncrease(seed: number): IncreaseReport {
  const started = performance.now();
  const tally = { compared: 0 };
  const rows = BASELINE_RATES.flatMap((baselineRate, b) =>
    TRUE_INCREASES.map((increase, i) =>
      simulateIncreaseRow(increaseSeed(seed, b, i), { baselineRate, increase }, tally),
    ),
  );
  const elapsedMs = Math.round(performance.now() - started);
  const targets = checkIncreaseTargets(rows);
  return {
    test: 'errorIncreaseTest',
    guarantee: 'approximate',
    affectsExitCode: false,
    runsPerRow: INCREASE_RUNS_PER_ROW,
    settings: {
      maxIncrease: MAX_INCREASE,
      confidence: CONFIDENCE,
      minRequests: DEFAULT_MIN_REQUESTS,
      canaryMeanRequestsPerWindow: MEAN_REQUESTS_PER_WINDOW,
      baselineMeanRequestsPerWindow: BASELINE_MEAN_REQUESTS_PER_WINDOW,
      deadlineWindows: DEADLINE_WINDOWS,
      baselineRates: BASELINE_RATES,
      trueIncreases: TRUE_INCREASES,
      checkedRunsPerRow: CHECKED_RUNS_PER_ROW,
    },
    windowsCheckedAgainstFullTest: tally.compared,
    elapsedMs,
    rows,
    targets,
    allTargetsMet: targets.every((t) => t.met),
  };
}

// ---------------------------------------------------------------------------------------------
// Output

function formatRate(rate: number): string {
  return `${+(rate * 100).toFixed(3)} %`;
}

function formatShare(share: Share | null): string {
  if (share === null) return '—';
  return `${(share.share * 100).toFixed(2)} % ±${(share.standardError * 100).toFixed(2)}`;
}

function formatNumber(value: number | null): string {
  return value === null ? '—' : String(value);
}

const COLUMNS = [
  { title: 'true rate', width: 9 },
  { title: 'false rollback', width: 15 },
  { title: 'false promotion', width: 15 },
  { title: 'undecided', width: 24 },
  { title: 'median req', width: 10 },
  { title: 'median win', width: 10 },
  { title: `failed <=${QUICK_FAIL_REQUESTS} req`, width: 15 },
  { title: 'targets', width: 0 },
] as const;

function tableLine(cells: readonly string[]): string {
  return cells
    .map((cell, i) => {
      const width = COLUMNS[i]?.width ?? 0;
      // Numbers read best right-aligned; the last column is free text.
      return i === 0 || i === 4 || i === 5 ? cell.padStart(width) : cell.padEnd(width);
    })
    .join('  ')
    .trimEnd();
}

function rowLine(rule: RuleSpec, row: RowResult, targets: readonly TargetResult[]): string {
  const undecided = formatShare(row.undecided);
  const marks = targets
    .filter((t) => t.trueRate === row.trueRate)
    .map((t) => `${t.description}: ${t.met ? 'met' : 'MISSED'}`);
  return tableLine([
    formatRate(row.trueRate),
    formatShare(row.falseRollback),
    formatShare(row.falsePromotion),
    row.undecided.count > 0 && rule.atDeadline === 'hangs' ? `${undecided} (hangs)` : undecided,
    formatNumber(row.medianRequestsToDecision),
    formatNumber(row.medianWindowsToDecision),
    row.trueRate === BROKEN_RATE ? formatShare(row.failedWithinQuickFailRequests) : '',
    marks.join('; '),
  ]);
}

const INCREASE_COLUMNS = [
  { title: 'baseline', width: 8, right: true },
  { title: 'increase', width: 8, right: true },
  { title: 'false fail', width: 14, right: false },
  { title: 'false pass', width: 14, right: false },
  { title: 'undecided', width: 14, right: false },
  { title: 'median canary req', width: 17, right: true },
  { title: 'median win', width: 10, right: true },
  { title: 'measured against', width: 0, right: false },
] as const;

function increaseTableLine(cells: readonly string[]): string {
  return cells
    .map((cell, i) => {
      const column = INCREASE_COLUMNS[i];
      const width = column?.width ?? 0;
      return column?.right === true ? cell.padStart(width) : cell.padEnd(width);
    })
    .join('  ')
    .trimEnd();
}

function increaseRowLine(row: IncreaseRowResult, targets: readonly IncreaseTargetResult[]): string {
  const marks = targets
    .filter((t) => t.baselineRate === row.baselineRate && t.increase === row.increase)
    .map((t) => `${t.check}: ${t.met ? 'met' : 'MISSED'}`);
  return increaseTableLine([
    formatRate(row.baselineRate),
    formatRate(row.increase),
    formatShare(row.falseFail),
    formatShare(row.falsePass),
    formatShare(row.undecided),
    formatNumber(row.medianCanaryRequestsToDecision),
    formatNumber(row.medianWindowsToDecision),
    marks.join('; '),
  ]);
}

/** The machine the figures came from: they are only comparable on like hardware. */
function machine(): { cpu: string; cores: number; node: string; platform: string } {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
  };
}

/** BENCH_SEED as a 32-bit unsigned integer (decimal or 0x hex), the default when unset. */
function parseSeed(raw: string | undefined): number | null {
  if (raw === undefined || raw.trim() === '') return DEFAULT_SEED;
  const value = Number(raw.trim());
  return Number.isInteger(value) && value >= 0 && value <= 0xffffffff ? value : null;
}

function print(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Everything the benchmark found, as printed and as written to bench/results/judgement.json. */
interface Report {
  benchmark: 'judgement';
  seed: number;
  runsPerRate: number;
  settings: Record<string, unknown>;
  machine: ReturnType<typeof machine>;
  elapsedMs: number;
  rules: { id: string; title: string; atDeadline: RuleSpec['atDeadline']; rows: RowResult[] }[];
  targets: TargetResult[];
  /** The one-sample targets only: these decide the exit code. */
  allTargetsMet: boolean;
  /** The two-sample test against the baseline, measured but not in the exit code. */
  increase: IncreaseReport;
}

/** Simulates every true rate under every rule and checks the targets. */
function measure(seed: number): Report {
  const started = performance.now();
  const perRate = TRUE_RATES.map((rate, i) => simulateRate(streamSeed(seed, i), rate));
  const elapsedMs = Math.round(performance.now() - started);
  const rules = RULES.map((rule, ruleIndex) => ({
    id: rule.id,
    title: rule.title,
    atDeadline: rule.atDeadline,
    rows: perRate.map((rows) => rows[ruleIndex]).filter((row) => row !== undefined),
  }));
  const checked = rules.find((_, i) => RULES[i]?.checked === true);
  const targets = checkTargets(checked?.rows ?? []);
  return {
    benchmark: 'judgement',
    seed,
    runsPerRate: RUNS_PER_RATE,
    settings: {
      max5xxRate: MAX_5XX_RATE,
      confidence: CONFIDENCE,
      meanRequestsPerWindow: MEAN_REQUESTS_PER_WINDOW,
      failureLimit: FAILURE_LIMIT,
      deadlineWindows: DEADLINE_WINDOWS,
      quickFailRequests: QUICK_FAIL_REQUESTS,
      trueRates: TRUE_RATES,
    },
    machine: machine(),
    elapsedMs,
    rules,
    targets,
    allTargetsMet: targets.every((t) => t.met),
    increase: measureIncrease(seed),
  };
}

function printReport(report: Report): void {
  const { machine: host } = report;
  print(
    `judgement: seed ${report.seed} (set BENCH_SEED to change), ${report.runsPerRate} canaries per true rate`,
  );
  print(
    `threshold max5xxRate ${MAX_5XX_RATE}, confidence ${CONFIDENCE}, requests per window ~ Poisson(${MEAN_REQUESTS_PER_WINDOW}), ` +
      `5xx per request ~ Bernoulli(true rate), ${DEADLINE_WINDOWS} windows simulated per canary`,
  );
  print(
    `machine: ${host.cpu}, ${host.cores} cores, node ${host.node}, ${host.platform}; ran in ${(report.elapsedMs / 1000).toFixed(1)} s`,
  );
  print(
    'shares are "value ±standard error" in percent; medians are over runs decided before the deadline',
  );
  RULES.forEach((rule, ruleIndex) => {
    print();
    print(rule.title);
    print(tableLine(COLUMNS.map((c) => c.title)));
    const rows = report.rules[ruleIndex]?.rows ?? [];
    for (const row of rows) print(rowLine(rule, row, rule.checked ? report.targets : []));
  });
  print();
  for (const t of report.targets) {
    print(
      `target ${t.met ? 'met   ' : 'MISSED'}  ${t.description}: measured ${formatShare(t.measured)}`,
    );
  }
  const missed = report.targets.filter((t) => !t.met).map((t) => t.description);
  print(missed.length === 0 ? 'all targets met' : `missed: ${missed.join('; ')}`);
  printIncrease(report.increase);
}

function printIncrease(part: IncreaseReport): void {
  print();
  print(
    `TWO-SAMPLE test against the stable baseline (errorIncreaseTest), maxIncrease ${MAX_INCREASE}, confidence ${CONFIDENCE}, ` +
      `minRequests ${DEFAULT_MIN_REQUESTS}, deadline ${DEADLINE_WINDOWS} windows (undecided = rolled back)`,
  );
  print(
    `canary requests per window ~ Poisson(${MEAN_REQUESTS_PER_WINDOW}) (10 % of the traffic), baseline ~ Poisson(${BASELINE_MEAN_REQUESTS_PER_WINDOW}) (90 %); ` +
      `${part.runsPerRow} canaries per row; ran in ${(part.elapsedMs / 1000).toFixed(1)} s`,
  );
  print(
    "this test's error bounds are APPROXIMATE: the baseline's rate is profiled out, and a profile likelihood ratio " +
      'is not a martingale under a composite null, so the 1 − confidence bound is not guaranteed; these figures measure it',
  );
  print(
    `asked, as judgeStep asks it, once the baseline has served ${DEFAULT_MIN_REQUESTS} requests; false fail = failed by the test ` +
      `at an increase <= t/4 (undecided canaries are rolled back too), false pass = passed at an increase >= 2t`,
  );
  print(
    `every decision is the full errorIncreaseTest's; the windows between were screened by its log-likelihood ratio, ` +
      `checked against the full test on ${part.windowsCheckedAgainstFullTest} windows: all agree`,
  );
  print(increaseTableLine(INCREASE_COLUMNS.map((c) => c.title)));
  for (const row of part.rows) print(increaseRowLine(row, part.targets));
  print();
  print('measured against (informational: the exit code follows the one-sample targets only)');
  for (const t of part.targets) {
    print(
      `target ${t.met ? 'met   ' : 'MISSED'}  ${t.description}: measured ${formatShare(t.measured)}`,
    );
  }
  const met = part.targets.filter((t) => t.met).length;
  print(`two-sample: ${met} of ${part.targets.length} measured-against targets met`);
}

/** The per-deployment table: every scenario under each setting, at two traffics. */
function printDeployments(rows: readonly DeploymentRow[]): void {
  const widths = [26, 12, 58, 16, 16];
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  print();
  print(
    `PER DEPLOYMENT: steps 10 % then 100 %, each step's evidence pooled and judged again every window, ` +
      `the last step promoted on a pass once baked, undecided at --max-analysis (30m) = rolled back; ` +
      `${DEPLOYMENT_RUNS} deployments per row; wrong = healthy rolled back, or bad promoted`,
  );
  print(line(['setting', 'requests/min', 'release', 'wrong call', '10 % step passed']));
  for (const row of rows) {
    print(
      line([
        row.setting,
        String(row.requestsPerMinute),
        row.title,
        `${row.wrongPercent.toFixed(2)} ±${row.standardErrorPercent.toFixed(2)} %`,
        `${row.firstStepPassedPercent.toFixed(1)} %`,
      ]),
    );
  }
}

function writeResults(report: Report & { deployments: readonly DeploymentRow[] }): void {
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  print(`written to bench/results/judgement.json`);
}

/**
 * Runs the judgement benchmark: prints the tables, writes bench/results/judgement.json and
 * returns the exit code (0 targets met, 1 a target missed, 2 a bad BENCH_SEED).
 */
export function judgementBench(env: NodeJS.ProcessEnv = process.env): number {
  return judgementRun(env).code;
}

/** The judgement benchmark's exit code, and its targets as figures of a run's results. */
export function judgementRun(env: NodeJS.ProcessEnv = process.env): {
  code: number;
  figures: {
    name: string;
    value: number;
    bound: number;
    target: string | null;
    met: boolean | null;
  }[];
} {
  const seed = parseSeed(env['BENCH_SEED']);
  if (seed === null) {
    process.stderr.write(
      `BENCH_SEED: expected an integer from 0 to 4294967295 (decimal or 0x hex), got ${JSON.stringify(env['BENCH_SEED'])}\n`,
    );
    return { code: 2, figures: [] };
  }
  const report = measure(seed);
  printReport(report);
  const deployments = measureDeployments(seed, DEPLOYMENT_RUNS, SETTINGS, SCENARIOS, [
    HEADLINE_REQUESTS_PER_MINUTE,
    HEADLINE_REQUESTS_PER_MINUTE / 10,
  ]);
  printDeployments(deployments);
  writeResults({ ...report, deployments });
  const headline = DEPLOYMENT_TARGETS.map((target) => {
    const row = deployments.find(
      (r) =>
        r.scenario === target.scenario &&
        r.setting === SETTINGS[0]?.name &&
        r.requestsPerMinute === HEADLINE_REQUESTS_PER_MINUTE,
    );
    const value = row?.wrongPercent ?? Number.NaN;
    return {
      name: `${target.description}, ${HEADLINE_REQUESTS_PER_MINUTE} requests a minute`,
      value,
      bound: target.bound,
      target: `≤ ${target.bound} %`,
      met: value <= target.bound,
    };
  });
  const bursts = deployments
    .filter(
      (r) => r.scenario.endsWith('-burst') && r.requestsPerMinute === HEADLINE_REQUESTS_PER_MINUTE,
    )
    .map((r) => ({
      name: `per deployment, ${r.setting}: ${r.title} ${r.scenario.startsWith('healthy') ? 'rolled back' : 'promoted'}`,
      value: r.wrongPercent,
      bound: Number.NaN,
      target: null,
      met: null,
    }));
  const perStep = report.targets.map((target) => ({
    name: `per step: ${target.description}`,
    value: target.measured.share * 100,
    bound: target.bound * 100,
    target: `${target.direction === 'atMost' ? '≤' : '≥'} ${(target.bound * 100).toFixed(2)} %`,
    met: target.met,
  }));
  const figures = [...headline, ...bursts, ...perStep];
  const allMet = report.allTargetsMet && headline.every((figure) => figure.met);
  return { code: allMet ? 0 : 1, figures };
}
