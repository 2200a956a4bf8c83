/**
 * Property tests of the SMMUv3 walker against a brute-force lookup in the mapping list: random
 * page tables written by the builder (random mappings, granules, input sizes, permissions, access
 * flags, blocks; stage 1, stage 2 and nested), random addresses in and out of the mappings. The
 * walker's answer (through the IOTLB too) equals the lookup, and the walk replay's MAP events
 * cover exactly the mappings.
 */
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { register } from '../../src/engine/consumers';
import { HWADDR_MAX } from '../../src/engine/hex';
import type { NotifyRecord } from '../../src/engine/iommu';
import { IOMMU_NONE, IOMMU_NOTIFIER_UNMAP, IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../src/engine/iotlb';
import { buildSmmuTables, type BuildMapping, type BuildStream } from '../../src/engine/models/smmuv3';
import { RAM_BASE, program, rig, tr } from './smmuv3-helpers';

interface Mapping {
  readonly iova: bigint;
  readonly size: bigint;
  readonly pa: bigint;
  readonly perm: number;
  readonly af: boolean;
}

interface Case {
  readonly g: 12 | 14 | 16;
  readonly kind: 's1' | 's2' | 'nested';
  readonly inputBits: number;
  readonly s1: Mapping[];
  readonly s2: Mapping[];
  readonly probes: bigint[];
}

const BLOCK_LEVEL2: Record<number, bigint> = { 12: 1n << 21n, 14: 1n << 25n, 16: 1n << 29n };

const mapSpec = fc.record({
  gap: fc.integer({ min: 0, max: 24 }),
  pages: fc.integer({ min: 1, max: 5 }),
  block: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
  perm: fc.integer({ min: 0, max: 3 }),
  af: fc.integer({ min: 0, max: 7 }).map((n) => n !== 0),
  slot: fc.integer({ min: 0, max: 1 << 12 }),
  hole: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
});

/** Lays specs out as disjoint mappings from `start`, outputs at `outBase + slot * alignment`. */
function layout(specs: Array<typeof mapSpec extends fc.Arbitrary<infer T> ? T : never>, g: number, start: bigint, outBase: bigint, limit: bigint, outLimit: bigint, s1: boolean): Mapping[] {
  const gsz = 1n << BigInt(g);
  const out: Mapping[] = [];
  let cur = start;
  const used = new Set<bigint>();
  for (const s of specs) {
    cur += BigInt(s.gap) * gsz;
    const align = s.block ? BLOCK_LEVEL2[g]! : gsz;
    cur = ((cur + align - 1n) / align) * align;
    const size = s.block ? align : BigInt(s.pages) * gsz;
    if (cur + size > limit) break;
    // Outputs: distinct slots so that replay runs do not merge across mappings by accident. One
    // slot size for every mapping (the largest a mapping can be), so that a block's slot and a
    // page run's slot can never overlap.
    const step = BLOCK_LEVEL2[g]! > 8n * gsz ? BLOCK_LEVEL2[g]! : 8n * gsz;
    const slots = (outLimit - outBase) / step - 1n;
    let slot = BigInt(s.slot) % slots;
    while (used.has(slot)) slot = (slot + 1n) % slots;
    used.add(slot);
    const pa = outBase + slot * step;
    const perm = s1 ? (s.perm & 1 ? IOMMU_RW : IOMMU_RO) : s.perm;
    out.push({ iova: cur, size, pa, perm, af: s.af });
    cur += size;
  }
  return out;
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    g: fc.constantFrom(12 as const, 14 as const, 16 as const),
    kind: fc.constantFrom('s1' as const, 's2' as const, 'nested' as const),
    inputBits: fc.integer({ min: 36, max: 48 }),
    specs: fc.array(mapSpec, { minLength: 1, maxLength: 6 }),
    s2specs: fc.array(mapSpec, { minLength: 6, maxLength: 6 }),
    offsets: fc.array(fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }), { minLength: 24, maxLength: 24 }),
  })
  .map(({ g, kind, inputBits, specs, s2specs, offsets }) => {
    const limit = 1n << BigInt(inputBits);
    let s1: Mapping[] = [];
    let s2: Mapping[] = [];
    if (kind === 's1') {
      s1 = layout(specs, g, 0x1000_0000n, 0x10_0000_0000n, limit, 1n << 48n, true);
    } else if (kind === 's2') {
      s2 = layout(specs, g, 0x1000_0000n, 0x10_0000_0000n, limit, 1n << 48n, false);
    } else {
      // Stage 1 outputs IPAs from 16 GiB up (clear of the RAM holding the tables, which the
      // builder maps 1:1); stage 2 maps each such range, sometimes leaving its last page out.
      s1 = layout(specs, g, 0x1000_0000n, 4n << 32n, 1n << 40n, limit, true);
      s2 = s1.map((m, i) => {
        const sp = s2specs[i % s2specs.length]!;
        const gsz = 1n << BigInt(g);
        const size = sp.hole && m.size > gsz ? m.size - gsz : m.size;
        return { iova: m.pa, size, pa: 0x20_0000_0000n + BigInt(i) * (1n << 30n), perm: sp.perm, af: sp.af };
      });
    }
    const maps = kind === 's2' ? s2 : s1;
    const probes = offsets.map((o, i) => {
      if (i % 3 === 2 || maps.length === 0) return o % limit;
      const m = maps[i % maps.length]!;
      return m.iova + (o % m.size);
    });
    return { g, kind, inputBits, s1, s2, probes };
  });

