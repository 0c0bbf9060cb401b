import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long `eventually` polls, and how often. */
export interface PollOptions {
  /** Past this, the test fails. */
  timeoutMs?: number;
  pollMs?: number;
  /** What the failure should also say of the state then (the last value, a child's output). */
  explain?: () => string;
}

/**
 * Polls `check` until it answers something other than `undefined` or `false`, and returns that;
 * fails the test, naming `what` (and what `explain` says), once `timeoutMs` has passed. The one
 * polling loop of the test suite: none waits without a deadline.
 */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 10_000, pollMs = 100, explain }: PollOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      assert.fail(
        `timed out after ${timeoutMs} ms waiting for ${what}` +
          (explain !== undefined ? `: ${explain()}` : ''),
      );
    }
    await sleep(pollMs);
  }
}
