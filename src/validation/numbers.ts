import { InputError } from './input-error.ts';
import { quote } from './quote.ts';

const MAX_STEPS = 10;
const STEPS_EXAMPLE = 'e.g. 10,100 or 5,25,100';

/**
 * Canary traffic steps: comma-separated whole percentages, each 1 to 100, strictly ascending,
 * ending at 100, at most 10 of them. `100` alone (all at once) is valid.
 */
export function parseSteps(field: string, raw: string): number[] {
  const got = `got ${quote(raw)}`;
  const items = raw.split(',').map((s) => s.trim());
  const steps: number[] = [];
  for (const item of items) {
    const step = /^\d+$/.test(item) ? Number(item) : NaN;
    if (!(step >= 1 && step <= 100)) {
      throw new InputError(
        field,
        `each step must be a whole percentage from 1 to 100, ${STEPS_EXAMPLE}; ${got}`,
      );
    }
    steps.push(step);
  }
  if (steps.length > MAX_STEPS) {
    throw new InputError(field, `at most ${MAX_STEPS} steps are allowed, ${STEPS_EXAMPLE}; ${got}`);
  }
  const ascending = steps.every((step, i) => i === 0 || step > (steps[i - 1] ?? 0));
  if (!ascending || steps[steps.length - 1] !== 100) {
    throw new InputError(field, `steps must ascend and end at 100, ${STEPS_EXAMPLE}; ${got}`);
  }
  return steps;
}

const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const DURATION_EXPECTED =
  'expected whole numbers with units h, m and s, e.g. 30s, 5m, 2h or 1m30s, or a whole number of seconds';

function durationProblem(raw: string): string {
  if (raw === '') return 'it is empty';
  if (raw.includes('.')) return 'fractions are not accepted; durations are whole seconds';
  const unit = /[a-z]+/i.exec(raw.replace(/\d+[hms](?![a-zA-Z])/g, ''));
  if (unit !== null) return `unknown unit ${quote(unit[0])}`;
  if (/^(?:\d+[hms])+$/.test(raw))
    return 'the units must come in the order h, m, s, each at most once';
  return 'it is not whole numbers followed by units';
}

/**
 * A duration in whole seconds: `30s`, `5m`, `2h`, `1m30s`, `1h30m` or a bare whole number of
 * seconds, within `limits` (inclusive).
 */
export function parseDuration(
  field: string,
  raw: string,
  limits: { minSeconds: number; maxSeconds: number },
): number {
  let seconds: number;
  const m = DURATION.exec(raw);
  if (/^\d+$/.test(raw)) {
    seconds = Number(raw);
  } else if (raw !== '' && m !== null) {
    seconds = Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  } else {
    throw new InputError(
      field,
      `${quote(raw)} is not a duration (${durationProblem(raw)}); ${DURATION_EXPECTED}`,
    );
  }
  if (!(seconds >= limits.minSeconds && seconds <= limits.maxSeconds)) {
    throw new InputError(
      field,
      `must be from ${formatDuration(limits.minSeconds)} to ${formatDuration(limits.maxSeconds)}; got ${quote(raw)}`,
    );
  }
  return seconds;
}

/** Whole seconds as `1h2m3s`, leaving out zero parts: 90 → `1m30s`, 300 → `5m`, 0 → `0s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new RangeError(`formatDuration needs whole seconds of at least 0; got ${seconds}`);
  }
  if (seconds === 0) return '0s';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h > 0 ? `${h}h` : ''}${m > 0 ? `${m}m` : ''}${s > 0 ? `${s}s` : ''}`;
}

const LATENCY = /^(\d+)(?:\.(\d+))?(ms|s)?$/;
const MAX_LATENCY_MS = 60000;

/**
 * A latency in whole milliseconds, from 1 ms to 60 s: `800ms`, `1.5s`, `2s`, or a bare number
 * of milliseconds (`800`).
 */