function find(maps: readonly Mapping[], a: bigint): Mapping | undefined {
  return maps.find((m) => a >= m.iova && a < m.iova + m.size);
}

/** What translate(a, NONE) must give: the output address and perm (NONE when nothing maps it). */
function expect(c: Case, a: bigint): { pa: bigint; perm: number } {
  const none = { pa: 0n, perm: IOMMU_NONE };
  if (c.kind === 's2') {
    const m = find(c.s2, a);
    if (!m || !m.af) return none;
    return { pa: m.pa + (a - m.iova), perm: m.perm };
  }
  const m1 = find(c.s1, a);
  if (!m1 || !m1.af) return none;
  const ipa = m1.pa + (a - m1.iova);
  if (c.kind === 's1') return { pa: ipa, perm: m1.perm };
  const m2 = find(c.s2, ipa);
  if (!m2 || !m2.af) return none;
  return { pa: m2.pa + (ipa - m2.iova), perm: m1.perm & m2.perm };
}

function setup(c: Case) {
  const r = rig();
  const toBuild = (ms: readonly Mapping[]): BuildMapping[] => ms.map((m) => ({ iova: m.iova, size: m.size, pa: m.pa, perm: m.perm, af: m.af }));
  const stream: BuildStream = {
    stage1: c.kind === 's2' ? undefined : { granule: 1 << c.g, t0sz: 64 - c.inputBits, asid: 5, map: toBuild(c.s1) },
    stage2: c.kind === 's1' ? undefined : { granule: 1 << c.g, t0sz: 64 - c.inputBits, vmid: 3, map: toBuild(c.s2) },
  };
  const res = buildSmmuTables({ memory: r.ram.backing, memoryBase: RAM_BASE, at: 0n, streams: [[0x42, stream]] });
  if ('error' in res) throw new Error(res.message);
  program(r, res.registers);
  return r;
}

