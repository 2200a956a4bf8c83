/**
 * The differential suite for Intel VT-d: seeded random set-ups programmed into Debian's QEMU 7.2
 * (qemu-system-x86_64 -machine q35 with an intel-iommu and an edu device) with qtest: legacy mode
 * with each address width QEMU 7.2 offers (aw-bits 39 and 48), context entries of either AGAW
 * (one the unit does not support included), 2 MiB and 1 GiB pages, read-only, write-only and absent
 * permissions, pass-through, FPD, the device-IOTLB translation type without device-iotlb, root and
 * context entries not present or with reserved bits, reserved bits in a leaf (each written before
 * the unit is enabled, or after it without invalidation), addresses beyond the address width; and scalable mode (x-scalable-mode=on) with second-stage, pass-through and
 * first-stage RID_PASID entries. The tables come from the engine's VT-d table builder; the
 * registers are programmed as a driver does (test/qemu/vtd-setup.ts), with queued or register-based
 * invalidation. For each access edu DMAs through the IOMMU and the test observes where the bytes
 * landed, or the fault record QEMU wrote (FRCD: reason, source ID, type, PP and PV, address), then clears it.
 *
 * The engine answers from the same QEMU attached live (QMP + gdbstub: the vtd0 entry the VT-d
 * discoverer makes from QEMU's registers, the tables read from guest memory) under the `qemu-7.2`
 * profile, translating the accesses in the same order (so its IOTLB and context cache see what
 * QEMU's see) and clearing its own fault record after each, as the test does on QEMU's.
 * Capability registers are compared too: the engine's CAP and ECAP against QEMU's, per unit.
 *
 * Time: QEMU runs with `-icount shift=0,sleep=off` and a halted CPU, so edu's 100 ms DMA timer
 * fires as soon as the machine is idle; a set-up takes a fraction of a second.
 *
 * IOMMU_LENS_DIFF_SEED replays a run; IOMMU_LENS_DIFF_ROUNDS sets the set-ups per unit (default 16,
 * three units).
 */
import assert from 'node:assert/strict';
import { IOMMU_NONE, IOMMU_RO, IOMMU_RW, IOMMU_WO, MEMTXATTRS_UNSPECIFIED, MemTxResult, isEngineError, type IOMMUAccessFlags } from '../../src/engine';
import type { IntelIommu, VtdBuildDevice, VtdBuildMapping, VtdBuildResult } from '../../src/engine/models/intel-iommu';
import { DMAR_FRCD_REG_OFFSET, VTD_FRCD_F, faultName } from '../../src/engine/models/intel-iommu/types';
import { LiveQemu } from '../../src/node/qemu/live';
import { QmpClient } from '../../src/node/qemu/qmp';
import { QEMU_X86_64, QemuProcess, qemuAvailable } from '../qemu/qemu-process';
import { QtestClient } from '../qemu/qtest';
import { EDU_SID, VTD_BASE, eduDma, enableEdu, programVtd, vtdRead, vtdWrite } from '../qemu/vtd-setup';
import { ep, EDU, mulberry32 } from '../qemu/live-helpers';

const RAM_END = 0x1000_0000n; // -m 256M: pc.ram below 4 GiB
const TABLES = 0x100_0000n;
const TABLES_SIZE = 0x40_0000n;
const STATUS = 0x2f0_0000n;
const SCRATCH = 0x300_0000n;
/** Mapping targets: RAM 64..192 MiB. */
const TARGET_LO = 0x400_0000n;
const TARGET_SPAN = 0x800_0000n;
const MARKER = 0x5757_5757n;
const DMA_BYTES = 4;
const WRITE_SRC = 0x800n;
const MiB2 = 0x20_0000n;
const GiB = 0x4000_0000n;

interface Unit {
  readonly name: string;
  readonly props: string;
  readonly aw: number;
  readonly scalable: boolean;
}

