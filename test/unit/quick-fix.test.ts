/** Quick fixes for an unknown region offer every plausible name, best first (issue 8, item 9). */
import * as assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load';

describe('config: quick fixes for an unknown region', () => {
  it('offers the unplaced region before the nearer one that is already placed', () => {
    const l = loadConfig(
      't.iommu.yaml',
      `iommu-lens: 1
memory:
  ssram-0: { kind: ram, size: 4KiB }
  ssram-1: { kind: ram, size: 4KiB }
address-spaces:
  system:
    - { at: 0x0, region: ssram-0 }
    - { at: 0x1000, region: sram-0 }
`,
    );
    const d = l.diagnostics.find((x) => x.code === 'unknown-reference');
    assert.ok(d, l.diagnostics.map((x) => x.message).join('; '));
    assert.deepEqual(d.fixes?.map((f) => f.newText), ['ssram-1', 'ssram-0']);
  });

  it('with nothing placed yet, the nearest comes first and the others follow', () => {
    const l = loadConfig(
      't.iommu.yaml',
      `iommu-lens: 1
memory:
  ssram-0: { kind: ram, size: 4KiB }
  ssram-1: { kind: ram, size: 4KiB }
address-spaces:
  system:
    - { at: 0x0, region: ssram-2 }
`,
    );
    const d = l.diagnostics.find((x) => x.code === 'unknown-reference');
    assert.deepEqual(d?.fixes?.map((f) => f.newText), ['ssram-0', 'ssram-1']);
  });
});
