/** One config load per content change (issue 8, item 7). */
import * as assert from 'node:assert/strict';
import { LoadGate } from '../../src/views/load-gate';

describe('views: LoadGate', () => {
  it('an edit, then the watcher seeing the auto-saved file with the same text: one load', () => {
    const g = new LoadGate();
    const loads: string[] = [];
    const load = (text: string, opts = 'current') => g.admit('file:///a.iommu.yaml', text, opts) && loads.push(text);
    load('iommu-lens: 1\n'); // opened
    load('iommu-lens: 1\nname: x\n'); // typed
    load('iommu-lens: 1\nname: x\n'); // the watcher after auto-save
    load('iommu-lens: 1\nname: x\n'); // a rescan
    assert.deepEqual(loads, ['iommu-lens: 1\n', 'iommu-lens: 1\nname: x\n']);
    load('iommu-lens: 1\nname: x\n', '5.2-9.x'); // the qemuSemantics setting changed
    assert.equal(loads.length, 3);
  });

  it('each file on its own; a forgotten file loads again', () => {
    const g = new LoadGate();
    assert.equal(g.admit('a', 't', ''), true);
    assert.equal(g.admit('b', 't', ''), true);
    assert.equal(g.admit('a', 't', ''), false);
    g.forget('a');
    assert.equal(g.admit('a', 't', ''), true);
  });
});
