/**
 * Shared rig for the VT-d tests: 1 GiB of RAM at 0 in a `system` address space (q35's low
 * memory), an intel-iommu reading its tables there, raw root/context/page-table writers
 * (independent of the model's builder, so the walks are checked against hand-made tables), and
 * registrations that record what they receive.
 */
import { AddressSpace } from '../../src/engine/address-space';
import { MEMTXATTRS_UNSPECIFIED } from '../../src/engine/attrs';
import { register, type Registration } from '../../src/engine/consumers';
import { isEngineError } from '../../src/engine/errors';
import { HWADDR_MAX, hex } from '../../src/engine/hex';
import { IOMMU_NOTIFIER_DEVIOTLB_UNMAP, IOMMU_NOTIFIER_MAP, IOMMU_NOTIFIER_UNMAP, permName, type IOMMUAccessFlags, type IOMMUNotifierFlag, type IOMMUTLBEntry } from '../../src/engine/iotlb';
import { ContainerRegion, RamRegion } from '../../src/engine/memory';
import { IntelIommu, buildVtdTables, type IntelIommuOptions, type VtdBuildDevice, type VtdRegisterWrite } from '../../src/engine/models/intel-iommu';
import type { Trace } from '../../src/engine/trace';

export const RAM_SIZE = 1n << 30n;
export const ROOT = 0x10_0000n;
export const QUEUE = 0x20_0000n;
export const TABLES = 0x30_0000n;

export interface Rig {
  readonly ram: RamRegion;
  readonly sys: AddressSpace;
  iommu: IntelIommu;
  next: bigint;
}

export function rig(opts: Partial<IntelIommuOptions> = {}): Rig {
  const ram = new RamRegion('ram', RAM_SIZE);
  const root = new ContainerRegion('sys-root', 1n << 64n);
  root.addSubregion(ram, 0n);
  const sys = new AddressSpace('system', root);
  const iommu = IntelIommu.create({ name: 'dmar0', memory: sys, ...opts });
  if (isEngineError(iommu)) throw new Error(iommu.message);
  for (const r of iommu.regions()) r.systemAs = sys;
  return { ram, sys, iommu, next: TABLES };
}

export function w64(r: Rig, addr: bigint, v: bigint): void {
  const e = r.ram.backing.write(addr, 8, v);
  if (e) throw new Error(e.message);
}

export function r64(r: Rig, addr: bigint): bigint {
  const v = r.ram.backing.read(addr, 8);
  if (typeof v !== 'bigint') throw new Error(v.message);
  return v;
}

export function alloc(r: Rig): bigint {
  const a = r.next;
  r.next += 0x1000n;
  return a;
}

export function program(r: Rig, writes: readonly VtdRegisterWrite[]): void {
  const e = r.iommu.program(writes);
  if (e) throw new Error(e.message);
}

/**
 * Scalable mode with 00:03.0's RID_PASID (0) entry first-stage: the scalable root entry (bus 0,
 * lower half), 00:03.0's scalable context entry (a PASID directory), directory entry 0, and PASID
 * entry 0 with PGTT=001b, DID 7, FPD from `fpd` and FSPTPTR (with FLPM) as `fsptptr` gives it,
 * called once the context, directory and PASID table pages are allocated; then RTADDR with SMT,
 * SRTP and TE. Returns the PASID table page (entry PASID n at + n * 64).
 */
export function programFirstStage(r: Rig, fsptptr: () => bigint, fpd = false): bigint {
  const ct = alloc(r);
  const dir = alloc(r);
  const ptab = alloc(r);
  w64(r, ROOT, ct | 1n);
  w64(r, ct + 0x18n * 32n, dir | 1n);
  w64(r, dir, ptab | 1n);
  w64(r, ptab, 1n | (fpd ? 2n : 0n) | (1n << 6n));
  w64(r, ptab + 8n, 7n);
  w64(r, ptab + 16n, fsptptr());
  program(r, [
    { reg: 'RTADDR', value: ROOT | (1n << 10n) },
    { reg: 'GCMD', value: 1n << 30n },
    { reg: 'GCMD', value: 1n << 31n },
  ]);
  return ptab;
}

export function reg(r: Rig, name: string): bigint {
  const info = r.iommu.regs.registers.find((x) => x.name === name)!;
  return r.iommu.regs.read(BigInt(info.offset), info.width, MEMTXATTRS_UNSPECIFIED).value;
}

