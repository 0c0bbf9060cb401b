import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MAX_STARTING_OVER, PassSlots } from '../src/reconciler/pass-slots.ts';

/** A pass that runs until the test ends it; `started` says whether it has its slot. */
function aPass(slots: PassSlots, starting = false) {
  let end = () => {};
  const pass = {
    started: false,
    end: () => {
      end();
    },
  };
  const done = slots.run(
    () =>
      new Promise<void>((resolve) => {
        pass.started = true;
        end = resolve;
      }),
    () => false,
    () => Promise.resolve(),
    starting,
  );
  return {
    ...pass,
    done,
    get started() {
      return pass.started;
    },
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

it("a deployment's first pass runs at once though every slot is held by rollouts", async () => {
  const slots = new PassSlots(2);
  const rollouts = [aPass(slots), aPass(slots)];
  const waiting = aPass(slots);
  const starting = aPass(slots, true);
  await turn();
  assert.ok(rollouts.every((pass) => pass.started));
  assert.equal(waiting.started, false, 'a rollout waits for a slot');
  assert.equal(starting.started, true, 'the new deploy does not');
  assert.equal(slots.over, 1);
  // Its slot was beyond the limit: ending it frees none for the rollout waiting.
  starting.end();
  await starting.done;
  await turn();
  assert.equal(waiting.started, false);
  assert.equal(slots.over, 0);
  rollouts[0]?.end();
  await turn();
  assert.equal(waiting.started, true);
});

it('beyond the starting passes allowed over the limit, the next queues first in line', async () => {
  const slots = new PassSlots(1);
  const rollout = aPass(slots);
  const waiting = aPass(slots);
  const over = Array.from({ length: MAX_STARTING_OVER }, () => aPass(slots, true));
  const queued = aPass(slots, true);
  await turn();
  assert.ok(over.every((pass) => pass.started));
  assert.equal(queued.started, false);
  rollout.end();
  await turn();
  assert.equal(queued.started, true, 'the starting pass took the freed slot');
  assert.equal(waiting.started, false, 'before the rollout that waited longer');
});
