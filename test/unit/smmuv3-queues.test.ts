/**
 * SMMUv3 events and commands against QEMU (smmuv3_record_event, smmuv3_cmdq_consume,
 * smmuv3_range_inval, smmu_inv_notifiers_all, smmuv3_notify_flag_changed): the bytes of each
 * event record in the queue, suppression by CD.R / STE.S2R, overflow; the IOTLB hit then its
 * invalidation by every TLBI; CFGI; the power-of-two split of range invalidations and the
 * notifications; command errors; vfio's refused registration; the walk replay.
 */
import * as assert from 'node:assert/strict';
import { addressSpaceForRegion } from '../../src/engine/address-space';
import { MEMTXATTRS_UNSPECIFIED } from '../../src/engine/attrs';
import { register, vfioRegistrations, vhostRegistrations, type Registration } from '../../src/engine/consumers';
import { isEngineError } from '../../src/engine/errors';
import { HWADDR_MAX } from '../../src/engine/hex';
import type { NotifyRecord } from '../../src/engine/iommu';
import { IOMMU_NONE, IOMMU_NOTIFIER_UNMAP, IOMMU_RO, IOMMU_RW, IOMMU_WO, type IOMMUTLBEntry } from '../../src/engine/iotlb';
import type { Smmuv3Command } from '../../src/engine/models/smmuv3';
import type { Trace } from '../../src/engine/trace';
import {
  CD_ADDR,
  CMDQ,
  EVENTQ,
  RAM_BASE,
  STRTAB,
  alloc,
  build,
  enable,
  eventWords,
  mapOne,
  program,
  reg,
  rig,
  s1Leaf,
  s2Leaf,
  summaries,
  tr,
  w64,
  writeCd,
  writeSte,
  type Rig,
} from './smmuv3-helpers';

function s1Rig(opts: { r?: boolean; cr0?: bigint; eventqLog2?: number; profile?: 'architecture' | 'qemu-7.2' } = {}) {
  const r = rig({ profile: opts.profile });
  enable(r, { cr0: opts.cr0, eventqLog2: opts.eventqLog2 });
  const root = alloc(r, 4096n);
  writeCd(r, { t0sz: 16, ttb0: root, r: opts.r, asid: 1 });
  writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
  return { r, root };
}

function issue(r: Rig, cmds: Smmuv3Command[]) {
  const res = r.smmu.issueCommands(cmds);
  if (isEngineError(res)) throw new Error(res.message);
  return res;
}

