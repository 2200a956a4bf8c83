/**
 * The differential suite: seeded random SMMUv3 set-ups (granules, start levels, blocks,
 * permissions, the access flag, CD.R, linear and 2-level stream tables, bypass and abort STEs)
 * programmed into Debian's QEMU 7.2 with qtest; for each access the edu device DMAs through the
 * SMMU and the test observes where the bytes landed, or which event record QEMU wrote into the
 * guest's event queue. The engine answers from the same QEMU, attached live (QMP + gdbstub: the
 * tables and registers QEMU holds) under the `qemu-7.2` profile; every answer is compared.
 *
 * How bytes are observed: every guest word a read may come from holds its own physical address
 * (a tag), so a read DMA brings back where it read from; a write DMA carries a marker, and the
 * words it may land on are cleared first. A fault brings back no tag and adds an event record.
 *
 * Set IOMMU_LENS_DIFF_SEED to replay a run, IOMMU_LENS_DIFF_ROUNDS for more set-ups.
 */
import assert from 'node:assert/strict';
import { IOMMU_RO, IOMMU_RW, isEngineError } from '../../src/engine';
import type { BuildMapping, BuildStream, Smmuv3 } from '../../src/engine/models/smmuv3';
import { encodeCommand } from '../../src/engine/models/smmuv3';
import { LiveQemu } from '../../src/node/qemu/live';
import { QemuProcess } from '../qemu/qemu-process';
import { QtestClient } from '../qemu/qtest';
import { QmpClient } from '../../src/node/qemu/qmp';
import { eduTransferAt } from '../qemu/edu';
import { EDU_BAR, EDU_DMA_BUF, RAM_BASE, SMMU_BASE, enableEdu, programSmmu, writeRegister } from '../qemu/smmu-setup';
import { ep, EDU, mulberry32 } from '../qemu/live-helpers';

const EDU_SID = 8;
const TABLES = RAM_BASE + 0x100_0000n;
const TABLES_SIZE = 0x100_0000n;
const SCRATCH = RAM_BASE + 0x300_0000n;
/** Targets of mappings: RAM offsets 64..192 MiB. */
const TARGET_LO = RAM_BASE + 0x400_0000n;
const TARGET_SPAN = 0x800_0000n;
const MARKER = 0x5757_5757n;
/** edu's DMAs are 4 bytes: a wider one that faults is split by QEMU into accesses that each fault. */
const DMA_BYTES = 4;
/** edu's buffer: read slots in the first half, the write marker in the second. */
const WRITE_SRC = 0x800n;

interface SetUp {
  readonly desc: string;
  readonly granule?: bigint;
  readonly stream: BuildStream;
  readonly twoLevel: boolean;
  readonly accesses: ReadonlyArray<{ iova: bigint; op: 'read' | 'write' }>;
  readonly maps: readonly BuildMapping[];
}

