/**
 * The SMMUv3 number fast path (numberTranslator) against the traced path (probe with a trace) on
 * random tables: tables the builder writes (stage 1, stage 2 or nested; every granule; both
 * profiles), then random descriptors overwritten with random words, so that walks meet invalid,
 * reserved, out-of-range, access-flag and permission cases. For every address and access flag,
 * cached (after translate() filled the IOTLB) and uncached: the same output, mask, permissions,
 * target and fault event.
 */
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { newNumberEntry, numberProbe } from '../../src/engine/fast-path';
import { HWADDR_MAX } from '../../src/engine/hex';
import { IOMMU_NONE, IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../src/engine/iotlb';
import { buildSmmuTables, type BuildMapping, type BuildStream, type Smmuv3Profile } from '../../src/engine/models/smmuv3';
import type { Trace } from '../../src/engine/trace';
import { ContainerRegion, RamRegion } from '../../src/engine/memory';
import { CD_ADDR, RAM_BASE, alloc, enable, mapOne, program, r64, rig, s1Leaf, w64, writeCd, writeSte, type Rig } from './smmuv3-helpers';

const SID = 0x42;

interface Case {
  readonly profile: Smmuv3Profile;
  readonly g: 12 | 14 | 16;
  readonly kind: 's1' | 's2' | 'nested';
  readonly inputBits: number;
  readonly pages: number[];
  readonly corrupt: Array<{ at: number; word: bigint }>;
  readonly probes: bigint[];
  readonly warm: number;
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    profile: fc.constantFrom('architecture' as const, 'qemu-7.2' as const),
    g: fc.constantFrom(12 as const, 14 as const, 16 as const),
    kind: fc.constantFrom('s1' as const, 's2' as const, 'nested' as const),
    // From 29 bits (the 4 KiB granule's level-2 start) to 48 (level 0); stage 2 needs 36 (below).
    inputBits: fc.integer({ min: 29, max: 48 }),
    pages: fc.uniqueArray(fc.integer({ min: 0, max: 63 }), { minLength: 1, maxLength: 12 }),
    corrupt: fc.array(
      fc.record({
        at: fc.nat(),
        // Random words, and near-valid ones: a table or page descriptor with random attributes
        // and an address that may lie beyond the output size.
        word: fc.oneof(
          fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
          fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }).map((v) => (v & ~0xfffn) | 0x403n | (v & 0xcc0n)),
          // A block descriptor (allowed or not at its level) with an address inside or beyond the output size, AF and AP random.
          fc.bigInt({ min: 0n, max: (1n << 42n) - 1n }).map((v) => (v & ~0xfffn) | 0x1n | (v & 0xcc0n) | (v & 0x400n)),
        ),
      }),
      { maxLength: 6 },
    ),
    probes: fc.array(fc.nat(), { minLength: 8, maxLength: 16 }),
    warm: fc.nat({ max: 8 }),
  })
  .map((c) => ({
    ...c,
    // Stage 2's IPAs here (outputs from 2^34) need 36 input bits.
    inputBits: c.kind === 's1' ? c.inputBits : Math.max(36, c.inputBits),
    // QEMU 7.2 has neither stage 2 nor the 16 KiB granule: those configs fault (C_BAD_STE, C_BAD_CD), also compared.
    probes: c.probes.map((p, i) => (i % 4 === 3 ? BigInt(p) * 0x1234567n * (i % 8 === 7 ? 0x1_0000_0000n : 1n) : 0x1000_0000n + BigInt(c.pages[p % c.pages.length]!) * (1n << BigInt(c.g)) + BigInt(p % 4096))),
  }));