const UNITS: readonly Unit[] = [
  { name: 'legacy, aw-bits 39', props: 'caching-mode=on,aw-bits=39', aw: 39, scalable: false },
  { name: 'legacy, aw-bits 48', props: 'caching-mode=on,aw-bits=48', aw: 48, scalable: false },
  { name: 'scalable, aw-bits 48', props: 'caching-mode=on,aw-bits=48,x-scalable-mode=on', aw: 48, scalable: true },
];

type Mutation = 'root-np' | 'root-rsvd' | 'ctx-np' | 'ctx-rsvd-lo' | 'ctx-rsvd-hi' | 'ctx-tt3' | 'ctx-aw-bad' | 'leaf-rsvd' | 'leaf-beyond-aw' | 'no-device';

interface Access {
  readonly iova: bigint;
  readonly op: 'read' | 'write';
}

interface SetUp {
  readonly desc: string;
  readonly device?: VtdBuildDevice;
  readonly mutation?: Mutation;
  /**
   * The damage is written after the unit is enabled, without invalidation (a guest's stale
   * table): QEMU switched the device's address space with the entry as built (see below).
   */
  readonly late: boolean;
  readonly queue: boolean;
  readonly accesses: readonly Access[];
  readonly maps: readonly VtdBuildMapping[];
}

const permText = (p: IOMMUAccessFlags) => (p === IOMMU_RW ? 'rw' : p === IOMMU_RO ? 'ro' : p === IOMMU_WO ? 'wo' : 'none');

