/**
 * The verdict as a user lives it: whole deployments at the default policy — a 10 % step, then
 * 100 % with its bake, each step's evidence pooled and judged again every window (the
 * sequential test), the analysis deadline in force — rather than one step judged once. Also
 * bursty releases: a healthy one whose 5xx come in one 10-second burst of 5 %, and a bad one at
 * 2 % whose errors come in bursts, with what a user can set to live with bursts.
 *
 * Pure and seeded, like the per-step judgement benchmark beside it.
 */
import { errorRateTest } from '../src/analysis/sequential-test.ts';
import { mulberry32, poisson, type Random } from './support/random.ts';

/** The defaults of `berth service create` that the verdict depends on. */
export interface DeploymentPolicy {
  steps: readonly number[];
  intervalSeconds: number;
  bakeSeconds: number;
  maxAnalysisSeconds: number;
  maxRate: number;
  confidence: number;
  minRequests: number;
}

export const DEFAULT_DEPLOYMENT_POLICY: DeploymentPolicy = {
  steps: [10, 100],
  intervalSeconds: 60,
  bakeSeconds: 300,
  maxAnalysisSeconds: 1800,
  maxRate: 0.01,
  confidence: 0.95,
  minRequests: 100,
};

/** A release's true 5xx rate over one window, which may depend on when it is. */
export interface Scenario {
  id: string;
  title: string;
  healthy: boolean;
  /** Called once per deployment: the rate of window `index` (from the deployment's start). */
  rates: (random: Random, windowSeconds: number) => (index: number) => number;
}

const steady = (rate: number) => () => () => rate;

/** A healthy release (0.1 %) with one 10-second burst of 5 % somewhere in its first ten minutes. */
const healthyBurst: Scenario['rates'] = (random, windowSeconds) => {
  const burstAt = random() * 600;
  const burst = 10;
  return (index) => {
    const from = index * windowSeconds;
    const overlap = Math.max(
      0,
      Math.min(from + windowSeconds, burstAt + burst) - Math.max(from, burstAt),
    );
    return 0.001 + ((0.05 - 0.001) * overlap) / windowSeconds;
  };
};

/** A bad release at 2 % on average, its errors in bursts: a minute in five at 10 %, else none. */
const badBurst: Scenario['rates'] = (random, windowSeconds) => {
  const minutes = new Map<number, boolean>();
  const bursting = (minute: number) => {
    let on = minutes.get(minute);
    if (on === undefined) {
      on = random() < 0.2;
      minutes.set(minute, on);
    }
    return on;
  };
  return (index) => {
    // The window's rate: the mean of the minutes it spans.
    const first = Math.floor((index * windowSeconds) / 60);
    const count = Math.max(1, Math.round(windowSeconds / 60));
    let sum = 0;
    for (let m = first; m < first + count; m++) sum += bursting(m) ? 0.1 : 0;
    return sum / count;
  };
};

export const SCENARIOS: readonly Scenario[] = [
  { id: 'healthy', title: 'healthy, 0.1 % 5xx', healthy: true, rates: steady(0.001) },
  { id: 'bad', title: 'bad, 2 % 5xx', healthy: false, rates: steady(0.02) },
  {
    id: 'healthy-burst',
    title: 'healthy, 0.1 % with one 10-second burst of 5 %',
    healthy: true,
    rates: healthyBurst,
  },
  {
    id: 'bad-burst',
    title: 'bad, 2 % on average in bursts (a minute in five at 10 %)',
    healthy: false,
    rates: badBurst,
  },
];

/** Binomial(trials, p) by geometric gaps between successes: quick when p is small. */
function binomial(random: Random, trials: number, p: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return trials;
  const log = Math.log(1 - p);
  let successes = 0;
  let at = 0;
  for (;;) {
    at += Math.floor(Math.log(Math.max(random(), 1e-300)) / log) + 1;
    if (at > trials) return successes;
    successes++;
  }
}

export type DeploymentOutcome = 'promoted' | 'rolledBack';

/**
 * One deployment: each step judged after every window on the evidence pooled since the step
 * began; a fail rolls back at once; a step below 100 % moves on at its first pass; the last step
 * promotes on a pass once its bake has passed (judged again every window until then); a step
 * undecided at the analysis deadline rolls back. Returns the outcome and, per step, whether it
 * was passed.
 */
