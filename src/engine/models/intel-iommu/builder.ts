/**
 * The table builder: writes a legacy root table, context tables and second-level page tables
 * into a RAM backing for given devices and mappings (and an invalidation queue), and returns the
 * register writes that point the IOMMU at them and enable it, as a driver does: RTADDR, GCMD.SRTP,
 * IQA, GCMD.QIE, then GCMD.TE.
 *
 * Mappings become the largest leaves their alignment allows (1 GiB and 2 MiB pages, CAP.SLLPS),
 * unless `largePages: false`. Non-leaf entries are R|W, so a leaf's permissions are the mapping's.
 * Pure: it writes only through MemoryBacking.write and returns errors as values.
 */
import { engineError, type EngineError } from '../../errors';
import type { MemoryBacking } from '../../guest-memory';
import { hex } from '../../hex';
import type { IOMMUAccessFlags } from '../../iotlb';
import type { VtdRegisterWrite } from './intel-iommu';
import { VTD_GCMD_QIE, VTD_GCMD_SRTP, VTD_GCMD_TE, bdfColon, levelShift } from './types';

export interface VtdBuildMapping {
  readonly iova: bigint;
  readonly size: bigint;
  readonly pa: bigint;
  readonly perm: IOMMUAccessFlags;
}

export interface VtdBuildDevice {
  /** Domain ID (context entry DID). */
  readonly domain: number;
  /** Context entry T: translate (0, default), device-iotlb (1), pass-through (2). */
  readonly translation?: 'translate' | 'device-iotlb' | 'pass-through';
  /** Guest address width of the tables: 39 (3 levels), 48 (4, default) or 57 (5). */
  readonly awBits?: number;
  /** FPD. */
  readonly fpd?: boolean;
  readonly map?: readonly VtdBuildMapping[];
  /** Use 2 MiB and 1 GiB pages where alignment allows (default true). */
  readonly largePages?: boolean;
  /** Share the tables of another device of the same domain (its BDF's requester ID). */
  readonly shareWith?: number;
  /**
   * Scalable mode: PASID table entries for other PASIDs than RID_PASID (0), each with its domain,
   * address width, translation type and second-stage mappings (PASID address spaces).
   */
  readonly pasids?: ReadonlyArray<readonly [number, VtdBuildPasid]>;
}

export interface VtdBuildPasid {
  readonly domain: number;
  readonly translation?: 'translate' | 'pass-through';
  readonly awBits?: number;
  readonly map?: readonly VtdBuildMapping[];
  readonly largePages?: boolean;
  readonly fpd?: boolean;
}

export interface VtdBuildOptions {
  readonly memory: MemoryBacking;
  /** Guest address (in walk memory) of `memory` offset 0. */
  readonly memoryBase: bigint;
  readonly at: bigint;
  readonly limit?: bigint;
  readonly devices: ReadonlyMap<number, VtdBuildDevice> | ReadonlyArray<readonly [number, VtdBuildDevice]>;
  /** An invalidation queue of 2^(8+qs) descriptors, enabled (default qs 0); false for none. */
  readonly queue?: false | { readonly qs?: number; /** IQA.DW: 256-bit descriptors (scalable mode). */ readonly dw?: boolean };
  /** Enable translation (GCMD.TE), default true. */
  readonly enable?: boolean;
  /**
   * Scalable-mode tables (RTADDR.SMT): root entries with lower and upper halves, 256-bit context
   * entries whose RID_PASID (0) entry in a PASID directory and table holds the device's domain,
   * address width and second-stage table (PGTT 2) or pass-through (PGTT 4).
   */
  readonly scalable?: boolean;
}

export interface VtdBuiltDevice {
  readonly context: bigint;
  readonly slptptr?: bigint;
}

export interface VtdBuildResult {
  readonly registers: readonly VtdRegisterWrite[];
  readonly root: bigint;
  readonly queue?: bigint;
  readonly end: bigint;
  readonly devices: ReadonlyMap<number, VtdBuiltDevice>;
  /** Every table page written, by guest address: what a test rewrites to change a mapping. */
  readonly tables: ReadonlyMap<bigint, number>;
  readonly words: number;
}

const fail = (message: string, code = 'vtd-build'): EngineError => engineError(code, message);

