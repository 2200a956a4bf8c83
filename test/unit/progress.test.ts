/**
 * The hooks that long work offers for progress and cancellation: the default replay's `progress`
 * callback and `start` (pause and resume), replaySlices over them, and ScenarioRunner.result()
 * for a scenario run step by step. Sliced or whole, the answer must be the same.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../../src/config/load';
import { isEngineError, REPLAY_PROGRESS_INTERVAL, ScenarioRunner, type IOMMUNotifier, type IOMMUTLBEvent } from '../../src/engine';
import { progressLine, SHOW_AFTER_MS, UPDATE_MS } from '../../src/cli/progress';
import { replaySlices, replayView, type ReplayProgress } from '../../src/views/views';

const ROOT = path.join(__dirname, '..', '..', '..');
const DUAL = fs.readFileSync(path.join(ROOT, 'examples', 'dual-regime.iommu.yaml'), 'utf8');
// The same remapper over 64 MiB: 16,384 translations in the default replay, four pauses' worth.
const BIG = DUAL.replace('size: 16MiB ', 'size: 64MiB ');

describe('progress and cancellation hooks', () => {
  it('the fixture is the example with a bigger remapper', () => {
    assert.notEqual(BIG, DUAL);
    assert.equal(loadConfig('big.iommu.yaml', BIG).errorCount, 0);
  });

  it('a default replay paused by progress() and resumed at resumeAt delivers what a whole one does', () => {
    const whole = loadConfig('big.iommu.yaml', BIG);
    const sliced = loadConfig('big.iommu.yaml', BIG);
    const run = (cfg: typeof whole, pause: boolean) => {
      const reg = cfg.machine.registrations.find((r) => r.name === 'gpu0/vfio')!;
      const got: IOMMUTLBEvent[] = [];
      const n: IOMMUNotifier = { name: 'probe', owner: 'test', flags: reg.flags, start: reg.start, end: reg.end, iommuIdx: reg.iommuIdx, notify: (_n, ev) => got.push(ev) };
      const calls: number[] = [];
      let start: bigint | undefined;
      let slices = 0;
      let steps = 0;
      for (;;) {
        const r = reg.region.replay(n, { start, progress: (k) => (calls.push(k), !pause) });
        slices++;
        steps += r.steps;
        if (r.resumeAt === undefined) break;
        assert.equal(r.resumeAt % reg.region.minPageSize(), 0n);
        start = r.resumeAt;
      }
      return { got, calls, slices, steps };
    };
    const a = run(whole, false);
    const b = run(sliced, true);
    assert.equal(a.slices, 1);
    assert.equal(a.steps, 16384);
    assert.deepEqual(a.calls, [4096, 8192, 12288], 'called every REPLAY_PROGRESS_INTERVAL translations, not at the end');
    assert.equal(b.slices, 4);
    assert.equal(b.steps, 16384);
    assert.deepEqual(b.calls, [REPLAY_PROGRESS_INTERVAL, REPLAY_PROGRESS_INTERVAL, REPLAY_PROGRESS_INTERVAL]);
    assert.ok(a.got.length > 0);
    assert.deepEqual(b.got, a.got);
  });

  it('replaySlices yields growing progress and ends with replayView\'s answer', () => {
    const it = replaySlices(loadConfig('big.iommu.yaml', BIG), 'gpu0/vfio', REPLAY_PROGRESS_INTERVAL);
    const seen: ReplayProgress[] = [];
    let r = it.next();
    while (!r.done) {
      seen.push(r.value);
      r = it.next();
    }
    assert.deepEqual(seen, [
      { steps: 4096, total: 16384 },
      { steps: 8192, total: 16384 },
      { steps: 12288, total: 16384 },
    ]);
    assert.deepEqual(r.value, replayView(loadConfig('big.iommu.yaml', BIG), 'gpu0/vfio'));
    // A caller that stops asking stops the work: no more translations after the first slice.
    const cfg = loadConfig('big.iommu.yaml', BIG);
    const partial = replaySlices(cfg, 'gpu0/vfio', REPLAY_PROGRESS_INTERVAL);
    assert.deepEqual(partial.next().value, { steps: 4096, total: 16384 });
  });

  it('replaySlices under a cap: the total is the cap, and the replay stops there and says so', () => {
    const it = replaySlices(loadConfig('big.iommu.yaml', BIG), 'gpu0/vfio', REPLAY_PROGRESS_INTERVAL, 10_000);
    const seen: ReplayProgress[] = [];
    let r = it.next();
    while (!r.done) {
      seen.push(r.value);
      r = it.next();
    }
    assert.deepEqual(seen, [
      { steps: 4096, total: 10_000 },
      { steps: 8192, total: 10_000 },
    ]);
    assert.ok(!isEngineError(r.value));
    assert.match(r.value.summary, /from 10000 translation\(s\); default replay of remap0 stopped after 10000 of 16384 translations/);
  });

  it('ScenarioRunner.result() after stepping equals runAll()', () => {
    const a = loadConfig('dual-regime.iommu.yaml', DUAL);
    const b = loadConfig('dual-regime.iommu.yaml', DUAL);
    const stepped = new ScenarioRunner(a.machine, a.scenario, { checkShadows: true });
    const positions: number[] = [];
    while (stepped.next()) positions.push(stepped.position);
    assert.equal(positions.length, a.scenario.length);
    const whole = new ScenarioRunner(b.machine, b.scenario, { checkShadows: true }).runAll();
    const shape = (r: ReturnType<ScenarioRunner['runAll']>) => ({
      failed: r.failed,
      divergences: r.divergences.map((d) => d.message),
      steps: r.steps.map((s) => [s.index, s.failures, s.notifications.map((n) => `${n.notifier} ${n.type} ${n.outcome} ${n.entry.iova}`)]),
    });
    assert.equal(stepped.result().steps.length, a.scenario.length);
    assert.deepEqual(shape(stepped.result()), shape(whole));
    assert.ok(whole.steps.some((s) => s.notifications.length > 0), 'the scenario notifies someone');
  });
});

describe("the CLI's progress line", () => {
  function rig(columns = 80) {
    let t = 0;
    const out: string[] = [];
    const p = progressLine((s) => out.push(s), () => t, columns);
    return { p, out, at: (ms: number) => (t = ms) };
  }

  it('shows nothing for work shorter than SHOW_AFTER_MS, and erases nothing', () => {
    const { p, out, at } = rig();
    p('step 1');
    at(SHOW_AFTER_MS - 1);
    p('step 2');
    p(undefined);
    assert.deepEqual(out, []);
  });

  it('rewrites one line in place at most every UPDATE_MS once the work is long, then erases it', () => {
    const { p, out, at } = rig();
    p('step 1');
    at(SHOW_AFTER_MS);
    p('step 2');
    at(SHOW_AFTER_MS + UPDATE_MS - 1);
    p('step 3');
    at(SHOW_AFTER_MS + UPDATE_MS);
    p('step 4');
    p(undefined);
    assert.deepEqual(out, ['\r\x1b[Kstep 2', '\r\x1b[Kstep 4', '\r\x1b[K']);
  });

  it('shows an immediate line at once, and cuts a line to the terminal width', () => {
    const { p, out } = rig(10);
    p('loading a.iommu.yaml (2.0 MB)...', true);
    assert.deepEqual(out, ['\r\x1b[Kloading …']);
  });
});
