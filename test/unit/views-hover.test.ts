/**
 * Hovers answer for the stream, index and config their position belongs to (issue 8, item 2).
 */
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load';
import { hoverAt } from '../../src/views/editor';

const EXAMPLES = join(__dirname, '../../../examples');

function load(name: string) {
  const text = readFileSync(join(EXAMPLES, name), 'utf8');
  return { text, cfg: loadConfig(name, text) };
}

/** The hover at the first occurrence of `needle` (plus `skip` characters), as one string. */
function hover(name: string, needle: string, skip = 0, nth = 0): string {
  const { text, cfg } = load(name);
  let at = -1;
  for (let i = 0; i <= nth; i++) at = text.indexOf(needle, at + 1);
  assert.ok(at >= 0, `${needle} in ${name}`);
  const h = hoverAt(cfg, at + skip);
  assert.ok(h, `a hover at ${needle}`);
  return h.lines.join('\n');
}

describe('views: hovers use the position they are on', () => {
  it("an SMMUv3 map entry's iova is translated through its own stream (0x20), not the first", () => {
    const h = hover('virt-smmuv3.iommu.yaml', 'iova: 0x2000_0000', 7);
    assert.match(h, /smmu0\.sid-0x20/);
    assert.doesNotMatch(h, /sid-0x10/);
    assert.match(h, /system 0x4030_0000 RW/);
    assert.doesNotMatch(h, /no mapping/);
  });

  it('the same iova under two streams answers for each (0x10: 64 KiB at 0x4020_0000; 0x18: 2 MiB at 0x4060_0000)', () => {
    assert.match(hover('virt-smmuv3.iommu.yaml', 'iova: 0x1000_0000', 7, 0), /sid-0x10[^]*system 0x4020_0000 RW/);
    assert.match(hover('virt-smmuv3.iommu.yaml', 'iova: 0x1000_0000', 7, 1), /sid-0x18[^]*system 0x4060_0000 RW/);
  });

  it('the hover on the SMMU names every stream it has, not only the first', () => {
    const h = hover('virt-smmuv3.iommu.yaml', 'smmu0:', 1);
    for (const sid of ['0x10', '0x18', '0x20']) assert.match(h, new RegExp(`stream ${sid}`));
  });

  it('an address is shown as an address, never as a size', () => {
    const h = hover('virt-smmuv3.iommu.yaml', 'iova: 0x2000_0000', 7);
    assert.doesNotMatch(h, /MiB|GiB|KiB/);
  });
});