describe('smmuv3: event records', () => {
  it('F_TRANSLATION: type, SID, RnW, CLASS=IN and the input address, at EVENTQ_BASE; PROD advances', () => {
    const { r } = s1Rig();
    assert.equal(tr(r, 0x10, 0x1234n, IOMMU_RO).perm, IOMMU_NONE);
    assert.deepEqual(eventWords(r, 0), [0x10, 0x10, 0, (1 << 3) | (2 << 8), 0x1234, 0, 0, 0]);
    assert.equal(reg(r, 'EVENTQ_PROD'), 1n);
    tr(r, 0x10, 0xdead_0000_2000n, IOMMU_WO);
    assert.deepEqual(eventWords(r, 1), [0x10, 0x10, 0, 2 << 8, 0x2000, 0xdead, 0, 0]);
    assert.equal(reg(r, 'EVENTQ_PROD'), 2n);
  });

  it('the event queue base: aligned to the queue size (architecture); QEMU 7.2 Q_BASE keeps bits [51:6] only', () => {
    for (const profile of ['architecture', 'qemu-7.2'] as const) {
      // A 16-entry queue (512 bytes) programmed 0x40 above its alignment.
      const { r } = s1Rig({ profile, eventqLog2: 4 });
      program(r, [{ reg: 'EVENTQ_BASE', value: (EVENTQ + 0x40n) | 4n }]);
      tr(r, 0x10, 0x1234n, IOMMU_RO);
      const base = profile === 'architecture' ? EVENTQ : EVENTQ + 0x40n;
      assert.equal(eventWords(r, 0, base)[0], 0x10, profile);
    }
  });

  it('QEMU 7.2 writes CLASS and the IPA for F_WALK_EABT only: F_TRANSLATION and F_PERMISSION have CLASS=0 (smmuv3_translate)', () => {
    const { r, root } = s1Rig({ profile: 'qemu-7.2' });
    const t: Trace = [];
    tr(r, 0x10, 0x1234n, IOMMU_RO, t);
    assert.deepEqual(eventWords(r, 0), [0x10, 0x10, 0, 1 << 3, 0x1234, 0, 0, 0]);
    assert.ok(summaries(t).some((x) => x.includes('QEMU 7.2 writes this record with CLASS=0 and no IPA')));
    mapOne(r, root, 12, 0, 0x5000n, s1Leaf(0x8040_0000n, 3, { ro: true }), 3);
    tr(r, 0x10, 0x5000n, IOMMU_WO);
    assert.deepEqual(eventWords(r, 1), [0x13, 0x10, 0, 0, 0x5000, 0, 0, 0]);
    // A descriptor read that fails: CLASS=TT and the descriptor's address, as the architecture.
    const { r: e } = s1Rig({ profile: 'qemu-7.2' });
    writeCd(e, { t0sz: 16, ttb0: 0x1_0000_0000n, asid: 1 });
    tr(e, 0x10, 0x1000n, IOMMU_RO);
    assert.deepEqual(eventWords(e, 0), [0x0b, 0x10, 0, (1 << 3) | (1 << 8), 0x1000, 0, 0, 1]);
  });

  it('F_WALK_EABT: CLASS=TT and the descriptor address in words 6-7, recorded even with CD.R=0', () => {
    const r = rig();
    enable(r);
    writeCd(r, { t0sz: 16, ttb0: 0x4000_0000n, r: false });
    writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
    tr(r, 0x10, 0x80_0000_0000n, IOMMU_RO);
    // Level-0 index 1 of a table at 0x4000_0000, where nothing is mapped.
    assert.deepEqual(eventWords(r, 0), [0x0b, 0x10, 0, (1 << 3) | (1 << 8), 0, 0x80, 0x4000_0008, 0]);
  });

  it('F_ACCESS, F_PERMISSION and F_ADDR_SIZE', () => {
    const { r, root } = s1Rig();
    writeCd(r, { t0sz: 16, ttb0: root, asid: 1, ips: 2 }); // a 40-bit IPA size
    mapOne(r, root, 12, 0, 0x1000n, s1Leaf(0x8040_0000n, 3, { af: false }), 3);
    mapOne(r, root, 12, 0, 0x2000n, s1Leaf(0x8040_1000n, 3, { ro: true }), 3);
    mapOne(r, root, 12, 0, 0x3000n, s1Leaf(1n << 44n, 3), 3);
    tr(r, 0x10, 0x1000n, IOMMU_RO);
    tr(r, 0x10, 0x2008n, IOMMU_WO);
    tr(r, 0x10, 0x3000n, IOMMU_RO);
    assert.deepEqual(eventWords(r, 0).slice(0, 5), [0x12, 0x10, 0, 0x208, 0x1000]);
    assert.deepEqual(eventWords(r, 1).slice(0, 5), [0x13, 0x10, 0, 0x200, 0x2008]);
    assert.deepEqual(eventWords(r, 2).slice(0, 5), [0x11, 0x10, 0, 0x208, 0x3000]);
  });

  it('a stage-2 fault: S2=1 and the IPA in words 6-7', () => {
    const r = rig();
    enable(r);
    const root = alloc(r, 8192n);
    writeSte(r, 0x20, { config: 0b110, vmid: 7, s2t0sz: 24, s2sl0: 1, s2ttb: root });
    tr(r, 0x20, 0x12_3456_7000n, IOMMU_RO);
    assert.deepEqual(eventWords(r, 0), [0x10, 0x20, 0, (1 << 3) | (1 << 7) | (2 << 8), 0x3456_7000, 0x12, 0x3456_7000, 0x12]);
  });

  it('stage 2: an output beyond S2PS is F_ADDR_SIZE; STE.S2R=0 suppresses stage-2 faults', () => {
    const r = rig();
    enable(r);
    const root = alloc(r, 8192n);
    writeSte(r, 0x20, { config: 0b110, vmid: 7, s2t0sz: 24, s2sl0: 1, s2ttb: root, s2ps: 2 });
    mapOne(r, root, 12, 1, 0x1000n, s2Leaf(1n << 44n, 3, IOMMU_RW), 3);
    tr(r, 0x20, 0x1000n, IOMMU_RO);
    assert.deepEqual(eventWords(r, 0), [0x11, 0x20, 0, (1 << 3) | (1 << 7) | (2 << 8), 0x1000, 0, 0x1000, 0]);
    writeSte(r, 0x21, { config: 0b110, vmid: 8, s2t0sz: 24, s2sl0: 1, s2ttb: root, s2r: false });
    tr(r, 0x21, 0x5000n, IOMMU_RO);
    assert.equal(reg(r, 'EVENTQ_PROD'), 1n);
    assert.equal(r.smmu.eventLog.at(-1)!.disposition.kind, 'suppressed');
  });

  it('peek() answers as translate() does but records nothing and fills no cache', () => {
    const { r, root } = s1Rig();
    mapOne(r, root, 12, 0, 0x1000n, s1Leaf(0x8040_0000n, 3), 3);
    const t: Trace = [];
    const e = r.smmu.peek(0x10, 0x1008n, IOMMU_RO, t);
    assert.equal(e.translatedAddr, 0x8040_0008n);
    assert.equal(r.smmu.iotlb.size, 0);
    assert.equal(r.smmu.regionFor(0x10).active, undefined);
    const f = r.smmu.peek(0x10, 0x9000n, IOMMU_RO, t);
    assert.equal(f.perm, IOMMU_NONE);
    assert.equal(reg(r, 'EVENTQ_PROD'), 0n);
    assert.equal(r.smmu.eventLog.length, 0);
    assert.match(t.at(-1)!.summary, /F_TRANSLATION.*a peek records no event/);
    // The real thing records and caches.
    tr(r, 0x10, 0x1008n, IOMMU_RO);
    assert.equal(r.smmu.iotlb.size, 1);
  });

  it('configuration events: C_BAD_STREAMID, F_STE_FETCH, C_BAD_STE, F_CD_FETCH (words 6-7; QEMU: 4-5), C_BAD_CD', () => {
    const r = rig();
    enable(r, { log2size: 8 });
    tr(r, 0x100, 0n, IOMMU_RO); // beyond LOG2SIZE
    writeSte(r, 0x11, { config: 0b101, valid: false });
    tr(r, 0x11, 0n, IOMMU_RO);
    writeSte(r, 0x12, { config: 0b101, cd: 0x4000_0000n });
    tr(r, 0x12, 0n, IOMMU_RO);
    writeCd(r, { t0sz: 50, ttb0: 0n });
    writeSte(r, 0x13, { config: 0b101, cd: CD_ADDR });
    tr(r, 0x13, 0n, IOMMU_RO);
    assert.deepEqual(eventWords(r, 0), [0x02, 0x100, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(eventWords(r, 1), [0x04, 0x11, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(eventWords(r, 2), [0x09, 0x12, 0, 0, 0, 0, 0x4000_0000, 0]);
    assert.deepEqual(eventWords(r, 3), [0x0a, 0x13, 0, 0, 0, 0, 0, 0]);
    // F_STE_FETCH: a stream table where nothing is mapped.
    program(r, [{ reg: 'STRTAB_BASE', value: 0x4000_0000n }]);
    tr(r, 0x14, 0n, IOMMU_RO);
    assert.deepEqual(eventWords(r, 4), [0x03, 0x14, 0, 0, 0, 0, 0x4000_0000 + 0x14 * 64, 0]);
    // QEMU writes F_CD_FETCH's address into InputAddr.
    const q = rig({ profile: 'qemu-7.2' });
    enable(q);
    writeSte(q, 0x12, { config: 0b101, cd: 0x4000_0000n });
    tr(q, 0x12, 0n, IOMMU_RO);
    assert.deepEqual(eventWords(q, 0), [0x09, 0x12, 0, 0, 0x4000_0000, 0, 0, 0]);
  });

  it('CD.R=0 suppresses F_TRANSLATION (traced, not written); EVENTQEN=0 writes nothing', () => {
    const { r } = s1Rig({ r: false });
    const t: Trace = [];
    tr(r, 0x10, 0x1000n, IOMMU_RO, t);
    assert.equal(reg(r, 'EVENTQ_PROD'), 0n);
    assert.equal(r.smmu.eventLog.at(-1)!.disposition.kind, 'suppressed');
    assert.match(t.at(-1)!.summary, /F_TRANSLATION \(0x10\).*not recorded: CD.R=0/);
    const off = s1Rig({ cr0: 0x9n });
    tr(off.r, 0x10, 0x1000n, IOMMU_RO);
    assert.equal(reg(off.r, 'EVENTQ_PROD'), 0n);
    assert.equal(off.r.smmu.eventLog.at(-1)!.disposition.kind, 'eventq-disabled');
  });

  it('a full queue sets EVENTQ_PROD.OVFLG; QEMU raises GERROR.EVENTQ_ABT_ERR; the EVTQ interrupt pulses when enabled', () => {
    const { r } = s1Rig({ eventqLog2: 1 });
    program(r, [{ reg: 'IRQ_CTRL', value: 0x5n }]);
    for (let i = 0; i < 3; i++) tr(r, 0x10, BigInt(i) << 12n, IOMMU_RO);
    assert.equal(reg(r, 'EVENTQ_PROD'), 0x8000_0002n);
    assert.equal(r.smmu.eventLog.at(-1)!.disposition.kind, 'overflow');
    assert.equal(r.smmu.irqs.log.filter((p) => p.line === 'eventq').length, 2);
    const q = s1Rig({ eventqLog2: 1, profile: 'qemu-7.2' });
    for (let i = 0; i < 3; i++) tr(q.r, 0x10, BigInt(i) << 12n, IOMMU_RO);
    assert.equal(reg(q.r, 'EVENTQ_PROD'), 2n);
    assert.equal(reg(q.r, 'GERROR'), 4n);
  });
});

describe('smmuv3: IOTLB and its invalidation', () => {
  /** Two stage-1 streams (ASID 1, 2; VMID 0) and a stage-2 stream (VMID 7); each maps 0x1000. */
  function tlbRig() {
    const r = rig();
    enable(r);
    const roots: bigint[] = [];
    const leaves: bigint[] = [];
    for (const [sid, asid, cd] of [
      [0x10, 1, CD_ADDR],
      [0x11, 2, CD_ADDR + 0x40n],
    ] as const) {
      const root = alloc(r, 4096n);
      writeCd(r, { t0sz: 16, ttb0: root, asid }, cd);
      writeSte(r, sid, { config: 0b101, cd });
      roots.push(root);
      leaves.push(mapOne(r, root, 12, 0, 0x1000n, s1Leaf(0x8100_0000n + BigInt(asid) * 0x10000n, 3), 3).at(-1)!);
    }
    const s2root = alloc(r, 8192n);
    writeSte(r, 0x20, { config: 0b110, vmid: 7, s2t0sz: 24, s2sl0: 1, s2ttb: s2root });
    leaves.push(mapOne(r, s2root, 12, 1, 0x1000n, s2Leaf(0x8200_0000n, 3, IOMMU_RW), 3).at(-1)!);
    // Fill the IOTLB, then move every page.
    for (const sid of [0x10, 0x11, 0x20]) tr(r, sid, 0x1000n, IOMMU_RO);
    w64(r, leaves[0]!, s1Leaf(0x8300_0000n, 3));
    w64(r, leaves[1]!, s1Leaf(0x8300_1000n, 3));
    w64(r, leaves[2]!, s2Leaf(0x8300_2000n, 3, IOMMU_RW));
    return r;
  }
  const out = (r: Rig, sid: number) => {
    const t: Trace = [];
    const e = tr(r, sid, 0x1000n, IOMMU_RO, t);
    return { pa: e.translatedAddr, hit: summaries(t).some((s) => s.includes('IOTLB hit')) };
  };
  const OLD = { 0x10: 0x8101_0000n, 0x11: 0x8102_0000n, 0x20: 0x8200_0000n } as const;
  const NEW = { 0x10: 0x8300_0000n, 0x11: 0x8300_1000n, 0x20: 0x8300_2000n } as const;

  it('repeated translations hit the IOTLB and keep the old page until a TLBI', () => {
    const r = tlbRig();
    for (const sid of [0x10, 0x11, 0x20] as const) assert.deepEqual(out(r, sid), { pa: OLD[sid], hit: true });
    assert.ok(r.smmu.iotlb.hits >= 3);
  });

  const cases: Array<[string, Smmuv3Command[], readonly (0x10 | 0x11 | 0x20)[]]> = [
    ['TLBI_NH_ALL (VMID 0)', [{ op: 'TLBI_NH_ALL', vmid: 0 }], [0x10, 0x11]],
    ['TLBI_NH_ASID 1', [{ op: 'TLBI_NH_ASID', asid: 1, vmid: 0 }], [0x10]],
    ['TLBI_NH_VA ASID 2 at 0x1000', [{ op: 'TLBI_NH_VA', asid: 2, addr: 0x1000n }], [0x11]],
    ['TLBI_NH_VA ASID 1 at 0x5000 (elsewhere)', [{ op: 'TLBI_NH_VA', asid: 1, addr: 0x5000n }], []],
    // VAA: every ASID of VMID 0 (the stage-2 stream's entries are VMID 7).
    ['TLBI_NH_VAA at 0x1000 (VMID 0)', [{ op: 'TLBI_NH_VAA', addr: 0x1000n }], [0x10, 0x11]],
    ['TLBI_NSNH_ALL', [{ op: 'TLBI_NSNH_ALL' }], [0x10, 0x11, 0x20]],
    ['TLBI_S12_VMALL 7', [{ op: 'TLBI_S12_VMALL', vmid: 7 }], [0x20]],
    ['TLBI_S2_IPA VMID 7 at 0x1000', [{ op: 'TLBI_S2_IPA', vmid: 7, addr: 0x1000n }], [0x20]],
    ['TLBI_EL2_ALL (accepted, nothing to drop)', [{ op: 'TLBI_EL2_ALL' }], []],
    ['CFGI_ALL (configs only)', [{ op: 'CFGI_ALL' }], []],
  ];
  for (const [what, cmds, dropped] of cases) {
    it(`${what} drops exactly ${dropped.length ? dropped.map((s) => `SID 0x${s.toString(16)}`).join(', ') : 'nothing'}`, () => {
      const r = tlbRig();
      const log = issue(r, [...cmds, { op: 'SYNC' }]);
      assert.deepEqual(log.map((e) => e.error), log.map(() => 0));
      for (const sid of [0x10, 0x11, 0x20] as const) {
        const want = dropped.includes(sid) ? { pa: NEW[sid], hit: false } : { pa: OLD[sid], hit: true };
        assert.deepEqual(out(r, sid), want, `SID 0x${sid.toString(16)}`);
      }
    });
  }

  it('QEMU flushes the whole IOTLB when it holds SMMU_IOTLB_MAX_SIZE entries', () => {
    const r = rig({ iotlbSize: 4 });
    enable(r);
    const root = alloc(r, 4096n);
    writeCd(r, { t0sz: 16, ttb0: root });
    writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
    for (let i = 1n; i <= 5n; i++) mapOne(r, root, 12, 0, i << 12n, s1Leaf(0x8100_0000n + (i << 12n), 3), 3);
    for (let i = 1n; i <= 5n; i++) tr(r, 0x10, i << 12n, IOMMU_RO);
    assert.equal(r.smmu.iotlb.size, 1);
    assert.equal(r.smmu.iotlb.overflows, 1);
  });
});

describe('smmuv3: config cache and CFGI', () => {
  it('a changed STE is not seen until CFGI_STE / CFGI_STE_RANGE / CFGI_CD for that SID', () => {
    for (const cmd of [{ op: 'CFGI_STE', sid: 0x10 }, { op: 'CFGI_STE_RANGE', sid: 0x13, range: 2 }, { op: 'CFGI_CD', sid: 0x10 }, { op: 'CFGI_ALL' }] as Smmuv3Command[]) {
      const { r } = s1Rig();
      tr(r, 0x10, 0x1000n, IOMMU_RO);
      writeSte(r, 0x10, { config: 0b100 });
      assert.equal(tr(r, 0x10, 0x1000n, IOMMU_RO).perm, IOMMU_NONE, `${cmd.op}: cached config`);
      issue(r, [{ op: 'CFGI_STE', sid: 0x11 }]);
      assert.equal(tr(r, 0x10, 0x1000n, IOMMU_RO).perm, IOMMU_NONE, `${cmd.op}: another SID's CFGI`);
      issue(r, [cmd]);
      assert.equal(tr(r, 0x10, 0x1000n, IOMMU_RO).perm, IOMMU_RO, `${cmd.op}: bypass after CFGI`);
    }
  });
});

describe('smmuv3: notifications', () => {
  function notified(r: Rig, sid: number, range: [bigint, bigint] = [0n, HWADDR_MAX]) {
    const region = r.smmu.regionFor(sid);
    const reg = register({ kind: 'explicit', name: `n${sid}`, owner: 'test', region, flags: IOMMU_NOTIFIER_UNMAP, start: range[0], end: range[1], iommuIdx: 0, systemAs: r.sys });
    assert.equal(reg.status, 'accepted');
    return reg;
  }
  const got = (reg: Registration) => reg.received.map((e) => [e.entry.iova, e.entry.addrMask, e.entry.perm] as const);

  it('range TLBIs are split into power-of-two aligned chunks (TG/NUM/SCALE), each an UNMAP of the chunk', () => {
    const { r } = s1Rig();
    r.smmu.regionFor(0x10);
    const n = notified(r, 0x10);
    // 6 pages of 4 KiB from 0x1000: NUM=5, SCALE=0, TG=1.
    issue(r, [{ op: 'TLBI_NH_VA', asid: 1, addr: 0x1000n, tg: 1, num: 5, scale: 0 }]);
    assert.deepEqual(got(n), [
      [0x1000n, 0xfffn, IOMMU_NONE],
      [0x2000n, 0x1fffn, IOMMU_NONE],
      [0x4000n, 0x1fffn, IOMMU_NONE],
      [0x6000n, 0xfffn, IOMMU_NONE],
    ]);
    // SCALE: (NUM+1) * 2^SCALE pages of 64 KiB from 0x30000: 3 * 4 = 12 pages.
    n.received.clear();
    issue(r, [{ op: 'TLBI_NH_VAA', addr: 0x3_0000n, tg: 3, num: 2, scale: 2 }]);
    // [0x3_0000, 0xf_0000)
    assert.deepEqual(got(n), [
      [0x3_0000n, 0xffffn, IOMMU_NONE],
      [0x4_0000n, 0x3_ffffn, IOMMU_NONE],
      [0x8_0000n, 0x3_ffffn, IOMMU_NONE],
      [0xc_0000n, 0x1_ffffn, IOMMU_NONE],
      [0xe_0000n, 0xffffn, IOMMU_NONE],
    ]);
  });

  it('a non-range TLBI_NH_VA notifies one page of the stream granule, only for streams of that ASID', () => {
    const { r } = s1Rig();
    const n = notified(r, 0x10);
    issue(r, [{ op: 'TLBI_NH_VA', asid: 2, addr: 0x7000n }]);
    assert.deepEqual(got(n), []);
    issue(r, [{ op: 'TLBI_NH_VA', asid: 1, addr: 0x7000n }]);
    assert.deepEqual(got(n), [[0x7000n, 0xfffn, IOMMU_NONE]]);
  });

  it('TLBI_NH_ALL, NH_ASID, S12_VMALL, NSNH_ALL send every notifier a whole-range UNMAP; CFGI sends nothing', () => {
    const { r } = s1Rig();
    const a = notified(r, 0x10, [0x1000n, 0xffff_ffffn]);
    const b = notified(r, 0x11);
    issue(r, [{ op: 'CFGI_ALL' }, { op: 'CFGI_STE', sid: 0x10 }]);
    assert.equal(a.received.length + b.received.length, 0);
    for (const op of ['TLBI_NH_ALL', 'TLBI_NH_ASID', 'TLBI_S12_VMALL', 'TLBI_NSNH_ALL']) issue(r, [{ op, asid: 9, vmid: 9 }]);
    // memory_region_unmap_iommu_notifier_range: the notifier's own range.
    assert.deepEqual(got(a), Array.from({ length: 4 }, () => [0x1000n, 0xffff_ffffn - 0x1000n, IOMMU_NONE]));
    assert.deepEqual(got(b), Array.from({ length: 4 }, () => [0n, HWADDR_MAX, IOMMU_NONE]));
  });

  it('refuses vfio (MAP) with QEMU text naming the SID as bus.dev.fn, and vhost with a device IOTLB; accepts vhost UNMAP', () => {
    const { r } = s1Rig();
    const region = r.smmu.regionFor(0x0110); // 01:02.0
    const dma = addressSpaceForRegion(region);
    const [v] = vfioRegistrations('nic0', dma, r.sys);
    assert.equal(v!.status, 'refused');
    assert.equal(v!.error!.message, 'device 01.02.0 requires iommu MAP notifier which is not currently supported');
    assert.equal(region.notifiers.length, 0);
    const [d] = vhostRegistrations('net0', dma, true);
    assert.equal(d!.status, 'refused');
    assert.equal(d!.error!.message, 'SMMUv3 does not support dev-iotlb yet');
    const [u] = vhostRegistrations('net0', dma, false);
    assert.equal(u!.status, 'accepted');
    assert.deepEqual(r.smmu.streamsWithNotifiers, [region]);
  });
});

describe('smmuv3: command queue', () => {
  it('an unknown opcode stops the queue: CONS stays, CMDQ_CONS.ERR=CERROR_ILL, GERROR.CMDQ_ERR; GERRORN resumes it', () => {
    const { r } = s1Rig();
    const log = issue(r, [{ op: 'SYNC' }, { op: 0x07 }, { op: 'SYNC', cs: 'irq' }]);
    assert.deepEqual(log.map((e) => [e.index, e.error]), [
      [0, 0],
      [1, 1],
    ]);
    assert.equal(reg(r, 'CMDQ_CONS'), (1n << 24n) | 1n);
    assert.equal(reg(r, 'GERROR'), 1n);
    assert.match(r.smmu.log.at(-1)!, /Illegal command type: 7/);
    // Software replaces the command and acknowledges.
    w64(r, CMDQ + 16n, 0x46n);
    w64(r, CMDQ + 24n, 0n);
    program(r, [{ reg: 'GERRORN', value: 1n }]);
    assert.equal(reg(r, 'CMDQ_CONS') & 0xffn, 3n);
    assert.equal(r.smmu.irqs.log.filter((p) => p.line === 'cmd-sync').length, 1);
  });

  it('SSec on a CFGI is CERROR_ILL; an unreadable command is CERROR_ABT', () => {
    const { r } = s1Rig();
    issue(r, [{ op: 'CFGI_STE', sid: 1, ssec: true }]);
    assert.equal(reg(r, 'CMDQ_CONS') >> 24n, 1n);
    const b = rig();
    program(b, [
      { reg: 'CMDQ_BASE', value: 0x4000_0000n | 4n },
      { reg: 'CR0', value: 0x8n },
      { reg: 'CMDQ_PROD', value: 1n },
    ]);
    assert.equal(reg(b, 'CMDQ_CONS'), 2n << 24n);
    assert.equal(reg(b, 'GERROR'), 1n);
  });

  it('CMD_SYNC with CS=SIG_IRQ pulses the CMD_SYNC interrupt (no MSI: IDR0.MSI=0)', () => {
    const { r } = s1Rig();
    issue(r, [{ op: 'SYNC', cs: 'none' }, { op: 'SYNC', cs: 'irq' }]);
    assert.deepEqual(r.smmu.irqs.log.map((p) => p.line), ['cmd-sync']);
  });

  it('does nothing while CMDQEN is 0, and runs what is pending when CR0 enables it', () => {
    const r = rig();
    program(r, [
      { reg: 'STRTAB_BASE', value: STRTAB },
      { reg: 'CMDQ_BASE', value: CMDQ | 4n },
    ]);
    w64(r, CMDQ, 0x46n | (1n << 12n));
    program(r, [{ reg: 'CMDQ_PROD', value: 1n }]);
    assert.equal(reg(r, 'CMDQ_CONS'), 0n);
    program(r, [{ reg: 'CR0', value: 0x8n }]);
    assert.equal(reg(r, 'CMDQ_CONS'), 1n);
    assert.equal(r.smmu.irqs.log.length, 1);
  });
});

describe('smmuv3: walk replay', () => {
  it('emits a MAP per valid leaf (pages and blocks, both tables), through notify on index 0, in proportion to the tables', () => {
    const r = rig();
    build(r, {
      streams: [
        [
          0x10,
          {
            stage1: {
              granule: 4096,
              t0sz: 25,
              asid: 1,
              map: [
                { iova: 0x20_0000n, size: 0x20_0000n, pa: 0x8060_0000n, perm: IOMMU_RW },
                { iova: 0x1000n, size: 0x2000n, pa: 0x8010_0000n, perm: IOMMU_RO },
                { iova: 0x5000n, size: 0x1000n, pa: 0x8010_8000n, perm: IOMMU_RW, af: false },
              ],
              ttb1: { t1sz: 25, map: [{ iova: 0xffff_ffff_ffff_0000n, size: 0x1000n, pa: 0x8011_0000n, perm: IOMMU_RW }] },
            },
          },
        ],
      ],
    });
    const region = r.smmu.regionFor(0x10);
    const n = register({ kind: 'explicit', name: 'n', owner: 'test', region, flags: IOMMU_NOTIFIER_UNMAP, start: 0n, end: HWADDR_MAX, iommuIdx: 0 });
    const seen: NotifyRecord[] = [];
    region.observer = (rec) => seen.push(rec);
    const res = region.replay(n);
    assert.equal(res.kind, 'model');
    assert.equal(res.delivered, 4);
    // Every entry of the 6 tables the build made (TTB0: L1, L2, L3; TTB1: L1, L2, L3), no more.
    assert.equal(res.steps, 6 * 512);
    const maps = seen.map((s) => [s.event.type, s.event.entry.iova, s.event.entry.translatedAddr, s.event.entry.addrMask, s.event.entry.perm] as const);
    assert.deepEqual(maps, [
      [2, 0x1000n, 0x8010_0000n, 0xfffn, IOMMU_RO],
      [2, 0x2000n, 0x8010_1000n, 0xfffn, IOMMU_RO],
      [2, 0x20_0000n, 0x8060_0000n, 0x1f_ffffn, IOMMU_RW],
      [2, 0xffff_ffff_ffff_0000n, 0x8011_0000n, 0xfffn, IOMMU_RW],
    ]);
    // The UNMAP-only notifier itself takes none of them (type filter).
    assert.deepEqual(seen.map((s) => s.outcome), ['type-filtered', 'type-filtered', 'type-filtered', 'type-filtered']);
    const check = (e: IOMMUTLBEntry) => tr(r, 0x10, e.iova, IOMMU_NONE);
    for (const s of seen) assert.equal(check(s.event.entry).perm, s.event.entry.perm);
  });

  it('replays nothing for a disabled SMMU or a bypassing stream (the default loop would get perm NONE)', () => {
    const r = rig();
    const region = r.smmu.regionFor(0x10);
    const n = register({ kind: 'explicit', name: 'n', owner: 'test', region, flags: IOMMU_NOTIFIER_UNMAP, start: 0n, end: HWADDR_MAX, iommuIdx: 0 });
    assert.deepEqual(region.replay(n), { kind: 'model', steps: 0, delivered: 0 });
    enable(r);
    writeSte(r, 0x10, { config: 0b100 });
    assert.deepEqual(region.replay(n), { kind: 'model', steps: 0, delivered: 0 });
  });
});

describe('smmuv3: reset', () => {
  it('returns registers to their reset values, empties the caches and re-applies the initial programming', () => {
    const r = rig({ registers: [{ reg: 'CR1', value: 0x3n }] });
    enable(r);
    assert.equal(reg(r, 'CR1'), 0x3n);
    program(r, [{ reg: 'CR1', value: 0x1n }]);
    r.smmu.reset();
    assert.equal(reg(r, 'CR1'), 0x3n);
    assert.equal(reg(r, 'CR0'), 0n);
    assert.equal(r.smmu.iotlb.size, 0);
    void RAM_BASE;
    void EVENTQ;
    void IOMMU_WO;
    void IOMMU_RW;
    void MEMTXATTRS_UNSPECIFIED;
  });
});