describe('smmuv3: properties', () => {
  it('the walker (and the IOTLB after it) agree with a brute-force lookup in the mappings', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const r = setup(c);
        const gsz = 1n << BigInt(c.g);
        for (const a of c.probes) {
          const want = expect(c, a);
          for (const pass of ['walk', 'iotlb']) {
            const e = tr(r, 0x42, a, IOMMU_NONE);
            assert.equal(e.perm, want.perm, `${pass} perm at 0x${a.toString(16)}`);
            assert.equal(e.iova, a);
            if (want.perm === IOMMU_NONE) {
              // A fault (or an S2AP=0 leaf): NONE either way.
              continue;
            }
            assert.equal(e.translatedAddr, want.pa, `${pass} output at 0x${a.toString(16)}`);
            // The mask names a naturally aligned power-of-two region that translates linearly.
            const size = e.addrMask + 1n;
            assert.equal(size & (size - 1n), 0n);
            assert.ok(size >= gsz);
            const base = a & ~e.addrMask;
            const atBase = expect(c, base);
            const atEnd = expect(c, base + e.addrMask);
            assert.equal(atBase.pa, want.pa - (a - base));
            assert.equal(atEnd.pa, want.pa - (a - base) + e.addrMask);
            assert.equal(atBase.perm, want.perm);
          }
          // Access checks: a write needs WO, a read RO.
          const w = tr(r, 0x42, a, IOMMU_WO);
          assert.equal(w.perm === IOMMU_NONE, (want.perm & IOMMU_WO) === 0, `write at 0x${a.toString(16)}`);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('the walk replay emits exactly the mappings (as runs of output and permissions)', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const r = setup(c);
        const region = r.smmu.regionFor(0x42);
        const n = register({ kind: 'explicit', name: 'n', owner: 't', region, flags: IOMMU_NOTIFIER_UNMAP, start: 0n, end: HWADDR_MAX, iommuIdx: 0 });
        const seen: NotifyRecord[] = [];
        region.observer = (rec) => seen.push(rec);
        const res = region.replay(n);
        assert.equal(res.delivered, seen.length);
        const got = runs(seen.map((s) => ({ iova: s.event.entry.iova, size: s.event.entry.addrMask + 1n, pa: s.event.entry.translatedAddr, perm: s.event.entry.perm })));
        assert.deepEqual(got, runs(expectedPieces(c)));
        // Every replayed entry is what translate(NONE) reports for its first byte.
        for (const s of seen) {
          const e = tr(r, 0x42, s.event.entry.iova, IOMMU_NONE);
          assert.equal(e.perm, s.event.entry.perm);
          assert.equal(e.translatedAddr, s.event.entry.translatedAddr);
        }
      }),
      { numRuns: 40 },
    );
  });
});

interface Piece {
  iova: bigint;
  size: bigint;
  pa: bigint;
  perm: number;
}

function expectedPieces(c: Case): Piece[] {
  const out: Piece[] = [];
  if (c.kind === 's2') {
    for (const m of c.s2) if (m.af && m.perm !== IOMMU_NONE) out.push({ iova: m.iova, size: m.size, pa: m.pa, perm: m.perm });
    return out;
  }
  for (const m1 of c.s1) {
    if (!m1.af || m1.perm === IOMMU_NONE) continue;
    if (c.kind === 's1') {
      out.push({ iova: m1.iova, size: m1.size, pa: m1.pa, perm: m1.perm });
      continue;
    }
    for (const m2 of c.s2) {
      const lo = m1.pa > m2.iova ? m1.pa : m2.iova;
      const hi1 = m1.pa + m1.size;
      const hi2 = m2.iova + m2.size;
      const hi = hi1 < hi2 ? hi1 : hi2;
      if (lo >= hi || !m2.af) continue;
      const perm = m1.perm & m2.perm;
      if (perm === IOMMU_NONE) continue;
      out.push({ iova: m1.iova + (lo - m1.pa), size: hi - lo, pa: m2.pa + (lo - m2.iova), perm });
    }
  }
  return out;
}

/** Sorted and merged where input, output and permissions continue. */
function runs(ps: Piece[]): Piece[] {
  const sorted = [...ps].sort((a, b) => (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0));
  const out: Piece[] = [];
  for (const p of sorted) {
    const last = out.at(-1);
    if (last && last.iova + last.size === p.iova && last.pa + last.size === p.pa && last.perm === p.perm) last.size += p.size;
    else out.push({ ...p });
  }
  return out;
}
