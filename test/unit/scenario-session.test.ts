/**
 * Step Scenario and Run Scenario report the same stale shadows at the same steps (issue 8,
 * item 5): both go through ScenarioSession, which the extension's commands use.
 */
import * as assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load';
import { ScenarioSession, type ScenarioStepView } from '../../src/views/views';

const EXAMPLES = join(__dirname, '../../../examples');

function stepped(file: string, text: string): ScenarioStepView[] {
  const s = new ScenarioSession(loadConfig(file, text));
  const out: ScenarioStepView[] = [];
  for (let v = s.next(); v; v = s.next()) out.push(v);
  assert.ok(s.done);
  return out;
}

describe('views: a stepped scenario reports what a run reports', () => {
  it('virt-smmuv3: the stale vhost IOTLB at the step after the PTE rewrite, stepped or run', () => {
    const text = readFileSync(join(EXAMPLES, 'virt-smmuv3.iommu.yaml'), 'utf8');
    const run = new ScenarioSession(loadConfig('virt', text)).runAll().steps;
    const steps = stepped('virt', text);
    const stale = (vs: ScenarioStepView[]) => vs.filter((v) => v.divergences.length).map((v) => [v.n, v.divergences] as const);
    assert.ok(stale(run).length > 0, 'the run finds the stale shadow');
    assert.deepEqual(stale(steps), stale(run));
  });

  for (const f of readdirSync(EXAMPLES).filter((x) => x.endsWith('.iommu.yaml'))) {
    it(`${f}: every step's view is the same, stepped or run`, () => {
      const text = readFileSync(join(EXAMPLES, f), 'utf8');
      const run = new ScenarioSession(loadConfig(f, text)).runAll().steps;
      assert.deepEqual(stepped(f, text), run);
    });
  }
});