export function parseLatency(field: string, raw: string): number {
  const expected = `expected whole milliseconds from 1ms to 60s, e.g. 800ms, 800, 1.5s or 2s`;
  const m = LATENCY.exec(raw);
  if (m === null) throw new InputError(field, `${quote(raw)} is not a latency; ${expected}`);
  const whole = m[1] ?? '';
  const fraction = m[2] ?? '';
  let ms: number;
  if (m[3] === 's') {
    if (/[1-9]/.test(fraction.slice(3))) {
      throw new InputError(
        field,
        `${quote(raw)} includes a fraction of a millisecond; ${expected}`,
      );
    }
    ms = Number(whole) * 1000 + Number(fraction.slice(0, 3).padEnd(3, '0'));
  } else {
    if (/[1-9]/.test(fraction)) {
      throw new InputError(
        field,
        `${quote(raw)} includes a fraction of a millisecond; ${expected}`,
      );
    }
    ms = Number(whole);
  }
  if (!(ms >= 1 && ms <= MAX_LATENCY_MS)) {
    throw new InputError(field, `${quote(raw)} is out of range; ${expected}`);
  }
  return ms;
}

const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const PERCENT = /^(\d+(?:\.\d+)?|\.\d+)%$/;

/** A rate from 0 to 1 inclusive: a decimal (`0.01`, `1e-3`) or a percentage (`1%` = 0.01). */
export function parseRate(field: string, raw: string): number {
  const percent = PERCENT.exec(raw);
  let rate = NaN;
  if (percent !== null) rate = Number(percent[1]) / 100;
  else if (DECIMAL.test(raw)) rate = Number(raw);
  if (!(rate >= 0 && rate <= 1)) {
    throw new InputError(
      field,
      `${quote(raw)} is not a rate from 0 to 1; expected a decimal such as 0.01 or a percentage such as 1%`,
    );
  }
  return rate;
}

const MIN_CONFIDENCE = 0.6;
const MAX_CONFIDENCE = 0.9999;

/**
 * How sure a canary verdict must be, from 0.6 to 0.9999 inclusive: a decimal (`0.95`) or a
 * percentage (`95%`, `99.9%`). Above 0.9999 a step would need so many requests that it could
 * never pass; below 0.6 a verdict is little better than a coin toss.
 */
export function parseConfidence(field: string, raw: string): number {
  const percent = PERCENT.exec(raw);
  let confidence = NaN;
  // Shifting the decimal point in the text, not dividing by 100, keeps `99.99%` exactly 0.9999
  // (99.99 / 100 is 0.9998999999999999 in binary floating point, just below the limit).
  if (percent !== null) confidence = Number(`${percent[1] ?? ''}e-2`);
  else if (DECIMAL.test(raw)) confidence = Number(raw);
  if (!(confidence >= MIN_CONFIDENCE && confidence <= MAX_CONFIDENCE)) {
    // `95` is a percentage without its sign far more often than a confidence of 9500.
    const hint =
      percent === null && confidence >= MIN_CONFIDENCE * 100 && confidence <= MAX_CONFIDENCE * 100
        ? `; did you mean ${raw}%?`
        : '';
    throw new InputError(
      field,
      `${quote(raw)} is not a confidence from ${MIN_CONFIDENCE} to ${MAX_CONFIDENCE}; expected a decimal such as 0.95 or a percentage such as 95%${hint}`,
    );
  }
  return confidence;
}

/** A whole decimal number (digits only: no sign, exponent or spaces) within `limits`. */
export function parseCount(
  field: string,
  raw: string,
  limits: { min: number; max: number },
): number {
  const count = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(count >= limits.min && count <= limits.max)) {
    throw new InputError(
      field,
      `${quote(raw)} is not a whole number from ${limits.min} to ${limits.max}`,
    );
  }
  return count;
}

const MAX_VERSION = 2147483647;

/** A release version, `v3` or `3` → 3; at least 1. */
export function parseReleaseVersion(field: string, raw: string): number {
  const m = /^[vV]?(\d+)$/.exec(raw);
  const version = m === null ? NaN : Number(m[1]);
  if (!(version >= 1 && version <= MAX_VERSION)) {
    throw new InputError(
      field,
      `${quote(raw)} is not a release version; expected v1, v2, … or a whole number of at least 1, e.g. v3 or 3`,
    );
  }
  return version;
}
