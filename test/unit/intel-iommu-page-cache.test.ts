/**
 * The VT-d second-level walk's page cache (src/engine/page-cache.ts, LeafWalker in
 * src/engine/models/intel-iommu/fast-path.ts): it holds guest table pages as the backing's live
 * words until the memory topology changes. These cases change memory under a translator and an
 * IOMMU that walked before: entries rewritten, tables added in pages walked before and in pages
 * never written, a RAM region placed over a table page and taken away, tables in a second RAM
 * range, and many tables sharing cache slots. After each change the number path, translate()
 * (its own fast path, no IOTLB) and the traced probe() must give the same answers.
 */
import * as assert from 'node:assert/strict';
import { newNumberEntry } from '../../src/engine/fast-path';
import { IOMMU_NONE, IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../src/engine/iotlb';
import { ContainerRegion, RamRegion } from '../../src/engine/memory';
import type { Trace } from '../../src/engine/trace';
import { alloc, context, enable, mapPage, rig, w64, type Rig } from './intel-iommu-helpers';

const SID = 0x18;

function fourLevel(): { r: Rig; top: bigint } {
  const r = rig({ iotlbSize: 0 });
  enable(r);
  const top = alloc(r);
  context(r, SID, { slpt: top, aw: 2, did: 1 });
  return { r, top };
}

/** The number path (a fresh translator), translate() and the traced probe() agree at each address for every flag. */
function agreeAt(r: Rig, addrs: readonly bigint[], where: string): void {
  const region = r.iommu.regionFor(SID);
  const t = region.numberTranslator(0, { uncached: true });
  const out = newNumberEntry();
  for (const a of addrs) {
    for (const flag of [IOMMU_RO, IOMMU_WO, IOMMU_RW]) {
      const trace: Trace = [];
      const e = region.probe(a, flag, 0, trace, { uncached: true });
      const at = `${where} at 0x${a.toString(16)} flag ${flag}`;
      assert.ok(t.translate(Number(a), flag, out), `number path answers ${at}`);
      assert.equal(out.perm, e.perm, `perm ${at}`);
      const mask = out.perm === IOMMU_NONE ? 0n : (1n << BigInt(out.shift)) - 1n;
      assert.equal(mask, e.addrMask, `mask ${at}`);
      assert.equal(BigInt(out.translated), (e.translatedAddr & ~e.addrMask) | (a & e.addrMask), `output ${at}`);
      const f = region.translate(a, flag, 0);
      assert.deepEqual([f.iova, f.translatedAddr, f.addrMask, f.perm], [e.iova, e.translatedAddr, e.addrMask, e.perm], `translate() ${at}`);
    }
  }
}

/** translate() answered on the number path (IntelIommu.fastAnswers counts it), with output `pa`. */
function fastAt(r: Rig, a: bigint, pa: bigint): void {
  const before = r.iommu.fastAnswers;
  const e = r.iommu.regionFor(SID).translate(a, IOMMU_RO, 0);
  assert.equal(e.translatedAddr | (a & e.addrMask), pa, `translate() at 0x${a.toString(16)}`);
  assert.equal(r.iommu.fastAnswers, before + 1, `translate() at 0x${a.toString(16)} on the number path`);
}

describe('intel-iommu: the second-level walk\'s page cache', () => {
  it('follows the memory: entries rewritten, tables added after a walk, a region placed over a table and taken away', () => {
    const { r, top } = fourLevel();
    const leaf = mapPage(r, top, 4, 0x1000n, 0x4040_0000n, 3);
    const region = r.iommu.regionFor(SID);
    const t = region.numberTranslator(0, { uncached: true });
    const out = newNumberEntry();
    assert.ok(t.translate(0x1234, IOMMU_RO, out));
    assert.equal(out.translated, 0x4040_0234);
    assert.equal(out.perm, IOMMU_RW);
    assert.equal(region.translate(0x1234n, IOMMU_RW, 0).translatedAddr, 0x4040_0000n);
    agreeAt(r, [0x1234n, 0x4000_0000n], 'first tables');
    // The leaf rewritten read-only to another page: the same translator (its pages cached) sees it.
    w64(r, leaf, 0x4050_0000n | 1n);
    assert.ok(t.translate(0x1234, IOMMU_WO, out));
    assert.equal(out.perm, IOMMU_NONE);
    assert.equal(out.fault, 5);
    assert.ok(t.translate(0x1234, IOMMU_RO, out));
    assert.equal(out.translated, 0x4050_0234);
    assert.equal(out.perm, IOMMU_RO);
    assert.equal(region.translate(0x1234n, IOMMU_RO, 0).translatedAddr, 0x4050_0000n);
    // A new subtree from the top-level table, whose page is cached; its new tables were never written.
    mapPage(r, top, 4, 0x40_0000_0000n, 0x4060_0000n, 1);
    assert.ok(t.translate(0x40_0000_0010, IOMMU_RO, out));
    assert.equal(out.translated, 0x4060_0010);
    agreeAt(r, [0x1234n, 0x40_0000_0010n], 'tables extended');
    // A RAM region placed over the level-1 table's page (the topology changes): the walk reads it.
    const l1Page = leaf & ~0xfffn;
    const cover = new RamRegion('cover', 0x1000n);
    const err = cover.backing.write(leaf - l1Page, 8, 0x4070_0000n | 3n);
    assert.equal(err, undefined);
    (r.sys.root as ContainerRegion).addSubregion(cover, l1Page, 1);
    assert.ok(t.translate(0x1234, IOMMU_RW, out));
    assert.equal(out.translated, 0x4070_0234);
    agreeAt(r, [0x1234n, 0x40_0000_0010n], 'a region over the level-1 table');
    // And taken away again.
    (r.sys.root as ContainerRegion).removeSubregion(cover);
    assert.ok(t.translate(0x1234, IOMMU_RO, out));
    assert.equal(out.translated, 0x4050_0234);
    agreeAt(r, [0x1234n], 'the region removed');
    fastAt(r, 0x1234n, 0x4050_0234n);
  });

  it('does not cache a page never written: a table pointing at one faults, then answers once it is written', () => {
    const { r, top } = fourLevel();
    mapPage(r, top, 4, 0x1000n, 0x4040_0000n, 3);
    // A level-2 table (for iova 0x4000_0000) that points to a level-1 page nothing wrote yet.
    const l3 = (r.ram.backing.read(top, 8) as bigint) & ~0xfffn;
    const l2 = alloc(r);
    const l1 = alloc(r);
    w64(r, l3 + 8n, l2 | 3n);
    w64(r, l2, l1 | 3n);
    const t = r.iommu.regionFor(SID).numberTranslator(0, { uncached: true });
    const out = newNumberEntry();
    assert.ok(t.translate(0x4000_0010, IOMMU_RO, out));
    assert.equal(out.perm, IOMMU_NONE);
    assert.equal(out.fault, 6);
    agreeAt(r, [0x4000_0010n], 'an unwritten table');
    w64(r, l1, 0x4080_0000n | 3n);
    assert.ok(t.translate(0x4000_0010, IOMMU_RO, out));
    assert.equal(out.translated, 0x4080_0010);
    // The page was not cached as zeros (which would send every walk to the full path).
    fastAt(r, 0x4000_0010n, 0x4080_0010n);
    agreeAt(r, [0x4000_0010n, 0x1234n], 'the table written');
  });

  it('walks tables in a second RAM range (the reader moves between ranges)', () => {
    const { r, top } = fourLevel();
    const high = new RamRegion('high', 0x10_0000n);
    (r.sys.root as ContainerRegion).addSubregion(high, 0x1_0000_0000n);
    mapPage(r, top, 4, 0x1000n, 0x4040_0000n, 3);
    // A level-3 table at 4 GiB (in `high`) whose level-2 and level-1 tables are back in `ram`.
    const hiL3 = 0x1_0000_0000n;
    const l2 = alloc(r);
    const l1 = alloc(r);
    w64(r, top + 8n, hiL3 | 3n);
    const e = high.backing.write(0n, 8, l2 | 3n);
    assert.equal(e, undefined);
    w64(r, l2, l1 | 3n);
    w64(r, l1 + 8n, 0x4090_0000n | 1n);
    const t = r.iommu.regionFor(SID).numberTranslator(0, { uncached: true });
    const out = newNumberEntry();
    // translate()'s number path starts from the context cache: the first translate() fills it.
    r.iommu.regionFor(SID).translate(0x1234n, IOMMU_RO, 0);
    for (let round = 0; round < 2; round++) {
      assert.ok(t.translate(0x80_0000_1010, IOMMU_RO, out));
      assert.equal(out.translated, 0x4090_0010);
      assert.equal(out.perm, IOMMU_RO);
      assert.ok(t.translate(0x1234, IOMMU_RO, out));
      assert.equal(out.translated, 0x4040_0234);
      fastAt(r, 0x80_0000_1010n, 0x4090_0010n);
    }
    agreeAt(r, [0x80_0000_1010n, 0x1234n, 0x80_0000_2010n], 'two RAM ranges');
  });

  it('walks tables whose pages share a cache slot (a walk fills its missing pages and walks again)', () => {
    const { r, top } = fourLevel();
    // 300 level-1 tables, one per 2 MiB, allocated one page apart: tables 256 apart share a slot.
    const addrs: bigint[] = [];
    for (let i = 0; i < 300; i++) {
      const iova = 0x1_0000_0000n + BigInt(i) * 0x20_0000n;
      mapPage(r, top, 4, iova, 0x9000_0000n + BigInt(i) * 0x1000n, i % 2 === 1 ? 1 : 3);
      addrs.push(iova + 0x10n);
    }
    const t = r.iommu.regionFor(SID).numberTranslator(0, { uncached: true });
    const out = newNumberEntry();
    for (let round = 0; round < 2; round++) {
      for (const i of [0, 256, 1, 257, 0, 256, 299, 43, 299]) {
        assert.ok(t.translate(Number(addrs[i]!), IOMMU_RO, out));
        assert.equal(out.translated, 0x9000_0010 + i * 0x1000, `mapping ${i}`);
        assert.equal(out.perm, i % 2 === 1 ? IOMMU_RO : IOMMU_RW);
      }
    }
    agreeAt(r, [addrs[0]!, addrs[256]!, addrs[299]!, addrs[1]!], 'shared slots');
  });
});
