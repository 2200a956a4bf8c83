/**
 * The table builder: writes a stream table (linear or 2-level), STEs, CDs, stage-1 and stage-2
 * page tables and the queues into a RAM backing, so that the model's walks read real
 * descriptors, and returns the register values that point the SMMU at them.
 *
 * Mappings become the largest leaves their alignment allows (blocks where the granule permits
 * them: 1 GiB and 2 MiB with 4K, 32 MiB with 16K, 512 MiB with 64K), with AF set unless a
 * mapping says `af: false`. Stage-2 tables start at the deepest level the IPA size allows with at
 * most 16 concatenated tables, unless `sl0` is given. Under nesting the CD and the stage-1 tables
 * are IPAs: the builder maps the pages holding them 1:1 (read-only) in stage 2 unless the
 * stage-2 map already covers them 1:1.
 *
 * Pure: it writes only through MemoryBacking.write and returns errors as values.
 */
import { engineError, type EngineError } from '../../errors';
import type { MemoryBacking } from '../../guest-memory';
import { hex } from '../../hex';
import { IOMMU_RO, IOMMU_RW, permName, type IOMMUAccessFlags } from '../../iotlb';
import { granuleToTg } from './context-descriptor';
import { CR0_CMDQEN, CR0_EVENTQEN, CR0_SMMUEN } from './registers';
import type { Smmuv3RegisterWrite } from './smmuv3';
import { STE_CFG_ABORT, STE_CFG_BYPASS, STE_CFG_NESTED, STE_CFG_S1, STE_CFG_S2 } from './stream-table';
import { bitsToOasField, blockAllowed, levelShift, s1StartLevel, s2StartLevel } from './types';

/** `streams` as a list of [SID, stream] pairs rather than a map (Array.isArray does not narrow a readonly array). */
function isStreamList(
  s: ReadonlyMap<number, BuildStream> | ReadonlyArray<readonly [number, BuildStream]>,
): s is ReadonlyArray<readonly [number, BuildStream]> {
  return Array.isArray(s);
}

export interface BuildMapping {
  /** Input address (IOVA for stage 1, IPA for stage 2; TTB1 mappings give the full 64-bit IOVA). */
  readonly iova: bigint;
  readonly size: bigint;
  readonly pa: bigint;
  readonly perm: IOMMUAccessFlags;
  /** The access flag (default set). */
  readonly af?: boolean;
}

export interface BuildStage1 {
  /** Granule in bytes: 4096, 16384 or 65536. */
  readonly granule: bigint | number;
  readonly t0sz: number;
  readonly asid: number;
  readonly map: readonly BuildMapping[];
  /** A TTB1 table (addresses with the top bits set); without it EPD1 is set. */
  readonly ttb1?: { readonly t1sz: number; readonly granule?: bigint | number; readonly map: readonly BuildMapping[] };
  /** CD.R (default true). */
  readonly recordFaults?: boolean;
  readonly affd?: boolean;
  /** CD.IPS in bits (default 48). */
  readonly ips?: number;
  /** Use block descriptors where possible (default true). */
  readonly blocks?: boolean;
}

export interface BuildStage2 {
  readonly granule: bigint | number;
  /** S2T0SZ. */
  readonly t0sz: number;
  readonly sl0?: number;
  readonly vmid: number;
  /** IPA -> PA mappings (`iova` is the IPA). */
  readonly map: readonly BuildMapping[];
  /** STE.S2R (default true). */
  readonly recordFaults?: boolean;
  readonly affd?: boolean;
  /** S2PS in bits (default 48). */
  readonly ps?: number;
  readonly blocks?: boolean;
}

export interface BuildStream {
  /** Default: translate (with the stages given), or bypass when no stage is given. */
  readonly config?: 'translate' | 'bypass' | 'abort';
  readonly stage1?: BuildStage1;
  readonly stage2?: BuildStage2;
}

export interface BuildOptions {
  /** The RAM the tables go into. */
  readonly memory: MemoryBacking;
  /** Guest address (in the SMMU's walk memory) of `memory` offset 0. */
  readonly memoryBase: bigint;
  /** First offset in `memory` to use. */
  readonly at: bigint;
  /** Offsets stay below this (default: the backing's size). */
  readonly limit?: bigint;
  readonly streams: ReadonlyMap<number, BuildStream> | ReadonlyArray<readonly [number, BuildStream]>;
  /** A 2-level stream table (SPLIT default 8). */
  readonly twoLevel?: boolean | { readonly split: number };
  /** Command and event queues (default 2^8 entries each); false for none. */
  readonly queues?: false | { readonly cmdqLog2?: number; readonly eventqLog2?: number };
}