function randomSetUp(rnd: () => number, unit: Unit): SetUp {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const r = rnd();
  const translation: VtdBuildDevice['translation'] = unit.scalable
    ? r < 0.12 ? 'pass-through' : r < 0.18 ? 'first-stage' : 'translate'
    : r < 0.1 ? 'pass-through' : r < 0.15 ? 'device-iotlb' : 'translate';
  // The context entry's (or PASID entry's) AGAW: mostly the unit's; now and then one it lacks.
  // (First-stage tables have 4 levels at least.)
  const awBits = translation === 'first-stage' ? 48 : unit.aw === 39 ? (rnd() < 0.12 ? 48 : 39) : rnd() < 0.5 ? 39 : 48;
  // First stage: the lower canonical half.
  const inSize = 1n << BigInt(Math.min(awBits, unit.aw) - (translation === 'first-stage' ? 1 : 0));
  const maps: VtdBuildMapping[] = [];
  const n = 1 + Math.floor(rnd() * 3);
  const slot = inSize / BigInt(n);
  for (let i = 0; i < n; i++) {
    const kind = rnd();
    const unitSize = kind < 0.08 ? GiB : kind < 0.35 ? MiB2 : 0x1000n;
    const count = unitSize === 0x1000n ? 1n + BigInt(Math.floor(rnd() * 4)) : 1n;
    const size = unitSize * count;
    const start = ((BigInt(i) * slot + unitSize - 1n) / unitSize) * unitSize;
    const end = BigInt(i + 1) * slot;
    if (start + 2n * size > end) continue;
    const room = (end - start - size) / unitSize;
    const iova = start + BigInt(Math.floor(rnd() * Number(room > 100000n ? 100000n : room))) * unitSize;
    // Skip the interrupt window: QEMU's vtd-ir region sits over 0xfee00000 in every device's space.
    if (iova < 0xfef0_0000n && iova + size > 0xfee0_0000n) continue;
    const pa = unitSize === GiB ? 0n : TARGET_LO + BigInt(Math.floor(rnd() * Number((TARGET_SPAN - size) / unitSize))) * unitSize;
    const p = rnd();
    const perm: IOMMUAccessFlags = translation === 'first-stage' ? (p < 0.3 ? IOMMU_RO : IOMMU_RW) : p < 0.2 ? IOMMU_RO : p < 0.32 ? IOMMU_WO : p < 0.38 ? IOMMU_NONE : IOMMU_RW;
    maps.push({ iova, size, pa, perm });
  }
  const device: VtdBuildDevice = {
    domain: 1 + Math.floor(rnd() * 200),
    translation,
    awBits,
    fpd: rnd() < 0.12,
    largePages: rnd() < 0.85 ? undefined : false,
    map: maps,
  };
  const m = rnd();
  const mutations: readonly Mutation[] = unit.scalable ? ['root-np', 'ctx-np', 'no-device'] : ['root-np', 'root-rsvd', 'ctx-np', 'ctx-rsvd-lo', 'ctx-rsvd-hi', 'ctx-tt3', 'ctx-aw-bad', 'leaf-rsvd', 'leaf-beyond-aw', 'no-device'];
  const mutation = m < 0.3 ? pick(mutations) : undefined;
  const late = mutation !== undefined && mutation !== 'no-device' && rnd() < 0.4;
  // Accesses: in each mapping (a 1 GiB page only over the target RAM), at its last word, just past
  // it, one random address, and beyond the address width.
  const accesses: Access[] = [];
  const op = (): 'read' | 'write' => (rnd() < 0.5 ? 'read' : 'write');
  const inside = (mp: VtdBuildMapping) => {
    if (mp.size === GiB) return mp.iova + TARGET_LO + 8n * BigInt(Math.floor(rnd() * Number(TARGET_SPAN / 8n)));
    return mp.iova + 8n * BigInt(Math.floor(rnd() * Number(mp.size / 8n)));
  };
  // (Pass-through lands where the IOVA says: only the tagged target window is asked there.)
  for (const mp of translation === 'pass-through' ? [] : maps) {
    accesses.push({ iova: inside(mp), op: 'read' }, { iova: inside(mp), op: 'write' });
    if (mp.size !== GiB) accesses.push({ iova: mp.iova + mp.size - 8n, op: op() });
    if (mp.iova + mp.size < inSize) accesses.push({ iova: mp.iova + mp.size, op: op() });
  }
  if (translation === 'pass-through') for (let i = 0; i < 6; i++) accesses.push({ iova: TARGET_LO + 8n * BigInt(Math.floor(rnd() * Number(TARGET_SPAN / 8n))), op: op() });
  // A random address above the untagged low RAM (pass-through lands there as it is).
  accesses.push({ iova: TARGET_LO + ((BigInt(Math.floor(rnd() * 2 ** 30)) * 8n) % (0xfe00_0000n - TARGET_LO)), op: op() });
  accesses.push({ iova: (1n << BigInt(awBits)) + 8n * BigInt(Math.floor(rnd() * 4096)), op: op() });
  if (awBits !== unit.aw) accesses.push({ iova: (1n << BigInt(Math.min(awBits, unit.aw))) + 0x1000n, op: op() });
  accesses.push({ iova: (1n << 63n) | 0x1000n, op: op() });
  const queue = rnd() < 0.6;
  const desc =
    `${translation} AW ${awBits} did ${device.domain}${device.fpd ? ' FPD' : ''}${device.largePages === false ? ' 4K-only' : ''}${queue ? ' QI' : ' regs'}` +
    `${mutation ? ` [${late ? 'late ' : ''}${mutation}]` : ''} maps ${maps.map((x) => `${x.iova.toString(16)}+${x.size.toString(16)}->${x.pa.toString(16)} ${permText(x.perm)}`).join(', ')}`;
  return { desc, device: mutation === 'no-device' ? undefined : device, mutation, late, queue, accesses, maps };
}

/** The test's own arithmetic for where an access might land (to place tags; not the verdict). */
function reference(s: SetUp, iova: bigint): bigint | undefined {
  if (s.device?.translation === 'pass-through') return iova;
  const m = s.maps.find((x) => iova >= x.iova && iova < x.iova + x.size);
  return m ? m.pa + (iova - m.iova) : undefined;
}

const inRam = (a: bigint | undefined): a is bigint => a !== undefined && a >= TARGET_LO && a < RAM_END;
const le64 = (v: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
};
const u32 = (b: Uint8Array, at = 0) => BigInt(new DataView(b.buffer, b.byteOffset + at, 4).getUint32(0, true));
const le32 = (v: bigint) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, Number(v & 0xffff_ffffn), true);
  return b;
};