function setup(c: Case, iotlbSize?: number): { r: Rig; tablesFrom: bigint; end: bigint } {
  const r = rig({ profile: c.profile, iotlbSize });
  const gsz = 1n << BigInt(c.g);
  const map: BuildMapping[] = c.pages.map((p, i) => ({ iova: 0x1000_0000n + BigInt(p) * gsz, size: gsz, pa: (c.kind === 'nested' ? 4n << 32n : 0x10_0000_0000n) + BigInt(i) * gsz, perm: i % 3 === 0 ? IOMMU_RO : IOMMU_RW }));
  const s2map: BuildMapping[] = c.kind === 'nested' ? map.map((m, i) => ({ iova: m.pa, size: gsz, pa: 0x20_0000_0000n + BigInt(i) * gsz, perm: i % 4 })) : map.map((m, i) => ({ ...m, perm: i % 4 }));
  const stream: BuildStream = {
    stage1: c.kind === 's2' ? undefined : { granule: 1 << c.g, t0sz: 64 - c.inputBits, asid: 5, map },
    stage2: c.kind === 's1' ? undefined : { granule: 1 << c.g, t0sz: 64 - c.inputBits, vmid: 3, map: s2map },
  };
  const tablesFrom = 0x10_0000n;
  const res = buildSmmuTables({ memory: r.ram.backing, memoryBase: RAM_BASE, at: tablesFrom, streams: [[SID, stream]], queues: { eventqLog2: 4 } });
  if ('error' in res) throw new Error(res.message);
  program(r, res.registers);
  return { r, tablesFrom, end: res.end };
}

/** The fault event of a traced translation, 0 when none. */
function faultOf(t: Trace): number {
  const f = t.find((s) => s.kind === 'fault');
  return f === undefined ? 0 : Number(f.fields['eventId']);
}

describe('smmuv3: the number fast path agrees with the traced path', () => {
  it('on random (and randomly damaged) tables: output, mask, permissions, target and fault', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { r, tablesFrom, end } = setup(c);
        // Damage descriptors (not the stream table or CD, which the builder puts first).
        const words = Number((end - tablesFrom) / 8n);
        for (const d of c.corrupt) {
          const off = tablesFrom + BigInt(256 + (d.at % Math.max(1, words - 256))) * 8n;
          if (off + 8n <= end) r.ram.backing.write(off, 8, d.word);
        }
        const region = r.smmu.regionFor(SID);
        // Fill the IOTLB (and the config cache) with a few translations first.
        for (let i = 0; i < c.warm && i < c.probes.length; i++) region.translate(c.probes[i]!, IOMMU_NONE, 0);
        const out = newNumberEntry();
        for (const uncached of [false, true]) {
          const t = region.numberTranslator(0, { uncached });
          for (const a of c.probes) {
            for (const flag of [IOMMU_NONE, IOMMU_RO, IOMMU_WO, IOMMU_RW]) {
              const trace: Trace = [];
              const e = region.probe(a, flag, 0, trace, { uncached });
              const plain = region.probe(a, flag, 0, undefined, { uncached });
              assert.deepEqual(plain, e, 'probe with and without a trace');
              const where = `${c.kind} ${c.profile} g${c.g} ${uncached ? 'uncached' : 'cached'} flag ${flag} at 0x${a.toString(16)}`;
              // Addresses from 2^53 (TTB1's range) are not for the translator: numberProbe asks probe().
              const direct = a < 1n << 53n;
              if (direct) assert.ok(t.translate(Number(a), flag, out), `declined ${where}`);
              else if (!numberProbe(region, t, a, flag, 0, { uncached }, out)) continue;
              assert.equal(out.perm, e.perm, `perm ${where}`);
              assert.equal(out.targetAs, e.targetAs, `target ${where}`);
              if (direct) assert.equal(out.fault, faultOf(trace), `fault ${where}`);
              const mask = out.shift === 64 ? HWADDR_MAX : (1n << BigInt(out.shift)) - 1n;
              assert.equal(mask, e.addrMask, `mask ${where}`);
              assert.equal(BigInt(out.translated), (e.translatedAddr & ~e.addrMask) | (a & e.addrMask), `output ${where}`);
            }
          }
        }
      }),
      { numRuns: 80 },
    );
  });
});

/** The same case on two identical machines: the damage applied to each. */
function twin(c: Case & { iotlbSize: number }): Rig {
  const { r, tablesFrom, end } = setup(c, c.iotlbSize);
  const words = Number((end - tablesFrom) / 8n);
  for (const d of c.corrupt) {
    const off = tablesFrom + BigInt(256 + (d.at % Math.max(1, words - 256))) * 8n;
    if (off + 8n <= end) r.ram.backing.write(off, 8, d.word);
  }
  return r;
}

