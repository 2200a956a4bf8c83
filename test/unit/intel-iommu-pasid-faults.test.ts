/**
 * Scalable-mode faults on the PASID structures, in both profiles: FPD in a PASID directory entry
 * (present or not) and a non-present PASID table entry reached from a PASID address space.
 *
 * The architecture (VT-d 9.5 and 9.6: FPD in the PASID directory and table entries is evaluated
 * whatever their P, and a table entry with P=0 has its other fields ignored; 7.1.3: PASID_DIR_ENTRY_P
 * 0x51, PASID_ENTRY_P 0x59 and PASID_TABLE_ENTRY_INV 0x5b are qualified, the access errors 0x50
 * and 0x58 are not; 10.4.14: PP=1 and PV for a request with PASID).
 *
 * QEMU 7.2 (Debian's hw/i386/intel_iommu.c): vtd_dev_to_context_entry ends with
 * vtd_ce_rid2pasid_check (the RID_PASID entry fully checked, any problem VTD_FR_PASID_TABLE_INV
 * 0x58, which vtd_qualified_faults does not list, so FPD never hides it); then, unless the context
 * entry has FPD=1, vtd_ce_get_pasid_fpd for the request's PASID (directory FPD=1 ends it; directory
 * P=0, type or AW problems are 0x58; the table entry's P is not looked at); vtd_dev_pt_enabled and
 * vtd_iova_to_slpte then use the table entry as read without checking the result, so a non-present
 * entry with a usable PGTT and AW is walked. Context and PASID-entry faults are reported with
 * is_pasid=false (PP=0). QEMU 7.2 itself never creates a PASID address space (vtd_find_add_as is
 * only called with PCI_NO_PASID, and MemTxAttrs has no PASID): the qemu-7.2 profile runs 7.2's
 * code for one as it is written, and its traces say so.
 */
