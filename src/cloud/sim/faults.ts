import {
  RATE_KINDS,
  type SimFaultKind,
  type SimFaultRates,
  type SimFaults,
} from '../../validation/sim-faults.ts';

/** A simulated network timeout, about what an SDK client configured with a deadline waits. */
export const DEFAULT_TIMEOUT_MS = 2000;

/** The fault a call suffers, if any, for a uniform draw `u` in [0, 1). */
export function drawFault(rates: SimFaultRates | undefined, u: number): SimFaultKind | undefined {
  if (rates === undefined) return undefined;
  let floor = 0;
  for (const [name, kind] of RATE_KINDS) {
    floor += rates[name] ?? 0;
    if (u < floor) return kind;
  }
  return undefined;
}

/** A call's extra latency in milliseconds for a uniform draw `u` in [0, 1). */
export function drawLatency(faults: SimFaults, u: number): number {
  const least = faults.latencyMs ?? 0;
  const most = Math.max(least, faults.latencyMaxMs ?? least);
  return Math.round(least + u * (most - least));
}