function randomSetUp(rnd: () => number): SetUp {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const granule = pick([4096n, 16384n, 65536n]);
  const t0sz = 24 + Math.floor(rnd() * 16); // input 2^25 .. 2^40 (edu's DMA mask is set to 40 bits)
  const inSize = 1n << BigInt(64 - t0sz);
  const block = granule === 4096n ? 0x20_0000n : granule === 16384n ? 0x200_0000n : 0n;
  const kind = rnd();
  const config: BuildStream['config'] = kind < 0.1 ? 'bypass' : kind < 0.18 ? 'abort' : 'translate';
  const maps: BuildMapping[] = [];
  const n = 1 + Math.floor(rnd() * 3);
  // Disjoint IOVA slots: the input range cut into n pieces, each mapping inside its own.
  const slot = inSize / BigInt(n);
  for (let i = 0; i < n; i++) {
    const useBlock = block !== 0n && slot >= 2n * block && rnd() < 0.35;
    const unit = useBlock ? block : granule;
    const count = useBlock ? 1n : 1n + BigInt(Math.floor(rnd() * 4));
    const size = unit * count;
    const start = ((BigInt(i) * slot + unit - 1n) / unit) * unit;
    const end = BigInt(i + 1) * slot;
    if (start + 2n * size > end) continue;
    const room = (end - start - size) / unit;
    const iova = start + BigInt(Math.floor(rnd() * Number(room > 1000n ? 1000n : room))) * unit;
    const paRoom = (TARGET_SPAN - size) / unit;
    const pa = TARGET_LO + (BigInt(Math.floor(rnd() * Number(paRoom))) * unit);
    const aligned = (pa - RAM_BASE) % unit === 0n ? pa : pa - ((pa - RAM_BASE) % unit);
    maps.push({ iova, size, pa: aligned, perm: rnd() < 0.3 ? IOMMU_RO : IOMMU_RW, af: rnd() < 0.08 ? false : undefined });
  }
  // Mapped PA ranges must not overlap either (the tags would be ambiguous).
  const sorted = [...maps].sort((a, b) => (a.pa < b.pa ? -1 : 1));
  const disjoint: BuildMapping[] = [];
  for (const m of sorted) if (!disjoint.some((d) => m.pa < d.pa + d.size && d.pa < m.pa + m.size)) disjoint.push(m);
  const recordFaults = rnd() < 0.75;
  const stream: BuildStream =
    config === 'translate' ? { stage1: { granule, t0sz, asid: 1 + Math.floor(rnd() * 100), map: disjoint, recordFaults, blocks: rnd() < 0.8 } } : { config };
  const accesses: Array<{ iova: bigint; op: 'read' | 'write' }> = [];
  const op = (): 'read' | 'write' => (rnd() < 0.5 ? 'read' : 'write');
  for (const m of disjoint) {
    const words = m.size / 8n;
    accesses.push({ iova: m.iova + 8n * BigInt(Math.floor(rnd() * Number(words))), op: 'read' });
    accesses.push({ iova: m.iova + 8n * BigInt(Math.floor(rnd() * Number(words))), op: 'write' });
    accesses.push({ iova: m.iova + m.size - 8n, op: op() });
    if (m.iova + m.size < inSize) accesses.push({ iova: m.iova + m.size, op: op() });
  }
  accesses.push({ iova: (BigInt(Math.floor(rnd() * 2 ** 30)) * 8n) % inSize, op: op() });
  if (inSize < 1n << 40n) accesses.push({ iova: inSize + 8n * BigInt(Math.floor(rnd() * 512)), op: op() });
  const twoLevel = rnd() < 0.5;
  const desc =
    config === 'translate'
      ? `${granule / 1024n}K t0sz ${t0sz}${twoLevel ? ' 2-level' : ''}${recordFaults ? '' : ' R=0'} maps ${disjoint.map((m) => `${m.iova.toString(16)}+${m.size.toString(16)}->${m.pa.toString(16)} ${m.perm === IOMMU_RO ? 'ro' : 'rw'}${m.af === false ? ' AF=0' : ''}`).join(', ')}`
      : `${config}${twoLevel ? ' 2-level' : ''}`;
  return { desc, granule: config === 'translate' ? granule : undefined, stream, twoLevel, accesses, maps: config === 'translate' ? disjoint : [] };
}

/** The test's own arithmetic for where an access would land (to place tags; not the verdict). */
function reference(s: SetUp, iova: bigint): bigint | undefined {
  if (s.stream.config === 'bypass') return iova;
  const m = s.maps.find((x) => iova >= x.iova && iova < x.iova + x.size);
  return m ? m.pa + (iova - m.iova) : undefined;
}

const u32 = (b: Uint8Array, at = 0) => BigInt(new DataView(b.buffer, b.byteOffset + at, 4).getUint32(0, true));
const le32 = (v: bigint) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, Number(v & 0xffff_ffffn), true);
  return b;
};

function dma(qt: QtestClient, src: bigint, dst: bigint, count: number, toPci: boolean): Promise<void> {
  return eduTransferAt(qt, EDU_BAR, src, dst, count, toPci);
}

/**
 * Disagreements already known and being fixed elsewhere, by set-up. Issue 13 (the `qemu-7.2`
 * profile's fidelity) changes the 16 KiB granule rule: QEMU 7.2 walks 16 KiB tables, the profile
 * still refuses the CD (C_BAD_CD). Each known departure is counted and printed, never hidden.
 */
/** Departures the profile does not model yet, by set-up (none since the 16 KiB granule rule of issue 13). */
function knownDeparture(_s: SetUp): string | undefined {
  return undefined;
}

function faultText(events: number[][]): string {
  return events.length ? `fault, event${events.length > 1 ? 's' : ''} ${events.map((e) => e.map((w) => w.toString(16)).join(' ')).join('; ')}` : 'fault, no event';
}

interface Outcome {
  readonly access: string;
  readonly engine: string;
  readonly qemu: string;
}