function frcdText(hi: bigint, lo: bigint): string {
  if (!(hi & VTD_FRCD_F)) return 'no fault record';
  const fr = Number((hi >> 32n) & 0xffn);
  // PP (31) and PV (59:40) too: QEMU records a walk fault with the PASID its walk used.
  const pasid = `PP=${(hi >> 31n) & 1n} PV=0x${((hi >> 40n) & 0xfffffn).toString(16)}`;
  return `FRCD ${faultName(fr)} (0x${fr.toString(16)}) SID 0x${(hi & 0xffffn).toString(16)} ${hi & (1n << 62n) ? 'read' : 'write'} ${pasid} FI 0x${lo.toString(16)}`;
}

/** What the set-up's damage writes into the built tables: [address, 64-bit value]. */
function mutationWrite(s: SetUp, p: { built: VtdBuildResult; read: (addr: bigint) => bigint }, unit: Unit): [bigint, bigint] | undefined {
  const root = p.built.root;
  const ce = p.built.devices.get(EDU_SID)?.context;
  switch (s.mutation) {
    case 'root-np':
      return [root, p.read(root) & ~1n];
    case 'root-rsvd':
      return [root, p.read(root) | 0x4n];
    case 'ctx-np':
      return ce === undefined ? undefined : [ce, p.read(ce) & ~1n];
    case 'ctx-rsvd-lo':
      return ce === undefined ? undefined : [ce, p.read(ce) | 0x10n];
    case 'ctx-rsvd-hi':
      return ce === undefined ? undefined : [ce + 8n, p.read(ce + 8n) | 0x80n];
    case 'ctx-tt3':
      return ce === undefined ? undefined : [ce, p.read(ce) | 0xcn];
    case 'ctx-aw-bad':
      return ce === undefined ? undefined : [ce + 8n, (p.read(ce + 8n) & ~7n) | 4n];
    case 'leaf-rsvd':
    case 'leaf-beyond-aw': {
      const slpt = p.built.devices.get(EDU_SID)?.slptptr;
      const m = s.maps.find((x) => x.perm !== IOMMU_NONE);
      if (slpt === undefined || !m || s.device?.translation !== 'translate') return undefined;
      // Walk the builder's tables to the first mapping's leaf.
      let table = slpt;
      for (let level = (s.device.awBits! - 30) / 9 + 2; level >= 1; level--) {
        const at = table + ((m.iova >> (12n + 9n * BigInt(level - 1))) & 511n) * 8n;
        const e = p.read(at);
        if (level === 1 || e & 0x80n) return [at, s.mutation === 'leaf-rsvd' ? e | 0x800n : e | (1n << BigInt(unit.aw))];
        table = e & 0xf_ffff_ffff_f000n;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

interface Outcome {
  readonly setUp: string;
  readonly access: string;
  readonly engine: string;
  readonly qemu: string;
}

describe('differential: QEMU 7.2 intel-iommu on q35 (edu DMA) against the engine (qemu-7.2 profile)', function () {
  this.timeout(600000);
  const seed = Number(process.env.IOMMU_LENS_DIFF_SEED ?? 1);
  const rounds = Number(process.env.IOMMU_LENS_DIFF_ROUNDS ?? 16);
  const outcomes: Outcome[] = [];
  const counts = { setUps: 0, capChecks: 0 };
  let t0 = 0;

  before(function () {
    t0 = Date.now();
    if (!qemuAvailable(QEMU_X86_64)) {
      console.log(`      ${QEMU_X86_64} is not installed (Debian package qemu-system-x86): skipped`);
      this.skip();
    }
  });

  after(() => {
    const agree = outcomes.filter((o) => o.engine === o.qemu);
    const differ = outcomes.filter((o) => o.engine !== o.qemu);
    console.log(
      `      VT-d differential (seed ${seed}): ${agree.length}/${outcomes.length} accesses agree over ${counts.setUps} set-ups in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
        `QEMU: ${outcomes.filter((o) => o.qemu.startsWith('lands')).length} landed, ${outcomes.filter((o) => o.qemu.includes('FRCD')).length} fault records; ` +
        `CAP/ECAP compared on ${counts.capChecks} units`,
    );
    const reasons = new Map<string, number>();
    for (const o of outcomes) {
      const m = /FRCD (\S+)/.exec(o.qemu);
      if (m) reasons.set(m[1]!, (reasons.get(m[1]!) ?? 0) + 1);
    }
    console.log(`      QEMU's fault reasons: ${[...reasons].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${r} ${n}`).join(', ')}`);
    for (const d of differ.slice(0, 16)) console.log(`      DISAGREE ${d.setUp}: ${d.access}: engine ${d.engine}; QEMU ${d.qemu}`);
  });

  UNITS.forEach((unit, ui) => {
    it(`agrees with ${unit.name} on where each DMA lands or which fault it records`, async () => {
      const rnd = mulberry32(seed * 7919 + ui);
      const q = await QemuProcess.start({ machine: 'q35', qtest: true, intelIommu: unit.props, extraArgs: ['-icount', 'shift=0,sleep=off'] });
      let qt: QtestClient | undefined;
      const mine: Outcome[] = [];
      try {
        qt = await QtestClient.connect(q.qtestPath!);
        const qmp0 = await QmpClient.connect(ep(q.qmpPath));
        await qmp0.execute('cont');
        qmp0.close();
        for (let round = 0; round < rounds; round++) {
          const s = randomSetUp(rnd, unit);
          counts.setUps++;
          // 1. From reset (TE off: DMA goes straight to memory), zero edu's buffer and put the marker in it.
          const qmp = await QmpClient.connect(ep(q.qmpPath));
          await qmp.execute('system_reset');
          qmp.close();
          await enableEdu(qt);
          await qt.memset(SCRATCH, 0x1000, 0);
          await qt.memset(SCRATCH + WRITE_SRC, DMA_BYTES, 0x57);
          await eduDma(qt, SCRATCH, 0x800, false);
          await eduDma(qt, SCRATCH + WRITE_SRC, DMA_BYTES, false, WRITE_SRC);
          // 2. Tables, registers, and the set-up's damage.
          const p = await programVtd(qt, {
            tablesAt: TABLES,
            tablesSize: TABLES_SIZE,
            statusAt: STATUS,
            devices: s.device ? [[EDU_SID, s.device]] : [],
            queue: s.queue ? { qs: 0 } : false,
            scalable: unit.scalable,
            damage: (built, read) => (s.late ? undefined : mutationWrite(s, { built, read }, unit)),
          });
          const late = s.late ? mutationWrite(s, p, unit) : undefined;
          if (s.queue) assert.equal(u32(await qt.memread(STATUS, 4)), 0x600dn, 'the wait descriptor wrote its status');
          // 3. The engine's answers, from the live QEMU, before any DMA through the IOMMU.
          const live = await LiveQemu.attach({ qmp: ep(q.qmpPath), gdb: ep(q.gdbAddress) });
          let engine: Array<{ landed?: bigint; text: string }>;
          try {
            engine = await live.query((cfg) => {
              assert.equal(cfg.errorCount, 0, cfg.diagnostics.map((d) => d.message).join('; '));
              const vtd = cfg.machine.iommus.get('vtd0') as unknown as IntelIommu;
              assert.equal(vtd.profile, 'qemu-7.2');
              const regs = live.state.iommus[0]!.registers;
              const q64 = (n: string) => (regs.get(`${n}_HI`)! << 32n) | regs.get(`${n}_LO`)!;
              assert.equal(vtd.cap.toString(16), q64('CAP').toString(16), 'CAP');
              assert.equal(vtd.ecap.toString(16), q64('ECAP').toString(16), 'ECAP');
              const frcd = BigInt(DMAR_FRCD_REG_OFFSET);
              // Late damage: the attach saw the tables as built (QEMU's switch saw them so too);
              // the guest's write then goes to the engine's view of guest memory, as to QEMU's below.
              if (late) {
                // (A pass that has not read the page yet fails here; the live query runs it again.)
                const w = cfg.machine.access({ from: 'cpu', addr: late[0], op: 'write', size: 8, value: late[1] });
                if (isEngineError(w) || w.result !== MemTxResult.OK) return s.accesses.map(() => ({ text: `the engine could not write 0x${late[0].toString(16)}` }));
              }
              return s.accesses.map((a) => {
                const l = cfg.machine.translate({ from: EDU, addr: a.iova, op: a.op });
                const hi = vtd.regs.getQuad(DMAR_FRCD_REG_OFFSET + 8);
                const lo = vtd.regs.getQuad(DMAR_FRCD_REG_OFFSET);
                if (hi & VTD_FRCD_F) vtd.regs.write(frcd + 8n, 8, VTD_FRCD_F, MEMTXATTRS_UNSPECIFIED);
                if (isEngineError(l)) return { text: `error ${l.message}` };
                if (!l.fault && l.region?.kind === 'ram' && l.as.name === 'system') return { landed: l.addr, text: `lands 0x${l.addr.toString(16)}` };
                return { text: `no access, ${frcdText(hi, lo)}` };
              });
            });
          } finally {
            await live.detach();
          }
          counts.capChecks += round === 0 ? 1 : 0;
          if (late) await qt.memwrite(late[0], le64(late[1]));
          // 4. Tags: every word a read may land on holds its own address.
          for (let i = 0; i < s.accesses.length; i++) {
            for (const c of new Set([engine[i]!.landed, reference(s, s.accesses[i]!.iova)])) if (inRam(c)) await qt.memwrite(c, le32(c));
          }
          // 5. QEMU: each access as an edu DMA; then its fault record, cleared for the next.
          const qemu: Array<{ landed?: bigint; fault: string }> = [];
          for (let i = 0; i < s.accesses.length; i++) {
            const a = s.accesses[i]!;
            const candidates = [...new Set([engine[i]!.landed, reference(s, a.iova)])].filter(inRam);
            if (a.op === 'read') await eduDma(qt, a.iova, DMA_BYTES, false, BigInt(DMA_BYTES * i));
            else {
              for (const c of candidates) await qt.memwrite(c, le32(0n));
              await eduDma(qt, a.iova, DMA_BYTES, true, WRITE_SRC);
            }
            let landed: bigint | undefined;
            if (a.op === 'write') {
              // Then the tags again: two mappings may share a target, and a later read must find its tag.
              for (const c of candidates) if (u32(await qt.memread(c, 4)) === MARKER) landed = c;
              for (const c of candidates) await qt.memwrite(c, le32(c));
            }
            const hi = await vtdRead(qt, 'FRCD_HI');
            const lo = await vtdRead(qt, 'FRCD_LO');
            if (hi & VTD_FRCD_F) await vtdWrite(qt, 'FRCD_HI', VTD_FRCD_F);
            qemu.push({ landed, fault: frcdText(hi, lo) });
          }
          // 6. edu's buffer back with translation off: each read slot holds the tag it fetched.
          await qt.writel(VTD_BASE + 0x18n, 0n);
          await eduDma(qt, SCRATCH, 0x800, true);
          const slots = await qt.memread(SCRATCH, 0x800);
          for (let i = 0; i < s.accesses.length; i++) {
            const a = s.accesses[i]!;
            let landed = qemu[i]!.landed;
            if (a.op === 'read') {
              const v = u32(slots, DMA_BYTES * i);
              landed = v !== 0n ? v : undefined;
            }
            const qText = landed !== undefined ? `lands 0x${landed.toString(16)}` : `no access, ${qemu[i]!.fault}`;
            mine.push({ setUp: `${unit.name} #${round} ${s.desc}`, access: `${a.op} 0x${a.iova.toString(16)}`, engine: engine[i]!.text, qemu: qText });
          }
        }
      } finally {
        qt?.close();
        await q.stop();
      }
      outcomes.push(...mine);
      const differ = mine.filter((o) => o.engine !== o.qemu);
      for (const d of differ.slice(0, 12)) console.log(`      DISAGREE ${d.setUp}: ${d.access}: engine ${d.engine}; QEMU ${d.qemu}`);
      assert.ok(mine.length >= 5 * rounds, `${mine.length} accesses`);
      assert.deepEqual(differ, []);
    });
  });
});