/** What a translation leaves behind: the event log, the guest log and the IOTLB's entries. */
function machineState(r: Rig) {
  const iotlb = [...r.smmu.iotlb.all()].map((x) => ({ asid: x.asid, vmid: x.vmid, ...x.entry })).sort((a, b) => a.asid - b.asid || a.vmid - b.vmid || a.key - b.key);
  return { events: r.smmu.eventLog.map((e) => ({ words: e.words, disposition: e.disposition })), log: [...r.smmu.log], iotlb, size: r.smmu.iotlb.size, overflows: r.smmu.iotlb.overflows };
}

describe('smmuv3: translate() without a trace (its fast path) agrees with the traced translate()', () => {
  it('on random (and randomly damaged) tables: every entry, event record, log line and IOTLB entry, for IOTLBs of 0, 2 and 256 entries', () => {
    fc.assert(
      fc.property(caseArb, fc.constantFrom(0, 2, 256), fc.array(fc.constantFrom(IOMMU_NONE, IOMMU_RO, IOMMU_WO, IOMMU_RW), { minLength: 16, maxLength: 16 }), (c, iotlbSize, flags) => {
        const fast = twin({ ...c, iotlbSize });
        const traced = twin({ ...c, iotlbSize });
        const rf = fast.smmu.regionFor(SID);
        const rt = traced.smmu.regionFor(SID);
        // Twice over the addresses: the second round meets the IOTLB the first filled.
        for (let round = 0; round < 2; round++) {
          c.probes.forEach((a, i) => {
            const flag = flags[(i + round) % flags.length]!;
            const where = `${c.kind} ${c.profile} g${c.g} IOTLB ${iotlbSize} round ${round} flag ${flag} at 0x${a.toString(16)}`;
            const trace: Trace = [];
            assert.deepEqual(rf.translate(a, flag, 0), rt.translate(a, flag, 0, trace), `entry ${where}`);
            assert.deepEqual(machineState(fast), machineState(traced), `state ${where}`);
          });
        }
      }),
      { numRuns: 60 },
    );
  });
});

/** Every access flag at `addrs`: the uncached number path against the traced uncached probe. */
function agreeAt(r: Rig, sid: number, addrs: readonly bigint[], what: string): void {
  const region = r.smmu.regionFor(sid);
  const t = region.numberTranslator(0, { uncached: true });
  const out = newNumberEntry();
  for (const a of addrs) {
    for (const flag of [IOMMU_NONE, IOMMU_RO, IOMMU_WO, IOMMU_RW]) {
      const trace: Trace = [];
      const e = region.probe(a, flag, 0, trace, { uncached: true });
      const where = `${what}: flag ${flag} at 0x${a.toString(16)}`;
      assert.ok(t.translate(Number(a), flag, out), `declined ${where}`);
      assert.equal(out.perm, e.perm, `perm ${where}`);
      assert.equal(out.fault, faultOf(trace), `fault ${where}`);
      const mask = out.shift === 64 ? HWADDR_MAX : (1n << BigInt(out.shift)) - 1n;
      assert.equal(mask, e.addrMask, `mask ${where}`);
      assert.equal(BigInt(out.translated), (e.translatedAddr & ~e.addrMask) | (a & e.addrMask), `output ${where}`);
    }
  }
}