export interface BuiltStream {
  readonly ste: bigint;
  readonly cd?: bigint;
  readonly ttb0?: bigint;
  readonly ttb1?: bigint;
  readonly s2ttb?: bigint;
}

export interface BuildResult {
  /** Register writes in programming order, CR0 last. */
  readonly registers: readonly Smmuv3RegisterWrite[];
  readonly strtabBase: bigint;
  readonly strtabBaseCfg: bigint;
  readonly cmdqBase?: bigint;
  readonly eventqBase?: bigint;
  readonly cr0: bigint;
  /** First offset after everything written. */
  readonly end: bigint;
  readonly streams: ReadonlyMap<number, BuiltStream>;
  /** 64-bit words written. */
  readonly words: number;
}

type Fail = EngineError;
/**
 * Error codes: `smmuv3-overlap` (a mapping overlaps another), `smmuv3-alignment` (not aligned to
 * the granule), `smmuv3-range` (past the input range or the build area), `smmuv3-build` (else).
 */
const fail = (message: string, code = 'smmuv3-build'): Fail => engineError(code, message);
const isFail = (v: unknown): v is Fail => typeof v === 'object' && v !== null && (v as Fail).error === true;

/** Bump allocator over the backing, zeroing what it hands out. */
class Alloc {
  cur: bigint;
  words = 0;
  constructor(
    readonly mem: MemoryBacking,
    readonly base: bigint,
    at: bigint,
    readonly limit: bigint,
  ) {
    this.cur = at;
  }

  /** `size` bytes aligned to `align` (in guest addresses); returns the guest address. */
  take(size: bigint, align: bigint, what: string): bigint | Fail {
    let g = this.base + this.cur;
    const pad = (align - (g % align)) % align;
    g += pad;
    const off = this.cur + pad;
    if (off + size > this.limit) return fail(`no room for ${what} (${hex(size)} bytes at offset ${hex(off)}; the build area ends at ${hex(this.limit)})`, 'smmuv3-range');
    if (this.mem.fillZero) {
      const e = this.mem.fillZero(off, size);
      if (e) return fail(`${what}: ${e.message}`);
    } else {
      for (let o = 0n; o < size; o += 8n) {
        const e = this.mem.write(off + o, 8, 0n);
        if (e) return fail(`${what}: ${e.message}`);
      }
    }
    this.cur = off + size;
    return g;
  }

  write(addr: bigint, value: bigint): Fail | undefined {
    this.words++;
    const e = this.mem.write(addr - this.base, 8, value);
    return e ? fail(e.message) : undefined;
  }
}

interface LeafAttrs {
  (level: number, m: BuildMapping): bigint | Fail;
}

/** One translation table tree (stage 1 TTB0/TTB1, or stage 2) with a shadow of what each slot holds. */
class Tree {
  /** Table guest address -> slots: undefined empty, -1 leaf, else next table's address. */
  private readonly tables = new Map<bigint, Array<bigint | -1 | undefined>>();
  readonly root: bigint;

  private constructor(
    private readonly alloc: Alloc,
    readonly granule: number,
    readonly startLevel: number,
    readonly inputBits: number,
    readonly blocks: boolean,
    root: bigint,
  ) {
    this.root = root;
    this.tables.set(root, []);
  }

  static create(alloc: Alloc, granule: number, startLevel: number, inputBits: number, blocks: boolean, what: string): Tree | Fail {
    const stride = granule - 3;
    const firstBits = inputBits - levelShift(startLevel, granule);
    const count = firstBits > stride ? 2n ** BigInt(firstBits - stride) : 1n;
    const bytes = count * (1n << BigInt(granule));
    const root = alloc.take(bytes, bytes, what);
    if (isFail(root)) return root;
    return new Tree(alloc, granule, startLevel, inputBits, blocks, root);
  }