describe('differential: QEMU 7.2 SMMUv3 (edu DMA) against the engine (qemu-7.2 profile)', function () {
  this.timeout(600000);
  let q: QemuProcess;
  let qt: QtestClient;

  before(async () => {
    q = await QemuProcess.start({ qtest: true, spin: true });
    qt = await QtestClient.connect(q.qtestPath!);
    await enableEdu(qt);
    // The guest spins on a branch-to-self; edu's DMA timer needs it running.
    const qmp = await QmpClient.connect(ep(q.qmpPath));
    await qmp.execute('cont');
    qmp.close();
  });
  after(async function () {
    qt?.close();
    if (this.currentTest?.state === 'failed' && q?.stderr) console.log(`      QEMU's stderr: ${q.stderr.trim()}`);
    await q?.stop();
  });

  it('agrees on where each DMA lands or which event it records', async () => {
    const seed = Number(process.env.IOMMU_LENS_DIFF_SEED ?? 1);
    const rounds = Number(process.env.IOMMU_LENS_DIFF_ROUNDS ?? 24);
    const rnd = mulberry32(seed);
    const outcomes: Array<Outcome & { setUp: string; known?: string }> = [];
    const t0 = Date.now();
    // QEMU 7.2 latches 2-level stream-table support the first time STRTAB_BASE_CFG selects it
    // (smmu_writel sets SMMU_FEATURE_2LVL_STE and never clears it): hidden state that no
    // register shows, so an attach cannot know it. Linear set-ups therefore all come first.
    const setUps = Array.from({ length: rounds }, () => randomSetUp(rnd)).sort((a, b) => Number(a.twoLevel) - Number(b.twoLevel));
    for (let round = 0; round < rounds; round++) {
      const s = setUps[round]!;
      // 1. With the SMMU off (QEMU 7.2 bypasses), reset edu's buffer: zeros, then the marker.
      await writeRegister(qt, 'CR0', 0n);
      await qt.memset(SCRATCH, 0x1000, 0);
      await qt.memset(SCRATCH + WRITE_SRC, DMA_BYTES, 0x57);
      // (edu refuses a transfer that ends exactly at its buffer's end: two pieces.)
      await dma(qt, SCRATCH, EDU_DMA_BUF, 0x800, false);
      await dma(qt, SCRATCH + WRITE_SRC, EDU_DMA_BUF + WRITE_SRC, DMA_BYTES, false);
      // 2. Tables and registers; then invalidate what QEMU cached from the previous set-up.
      const built = await programSmmu(qt, { tablesAt: TABLES, tablesSize: TABLES_SIZE, streams: [[EDU_SID, s.stream]], twoLevel: s.twoLevel });
      const cmds = [encodeCommand({ op: 'CFGI_ALL' })!, encodeCommand({ op: 'TLBI_NSNH_ALL' })!, encodeCommand({ op: 'CMD_SYNC' })!];
      // The queues keep their indexes from the previous set-up: append at CMDQ_CONS.
      const cq = built.cmdqBase!;
      const cqLog2 = Number(cq & 0x1fn);
      const cons = Number(await qt.readl(SMMU_BASE + 0x9cn)) & ((2 << cqLog2) - 1);
      for (let i = 0; i < cmds.length; i++) {
        const idx = (cons + i) & ((1 << cqLog2) - 1);
        await qt.memwrite((cq & 0xf_ffff_ffff_ffe0n) + BigInt(16 * idx), new Uint8Array(new Uint32Array(cmds[i]!).buffer));
      }
      const prod = (cons + cmds.length) & ((2 << cqLog2) - 1);
      await writeRegister(qt, 'CMDQ_PROD', BigInt(prod));
      assert.equal(await qt.readl(SMMU_BASE + 0x9cn), BigInt(prod), 'QEMU consumed the invalidations');
      // 3. Tags: every word an access may land on holds its own address.
      for (const a of s.accesses) {
        const r = reference(s, a.iova);
        if (r !== undefined && r >= RAM_BASE && r < RAM_BASE + 0x1000_0000n) await qt.memwrite(r, le32(r));
      }
      // 4. The engine's answers, from the live QEMU, before any DMA.
      const live = await LiveQemu.attach({ qmp: ep(q.qmpPath), gdb: ep(q.gdbAddress) });
      let engine: Array<{ landed?: bigint; text: string }>;
      try {
        engine = await live.query((cfg) => {
          assert.equal(cfg.errorCount, 0, cfg.diagnostics.map((d) => d.message).join('; '));
          const smmu = cfg.machine.iommus.get('smmu0') as unknown as Smmuv3;
          return s.accesses.map((a) => {
            const before = smmu.events.log.length;
            const l = cfg.machine.translate({ from: EDU, addr: a.iova, op: a.op });
            if (isEngineError(l)) return { text: `error ${l.message}` };
            const events = smmu.events.log.slice(before).filter((e) => e.disposition.kind === 'written').map((e) => [...e.words]);
            if (l.fault || l.region?.name !== 'mach-virt.ram') return { text: faultText(events) };
            const pa = RAM_BASE + l.offset;
            return { landed: pa, text: `lands 0x${pa.toString(16)}` };
          });
        });
      } finally {
        await live.detach();
      }
      // 5. QEMU: each access as an edu DMA; a read into its own buffer slot, a write of the marker.
      const qemu: Array<{ landed?: bigint; events: number[][] }> = [];
      const eq = built.eventqBase!;
      const eqLog2 = Number(eq & 0x1fn);
      for (let i = 0; i < s.accesses.length; i++) {
        const a = s.accesses[i]!;
        const e = engine[i]!;
        const prod = Number(await qt.readl(SMMU_BASE + 0xa8n)) & ((2 << eqLog2) - 1);
        const candidates = [e.landed, reference(s, a.iova)].filter((x): x is bigint => x !== undefined && x >= RAM_BASE && x < RAM_BASE + 0x1000_0000n);
        if (a.op === 'read') {
          await dma(qt, a.iova, EDU_DMA_BUF + BigInt(DMA_BYTES * i), DMA_BYTES, false);
        } else {
          for (const c of candidates) await qt.memwrite(c, le32(0n));
          await dma(qt, EDU_DMA_BUF + WRITE_SRC, a.iova, DMA_BYTES, true);
        }
        let landed: bigint | undefined;
        if (a.op === 'write') for (const c of candidates) if (u32(await qt.memread(c, 4)) === MARKER) landed = c;
        const prod2 = Number(await qt.readl(SMMU_BASE + 0xa8n)) & ((2 << eqLog2) - 1);
        const events: number[][] = [];
        for (let p = prod; p !== prod2; p = (p + 1) & ((2 << eqLog2) - 1)) {
          const rec = await qt.memread((eq & 0xf_ffff_ffff_ffe0n) + 32n * BigInt(p & ((1 << eqLog2) - 1)), 32);
          events.push(Array.from(new Uint32Array(rec.buffer, rec.byteOffset, 8)));
        }
        qemu.push({ landed, events });
      }
      // 6. Read edu's buffer back (SMMU off again): each read slot holds the tag it fetched.
      await writeRegister(qt, 'CR0', 0n);
      await dma(qt, EDU_DMA_BUF, SCRATCH, 0x800, true);
      const slots = await qt.memread(SCRATCH, 0x800);
      for (let i = 0; i < s.accesses.length; i++) {
        const a = s.accesses[i]!;
        const r = qemu[i]!;
        let landed = r.landed;
        if (a.op === 'read') {
          const v = u32(slots, DMA_BYTES * i);
          landed = v >= RAM_BASE && v < RAM_BASE + 0x1000_0000n ? v : undefined;
        }
        const qText = landed !== undefined ? `lands 0x${landed.toString(16)}` : faultText(r.events);
        const eText = engine[i]!.text;
        outcomes.push({ setUp: `#${round} ${s.desc}`, access: `${a.op} 0x${a.iova.toString(16)}`, engine: eText, qemu: qText, known: knownDeparture(s) });
      }
    }
    const agree = outcomes.filter((o) => o.engine === o.qemu);
    const known = outcomes.filter((o) => o.engine !== o.qemu && o.known);
    const unknown = outcomes.filter((o) => o.engine !== o.qemu && !o.known);
    console.log(
      `      differential (seed ${seed}): ${agree.length}/${outcomes.length} accesses agree over ${rounds} set-ups in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
        `QEMU: ${outcomes.filter((o) => o.qemu.startsWith('lands')).length} landed, ${outcomes.filter((o) => o.qemu.includes('event')).length} recorded events; ` +
        `${known.length} known departures, ${unknown.length} other disagreements`,
    );
    for (const k of new Set(known.map((o) => o.known))) console.log(`      known: ${k} (${known.filter((o) => o.known === k).length} accesses)`);
    for (const d of [...unknown, ...known].slice(0, 12)) console.log(`      DISAGREE ${d.setUp}: ${d.access}: engine ${d.engine}; QEMU ${d.qemu}`);
    assert.ok(outcomes.length >= 200 || rounds < 24, `${outcomes.length} accesses`);
    assert.deepEqual(unknown, []);
  });
});
