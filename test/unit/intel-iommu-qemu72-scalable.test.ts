/**
 * The qemu-7.2 profile's scalable mode, from Debian's QEMU 7.2 hw/i386/intel_iommu.c
 * (vtd_get_pe_in_pasid_leaf_table, vtd_pe_type_check, vtd_get_pe_from_pasid_table,
 * vtd_dev_to_context_entry with vtd_ce_rid2pasid_check, vtd_handle_iqt_write): every PASID
 * directory and table fault is VTD_FR_PASID_TABLE_INV (0x58); PGTT first-stage and nested pass the
 * type check and are walked as second-stage tables from SSPTPTR with AW; the AW level is checked
 * for every PGTT; a PASID address space needs a valid RID_PASID entry too; with 256-bit
 * descriptors an IQT write with bit 4 set is logged and ignored. Each case is run in both
 * profiles, so the difference from the architecture default is what is checked.
 */
import * as assert from 'node:assert/strict';
import { IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../src/engine/iotlb';
import type { VtdProfile } from '../../src/engine/models/intel-iommu';
import type { Trace } from '../../src/engine/trace';
import { QUEUE, ROOT, alloc, mapPage, program, reg, rig, w64, type Rig } from './intel-iommu-helpers';

const SID = 0x18; // 00:03.0
const PGTT = (t: bigint) => t << 6n;

interface Sm {
  readonly r: Rig;
  readonly dir: bigint;
  readonly ptab: bigint;
  /** A 3-level second-stage table with 0x1000 -> 0x9000 RW. */
  readonly slpt: bigint;
}

/** aw-bits 39 (3-level SAGAW only) in both profiles; the RID_PASID entry (PASID 0) from `val0`. */
function sm(profile: VtdProfile, val0: (slpt: bigint) => bigint, opts: { dirP?: boolean } = {}): Sm {
  const r = rig({ profile, awBits: 39, scalableMode: true, cachingMode: true });
  const ct = alloc(r);
  const dir = alloc(r);
  const ptab = alloc(r);
  const slpt = alloc(r);
  mapPage(r, slpt, 3, 0x1000n, 0x9000n, 3);
  w64(r, ROOT, ct | 1n);
  w64(r, ct + 0x18n * 32n, dir | 1n);
  w64(r, dir, ptab | (opts.dirP === false ? 0n : 1n));
  w64(r, ptab, val0(slpt));
  w64(r, ptab + 8n, 7n);
  program(r, [
    { reg: 'RTADDR', value: ROOT | (1n << 10n) },
    { reg: 'GCMD', value: 1n << 30n },
    { reg: 'GCMD', value: 1n << 31n },
  ]);
  return { r, dir, ptab, slpt };
}

function tr(r: Rig, addr: bigint, flag: number, pasid?: number, trace?: Trace) {
  const e = r.iommu.regionFor(SID, pasid).translate(addr, flag, 0, trace);
  return [e.iova, e.translatedAddr, e.addrMask, e.perm];
}

const FAIL = [0n, 0n, 0n, 0];
const OK = [0x1000n, 0x9000n, 0xfffn, IOMMU_RW];

describe('intel-iommu: the qemu-7.2 profile in scalable mode', () => {
  it('PGTT=001b (first-stage): QEMU 7.2 walks SSPTPTR as second-stage tables and says so; the architecture without FLTS faults 0x5b', () => {
    const entry = (slpt: bigint) => 1n | (1n << 2n) | PGTT(1n) | slpt;
    const old = sm('qemu-7.2', entry);
    const t: Trace = [];
    assert.deepEqual(tr(old.r, 0x1234n, IOMMU_WO, undefined, t), OK);
    assert.match(
      t.map((s) => s.summary).join('\n'),
      /QEMU 7\.2: PGTT=1 \(first-stage\) passes vtd_pe_type_check and is walked as second-stage tables from SSPTPTR=0x303000 with AW=1; the architecture walks the first-stage tables at FSPTPTR \(with ECAP\.FLTS\) or faults PASID_TABLE_ENTRY_INV \(0x5b\) without it/,
    );
    const arch = sm('architecture', entry);
    assert.deepEqual(tr(arch.r, 0x1234n, IOMMU_WO), FAIL);
    assert.equal(reg(arch.r, 'FRCD_HI'), 0x8000_005b_0000_0018n);
    // Nested (PGTT=3) likewise.
    assert.deepEqual(tr(sm('qemu-7.2', (slpt) => 1n | (1n << 2n) | PGTT(3n) | slpt).r, 0x1000n, IOMMU_RO), OK);
  });

  const cases: Array<[string, (slpt: bigint) => bigint, { dirP?: boolean }, bigint, bigint | 'ok']> = [
    ['the PASID directory entry not present', (slpt) => 1n | (1n << 2n) | PGTT(2n) | slpt, { dirP: false }, 0xc000_0058_0000_0018n, 0xc000_0051_0000_0018n],
    ['the PASID table entry not present', (slpt) => (1n << 2n) | PGTT(2n) | slpt, {}, 0xc000_0058_0000_0018n, 0xc000_0059_0000_0018n],
    ['PGTT=5 (reserved)', (slpt) => 1n | (1n << 2n) | PGTT(5n) | slpt, {}, 0xc000_0058_0000_0018n, 0xc000_005b_0000_0018n],
    ['AW=2 with only 3-level SAGAW', (slpt) => 1n | (2n << 2n) | PGTT(2n) | slpt, {}, 0xc000_0058_0000_0018n, 0xc000_005b_0000_0018n],
    // QEMU 7.2 checks the AW level for pass-through entries too; the architecture ignores AW there.
    ['pass-through with AW=2', () => 1n | (2n << 2n) | PGTT(4n), {}, 0xc000_0058_0000_0018n, 'ok'],
  ];
  for (const [name, val0, opts, old, arch] of cases) {
    it(`${name}: QEMU 7.2 records 0x58 (VTD_FR_PASID_TABLE_INV); the architecture ${arch === 'ok' ? 'translates' : `records 0x${((arch >> 32n) & 0xffn).toString(16)}`}`, () => {
      const o = sm('qemu-7.2', val0, opts);
      const t: Trace = [];
      assert.deepEqual(tr(o.r, 0x1000n, IOMMU_RO, undefined, t), FAIL);
      assert.equal(reg(o.r, 'FRCD_HI'), old);
      assert.match(t.find((s) => s.kind === 'fault')!.summary, /\[QEMU 7\.2: VTD_FR_PASID_TABLE_INV \(0x58\); the architecture records 0x5[19b]\]/);
      const a = sm('architecture', val0, opts);
      if (arch === 'ok') {
        assert.deepEqual(tr(a.r, 0x1000n, IOMMU_RO), [0x1000n, 0x1000n, 0xfffn, IOMMU_RW]);
      } else {
        assert.deepEqual(tr(a.r, 0x1000n, IOMMU_RO), FAIL);
        assert.equal(reg(a.r, 'FRCD_HI'), arch);
      }
    });
  }

  it('a PASID address space: QEMU 7.2 checks the RID_PASID entry first (vtd_ce_rid2pasid_check)', () => {
    // RID_PASID (0) not present; PASID 5 a valid second-stage entry.
    const run = (profile: VtdProfile) => {
      const s = sm(profile, (slpt) => (1n << 2n) | PGTT(2n) | slpt);
      w64(s.r, s.ptab + 5n * 64n, 1n | (1n << 2n) | PGTT(2n) | s.slpt);
      w64(s.r, s.ptab + 5n * 64n + 8n, 9n);
      return s.r;
    };
    const old = run('qemu-7.2');
    const t: Trace = [];
    assert.deepEqual(tr(old, 0x1000n, IOMMU_RO, 5, t), FAIL);
    assert.equal(reg(old, 'FRCD_HI'), 0xc000_0058_0000_0018n);
    assert.match(t.find((s) => s.kind === 'fault')!.summary, /QEMU 7\.2 checks the context's RID_PASID entry 0 before PASID 5's/);
    const arch = run('architecture');
    assert.deepEqual(tr(arch, 0x1000n, IOMMU_RO, 5), OK);
    assert.deepEqual([...arch.iommu.iotlb.entries()].map((e) => [e.pasid, e.domainId]), [[5, 9]]);
  });

  it('a second-stage RID_PASID entry translates alike in both profiles', () => {
    for (const p of ['qemu-7.2', 'architecture'] as const) {
      const s = sm(p, (slpt) => 1n | (1n << 2n) | PGTT(2n) | slpt);
      assert.deepEqual(tr(s.r, 0x1abcn, IOMMU_WO), OK, p);
    }
  });

  it('IQT with bit 4 set in a 256-bit queue: QEMU 7.2 logs and ignores it; the architecture reports FSTS.IQE', () => {
    for (const p of ['qemu-7.2', 'architecture'] as const) {
      const s = sm(p, (slpt) => 1n | (1n << 2n) | PGTT(2n) | slpt);
      program(s.r, [
        { reg: 'IQA', value: QUEUE | 0x800n },
        { reg: 'GCMD', value: (1n << 31n) | (1n << 26n) },
        { reg: 'IQT', value: 0x30n },
      ]);
      assert.equal(s.r.iommu.log.includes('vtd_handle_iqt_write: RSV bit is set: val=0x30'), true, p);
      assert.equal(reg(s.r, 'FSTS') & 0x10n, p === 'qemu-7.2' ? 0n : 0x10n, p);
      assert.equal(reg(s.r, 'IQH'), 0n, p);
    }
  });
});
