import { InputError } from './input-error.ts';

/*
 * The simulated AWS's faults as the environment asks for them (BERTH_SIM_FAULTS,
 * BERTH_SIM_LATENCY_MS, BERTH_SIM_TIMEOUT_MS): parsed here, on the ground floor, so that
 * config.ts checks them for every command without importing the simulator, which draws them
 * (src/cloud/sim/faults.ts).
 */

/**
 * What goes wrong with one call:
 * - `throttling`: refused with the API's throttling error, before it takes effect;
 * - `server`: refused with a 500 (InternalFailure, ServerException), before it takes effect;
 * - `timeout`: no answer; after `timeoutMs` the caller sees a network timeout, and nothing
 *   happened;
 * - `lost`: the call takes effect, then its answer is lost: the caller sees the same timeout
 *   and cannot tell the two apart.
 */
export type SimFaultKind = 'throttling' | 'server' | 'timeout' | 'lost';

/** Chances per call of each fault, 0 to 1, at most 1 together (`BERTH_SIM_FAULTS`). */
export interface SimFaultRates {
  throttle?: number;
  error?: number;
  timeout?: number;
  lost?: number;
}

/**
 * Faults of the shared cloud, stored with it so that every process on the database applies the
 * same ones, and reads them afresh on every call.
 */
export interface SimFaults {
  /** Per operation (`ecs:UpdateTaskSet`) or per API (`ecs:*`): how many of the next calls fail. */
  failNext?: Record<string, { count: number; kind: SimFaultKind }>;
  /** Chances per call of each fault, drawn from the seed and the call's ordinal. */
  rates?: SimFaultRates;
  /** Extra latency in milliseconds added to every call; with `latencyMaxMs`, the least of a range. */
  latencyMs?: number;
  /** The most of a latency range drawn uniformly per call. */
  latencyMaxMs?: number;
  /** How long a call that times out, or whose answer is lost, hangs before it fails. */
  timeoutMs?: number;
}

export const FAULTS_ENV = 'BERTH_SIM_FAULTS';
export const LATENCY_ENV = 'BERTH_SIM_LATENCY_MS';
export const TIMEOUT_ENV = 'BERTH_SIM_TIMEOUT_MS';

/** Beyond a minute a latency or a timeout is a typo, and would outlast every lease. */
const MAX_MS = 60_000;

/** The rate names of `BERTH_SIM_FAULTS`, in the order a draw tries them. */
export const RATE_KINDS: readonly [keyof SimFaultRates, SimFaultKind][] = [
  ['throttle', 'throttling'],
  ['error', 'server'],
  ['timeout', 'timeout'],
  ['lost', 'lost'],
];

/**
 * The faults asked for by `BERTH_SIM_FAULTS`, `BERTH_SIM_LATENCY_MS` and `BERTH_SIM_TIMEOUT_MS`;
 * only the members of the variables that are set, so that a process started without them leaves
 * the shared cloud's faults alone. A bad value is an InputError naming the variable.
 */
export function simFaultsFromEnvironment(env: NodeJS.ProcessEnv): SimFaults | undefined {
  const faults: SimFaults = {};
  const rates = env[FAULTS_ENV];
  if (rates !== undefined && rates.trim() !== '') faults.rates = parseFaultRates(rates);
  const latency = env[LATENCY_ENV];
  if (latency !== undefined && latency.trim() !== '') {
    const [least, most] = parseLatency(latency);
    faults.latencyMs = least;
    faults.latencyMaxMs = most;
  }
  const timeout = env[TIMEOUT_ENV];
  if (timeout !== undefined && timeout.trim() !== '') {
    const ms = milliseconds(timeout.trim());
    if (ms === undefined || ms === 0) {
      throw new InputError(
        TIMEOUT_ENV,
        `expected whole milliseconds from 1 to ${MAX_MS}, not ${JSON.stringify(timeout)}`,
      );
    }
    faults.timeoutMs = ms;
  }
  return Object.keys(faults).length === 0 ? undefined : faults;
}

/**
 * `throttle=0.1,error=0.05,timeout=0.02,lost=0.01`: each kind once, chances from 0 to 1; `none`
 * for no faults (the shared cloud keeps its faults until they are changed).
 */
export function parseFaultRates(value: string): SimFaultRates {
  const expected =
    'expected KIND=CHANCE pairs separated by commas, KIND one of throttle, error, timeout, ' +
    'lost and CHANCE from 0 to 1 (e.g. throttle=0.1,error=0.05), or none';
  const rates: SimFaultRates = {};
  if (value.trim() === 'none') return rates;
  for (const pair of value.split(',')) {
    const match = /^\s*([a-z]+)\s*=\s*(\d+(?:\.\d+)?|\.\d+)\s*$/.exec(pair);
    const name = match?.[1];
    const kind = RATE_KINDS.find(([rateName]) => rateName === name)?.[0];
    const chance = Number(match?.[2]);
    if (kind === undefined || !(chance >= 0 && chance <= 1)) {
      throw new InputError(FAULTS_ENV, `${expected}; ${JSON.stringify(pair.trim())} is not one`);
    }
    if (rates[kind] !== undefined) {
      throw new InputError(FAULTS_ENV, `${kind} is given twice in ${JSON.stringify(value)}`);
    }
    rates[kind] = chance;
  }
  let total = 0;
  for (const [name] of RATE_KINDS) total += rates[name] ?? 0;
  // Rounding: 0.7 + 0.2 + 0.1 is 1.0000000000000002.
  if (total > 1 + 1e-9) {
    throw new InputError(
      FAULTS_ENV,
      `the chances add up to ${Number(total.toFixed(6))}; a call suffers at most one fault, so ` +
        `they may add up to at most 1 (in ${JSON.stringify(value)})`,
    );
  }
  return rates;
}

/** `40` or `30-50`: whole milliseconds, a fixed latency or a range drawn per call. */
export function parseLatency(value: string): [number, number] {
  const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(value);
  const least = milliseconds(match?.[1]);
  const most = match?.[2] === undefined ? least : milliseconds(match[2]);
  if (least === undefined || most === undefined || most < least) {
    throw new InputError(
      LATENCY_ENV,
      `expected whole milliseconds (40) or a range of them (30-50), from 0 to ${MAX_MS}, ` +
        `not ${JSON.stringify(value)}`,
    );
  }
  return [least, most];
}

function milliseconds(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const ms = Number(text);
  return ms <= MAX_MS ? ms : undefined;
}