  /** Maps [ia, ia+size) (masked input addresses) to pa. */
  map(ia: bigint, size: bigint, pa: bigint, leafAttrs: LeafAttrs, m: BuildMapping): Fail | undefined {
    const g = this.granule;
    const gsz = 1n << BigInt(g);
    if (ia % gsz || size % gsz || pa % gsz) return fail(`mapping ${hex(m.iova)}+${hex(m.size)} -> ${hex(m.pa)} is not aligned to the ${gsz / 1024n} KiB granule`, 'smmuv3-alignment');
    if (size === 0n) return fail(`mapping at ${hex(m.iova)} has size 0`);
    if (ia + size > 1n << BigInt(this.inputBits)) return fail(`mapping ${hex(m.iova)}+${hex(m.size)} runs past the ${this.inputBits}-bit input range`, 'smmuv3-range');
    let cur = ia;
    let out = pa;
    const end = ia + size;
    while (cur < end) {
      let level = 3;
      for (let l = this.startLevel; l < 3; l++) {
        if (!this.blocks || !blockAllowed(l, g)) continue;
        const bs = 1n << BigInt(levelShift(l, g));
        if (cur % bs === 0n && out % bs === 0n && cur + bs <= end) {
          level = l;
          break;
        }
      }
      const err = this.install(cur, out, level, leafAttrs, m);
      if (err) return err;
      const bs = 1n << BigInt(levelShift(level, g));
      cur += bs;
      out += bs;
    }
    return undefined;
  }

  private install(ia: bigint, pa: bigint, leafLevel: number, leafAttrs: LeafAttrs, m: BuildMapping): Fail | undefined {
    const g = this.granule;
    let table = this.root;
    for (let level = this.startLevel; ; level++) {
      const shift = BigInt(levelShift(level, g));
      const q = ia >> shift;
      const idx = Number(level === this.startLevel ? q : q & ((1n << BigInt(g - 3)) - 1n));
      const slots = this.tables.get(table)!;
      const cur = slots[idx];
      const daddr = table + BigInt(idx * 8);
      if (level === leafLevel) {
        if (cur !== undefined) return fail(`mapping ${hex(m.iova)}+${hex(m.size)} overlaps an earlier mapping at input ${hex(ia)}`, 'smmuv3-overlap');
        const attrs = leafAttrs(level, m);
        if (isFail(attrs)) return attrs;
        slots[idx] = -1;
        return this.alloc.write(daddr, pa | attrs | (level === 3 ? 3n : 1n));
      }
      if (cur === -1) return fail(`mapping ${hex(m.iova)}+${hex(m.size)} overlaps an earlier mapping at input ${hex(ia)}`, 'smmuv3-overlap');
      if (cur === undefined) {
        const next = this.alloc.take(1n << BigInt(g), 1n << BigInt(g), `a level-${level + 1} table`);
        if (isFail(next)) return next;
        this.tables.set(next, []);
        slots[idx] = next;
        const e = this.alloc.write(daddr, next | 3n);
        if (e) return e;
        table = next;
      } else {
        table = cur;
      }
    }
  }
}

function granuleBits(g: bigint | number, what: string): number | Fail {
  const n = Number(g);
  if (n === 4096) return 12;
  if (n === 16384) return 14;
  if (n === 65536) return 16;
  return fail(`${what}: granule ${n} is not 4 KiB, 16 KiB or 64 KiB`);
}

/** Stage-1 leaf attributes: AttrIndx 0, inner shareable, AF, AP[2] for read-only. */
function s1Attrs(level: number, m: BuildMapping): bigint | Fail {
  if (m.perm !== IOMMU_RW && m.perm !== IOMMU_RO) return fail(`stage-1 mapping at ${hex(m.iova)}: perm ${permName(m.perm)} cannot be expressed (AP gives rw or ro)`);
  let a = (3n << 8n) | (m.af === false ? 0n : 1n << 10n);
  if (m.perm === IOMMU_RO) a |= 2n << 6n;
  void level;
  return a;
}

/** Stage-2 leaf attributes: MemAttr normal write-back, inner shareable, S2AP = perm, AF. */
function s2Attrs(level: number, m: BuildMapping): bigint | Fail {
  void level;
  return (0xfn << 2n) | (BigInt(m.perm & 3) << 6n) | (3n << 8n) | (m.af === false ? 0n : 1n << 10n);
}

