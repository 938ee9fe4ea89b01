// The simulated clock treats page timers as Chromium does; the efficacy figures are only
// as true as that.
import test from "node:test";
import assert from "node:assert/strict";
import { Clock } from "./clock.mjs";

// fires runs the clock and returns when each named timer fired.
async function fires(clock, set, until = 10 * 60000) {
  const at = {};
  set((name, ms, then) =>
    clock.setTimeout(() => {
      at[name] = clock.now;
      if (then) then();
    }, ms),
  );
  await clock.run(until);
  return at;
}

test("NaN, negative and overflowing delays fire at once", async () => {
  const clock = new Clock();
  const at = await fires(clock, (t) => {
    t("nan", NaN);
    t("negative", -5);
    t("overflow", 2 ** 31);
    t("max", 2 ** 31 - 1);
  }, 2 ** 31);
  assert.deepEqual([at.nan, at.negative, at.overflow], [0, 0, 0]);
  assert.equal(at.max, 2 ** 31 - 1);
});

test("from the sixth nested timer, delays below 4 ms are 4 ms", async () => {
  const clock = new Clock();
  const times = [];
  const chain = () =>
    clock.setTimeout(() => {
      times.push(clock.now);
      if (times.length < 8) chain();
    }, 0);
  chain();
  await clock.run(1000);
  assert.deepEqual(times, [0, 0, 0, 0, 0, 4, 8, 12]);
});

test("a hidden page's timers wait for its whole-second wake-ups, then whole minutes", async () => {
  const clock = new Clock();
  const page = { hidden: true, hiddenSince: 0, wakePhase: 250 };
  const at = {};
  clock.task(0, page, () => {
    clock.setTimeout(() => (at.early = clock.now), 1100);
  });
  // Hidden for over five minutes, at nesting level 5: whole minutes (plus the phase).
  clock.task(400000, page, () => {
    let depth = 0;
    const nest = () =>
      clock.setTimeout(() => {
        if (++depth < 5) nest();
        else at.deep = clock.now;
      }, 10);
    nest();
  });
  clock.task(400000, page, () => {
    clock.setTimeout(() => (at.shallow = clock.now), 10);
  });
  await clock.run(600000);
  assert.equal(at.early, 1250);
  assert.equal(at.shallow, 400250);
  assert.equal(at.deep % 60000, 250);
  page.hidden = false;
  clock.task(0, page, () => clock.setTimeout(() => (at.visible = clock.now), 10));
  const from = clock.now;
  await clock.run(from + 1000);
  assert.equal(at.visible, from + 10);
});