/** Root table at ROOT, SRTP, optionally the queue (QS 0) and QIE, then TE. */
export function enable(r: Rig, opts: { queue?: boolean; te?: boolean } = {}): void {
  const w: VtdRegisterWrite[] = [
    { reg: 'RTADDR', value: ROOT },
    { reg: 'GCMD', value: 1n << 30n },
  ];
  let g = 0n;
  if (opts.queue) {
    w.push({ reg: 'IQA', value: QUEUE }, { reg: 'GCMD', value: 1n << 26n });
    g |= 1n << 26n;
  }
  if (opts.te !== false) w.push({ reg: 'GCMD', value: g | (1n << 31n) });
  program(r, w);
}

/** A context table for `bus` (allocated once) and the context entry of `sid`. */
export function context(r: Rig, sid: number, ce: { slpt?: bigint; aw?: number; did?: number; tt?: number; fpd?: boolean; lo?: bigint; hi?: bigint }): bigint {
  const bus = BigInt(sid >> 8);
  let ct = r64(r, ROOT + bus * 16n) & ~0xfffn;
  if (ct === 0n) {
    ct = alloc(r);
    w64(r, ROOT + bus * 16n, ct | 1n);
  }
  const at = ct + BigInt(sid & 0xff) * 16n;
  w64(r, at, ce.lo ?? (1n | (ce.fpd ? 2n : 0n) | (BigInt(ce.tt ?? 0) << 2n) | (ce.slpt ?? 0n)));
  w64(r, at + 8n, ce.hi ?? (BigInt(ce.aw ?? 2) | (BigInt(ce.did ?? 1) << 8n)));
  return at;
}

/** Maps one page of `level` (1 4K, 2 2M, 3 1G) from `top` (a `levels`-level table), allocating tables. */
export function mapPage(r: Rig, top: bigint, levels: number, iova: bigint, pa: bigint, perm: number, level = 1, tablePerm = 3n): bigint {
  let table = top;
  for (let lv = levels; lv > level; lv--) {
    const idx = (iova >> (12n + 9n * BigInt(lv - 1))) & 511n;
    let e = r64(r, table + idx * 8n);
    if ((e & ~0xfffn) === 0n) {
      e = alloc(r) | tablePerm;
      w64(r, table + idx * 8n, e);
    }
    table = e & ~0xfffn;
  }
  const idx = (iova >> (12n + 9n * BigInt(level - 1))) & 511n;
  const at = table + idx * 8n;
  w64(r, at, pa | BigInt(perm) | (level > 1 ? 0x80n : 0n));
  return at;
}

export function tr(r: Rig, sid: number, addr: bigint, flag: IOMMUAccessFlags, trace?: Trace): IOMMUTLBEntry {
  return r.iommu.regionFor(sid).translate(addr, flag, 0, trace);
}

export function build(r: Rig, devices: Array<[number, VtdBuildDevice]>, opts: { queue?: boolean } = {}) {
  const res = buildVtdTables({ memory: r.ram.backing, memoryBase: 0n, at: ROOT, devices, queue: opts.queue === false ? false : undefined });
  if (isEngineError(res)) throw new Error(res.message);
  program(r, res.registers);
  return res;
}

export function notifier(r: Rig, sid: number, flags: IOMMUNotifierFlag, opts: { replay?: boolean; start?: bigint; end?: bigint; kind?: 'vfio' | 'vhost' | 'explicit' } = {}): Registration {
  const region = r.iommu.regionFor(sid);
  region.systemAs = r.sys;
  return register({
    kind: opts.kind ?? 'explicit',
    name: `n${sid.toString(16)}-${flags}`,
    owner: 'test',
    region,
    flags,
    start: opts.start ?? 0n,
    end: opts.end ?? HWADDR_MAX,
    iommuIdx: 0,
    replay: opts.replay,
    systemAs: r.sys,
  });
}

/** What a registration received, one line per event: `MAP 0x1000/0xfff -> 0x5000 RW`. */
export function events(n: Registration, from = 0): string[] {
  return n.received.slice(from).map((e) => {
    const t = e.type === IOMMU_NOTIFIER_MAP ? 'MAP' : e.type === IOMMU_NOTIFIER_UNMAP ? 'UNMAP' : e.type === IOMMU_NOTIFIER_DEVIOTLB_UNMAP ? 'DEVIOTLB_UNMAP' : String(e.type);
    return `${t} ${hex(e.entry.iova)}/${hex(e.entry.addrMask)}${e.type === IOMMU_NOTIFIER_MAP ? ` -> ${hex(e.entry.translatedAddr)} ${permName(e.entry.perm)}` : ''}${e.via === 'replay' ? ' (replay)' : ''}`;
  });
}