export function simulateDeployment(
  random: Random,
  scenario: Scenario,
  policy: DeploymentPolicy,
  requestsPerMinute: number,
): { outcome: DeploymentOutcome; stepsPassed: number } {
  const rateOf = scenario.rates(random, policy.intervalSeconds);
  const perWindow = (requestsPerMinute * policy.intervalSeconds) / 60;
  const deadline = Math.max(1, Math.floor(policy.maxAnalysisSeconds / policy.intervalSeconds));
  const bake = Math.ceil(policy.bakeSeconds / policy.intervalSeconds);
  let index = 0;
  for (const [stepIndex, percent] of policy.steps.entries()) {
    const last = stepIndex === policy.steps.length - 1;
    const pooled = { requests: 0, errors: 0 };
    for (let windows = 1; ; windows++) {
      const requests = poisson(random, (perWindow * percent) / 100);
      pooled.requests += requests;
      pooled.errors += binomial(random, requests, rateOf(index++));
      const decision = errorRateTest(pooled, policy).decision;
      if (decision === 'fail') return { outcome: 'rolledBack', stepsPassed: stepIndex };
      if (decision === 'pass' && (!last || windows >= bake)) break;
      if (decision !== 'pass' && windows >= deadline) {
        return { outcome: 'rolledBack', stepsPassed: stepIndex };
      }
    }
  }
  return { outcome: 'promoted', stepsPassed: policy.steps.length };
}

/** A wrong call's share over many deployments: healthy rolled back, or bad promoted. */
export interface DeploymentRow {
  scenario: string;
  title: string;
  setting: string;
  requestsPerMinute: number;
  runs: number;
  /** Healthy: the share rolled back. Bad: the share promoted. In percent. */
  wrongPercent: number;
  standardErrorPercent: number;
  /** The share that passed the 10 % step (a per-step figure beside the deployment's). */
  firstStepPassedPercent: number;
}

export function measureDeployments(
  seed: number,
  runs: number,
  settings: readonly { name: string; policy: DeploymentPolicy }[],
  scenarios: readonly Scenario[],
  requestsPerMinute: readonly number[],
): DeploymentRow[] {
  const rows: DeploymentRow[] = [];
  let stream = 0;
  for (const setting of settings) {
    for (const rpm of requestsPerMinute) {
      for (const scenario of scenarios) {
        const random = mulberry32((seed ^ Math.imul(++stream, 0x9e3779b9)) >>> 0);
        let wrong = 0;
        let firstPassed = 0;
        for (let i = 0; i < runs; i++) {
          const { outcome, stepsPassed } = simulateDeployment(
            random,
            scenario,
            setting.policy,
            rpm,
          );
          if ((outcome === 'rolledBack') === scenario.healthy) wrong++;
          if (stepsPassed >= 1) firstPassed++;
        }
        const share = wrong / runs;
        rows.push({
          scenario: scenario.id,
          title: scenario.title,
          setting: setting.name,
          requestsPerMinute: rpm,
          runs,
          wrongPercent: share * 100,
          standardErrorPercent: Math.sqrt((share * (1 - share)) / runs) * 100,
          firstStepPassedPercent: (firstPassed / runs) * 100,
        });
      }
    }
  }
  return rows;
}

/** Deployments simulated per row: a share near 1 % has a standard error of 0.14 points. */
export const DEPLOYMENT_RUNS = 5_000;

/** The headline's traffic: a service of ~8 requests a second, its 10 % canary ~50 a minute. */
export const HEADLINE_REQUESTS_PER_MINUTE = 500;

/** What a user can set to live with bursts, beside the defaults. */
export const SETTINGS: readonly { name: string; policy: DeploymentPolicy }[] = [
  { name: 'default policy', policy: DEFAULT_DEPLOYMENT_POLICY },
  { name: '--interval 5m', policy: { ...DEFAULT_DEPLOYMENT_POLICY, intervalSeconds: 300 } },
  { name: '--bake 15m', policy: { ...DEFAULT_DEPLOYMENT_POLICY, bakeSeconds: 900 } },
  {
    name: '--interval 5m --bake 20m',
    policy: { ...DEFAULT_DEPLOYMENT_POLICY, intervalSeconds: 300, bakeSeconds: 1200 },
  },
];

/** The per-deployment targets of issue 19, at the default policy and the headline's traffic. */
export const DEPLOYMENT_TARGETS = [
  {
    scenario: 'healthy',
    bound: 1,
    description: 'per deployment, default policy: healthy (0.1 % 5xx) rolled back',
  },
  {
    scenario: 'bad',
    bound: 5,
    description: 'per deployment, default policy: bad (2 % 5xx) promoted',
  },
] as const;