import * as assert from 'node:assert/strict';
import { newNumberEntry } from '../../src/engine/fast-path';
import { IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../src/engine/iotlb';
import type { VtdProfile } from '../../src/engine/models/intel-iommu';
import type { Trace } from '../../src/engine/trace';
import { ROOT, alloc, mapPage, program, reg, rig, w64, type Rig } from './intel-iommu-helpers';

const SID = 0x18; // 00:03.0
const PGTT2 = 2n << 6n;
const AW1 = 1n << 2n;
const FAIL = [0n, 0n, 0n, 0];
const OK = [0x1000n, 0x9000n, 0xfffn, IOMMU_RW];

interface Pt {
  readonly r: Rig;
  readonly ctx: bigint;
  readonly dir: bigint;
  readonly ptab0: bigint;
  readonly ptab1: bigint;
  readonly slpt: bigint;
}

/**
 * aw-bits 39 (3-level SAGAW) in both profiles. The context entry of 00:03.0 (RID_PASID 0, FPD from
 * `ctxFpd`) points at a PASID directory: entry 0 (PASIDs 0..63) to one table page, entry 1 (PASIDs
 * 64..127) to another. PASID 0 (DID 7) and PASID 0x45 (DID 10) are present second-stage entries on
 * a 3-level table mapping 0x1000 -> 0x9000 RW; PASID 5's first quadword is `pe5` (DID 9).
 */
function pt(profile: VtdProfile, o: { ctxFpd?: boolean; dir0?: bigint; dir1?: bigint; pe0?: (slpt: bigint) => bigint; pe5?: (slpt: bigint) => bigint } = {}): Pt {
  const r = rig({ profile, awBits: 39, scalableMode: true, cachingMode: true });
  const ct = alloc(r);
  const dir = alloc(r);
  const ptab0 = alloc(r);
  const ptab1 = alloc(r);
  const slpt = alloc(r);
  mapPage(r, slpt, 3, 0x1000n, 0x9000n, 3);
  w64(r, ROOT, ct | 1n);
  const ctx = ct + 0x18n * 32n;
  w64(r, ctx, dir | 1n | (o.ctxFpd ? 2n : 0n));
  w64(r, dir, o.dir0 ?? ptab0 | 1n);
  w64(r, dir + 8n, o.dir1 ?? ptab1 | 1n);
  w64(r, ptab0, o.pe0 ? o.pe0(slpt) : 1n | AW1 | PGTT2 | slpt);
  w64(r, ptab0 + 8n, 7n);
  w64(r, ptab0 + 5n * 64n, o.pe5 ? o.pe5(slpt) : 1n | AW1 | PGTT2 | slpt);
  w64(r, ptab0 + 5n * 64n + 8n, 9n);
  w64(r, ptab1 + 5n * 64n, 1n | AW1 | PGTT2 | slpt);
  w64(r, ptab1 + 5n * 64n + 8n, 10n);
  program(r, [
    { reg: 'RTADDR', value: ROOT | (1n << 10n) },
    { reg: 'GCMD', value: 1n << 30n },
    { reg: 'GCMD', value: 1n << 31n },
  ]);
  return { r, ctx, dir, ptab0, ptab1, slpt };
}

function tr(r: Rig, addr: bigint, flag: number, pasid?: number, trace?: Trace) {
  const e = r.iommu.regionFor(SID, pasid).translate(addr, flag, 0, trace);
  return [e.iova, e.translatedAddr, e.addrMask, e.perm];
}

/** What the fault recording registers hold: [FRCD hi, FRCD lo, FSTS], and the last fault's disposition. */
function rec(r: Rig): [bigint, bigint, bigint, string] {
  const last = r.iommu.faultLog.at(-1);
  const d = last === undefined ? 'none' : last.disposition.kind === 'recorded' ? 'recorded' : last.disposition.reason;
  return [reg(r, 'FRCD_HI'), reg(r, 'FRCD_LO'), reg(r, 'FSTS'), d];
}

const summary = (t: Trace) => t.map((s) => s.summary).join('\n');
const NOTHING: [bigint, bigint, bigint, string] = [0n, 0n, 0n, 'fpd'];

describe('intel-iommu: FPD in a PASID directory entry', () => {
  it('directory entry FPD=1, P=0, a request without PASID: the architecture hides PASID_DIR_ENTRY_P (0x51); QEMU 7.2 records 0x58', () => {
    const a = pt('architecture', { dir0: 2n });
    const t: Trace = [];
    assert.deepEqual(tr(a.r, 0x1000n, IOMMU_RO, undefined, t), FAIL);
    assert.deepEqual(rec(a.r), NOTHING);
    assert.equal(a.r.iommu.faultLog.at(-1)?.reason, 0x51);
    assert.match(summary(t), /PASID directory entry \[0\] at 0x301000: P=0, FPD=1, SMPTBLPTR=0x0/);
    assert.match(summary(t), /PASID_DIR_ENTRY_P \(0x51\): PASID directory entry 0 is not present; not recorded: FPD=1/);
    const o = pt('qemu-7.2', { dir0: 2n });
    const t2: Trace = [];
    assert.deepEqual(tr(o.r, 0x1000n, IOMMU_RO, undefined, t2), FAIL);
    assert.deepEqual(rec(o.r), [0xc000_0058_0000_0018n, 0x1000n, 2n, 'recorded']);
    assert.match(summary(t2), /\[QEMU 7\.2: VTD_FR_PASID_TABLE_INV \(0x58\); the architecture records 0x51\]/);
  });

  it('directory entry FPD=1 over a non-present table entry (request without PASID): the architecture hides 0x59; QEMU 7.2 records 0x58', () => {
    const setup = (p: VtdProfile) => pt(p, { pe0: (slpt) => AW1 | PGTT2 | slpt });
    const a = setup('architecture');
    w64(a.r, a.dir, a.ptab0 | 3n);
    assert.deepEqual(tr(a.r, 0x1000n, IOMMU_RO), FAIL);
    assert.deepEqual(rec(a.r), NOTHING);
    assert.equal(a.r.iommu.faultLog.at(-1)?.reason, 0x59);
    const o = setup('qemu-7.2');
    w64(o.r, o.dir, o.ptab0 | 3n);
    assert.deepEqual(tr(o.r, 0x1000n, IOMMU_RO), FAIL);
    assert.deepEqual(rec(o.r), [0xc000_0058_0000_0018n, 0x1000n, 2n, 'recorded']);
  });

  it('directory entry FPD=1 over valid entries: a walk fault (READ, 0x6) is hidden in both profiles', () => {
    for (const p of ['architecture', 'qemu-7.2'] as const) {
      const s = pt(p);
      w64(s.r, s.dir, s.ptab0 | 3n);
      assert.deepEqual(tr(s.r, 0x1000n, IOMMU_RO), OK, p);
      assert.deepEqual(tr(s.r, 0x5000n, IOMMU_RO), FAIL, p);
      assert.deepEqual(rec(s.r), NOTHING, p);
      assert.equal(s.r.iommu.faultLog.at(-1)?.reason, 6, p);
    }
  });

  it('a context entry with FPD=1 hides the architecture\'s 0x51 but not QEMU 7.2\'s 0x58 (not a qualified fault there)', () => {
    const a = pt('architecture', { ctxFpd: true, dir0: 0n });
    assert.deepEqual(tr(a.r, 0x1000n, IOMMU_RO), FAIL);
    assert.deepEqual(rec(a.r), NOTHING);
    const o = pt('qemu-7.2', { ctxFpd: true, dir0: 0n });
    assert.deepEqual(tr(o.r, 0x1000n, IOMMU_RO), FAIL);
    assert.deepEqual(rec(o.r), [0xc000_0058_0000_0018n, 0x1000n, 2n, 'recorded']);
  });

  it('a PASID address space behind a non-present directory entry: 0x51 with PP=1, PV=0x45 (architecture); 0x58 with PP=0 (QEMU 7.2)', () => {
    const a = pt('architecture', { dir1: 0n });
    assert.deepEqual(tr(a.r, 0x1000n, IOMMU_RO, 0x45), FAIL);
    assert.deepEqual(rec(a.r), [0xc000_4551_8000_0018n, 0x1000n, 2n, 'recorded']);
    const o = pt('qemu-7.2', { dir1: 0n });
    const t: Trace = [];
    assert.deepEqual(tr(o.r, 0x1000n, IOMMU_RO, 0x45, t), FAIL);
    assert.deepEqual(rec(o.r), [0xc000_0058_0000_0018n, 0x1000n, 2n, 'recorded']);
    assert.match(summary(t), /; PP=0 \[QEMU 7\.2: vtd_do_iommu_translate reports context and PASID-entry faults without the PASID; the architecture records PP=1, PV=69\]/);
  });

  it('a PASID address space behind a directory entry with FPD=1, P=0: nothing recorded in either; QEMU 7.2 walks an uninitialised entry (named, modelled as a failure)', () => {
    const a = pt('architecture', { dir1: 2n });
    assert.deepEqual(tr(a.r, 0x1000n, IOMMU_RO, 0x45), FAIL);
    assert.deepEqual(rec(a.r), NOTHING);
    assert.equal(a.r.iommu.faultLog.at(-1)?.reason, 0x51);
    const o = pt('qemu-7.2', { dir1: 2n });
    const t: Trace = [];
    assert.deepEqual(tr(o.r, 0x1000n, IOMMU_RO, 0x45, t), FAIL);
    assert.deepEqual(rec(o.r), NOTHING);
    assert.match(summary(t), /QEMU 7\.2 \(the directory entry's FPD=1 ends vtd_ce_get_pasid_fpd\) then walks an uninitialised PASID entry \(undefined behaviour\): the model translates nothing and records nothing/);
  });
});

describe('intel-iommu: a non-present PASID table entry reached from a PASID address space', () => {
  it('an all-zero entry: the architecture records PASID_ENTRY_P (0x59) with PP=1, PV=5; QEMU 7.2 records 0x58 (PGTT 0 fails vtd_pe_type_check) with PP=0', () => {
    const a = pt('architecture', { pe5: () => 0n });
    const t: Trace = [];
    assert.deepEqual(tr(a.r, 0x1000n, IOMMU_RO, 5, t), FAIL);
    assert.deepEqual(rec(a.r), [0xc000_0559_8000_0018n, 0x1000n, 2n, 'recorded']);
    assert.match(summary(t), /PASID_ENTRY_P \(0x59\): PASID table entry 5 is not present \(P=0: its other fields are ignored\); recorded in FRCD0: hi=0xc000055980000018 lo=0x0000000000001000; FECTL\.IM masks the fault event \(IP set\); PP=1, PV=5 \(the request's PASID\)/);
    const o = pt('qemu-7.2', { pe5: () => 0n });
    const t2: Trace = [];
    assert.deepEqual(tr(o.r, 0x1000n, IOMMU_RO, 5, t2), FAIL);
    assert.deepEqual(rec(o.r), [0xc000_0058_0000_0018n, 0x1000n, 2n, 'recorded']);
    assert.match(summary(t2), /PGTT=0 \(reserved\) fails vtd_pe_type_check \[QEMU 7\.2: VTD_FR_PASID_TABLE_INV \(0x58\); the architecture records 0x5b\]/);
  });

  it('P=0 over a second-stage entry left in place: the architecture records 0x59; QEMU 7.2 walks it and translates (IOTLB tagged with its DID), named in the trace', () => {
    const entry = (slpt: bigint) => AW1 | PGTT2 | slpt;
    const a = pt('architecture', { pe5: entry });
    assert.deepEqual(tr(a.r, 0x1000n, IOMMU_WO, 5), FAIL);
    assert.deepEqual(rec(a.r), [0x8000_0559_8000_0018n, 0x1000n, 2n, 'recorded']);
    const o = pt('qemu-7.2', { pe5: entry });
    // A probe and the number path answer as translate() will, and record nothing.
    const probe = o.r.iommu.regionFor(SID, 5).probe(0x1234n, IOMMU_WO, 0);
    assert.deepEqual([probe.iova, probe.translatedAddr, probe.addrMask, probe.perm], OK);
    const out = newNumberEntry();
    assert.equal(o.r.iommu.regionFor(SID, 5).numberTranslator(0, { uncached: true }).translate(0x1234, IOMMU_WO, out), true);
    assert.deepEqual([out.translated, out.shift, out.perm, out.fault], [0x9234, 12, IOMMU_RW, 0]);
    const t: Trace = [];
    assert.deepEqual(tr(o.r, 0x1234n, IOMMU_WO, 5, t), OK);
    assert.deepEqual(rec(o.r), [0n, 0n, 0n, 'none']);
    assert.deepEqual([...o.r.iommu.iotlb.entries()].map((e) => [e.pasid, e.domainId, e.gfn]), [[5, 9, 1]]);
    assert.match(summary(t), /QEMU 7\.2 creates no PASID address space: vtd_find_add_as is only called with PCI_NO_PASID \(vtd_host_dma_iommu\) and MemTxAttrs carries no PASID/);
    assert.match(
      summary(t),
      /QEMU 7\.2: PASID table entry 5 is not present \(P=0\), but vtd_ce_get_pasid_fpd does not look at P and vtd_iova_to_slpte walks the entry as read: second-stage tables from SSPTPTR=0x304000 with AW=1, DID 9; the architecture faults 0x59 \(PASID_ENTRY_P\)/,
    );
  });

  it("P=0 with the entry's own FPD=1: the architecture hides 0x59 (FPD is read whatever P); QEMU 7.2 translates", () => {
    const entry = (slpt: bigint) => 2n | AW1 | PGTT2 | slpt;
    const a = pt('architecture', { pe5: entry });
    assert.deepEqual(tr(a.r, 0x1000n, IOMMU_RO, 5), FAIL);
    assert.deepEqual(rec(a.r), NOTHING);
    assert.equal(a.r.iommu.faultLog.at(-1)?.reason, 0x59);
    const o = pt('qemu-7.2', { pe5: entry });
    assert.deepEqual(tr(o.r, 0x1000n, IOMMU_RO, 5), OK);
  });

  it('QEMU 7.2 walking a non-present entry: a walk fault is recorded with PP=1, PV=5 (READ, 0x6); with the entry\'s FPD=1 it is hidden', () => {
    const o = pt('qemu-7.2', { pe5: (slpt) => AW1 | PGTT2 | slpt });
    assert.deepEqual(tr(o.r, 0x5000n, IOMMU_RO, 5), FAIL);
    assert.deepEqual(rec(o.r), [0xc000_0506_8000_0018n, 0x5000n, 2n, 'recorded']);
    const f = pt('qemu-7.2', { pe5: (slpt) => 2n | AW1 | PGTT2 | slpt });
    assert.deepEqual(tr(f.r, 0x5000n, IOMMU_RO, 5), FAIL);
    assert.deepEqual(rec(f.r), NOTHING);
  });

  it('QEMU 7.2: P=0 with AW=2 (4 levels, beyond aw-bits 39) still fails vtd_ce_get_pasid_fpd\'s AW check: 0x58 with PP=0', () => {
    const o = pt('qemu-7.2', { pe5: (slpt) => (2n << 2n) | PGTT2 | slpt });
    assert.deepEqual(tr(o.r, 0x1000n, IOMMU_RO, 5), FAIL);
    assert.deepEqual(rec(o.r), [0xc000_0058_0000_0018n, 0x1000n, 2n, 'recorded']);
    const a = pt('architecture', { pe5: (slpt) => (2n << 2n) | PGTT2 | slpt });
    assert.deepEqual(tr(a.r, 0x1000n, IOMMU_RO, 5), FAIL);
    assert.deepEqual(rec(a.r), [0xc000_0559_8000_0018n, 0x1000n, 2n, 'recorded']);
  });

  it('the RID_PASID entry made non-present behind a cached context entry: the architecture records 0x59 (PP=0); QEMU 7.2 keeps translating', () => {
    for (const p of ['architecture', 'qemu-7.2'] as const) {
      const s = pt(p);
      assert.deepEqual(tr(s.r, 0x1000n, IOMMU_RO), OK, p);
      w64(s.r, s.ptab0, AW1 | PGTT2 | s.slpt);
      // The IOTLB is flushed (register-based, global); the context cache is not.
      program(s.r, [{ reg: 'IOTLB', value: (1n << 63n) | (1n << 60n) }]);
      if (p === 'architecture') {
        assert.deepEqual(tr(s.r, 0x1000n, IOMMU_RO), FAIL);
        assert.deepEqual(rec(s.r), [0xc000_0059_0000_0018n, 0x1000n, 2n, 'recorded']);
      } else {
        assert.deepEqual(tr(s.r, 0x1000n, IOMMU_RO), OK);
        assert.deepEqual(rec(s.r), [0n, 0n, 0n, 'none']);
        // A context-cache invalidation makes QEMU 7.2 read the context again: vtd_ce_rid2pasid_check faults 0x58.
        program(s.r, [{ reg: 'CCMD', value: (1n << 63n) | (1n << 61n) }]);
        assert.deepEqual(tr(s.r, 0x1000n, IOMMU_RO), FAIL);
        assert.deepEqual(rec(s.r), [0xc000_0058_0000_0018n, 0x1000n, 2n, 'recorded']);
      }
    }
  });
});
