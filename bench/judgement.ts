/**
 * `npm run bench -- judgement`: how often canary analysis judges a release wrongly at low
 * traffic, under the rule Berth used until now and under the pooled sequential test.
 *
 * Thousands of simulated canaries per true 5xx rate, each seeing Poisson(5) requests per
 * analysis window and a 5xx on each request with the true rate, against a 1 % threshold. Every
 * canary's windows are drawn once and shown to every rule, so the rules are compared on the
 * same traffic rather than on three different samples of it.
 *
 * Pure and seeded: no clock in the figures, no database, no AWS. The seed is printed and can be
 * set with BENCH_SEED, so a surprising figure can be reproduced exactly. Everything printed is
 * also written to bench/results/judgement.json, which is meant to be committed.
 *
 * Exit code: 0 when the new rule meets every target, 1 when one is missed, 2 on a bad BENCH_SEED.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { errorRateTest } from '../src/analysis/sequential-test.ts';

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

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/**
 * mulberry32: a 32-bit seeded PRNG, small enough to live here and good enough for Monte Carlo
 * at this scale (period 2^32; one true rate draws under 10^8 numbers). Math.random cannot be
 * seeded, and a figure that cannot be reproduced cannot be argued about.
 */
export function mulberry32(seed: number): Random {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

/** Poisson(mean) by Knuth's product of uniforms: exact, and quick for a mean of 5. */
function poisson(random: Random, mean: number): number {
  const limit = Math.exp(-mean);
  let count = 0;
  let product = random();
  while (product > limit) {
    count++;
    product *= random();
  }
  return count;
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
  allTargetsMet: boolean;
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
}

function writeResults(report: Report): void {
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  print(`written to bench/results/judgement.json`);
}

/**
 * Runs the judgement benchmark: prints the tables, writes bench/results/judgement.json and
 * returns the exit code (0 targets met, 1 a target missed, 2 a bad BENCH_SEED).
 */
export function judgementBench(env: NodeJS.ProcessEnv = process.env): number {
  const seed = parseSeed(env['BENCH_SEED']);
  if (seed === null) {
    process.stderr.write(
      `BENCH_SEED: expected an integer from 0 to 4294967295 (decimal or 0x hex), got ${JSON.stringify(env['BENCH_SEED'])}\n`,
    );
    return 2;
  }
  const report = measure(seed);
  printReport(report);
  writeResults(report);
  return report.allTargetsMet ? 0 : 1;
}