describe('smmuv3: the fast walk\'s page cache', () => {
  it('follows the memory: writes after a walk, tables written after a walk, and a region placed over a table', () => {
    const r = rig();
    enable(r);
    const root = alloc(r, 4096n);
    writeCd(r, { t0sz: 16, ttb0: root });
    writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
    const path = mapOne(r, root, 12, 0, 0x1000n, s1Leaf(0x8040_0000n, 3), 3);
    const region = r.smmu.regionFor(0x10);
    const t = region.numberTranslator(0, { uncached: true });
    const out = newNumberEntry();
    assert.ok(t.translate(0x1234, IOMMU_RO, out));
    assert.equal(out.translated, 0x8040_0234);
    agreeAt(r, 0x10, [0x1000n, 0x4000_0000n], 'first tables');
    // The leaf rewritten: the same translator (its pages cached) sees it.
    w64(r, path[3]!, s1Leaf(0x8050_0000n, 3, { ro: true }));
    assert.ok(t.translate(0x1234, IOMMU_WO, out));
    assert.equal(out.perm, IOMMU_NONE);
    assert.ok(t.translate(0x1234, IOMMU_RO, out));
    assert.equal(out.translated, 0x8050_0234);
    // A new subtree in tables whose pages were walked before (the level-0 table's page is cached).
    mapOne(r, root, 12, 0, 0x4000_0000n, s1Leaf(0x8060_0000n, 3), 3);
    assert.ok(t.translate(0x4000_0010, IOMMU_RW, out));
    assert.equal(out.translated, 0x8060_0010);
    agreeAt(r, 0x10, [0x1000n, 0x4000_0000n], 'tables extended');
    // A RAM region placed over the level-3 table's page (the topology changes): the walk reads it.
    const l3Page = path[3]! & ~0xfffn;
    const cover = new RamRegion('cover', 0x1000n);
    const leafOff = path[3]! - l3Page;
    cover.backing.write(leafOff, 8, s1Leaf(0x8070_0000n, 3));
    (r.sys.root as ContainerRegion).addSubregion(cover, l3Page, 1);
    assert.ok(t.translate(0x1234, IOMMU_RO, out));
    assert.equal(out.translated, 0x8070_0234);
    agreeAt(r, 0x10, [0x1000n, 0x4000_0000n], 'a region over the level-3 table');
    // And taken away again.
    (r.sys.root as ContainerRegion).removeSubregion(cover);
    assert.ok(t.translate(0x1234, IOMMU_RO, out));
    assert.equal(out.translated, 0x8050_0234);
  });

  it('walks tables whose pages share a cache slot (a walk fills its missing pages and walks again)', () => {
    const r = rig();
    enable(r);
    const root = alloc(r, 4096n);
    writeCd(r, { t0sz: 16, ttb0: root });
    writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
    // 300 level-3 tables, one per 2 MiB: their pages fall into the same slots 256 pages apart.
    const addrs: bigint[] = [];
    for (let i = 0; i < 300; i++) {
      const ia = 0x1_0000_0000n + BigInt(i) * 0x20_0000n;
      mapOne(r, root, 12, 0, ia, s1Leaf(0x9000_0000n + BigInt(i) * 0x1000n, 3, { ro: i % 2 === 1 }), 3);
      addrs.push(ia + 0x10n);
    }
    const t = r.smmu.regionFor(0x10).numberTranslator(0, { uncached: true });
    const out = newNumberEntry();
    for (let round = 0; round < 2; round++) {
      for (const i of [0, 256, 1, 257, 0, 256, 299, 43, 299]) {
        assert.ok(t.translate(Number(addrs[i]!), IOMMU_RO, out));
        assert.equal(out.translated, 0x9000_0010 + i * 0x1000, `mapping ${i}`);
        assert.equal(out.perm, i % 2 === 1 ? IOMMU_RO : IOMMU_RW);
      }
    }
    agreeAt(r, 0x10, [addrs[0]!, addrs[256]!, addrs[299]!, addrs[1]!], 'shared slots');
  });

  it('APTable[1] on the way down: read-only leaves (architecture), a write fault (QEMU 7.2), nothing under CD.HAD0', () => {
    for (const profile of ['architecture', 'qemu-7.2'] as const) {
      for (const had0 of [false, true]) {
        for (const level of [0, 1, 2]) {
          const r = rig({ profile });
          enable(r);
          const root = alloc(r, 4096n);
          writeCd(r, { t0sz: 16, ttb0: root, had0 });
          writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
          const path = mapOne(r, root, 12, 0, 0x1000n, s1Leaf(0x8040_0000n, 3), 3);
          mapOne(r, root, 12, 0, 0x2000n, s1Leaf(0x8041_0000n, 3, { ro: true }), 3);
          w64(r, path[level]!, r64(r, path[level]!) | (2n << 61n));
          agreeAt(r, 0x10, [0x1000n, 0x2008n], `${profile} HAD0=${had0} APTable at level ${level}`);
        }
      }
    }
  });
});
