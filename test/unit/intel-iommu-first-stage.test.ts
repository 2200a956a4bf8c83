/**
 * VT-d first-stage translation in scalable mode (current QEMU's x-flts, hw/i386/intel_iommu.c
 * vtd_iova_to_flpte, vtd_iova_fl_check_canonical, vtd_fpte_rsvd, vtd_cap_init and
 * vtd_decide_config; VT-d specification 3.6 and 9.9): PASID entries with PGTT=001b, FSPTPTR and
 * FLPM in the entry's third quadword, 4-level (and, in the architecture, 5-level) first-stage
 * tables with P, R/W, U/S, A, D, PS and XD. The tables here are written by hand (not by the
 * builder), so the walk is checked against the bit layout itself; the builder is checked apart.
 */
import * as assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load';
import { isEngineError } from '../../src/engine/errors';
import { newNumberEntry } from '../../src/engine/fast-path';
import { IOMMU_NOTIFIER_MAP, IOMMU_NOTIFIER_UNMAP, IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../src/engine/iotlb';
import { IntelIommu, buildVtdTables, type VtdBuildDevice } from '../../src/engine/models/intel-iommu';
import type { Trace } from '../../src/engine/trace';
import { ContainerRegion } from '../../src/engine/memory';
import { AddressSpace } from '../../src/engine/address-space';
import { ROOT, alloc, events, notifier, program, programFirstStage, r64, reg, rig, w64, type Rig } from './intel-iommu-helpers';

const SID = 0x18; // 00:03.0
const P = 1n;
const RW = 2n;
const US = 4n;
const A = 0x20n;
const D = 0x40n;
const PS = 0x80n;
const XD = 1n << 63n;

interface Fs {
  readonly r: Rig;
  /** The top-level first-stage table. */
  readonly top: bigint;
  /** The PASID table page (entry PASID n at + n * 64). */
  readonly ptab: bigint;
}

/** programFirstStage with FSPTPTR = a fresh table and FLPM = `flpm`. */
function fsRig(opts: { flpm?: number; awBits?: number; fpd?: boolean; profile?: 'architecture' | 'qemu-7.2' } = {}): Fs {
  const r = rig({ scalableMode: true, firstStage: true, cachingMode: true, awBits: opts.awBits });
  let top = 0n;
  const ptab = programFirstStage(
    r,
    () => {
      top = alloc(r);
      return top | (BigInt(opts.flpm ?? 0) << 2n);
    },
    opts.fpd,
  );
  return { r, top, ptab };
}

/** Maps one page at `level` through `levels` levels; non-leaf entries get `table` bits. Returns the entries' addresses, top first. */
function fsMap(r: Rig, top: bigint, levels: number, iova: bigint, leafBits: bigint, level = 1, table = P | RW | US): bigint[] {
  const at: bigint[] = [];
  let t = top;
  for (let lv = levels; lv > level; lv--) {
    const idx = (iova >> (12n + 9n * BigInt(lv - 1))) & 511n;
    let e = r64(r, t + idx * 8n);
    if ((e & ~0xfffn & ((1n << 52n) - 1n)) === 0n) {
      e = alloc(r) | table;
      w64(r, t + idx * 8n, e);
    }
    at.push(t + idx * 8n);
    t = e & ~0xfffn & ((1n << 52n) - 1n);
  }
  const idx = (iova >> (12n + 9n * BigInt(level - 1))) & 511n;
  at.push(t + idx * 8n);
  w64(r, t + idx * 8n, leafBits | (level > 1 ? PS : 0n));
  return at;
}

function tr(r: Rig, addr: bigint, flag: number, pasid?: number, trace?: Trace) {
  const e = r.iommu.regionFor(SID, pasid).translate(addr, flag, 0, trace);
  return [e.iova, e.translatedAddr, e.addrMask, e.perm];
}

const FAIL = [0n, 0n, 0n, 0];

describe('intel-iommu: first-stage translation (x-flts)', () => {
  it('x-flts offers ECAP.SMTS|FLTS (not SRS, SLTS) and CAP.FS1GP, as vtd_cap_init does', () => {
    const { r } = fsRig();
    assert.equal(reg(r, 'ECAP'), 0x8800_00f0_0f4an);
    assert.equal((reg(r, 'CAP') >> 56n) & 1n, 1n);
    assert.equal((reg(r, 'CAP') >> 62n) & 1n, 0n);
    const second = rig({ scalableMode: true });
    assert.equal(reg(second, 'ECAP'), 0x4800_80f0_0f4an);
    assert.equal((reg(second, 'CAP') >> 56n) & 1n, 0n);
    // 5-level first stage (architecture, aw-bits 57): CAP.FL5LP.
    const five = rig({ scalableMode: true, firstStage: true, awBits: 57 });
    assert.equal((reg(five, 'CAP') >> 62n) & 1n, 1n);
  });

  it("vtd_decide_config's refusals, in QEMU's words; QEMU 7.2 has no x-flts property", () => {
    const mem = new AddressSpace('m', new ContainerRegion('root', 1n << 64n));
    const err = (o: Partial<Parameters<typeof IntelIommu.create>[0]>) => {
      const d = IntelIommu.create({ name: 'dmar0', memory: mem, ...o });
      return isEngineError(d) ? d.message : 'created';
    };
    assert.equal(err({ firstStage: true }), 'intel-iommu dmar0: x-flts is only available in scalable mode');
    assert.equal(
      err({ firstStage: true, scalableMode: true, awBits: 39 }),
      "intel-iommu dmar0: Scalable mode(x-flts=on): supported value for aw-bits is: 48 (and 57, the architecture's 5-level first-stage tables, which QEMU does not offer)",
    );
    assert.equal(err({ firstStage: true, scalableMode: true, profile: 'qemu-7.2' }), "intel-iommu dmar0: Property 'intel-iommu.x-flts' not found (QEMU 7.2 has no first-stage translation)");
    assert.equal(err({ firstStage: true, scalableMode: true }), 'created');
  });

  it('a 4 KiB page through 4 levels: reads are allowed by P, writes need R/W at every level; A set on each entry, D on the leaf of a write', () => {
    const { r, top } = fsRig();
    const at = fsMap(r, top, 4, 0x1234_5000n, 0x8_7000n | P | RW | US);
    assert.deepEqual(tr(r, 0x1234_5678n, IOMMU_RO), [0x1234_5000n, 0x8_7000n, 0xfffn, IOMMU_RW]);
    assert.deepEqual(at.map((a) => r64(r, a) & (A | D)), [A, A, A, A]);
    // The IOTLB answers the write (QEMU caches the access rights, not the entry's A/D state), so flush it first.
    program(r, [{ reg: 'IOTLB', value: (1n << 63n) | (1n << 60n) }]);
    assert.deepEqual(tr(r, 0x1234_5000n, IOMMU_WO), [0x1234_5000n, 0x8_7000n, 0xfffn, IOMMU_RW]);
    assert.deepEqual(at.map((a) => r64(r, a) & (A | D)), [A, A, A, A | D]);
    assert.equal(r64(r, at[3]!), 0x8_7000n | P | RW | US | A | D);
  });

  it('R/W=0 at any level: reads translate read-only, a write faults SM_WRITE (0x85), with PP=0 (a request without PASID; QEMU would record PP=1, PV=RID_PASID)', () => {
    const { r, top } = fsRig();
    fsMap(r, top, 4, 0x2000n, 0x5000n | P | RW | US, 1, P | US);
    assert.deepEqual(tr(r, 0x2000n, IOMMU_RO), [0x2000n, 0x5000n, 0xfffn, IOMMU_RO]);
    program(r, [{ reg: 'IOTLB', value: (1n << 63n) | (1n << 60n) }]);
    assert.deepEqual(tr(r, 0x2000n, IOMMU_WO), FAIL);
    assert.equal(reg(r, 'FRCD_HI'), 0x8000_0085_0000_0018n);
    assert.equal(reg(r, 'FRCD_LO'), 0x2000n);
  });

  it('2 MiB and 1 GiB pages (CAP.FS1GP); XD and bits 62:52 are ignored', () => {
    const { r, top } = fsRig();
    fsMap(r, top, 4, 0x4020_0000n, 0x3000_0000n | P | US | XD | (0x7fn << 52n), 2);
    assert.deepEqual(tr(r, 0x4021_2345n, IOMMU_RO), [0x4020_0000n, 0x3000_0000n, 0x1f_ffffn, IOMMU_RO]);
    fsMap(r, top, 4, 0x80_0000_0000n, 0x4000_0000n | P | RW | US, 3);
    assert.deepEqual(tr(r, 0x80_1234_5678n, IOMMU_WO), [0x80_0000_0000n, 0x4000_0000n, 0x3fff_ffffn, IOMMU_RW]);
  });

  it('canonical addresses: the upper half walks from PML4 index 256; bit 47 set without the bits above is FS_NON_CANONICAL (0x80)', () => {
    const { r, top } = fsRig();
    fsMap(r, top, 4, 0xffff_8000_0000_3000n, 0x6000n | P | RW | US);
    assert.deepEqual(tr(r, 0xffff_8000_0000_3010n, IOMMU_RO), [0xffff_8000_0000_3000n, 0x6000n, 0xfffn, IOMMU_RW]);
    assert.deepEqual(tr(r, 0x8000_0000_3000n, IOMMU_RO), FAIL);
    assert.equal(reg(r, 'FRCD_HI'), 0xc000_0080_0000_0018n);
    assert.equal(reg(r, 'FRCD_LO'), 0x8000_0000_3000n);
  });

  const faults: Array<[string, (f: Fs) => bigint, number, bigint]> = [
    ['P=0 in the PDE: FS_PAGING_ENTRY_P', (f) => {
      const at = fsMap(f.r, f.top, 4, 0x1000n, 0x5000n | P | US);
      w64(f.r, at[2]!, r64(f.r, at[2]!) & ~P);
      return 0x1000n;
    }, 0x71, 0xc000_0071_0000_0018n],
    ['U/S=0 in the PTE: FS_PAGING_ENTRY_US (QEMU\'s devices make user requests only)', (f) => {
      fsMap(f.r, f.top, 4, 0x1000n, 0x5000n | P | RW);
      return 0x1000n;
    }, 0x81, 0xc000_0081_0000_0018n],
    ['PS in the PML4E: FS_PAGING_ENTRY_RSVD', (f) => {
      const at = fsMap(f.r, f.top, 4, 0x1000n, 0x5000n | P | US);
      w64(f.r, at[0]!, r64(f.r, at[0]!) | PS);
      return 0x1000n;
    }, 0x72, 0xc000_0072_0000_0018n],
    ['bit 50 in a PTE (above aw-bits 48): FS_PAGING_ENTRY_RSVD', (f) => {
      fsMap(f.r, f.top, 4, 0x1000n, 0x5000n | P | US | (1n << 50n));
      return 0x1000n;
    }, 0x72, 0xc000_0072_0000_0018n],
    ['bit 13 in a 2 MiB page: FS_PAGING_ENTRY_RSVD', (f) => {
      fsMap(f.r, f.top, 4, 0x20_0000n, 0x40_0000n | P | US | 0x2000n, 2);
      return 0x20_0000n;
    }, 0x72, 0xc000_0072_0000_0018n],
    ['FSPTPTR outside memory: PASID_ENTRY_FSPTPTR_INV', (f) => {
      w64(f.r, f.ptab + 16n, 0x7000_0000_0000n);
      program(f.r, [{ reg: 'CCMD', value: (1n << 63n) | (1n << 61n) }]);
      return 0x1000n;
    }, 0x73, 0xc000_0073_0000_0018n],
    ['a PDPE pointing outside memory: FS_PAGING_ENTRY_INV', (f) => {
      const at = fsMap(f.r, f.top, 4, 0x1000n, 0x5000n | P | US);
      w64(f.r, at[1]!, 0x7000_0000_0000n | P | RW | US);
      return 0x1000n;
    }, 0x70, 0xc000_0070_0000_0018n],
    ['an output in 0xfee00000..0xfeefffff: SM_INTERRUPT_ADDR', (f) => {
      fsMap(f.r, f.top, 4, 0x1000n, 0xfee0_0000n | P | US);
      return 0x1000n;
    }, 0x87, 0xc000_0087_0000_0018n],
    ['FLPM=1 without CAP.FL5LP: PASID_TABLE_ENTRY_INV, recorded without PASID', (f) => {
      w64(f.r, f.ptab + 16n, f.top | (1n << 2n));
      program(f.r, [{ reg: 'CCMD', value: (1n << 63n) | (1n << 61n) }]);
      return 0x1000n;
    }, 0x5b, 0xc000_005b_0000_0018n],
  ];
  for (const [name, setup, reason, hi] of faults) {
    it(`fault: ${name} (0x${reason.toString(16)})`, () => {
      const f = fsRig();
      const addr = setup(f);
      const t: Trace = [];
      assert.deepEqual(tr(f.r, addr, IOMMU_RO, undefined, t), FAIL);
      assert.equal(reg(f.r, 'FRCD_HI'), hi);
      assert.equal(reg(f.r, 'FRCD_LO'), addr & ~0xfffn);
      const fault = t.find((s) => s.kind === 'fault');
      assert.equal(fault?.fields?.FR, reason);
    });
  }

  it('the first-stage faults are qualified: FPD=1 in the PASID entry records none', () => {
    const f = fsRig({ fpd: true });
    fsMap(f.r, f.top, 4, 0x1000n, 0x5000n | P | RW);
    assert.deepEqual(tr(f.r, 0x1000n, IOMMU_RO), FAIL);
    assert.equal(reg(f.r, 'FRCD_HI'), 0n);
    assert.equal(f.r.iommu.faults.log.at(-1)?.disposition.kind, 'dropped');
  });

  it('PGTT=001b without x-flts: PASID_TABLE_ENTRY_INV (ECAP.FLTS is 0)', () => {
    const r = rig({ scalableMode: true });
    programFirstStage(r, () => 0n);
    const t: Trace = [];
    assert.deepEqual(tr(r, 0x1000n, IOMMU_RO, undefined, t), FAIL);
    assert.equal(reg(r, 'FRCD_HI'), 0xc000_005b_0000_0018n);
    assert.match(t.find((s) => s.kind === 'fault')!.summary, /PGTT=1 \(first-stage\) is not offered by ECAP \(first-stage needs ECAP\.FLTS: flts on\)/);
  });

  it('5-level first stage (architecture, aw-bits 57, FLPM=1): an address above 2^48', () => {
    const { r, top } = fsRig({ awBits: 57, flpm: 1 });
    fsMap(r, top, 5, 0x1_0000_0000_1000n, 0x9000n | P | RW | US);
    assert.deepEqual(tr(r, 0x1_0000_0000_1abcn, IOMMU_WO), [0x1_0000_0000_1000n, 0x9000n, 0xfffn, IOMMU_RW]);
    // Canonical for 57 bits: bit 56 set needs bits 63:57 set.
    assert.deepEqual(tr(r, 0x100_0000_0000_0000n, IOMMU_RO), FAIL);
    assert.equal(reg(r, 'FRCD_HI'), 0xc000_0080_0000_0018n);
  });

  it('the IOTLB caches first-stage leaves tagged with the PASID; a probe sets no A/D bit', () => {
    const { r, top } = fsRig();
    const at = fsMap(r, top, 4, 0x3000n, 0x7000n | P | RW | US);
    const probe = r.iommu.regionFor(SID).probe(0x3000n, IOMMU_WO, 0);
    assert.deepEqual([probe.translatedAddr, probe.perm], [0x7000n, IOMMU_RW]);
    assert.deepEqual(at.map((a) => r64(r, a) & (A | D)), [0n, 0n, 0n, 0n]);
    tr(r, 0x3000n, IOMMU_RO);
    assert.deepEqual([...r.iommu.iotlb.entries()].map((e) => [e.sid, e.pasid, e.domainId, e.gfn, e.level, e.perm]), [[SID, 0, 7, 3, 1, IOMMU_RW]]);
    const hits = r.iommu.iotlb.hits;
    w64(r, at[3]!, 0n); // stale until invalidated
    assert.deepEqual(tr(r, 0x3000n, IOMMU_RO), [0x3000n, 0x7000n, 0xfffn, IOMMU_RW]);
    assert.equal(r.iommu.iotlb.hits, hits + 1);
  });

  it('the trace names each first-stage entry with its fields and the A/D updates', () => {
    const { r, top } = fsRig();
    fsMap(r, top, 4, 0x5000n, 0xa000n | P | RW | US);
    const t: Trace = [];
    tr(r, 0x5000n, IOMMU_WO, undefined, t);
    const s = t.map((x) => x.summary);
    assert.ok(s.some((x) => /^PASID table entry \[PASID 0\] .*PGTT=1 \(first-stage\).*FSPTPTR=0x30[0-9a-f]{4}, FLPM=0 \(4-level\)/.test(x)), s.join('\n'));
    assert.ok(s.some((x) => /^FS-PTE\[5\] \(level 1\) at 0x[0-9a-f]+ = 0x000000000000a007: P=1 R\/W=1 U\/S=1 A=0 D=0 XD=0 ADDR=0xa000$/.test(x)), s.join('\n'));
    assert.ok(s.some((x) => /the IOMMU sets A and D in the FS-PTE: 0x[0-9a-f]+ <- 0x000000000000a067$/.test(x)), s.join('\n'));
    assert.ok(s.some((x) => x.startsWith('0x5000 -> 0xa000 (4 KiB page at level 1, first stage), RW')), s.join('\n'));
  });

  it('the number translator answers first-stage contexts as probe() does (no A/D writes)', () => {
    const { r, top } = fsRig();
    const at = fsMap(r, top, 4, 0x20_0000n, 0x60_0000n | P | US, 2);
    fsMap(r, top, 4, 0x1000n, 0x5000n | P | RW);
    const t = r.iommu.regionFor(SID).numberTranslator(0, { uncached: true });
    const out = newNumberEntry();
    assert.equal(t.translate(0x20_1234, IOMMU_RO, out), true);
    assert.deepEqual([out.translated, out.shift, out.perm, out.fault], [0x60_1234, 21, IOMMU_RO, 0]);
    assert.equal(t.translate(0x20_1234, IOMMU_WO, out), true);
    assert.deepEqual([out.perm, out.fault], [0, 0x85]);
    assert.equal(t.translate(0x1000, IOMMU_RO, out), true);
    assert.deepEqual([out.perm, out.fault], [0, 0x81]);
    assert.equal(t.translate(0x8000_0000_0000, IOMMU_RO, out), true);
    assert.deepEqual([out.perm, out.fault], [0, 0x80]);
    assert.equal(r64(r, at[2]!) & A, 0n);
  });

  it('replay walks the first-stage tables as QEMU does under x-flts (vtd_page_walk on FSPTPTR): MAP per leaf, R from P, W from R/W', () => {
    const r = rig({ scalableMode: true, firstStage: true, cachingMode: true });
    const b = buildVtdTables({
      memory: r.ram.backing,
      memoryBase: 0n,
      at: ROOT,
      scalable: true,
      devices: [
        [
          SID,
          {
            domain: 3,
            translation: 'first-stage',
            map: [
              { iova: 0x1000n, size: 0x2000n, pa: 0x40_0000n, perm: IOMMU_RW },
              { iova: 0x20_0000n, size: 0x20_0000n, pa: 0x80_0000n, perm: IOMMU_RO },
            ],
          },
        ],
      ],
    });
    if (isEngineError(b)) throw new Error(b.message);
    program(r, b.registers);
    const n = notifier(r, SID, IOMMU_NOTIFIER_MAP | IOMMU_NOTIFIER_UNMAP, { kind: 'vfio', replay: true });
    assert.deepEqual(events(n), ['MAP 0x1000/0xfff -> 0x400000 RW (replay)', 'MAP 0x2000/0xfff -> 0x401000 RW (replay)', 'MAP 0x200000/0x1fffff -> 0x800000 RO (replay)']);
    // Page-selective invalidation under x-flts syncs nothing (vtd_iotlb_page_invalidate_notify skips
    // the shadow sync when first-stage translation is on).
    const before = n.received.length;
    program(r, [
      { reg: 'IVA', value: 0x1000n },
      { reg: 'IOTLB', value: (1n << 63n) | (3n << 60n) | (3n << 32n) },
    ]);
    assert.equal(n.received.length, before);
    // Domain-selective: a sync, which finds every mapping already notified.
    program(r, [{ reg: 'IOTLB', value: (1n << 63n) | (2n << 60n) | (3n << 32n) }]);
    assert.equal(n.received.length, before);
  });

  it('the builder writes first-stage tables: PGTT=001b, FSPTPTR and FLPM in the third quadword, P|R/W|U/S tables, P|U/S leaves', () => {
    const r = rig({ scalableMode: true, firstStage: true });
    const b = buildVtdTables({
      memory: r.ram.backing,
      memoryBase: 0n,
      at: ROOT,
      scalable: true,
      devices: [[SID, { domain: 4, translation: 'first-stage', map: [{ iova: 0x4000n, size: 0x1000n, pa: 0xb000n, perm: IOMMU_RO }], pasids: [[9, { domain: 6, translation: 'first-stage', awBits: 57, map: [{ iova: 0x1_0000_0000_0000n, size: 0x1000n, pa: 0xc000n, perm: IOMMU_RW }] }]] }]],
    });
    if (isEngineError(b)) throw new Error(b.message);
    const pe0 = b.devices.get(SID)!;
    const dir = r64(r, pe0.context) & ~0xfffn;
    const ptab = r64(r, dir) & ~0xfffn;
    assert.equal(r64(r, ptab) & 0x1c3n, 0x41n);
    assert.equal(r64(r, ptab + 8n), 4n);
    const fsptptr = r64(r, ptab + 16n);
    assert.equal(fsptptr & 0xfffn, 0n);
    assert.equal(r64(r, fsptptr & ~0xfffn) & 0xfffn, 7n);
    assert.equal(r64(r, ptab + 9n * 64n + 16n) & 0xfffn, 4n); // FLPM=1 for the 57-bit PASID
    program(r, b.registers);
    assert.deepEqual(tr(r, 0x4000n, IOMMU_WO), FAIL);
    assert.equal(reg(r, 'FRCD_HI'), 0x8000_0085_0000_0018n);
    assert.deepEqual(tr(r, 0x4000n, IOMMU_RO), [0x4000n, 0xb000n, 0xfffn, IOMMU_RO]);
    // aw-bits 48 has no FL5LP: the 5-level PASID entry is refused.
    assert.deepEqual(tr(r, 0x1_0000_0000_0000n, IOMMU_RO, 9), FAIL);
    const wide = rig({ scalableMode: true, firstStage: true, awBits: 57 });
    const b2 = buildVtdTables({
      memory: wide.ram.backing,
      memoryBase: 0n,
      at: ROOT,
      scalable: true,
      devices: [[SID, { domain: 4, pasids: [[9, { domain: 6, translation: 'first-stage', awBits: 57, map: [{ iova: 0x1_0000_0000_0000n, size: 0x1000n, pa: 0xc000n, perm: IOMMU_RW }] }]] }]],
    });
    if (isEngineError(b2)) throw new Error(b2.message);
    program(wide, b2.registers);
    assert.deepEqual(tr(wide, 0x1_0000_0000_0000n, IOMMU_WO, 9), [0x1_0000_0000_0000n, 0xc000n, 0xfffn, IOMMU_RW]);
    assert.deepEqual([...wide.iommu.iotlb.entries()].map((e) => [e.pasid, e.domainId]), [[9, 6]]);
  });

  it('the builder refuses what first-stage tables cannot express', () => {
    const r = rig({ scalableMode: true, firstStage: true });
    const msg = (d: VtdBuildDevice, scalable = true) => {
      const b = buildVtdTables({ memory: r.ram.backing, memoryBase: 0n, at: ROOT, scalable, devices: [[SID, d]] });
      return isEngineError(b) ? b.message : 'built';
    };
    assert.match(msg({ domain: 1, translation: 'first-stage', map: [{ iova: 0n, size: 0x1000n, pa: 0n, perm: IOMMU_WO }] }), /a first-stage entry cannot grant write without read/);
    assert.match(msg({ domain: 1, translation: 'first-stage', map: [{ iova: 0x7fff_ffff_f000n, size: 0x2000n, pa: 0n, perm: IOMMU_RO }] }), /reaches past the lower canonical half of the 48-bit first-stage address width/);
    assert.match(msg({ domain: 1, translation: 'first-stage', awBits: 39 }), /first-stage tables have 4 levels \(aw-bits 48\) or 5 \(57\), not 3/);
    assert.match(msg({ domain: 1, translation: 'first-stage' }, false), /first-stage tables need scalable-mode tables/);
  });

  it('config: flts and translation first-stage build and translate; flts in the qemu-7.2 profile is refused at flts', () => {
    const yaml = (profile: string) => `iommu-lens: 1
memory:
  ram: { kind: ram, size: 256MiB }
address-spaces:
  system:
    - { at: 0, region: ram }
iommus:
  d:
    model: intel-iommu
    walk-memory: system
    profile: ${profile}
    scalable-mode: true
    flts: true
    build:
      at: ram+0x100000
      devices:
        "00:03.0": { domain: 2, translation: first-stage, map: [ { iova: 0x1000, size: 4KiB, pa: 0x7000, perm: rw } ] }
devices:
  b: { kind: pci, bdf: "00:03.0", iommu: d }
`;
    const ok = loadConfig('fs.iommu.yaml', yaml('architecture'));
    assert.deepEqual(ok.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message), []);
    const dev = ok.machine.iommus.get('d') as IntelIommu;
    const e = dev.regionFor(SID).translate(0x1abcn, IOMMU_WO, 0);
    assert.deepEqual([e.iova, e.translatedAddr, e.perm], [0x1000n, 0x7000n, IOMMU_RW]);
    const old = loadConfig('fs.iommu.yaml', yaml('qemu-7.2'));
    const err = old.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.range.start.line + 1}: ${d.message}`);
    assert.deepEqual(err, ["13: intel-iommu d: Property 'intel-iommu.x-flts' not found (QEMU 7.2 has no first-stage translation)"]);
  });
});