export function buildVtdTables(o: VtdBuildOptions): VtdBuildResult | EngineError {
  const limit = o.limit ?? o.memory.size;
  let next = (o.at + 0xfffn) & ~0xfffn;
  let words = 0;
  const tables = new Map<bigint, number>();
  const alloc = (): bigint | EngineError => {
    if (next + 0x1000n > limit) return fail(`the tables do not fit: ${hex(o.memoryBase + next)} is past the build area's end ${hex(o.memoryBase + limit)}`, 'vtd-range');
    const a = next;
    next += 0x1000n;
    return a;
  };
  const w = (off: bigint, v: bigint): EngineError | undefined => {
    words++;
    const e = o.memory.write(off, 8, v);
    return e ? fail(`writing ${hex(o.memoryBase + off)}: ${e.message}`) : undefined;
  };
  const rootOff = alloc();
  if (typeof rootOff !== 'bigint') return rootOff;
  const ctxTables = new Map<number, bigint>();
  const built = new Map<number, VtdBuiltDevice>();
  const devices = [...o.devices].sort((a, b) => a[0] - b[0]);
  const bySid = new Map(devices);
  const slptBySid = new Map<number, bigint>();
  for (const [sid, d] of devices) {
    const bus = sid >> 8;
    const upper = o.scalable === true && (sid & 0xff) > 127;
    const ctKey = bus * 2 + (upper ? 1 : 0);
    let ct = ctxTables.get(ctKey);
    if (ct === undefined) {
      const a = alloc();
      if (typeof a !== 'bigint') return a;
      ct = a;
      ctxTables.set(ctKey, ct);
      const e = w(rootOff + BigInt(bus) * 16n + (upper ? 8n : 0n), o.memoryBase + ct + 1n);
      if (e) return e;
    }
    const aw = d.awBits ?? 48;
    if (aw !== 39 && aw !== 48 && aw !== 57) return fail(`device ${bdfColon(sid)}: aw-bits ${aw} is not 39, 48 or 57`);
    const levels = (aw - 30) / 9 + 2;
    const tt = d.translation === 'pass-through' ? 2n : d.translation === 'device-iotlb' ? 1n : 0n;
    let slpt = 0n;
    if (tt !== 2n) {
      const shared = d.shareWith !== undefined ? slptBySid.get(d.shareWith) : undefined;
      if (d.shareWith !== undefined) {
        if (shared === undefined || bySid.get(d.shareWith)?.domain !== d.domain) return fail(`device ${bdfColon(sid)}: share-with ${bdfColon(d.shareWith)} is not an earlier device of domain ${d.domain}`);
        slpt = shared;
      } else {
        const top = alloc();
        if (typeof top !== 'bigint') return top;
        tables.set(o.memoryBase + top, levels);
        const err = mapAll(o, top, levels, aw, d, sid, alloc, w, tables);
        if (err) return err;
        slpt = o.memoryBase + top;
      }
      slptBySid.set(sid, slpt);
    }
    if (o.scalable) {
      const dir = alloc();
      if (typeof dir !== 'bigint') return dir;
      const ptab = alloc();
      if (typeof ptab !== 'bigint') return ptab;
      const pgtt = tt === 2n ? 4n : 2n;
      const ceOff = ct + BigInt(sid & 0x7f) * 32n;
      const e =
        w(dir, o.memoryBase + ptab + 1n) ??
        w(ptab, 1n | (d.fpd ? 2n : 0n) | (BigInt((aw - 30) / 9) << 2n) | (pgtt << 6n) | (tt === 2n ? 0n : slpt)) ??
        w(ptab + 8n, BigInt(d.domain & 0xffff)) ??
        w(ceOff, o.memoryBase + dir + 1n) ??
        w(ceOff + 8n, 0n);
      if (e) return e;
      // Other PASIDs: a PASID table page per directory entry (64 PASIDs each), one entry each.
      const ptabs = new Map<number, bigint>([[0, ptab]]);
      for (const [pasid, pd] of d.pasids ?? []) {
        if (!Number.isInteger(pasid) || pasid <= 0 || pasid >= 1 << 20) return fail(`device ${bdfColon(sid)}: PASID ${pasid} is not 1..0xfffff (0 is the RID_PASID, the device's own entry)`);
        const di = pasid >> 6;
        let pt = ptabs.get(di);
        if (pt === undefined) {
          if (di >= 512) return fail(`device ${bdfColon(sid)}: PASID ${pasid} is past the one-page PASID directory the builder writes (PASIDs below 0x8000)`);
          const a = alloc();
          if (typeof a !== 'bigint') return a;
          pt = a;
          ptabs.set(di, pt);
          const de = w(dir + BigInt(di) * 8n, o.memoryBase + pt + 1n);
          if (de) return de;
        }
        const paw = pd.awBits ?? aw;
        if (paw !== 39 && paw !== 48 && paw !== 57) return fail(`device ${bdfColon(sid)} PASID ${pasid}: aw-bits ${paw} is not 39, 48 or 57`);
        const ppt = pd.translation === 'pass-through';
        let pslpt = 0n;
        if (!ppt) {
          const top = alloc();
          if (typeof top !== 'bigint') return top;
          const plevels = (paw - 30) / 9 + 2;
          tables.set(o.memoryBase + top, plevels);
          const err = mapAll(o, top, plevels, paw, { domain: pd.domain, map: pd.map, largePages: pd.largePages }, sid, alloc, w, tables);
          if (err) return err;
          pslpt = o.memoryBase + top;
        }
        const at = pt + BigInt(pasid & 63) * 64n;
        const pe = w(at, 1n | (pd.fpd ? 2n : 0n) | (BigInt((paw - 30) / 9) << 2n) | ((ppt ? 4n : 2n) << 6n) | pslpt) ?? w(at + 8n, BigInt(pd.domain & 0xffff));
        if (pe) return pe;
      }
      built.set(sid, { context: o.memoryBase + ceOff, slptptr: tt === 2n ? undefined : slpt });
      continue;
    }
    if (d.pasids !== undefined && d.pasids.length > 0) return fail(`device ${bdfColon(sid)}: PASID table entries need scalable-mode tables`);
    const lo = 1n | (d.fpd ? 2n : 0n) | (tt << 2n) | slpt;
    const hi = BigInt((aw - 30) / 9) | (BigInt(d.domain & 0xffff) << 8n);
    const ceOff = ct + BigInt(sid & 0xff) * 16n;
    const e = w(ceOff, lo) ?? w(ceOff + 8n, hi);
    if (e) return e;
    built.set(sid, { context: o.memoryBase + ceOff, slptptr: tt === 2n ? undefined : slpt });
  }
  const root = o.memoryBase + rootOff;
  const regs: VtdRegisterWrite[] = [
    { reg: 'RTADDR', value: root | (o.scalable ? 1n << 10n : 0n) },
    { reg: 'GCMD', value: BigInt(VTD_GCMD_SRTP >>> 0) },
  ];
  let qBase: bigint | undefined;
  let gcmd = 0;
  if (o.queue !== false) {
    const qs = o.queue?.qs ?? 0;
    if (!Number.isInteger(qs) || qs < 0 || qs > 7) return fail(`queue size QS ${qs} is not 0..7`);
    const pages = 1n << BigInt(qs);
    const a = alloc();
    if (typeof a !== 'bigint') return a;
    for (let i = 1n; i < pages; i++) {
      const b = alloc();
      if (typeof b !== 'bigint') return b;
    }
    qBase = o.memoryBase + a;
    regs.push({ reg: 'IQA', value: qBase | BigInt(qs) | (o.queue?.dw ? 0x800n : 0n) }, { reg: 'GCMD', value: BigInt(VTD_GCMD_QIE) });
    gcmd |= VTD_GCMD_QIE;
  }
  if (o.enable !== false) regs.push({ reg: 'GCMD', value: BigInt((gcmd | VTD_GCMD_TE) >>> 0) });
  return { registers: regs, root, queue: qBase, end: next, devices: built, tables, words };
}