function s2DefaultStart(granule: number, inputBits: number): number {
  const deepest = granule === 12 ? 2 : 3;
  const shallowest = granule === 12 ? 0 : 1;
  for (let l = deepest; l >= shallowest; l--) {
    const bits = inputBits - levelShift(l, granule);
    if (bits >= 1 && bits <= granule - 3 + 4) return l;
  }
  return shallowest;
}

/** Writes everything and returns the register values. */
export function buildSmmuTables(opts: BuildOptions): BuildResult | EngineError {
  const mem = opts.memory;
  const limit = opts.limit ?? mem.size;
  const alloc = new Alloc(mem, opts.memoryBase, opts.at, limit);
  const streams: Array<readonly [number, BuildStream]> = isStreamList(opts.streams) ? [...opts.streams] : [...opts.streams.entries()];
  streams.sort((a, b) => a[0] - b[0]);
  for (const [sid] of streams) if (!Number.isInteger(sid) || sid < 0 || sid > 0xffff) return fail(`stream ID ${sid} is not a 16-bit number`);
  const maxSid = streams.length ? streams[streams.length - 1]![0] : 0;
  let log2size = 0;
  while (2 ** log2size <= maxSid) log2size++;

  // Stream table.
  const twoLevel = opts.twoLevel !== undefined && opts.twoLevel !== false;
  const split = typeof opts.twoLevel === 'object' ? opts.twoLevel.split : 8;
  let strtabBase: bigint;
  const steAddr = new Map<number, bigint>();
  let strtabBaseCfg: bigint;
  if (!twoLevel) {
    const bytes = 64n << BigInt(log2size);
    const t = alloc.take(bytes, bytes > 64n ? bytes : 64n, 'the stream table');
    if (isFail(t)) return t;
    strtabBase = t;
    for (const [sid] of streams) steAddr.set(sid, t + BigInt(sid * 64));
    strtabBaseCfg = BigInt(log2size);
  } else {
    if (!Number.isInteger(split) || split < 1 || split > 16) return fail(`SPLIT ${split} is not 1..16 (the architecture uses 6, 8 or 10)`);
    if (log2size < split) log2size = split;
    const l1Entries = 2 ** (log2size - split);
    const l1Bytes = BigInt(l1Entries * 8);
    const t = alloc.take(l1Bytes, l1Bytes > 64n ? l1Bytes : 64n, 'the L1 stream table');
    if (isFail(t)) return t;
    strtabBase = t;
    const l2 = new Map<number, bigint>();
    for (const [sid] of streams) {
      const l1 = Math.floor(sid / 2 ** split);
      let base = l2.get(l1);
      if (base === undefined) {
        const bytes = 64n << BigInt(split);
        const b = alloc.take(bytes, bytes, `the L2 stream table of SIDs ${hex(l1 * 2 ** split)}..`);
        if (isFail(b)) return b;
        base = b;
        l2.set(l1, base);
        // L1STD: L2Ptr [51:6], Span = SPLIT + 1 (2^(Span-1) STEs).
        const e = alloc.write(strtabBase + BigInt(l1 * 8), base | BigInt(split + 1));
        if (e) return e;
      }
      steAddr.set(sid, base + BigInt((sid % 2 ** split) * 64));
    }
    strtabBaseCfg = (1n << 16n) | (BigInt(split) << 6n) | BigInt(log2size);
  }

  const built = new Map<number, BuiltStream>();
  for (const [sid, s] of streams) {
    const r = buildStream(alloc, sid, s, steAddr.get(sid)!);
    if (isFail(r)) return r;
    built.set(sid, r);
  }

  // Queues.
  const registers: Smmuv3RegisterWrite[] = [
    { reg: 'STRTAB_BASE', value: strtabBase },
    { reg: 'STRTAB_BASE_CFG', value: strtabBaseCfg },
  ];
  let cr0 = BigInt(CR0_SMMUEN);
  let cmdqBase: bigint | undefined;
  let eventqBase: bigint | undefined;
  if (opts.queues !== false) {
    const cl = opts.queues?.cmdqLog2 ?? 8;
    const el = opts.queues?.eventqLog2 ?? 8;
    if (cl < 0 || cl > 19 || el < 0 || el > 19) return fail('queue sizes are 2^0..2^19 entries');
    const cb = 16n << BigInt(cl);
    const c = alloc.take(cb, cb > 32n ? cb : 32n, 'the command queue');
    if (isFail(c)) return c;
    const eb = 32n << BigInt(el);
    const e = alloc.take(eb, eb, 'the event queue');
    if (isFail(e)) return e;
    cmdqBase = c | BigInt(cl);
    eventqBase = e | BigInt(el);
    registers.push({ reg: 'CMDQ_BASE', value: cmdqBase }, { reg: 'EVENTQ_BASE', value: eventqBase });
    cr0 |= BigInt(CR0_EVENTQEN | CR0_CMDQEN);
  }
  registers.push({ reg: 'CR0', value: cr0 });
  return { registers, strtabBase, strtabBaseCfg, cmdqBase, eventqBase, cr0, end: alloc.cur, streams: built, words: alloc.words };
}

function buildStream(alloc: Alloc, sid: number, s: BuildStream, ste: bigint): BuiltStream | Fail {
  const who = `stream ${hex(sid)}`;
  const config = s.config ?? (s.stage1 || s.stage2 ? 'translate' : 'bypass');
  const w = (i: number, v: bigint) => alloc.write(ste + BigInt(8 * i), v);
  if (config !== 'translate') {
    if (s.stage1 || s.stage2) return fail(`${who}: config ${config} takes no stage1/stage2`);
    const e = w(0, 1n | (BigInt(config === 'abort' ? STE_CFG_ABORT : STE_CFG_BYPASS) << 1n));
    return e ?? { ste };
  }
  if (!s.stage1 && !s.stage2) return fail(`${who}: config translate needs stage1 and/or stage2`);
  const out: { ste: bigint; cd?: bigint; ttb0?: bigint; ttb1?: bigint; s2ttb?: bigint } = { ste };
  let cdAddr = 0n;
  const s1Start = alloc.cur;
  if (s.stage1) {
    const st = s.stage1;
    const g0 = granuleBits(st.granule, `${who} stage1`);
    if (isFail(g0)) return g0;
    if (st.t0sz < 16 || st.t0sz > 39) return fail(`${who}: t0sz ${st.t0sz} is outside 16..39`);
    if (!Number.isInteger(st.asid) || st.asid < 0 || st.asid > 0xffff) return fail(`${who}: ASID ${st.asid} is not 16-bit`);
    const cd = alloc.take(64n, 64n, `${who}'s CD`);
    if (isFail(cd)) return cd;
    cdAddr = cd;
    const in0 = 64 - st.t0sz;
    const t0 = Tree.create(alloc, g0, s1StartLevel(in0, g0), in0, st.blocks !== false, `${who}'s TTB0 table`);
    if (isFail(t0)) return t0;
    for (const m of st.map) {
      const e = t0.map(m.iova, m.size, m.pa, s1Attrs, m);
      if (e) return withWho(who, e);
    }
    out.ttb0 = t0.root;
    let t1: Tree | undefined;
    let g1 = 12;
    const tt1 = st.ttb1;
    if (tt1) {
      const g = granuleBits(tt1.granule ?? st.granule, `${who} stage1 ttb1`);
      if (isFail(g)) return g;
      g1 = g;
      if (tt1.t1sz < 16 || tt1.t1sz > 39) return fail(`${who}: t1sz ${tt1.t1sz} is outside 16..39`);
      const in1 = 64 - tt1.t1sz;
      const tr = Tree.create(alloc, g1, s1StartLevel(in1, g1), in1, st.blocks !== false, `${who}'s TTB1 table`);
      if (isFail(tr)) return tr;
      t1 = tr;
      const lo = (1n << 64n) - (1n << BigInt(in1));
      for (const m of tt1.map) {
        if (m.iova < lo) return fail(`${who}: TTB1 mapping at ${hex(m.iova)} is below TTB1's range (from ${hex(lo)})`, 'smmuv3-range');
        const e = tr.map(m.iova - lo, m.size, m.pa, s1Attrs, m);
        if (e) return withWho(who, e);
      }
      out.ttb1 = tr.root;
    }
    const ips = bitsToOasField(st.ips ?? 48);
    let cw0 = BigInt(st.t0sz) | (BigInt(granuleToTg(g0, 0)) << 6n) | (1n << 31n);
    if (tt1) cw0 |= (BigInt(tt1.t1sz) << 16n) | (BigInt(granuleToTg(g1, 1)) << 22n);
    else cw0 |= 1n << 30n; // EPD1
    let cw1 = BigInt(ips) | (1n << 9n) | (1n << 14n) | (BigInt(st.asid) << 16n);
    if (st.recordFaults !== false) cw1 |= 1n << 13n;
    if (st.affd) cw1 |= 1n << 3n;
    const cdWords = [cw0 | (cw1 << 32n), t0.root, t1 ? t1.root : 0n];
    for (let i = 0; i < cdWords.length; i++) {
      const e = alloc.write(cd + BigInt(8 * i), cdWords[i]!);
      if (e) return e;
    }
    out.cd = cd;
  }
  const s1End = alloc.cur;
  let s2Word2 = 0n;
  let s2ttb = 0n;
  if (s.stage2) {
    const st = s.stage2;
    const g = granuleBits(st.granule, `${who} stage2`);
    if (isFail(g)) return g;
    if (st.t0sz < 16 || st.t0sz > 39) return fail(`${who}: stage-2 t0sz ${st.t0sz} is outside 16..39`);
    if (!Number.isInteger(st.vmid) || st.vmid < 0 || st.vmid > 0xffff) return fail(`${who}: VMID ${st.vmid} is not 16-bit`);
    const inputBits = 64 - st.t0sz;
    let start: number;
    let sl0: number;
    if (st.sl0 !== undefined) {
      sl0 = st.sl0;
      start = s2StartLevel(sl0, g);
    } else {
      start = s2DefaultStart(g, inputBits);
      sl0 = g === 12 ? 2 - start : 3 - start;
    }
    if (sl0 < 0 || sl0 > 2) return fail(`${who}: no S2SL0 encodes start level ${start} with the ${2 ** (g - 10)} KiB granule`);
    const tree = Tree.create(alloc, g, start, inputBits, st.blocks !== false, `${who}'s stage-2 table`);
    if (isFail(tree)) return tree;
    const maps = [...st.map];
    if (s.stage1) {
      // Nested: the CD and the stage-1 tables are IPAs; map their pages 1:1.
      const gs = 1n << BigInt(g);
      const first = alloc.base + s1Start - ((alloc.base + s1Start) % gs);
      for (let p = first; p < alloc.base + s1End; p += gs) {
        const cover = maps.find((m) => m.iova <= p && p < m.iova + m.size);
        if (cover) {
          if (cover.pa + (p - cover.iova) !== p) return fail(`${who}: stage 2 maps IPA ${hex(p)}, which holds the CD or stage-1 tables, somewhere else (they must be mapped 1:1)`);
          continue;
        }
        maps.push({ iova: p, size: gs, pa: p, perm: IOMMU_RO });
      }
    }
    // A mapping with S2AP=0 (perm none) is still a valid descriptor: it is written.
    for (const m of maps) {
      const e = tree.map(m.iova, m.size, m.pa, s2Attrs, m);
      if (e) return withWho(who, e);
    }
    s2ttb = tree.root;
    out.s2ttb = s2ttb;
    const ps = bitsToOasField(st.ps ?? 48);
    let w5 = BigInt(st.t0sz) | (BigInt(sl0) << 6n) | (BigInt([12, 16, 14].indexOf(g)) << 14n) | (BigInt(ps) << 16n) | (1n << 19n);
    if (st.affd) w5 |= 1n << 21n;
    if (st.recordFaults !== false) w5 |= 1n << 26n;
    s2Word2 = BigInt(st.vmid) | (w5 << 32n);
  }
  const cfg = s.stage1 && s.stage2 ? STE_CFG_NESTED : s.stage1 ? STE_CFG_S1 : STE_CFG_S2;
  const e0 = w(0, 1n | (BigInt(cfg) << 1n) | cdAddr);
  if (e0) return e0;
  if (s.stage2) {
    const e2 = w(2, s2Word2);
    if (e2) return e2;
    const e3 = w(3, s2ttb);
    if (e3) return e3;
  }
  return out;
}

function withWho(who: string, e: Fail): Fail {
  return fail(`${who}: ${e.message}`, e.code);
}