function mapAll(
  o: VtdBuildOptions,
  top: bigint,
  levels: number,
  aw: number,
  d: VtdBuildDevice,
  sid: number,
  alloc: () => bigint | EngineError,
  w: (off: bigint, v: bigint) => EngineError | undefined,
  tables: Map<bigint, number>,
): EngineError | undefined {
  const maps = [...(d.map ?? [])].sort((a, b) => (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0));
  const limit = 1n << BigInt(aw);
  for (let i = 0; i < maps.length; i++) {
    const m = maps[i]!;
    const where = `device ${bdfColon(sid)}: mapping ${hex(m.iova)}+${hex(m.size)}`;
    if (m.size <= 0n || (m.iova | m.size | m.pa) & 0xfffn) return fail(`${where}: iova, size and pa must be 4 KiB-aligned and the size positive`, 'vtd-alignment');
    if (m.iova + m.size > limit) return fail(`${where}: reaches past the ${aw}-bit address width`, 'vtd-range');
    const prev = maps[i - 1];
    if (prev && prev.iova + prev.size > m.iova) return fail(`${where} overlaps ${hex(prev.iova)}+${hex(prev.size)}`, 'vtd-overlap');
    if ((m.perm & 3) === 0) continue;
  }
  // Child table offsets by (table offset, index).
  const child = new Map<bigint, bigint>();
  for (const m of maps) {
    if ((m.perm & 3) === 0) continue;
    let iova = m.iova;
    let pa = m.pa;
    const end = m.iova + m.size;
    while (iova < end) {
      let leafLevel = 1;
      if (d.largePages !== false) {
        for (const lv of [3, 2]) {
          const sz = 1n << levelShift(lv);
          if ((iova & (sz - 1n)) === 0n && (pa & (sz - 1n)) === 0n && iova + sz <= end) {
            leafLevel = lv;
            break;
          }
        }
      }
      let table = top;
      for (let lv = levels; lv > leafLevel; lv--) {
        const idx = (iova >> levelShift(lv)) & 511n;
        const key = table * 512n + idx;
        let c = child.get(key);
        if (c === undefined) {
          const a = alloc();
          if (typeof a !== 'bigint') return a;
          c = a;
          child.set(key, c);
          tables.set(o.memoryBase + c, lv - 1);
          const e = w(table + idx * 8n, o.memoryBase + c + 3n);
          if (e) return e;
        }
        table = c;
      }
      const idx = (iova >> levelShift(leafLevel)) & 511n;
      const leaf = pa | BigInt(m.perm & 3) | (leafLevel > 1 ? 0x80n : 0n);
      const e = w(table + idx * 8n, leaf);
      if (e) return e;
      const sz = 1n << levelShift(leafLevel);
      iova += sz;
      pa += sz;
    }
  }
  return undefined;
}
