/**
 * Shared rig for the SMMUv3 tests: 1 GiB of RAM at 0x8000_0000 in a `system` address space, an
 * SMMU reading its tables there, raw STE/CD/descriptor writers (independent of the model's
 * builder, so that the walker is checked against hand-made tables), and event-queue readers.
 */
import * as assert from 'node:assert/strict';
import { AddressSpace } from '../../src/engine/address-space';
import { MEMTXATTRS_UNSPECIFIED } from '../../src/engine/attrs';
import { isEngineError } from '../../src/engine/errors';
import type { IOMMUTLBEntry } from '../../src/engine/iotlb';
import { ContainerRegion, RamRegion } from '../../src/engine/memory';
import {
  Smmuv3,
  buildSmmuTables,
  type BuildOptions,
  type Smmuv3Options,
  type Smmuv3Profile,
  type Smmuv3RegisterWrite,
} from '../../src/engine/models/smmuv3';
import type { Trace } from '../../src/engine/trace';

export const RAM_BASE = 0x8000_0000n;
export const RAM_SIZE = 1n << 30n;
/** Where hand-made structures go: stream table, CD, event queue, command queue, tables. */
export const STRTAB = RAM_BASE + 0x0000n;
export const CD_ADDR = RAM_BASE + 0x1_0000n;
export const EVENTQ = RAM_BASE + 0x2_0000n;
export const CMDQ = RAM_BASE + 0x3_0000n;
export const TABLES = RAM_BASE + 0x10_0000n;

export interface Rig {
  readonly ram: RamRegion;
  readonly sys: AddressSpace;
  smmu: Smmuv3;
  /** Bump allocator for hand-made tables. */
  next: bigint;
}

export function rig(opts: Partial<Smmuv3Options> & { profile?: Smmuv3Profile } = {}): Rig {
  const ram = new RamRegion('ddr', RAM_SIZE);
  const root = new ContainerRegion('sys-root', 1n << 64n);
  root.addSubregion(ram, RAM_BASE);
  const sys = new AddressSpace('system', root);
  const smmu = Smmuv3.create({ name: 'smmu0', memory: sys, ...opts });
  if (isEngineError(smmu)) throw new Error(smmu.message);
  return { ram, sys, smmu, next: TABLES };
}

export function w64(r: Rig, addr: bigint, v: bigint): void {
  const e = r.ram.backing.write(addr - RAM_BASE, 8, v);
  if (e) throw new Error(e.message);
}

export function r64(r: Rig, addr: bigint): bigint {
  const v = r.ram.backing.read(addr - RAM_BASE, 8);
  if (typeof v !== 'bigint') throw new Error(v.message);
  return v;
}

export function alloc(r: Rig, bytes: bigint, align = bytes): bigint {
  const a = ((r.next + align - 1n) / align) * align;
  r.next = a + bytes;
  return a;
}

export function program(r: Rig, writes: readonly Smmuv3RegisterWrite[]): void {
  const e = r.smmu.program(writes);
  if (e) throw new Error(e.message);
}

/** Linear stream table at STRTAB with 2^log2size STEs, event queue of 2^eventqLog2 records, SMMUEN|EVENTQEN|CMDQEN. */
export function enable(r: Rig, opts: { log2size?: number; eventqLog2?: number; cr0?: bigint } = {}): void {
  program(r, [
    { reg: 'STRTAB_BASE', value: STRTAB },
    { reg: 'STRTAB_BASE_CFG', value: BigInt(opts.log2size ?? 8) },
    { reg: 'EVENTQ_BASE', value: EVENTQ | BigInt(opts.eventqLog2 ?? 4) },
    { reg: 'CMDQ_BASE', value: CMDQ | 6n },
    { reg: 'CR0', value: opts.cr0 ?? 0xdn },
  ]);
}

export interface SteSpec {
  config: number;
  cd?: bigint;
  vmid?: number;
  s2t0sz?: number;
  s2sl0?: number;
  s2tg?: number;
  s2ps?: number;
  s2aa64?: boolean;
  s2affd?: boolean;
  s2r?: boolean;
  s2ttb?: bigint;
  valid?: boolean;
  s1cdmax?: number;
}

export function steWords(s: SteSpec): bigint[] {
  const w0 = (s.valid === false ? 0n : 1n) | (BigInt(s.config) << 1n) | (s.cd ?? 0n) | (BigInt(s.s1cdmax ?? 0) << 59n);
  const w5 =
    BigInt(s.s2t0sz ?? 0) |
    (BigInt(s.s2sl0 ?? 0) << 6n) |
    (BigInt(s.s2tg ?? 0) << 14n) |
    (BigInt(s.s2ps ?? 5) << 16n) |
    ((s.s2aa64 === false ? 0n : 1n) << 19n) |
    ((s.s2affd ? 1n : 0n) << 21n) |
    ((s.s2r === false ? 0n : 1n) << 26n);
  return [w0, 0n, BigInt(s.vmid ?? 0) | (w5 << 32n), s.s2ttb ?? 0n, 0n, 0n, 0n, 0n];
}

export function writeSte(r: Rig, sid: number, s: SteSpec, base = STRTAB): bigint {
  const at = base + BigInt(sid) * 64n;
  steWords(s).forEach((v, i) => w64(r, at + BigInt(i * 8), v));
  return at;
}

export interface CdSpec {
  t0sz: number;
  tg0?: number;
  ttb0: bigint;
  t1sz?: number;
  tg1?: number;
  ttb1?: bigint;
  epd0?: boolean;
  epd1?: boolean;
  asid?: number;
  ips?: number;
  r?: boolean;
  a?: boolean;
  aa64?: boolean;
  affd?: boolean;
  endi?: boolean;
  valid?: boolean;
  had0?: boolean;
}

export function cdWords(c: CdSpec): bigint[] {
  const epd1 = c.epd1 ?? c.ttb1 === undefined;
  const w0 =
    BigInt(c.t0sz) |
    (BigInt(c.tg0 ?? 0) << 6n) |
    ((c.epd0 ? 1n : 0n) << 14n) |
    ((c.endi ? 1n : 0n) << 15n) |
    (BigInt(c.t1sz ?? 0) << 16n) |
    (BigInt(c.tg1 ?? 0) << 22n) |
    ((epd1 ? 1n : 0n) << 30n) |
    ((c.valid === false ? 0n : 1n) << 31n);
  const w1 =
    BigInt(c.ips ?? 5) |
    ((c.affd ? 1n : 0n) << 3n) |
    ((c.aa64 === false ? 0n : 1n) << 9n) |
    ((c.r === false ? 0n : 1n) << 13n) |
    ((c.a === false ? 0n : 1n) << 14n) |
    (BigInt(c.asid ?? 1) << 16n);
  return [w0 | (w1 << 32n), c.ttb0 | (c.had0 ? 2n : 0n), c.ttb1 ?? 0n, 0n, 0n, 0n, 0n, 0n];
}

export function writeCd(r: Rig, c: CdSpec, at = CD_ADDR): bigint {
  cdWords(c).forEach((v, i) => w64(r, at + BigInt(i * 8), v));
  return at;
}

/** log2 of the granule for TG0 values. */
export const TG0 = { 12: 0, 16: 1, 14: 2 } as const;

export function levelShift(level: number, g: number): number {
  return g + (3 - level) * (g - 3);
}

/** Stage-1 page/block attributes: AF, inner shareable, AP[2] for read-only. */
export function s1Leaf(pa: bigint, level: number, opts: { ro?: boolean; af?: boolean } = {}): bigint {
  return pa | (level === 3 ? 3n : 1n) | (3n << 8n) | (opts.af === false ? 0n : 1n << 10n) | (opts.ro ? 2n << 6n : 0n);
}

export function s2Leaf(pa: bigint, level: number, s2ap: number, opts: { af?: boolean } = {}): bigint {
  return pa | (level === 3 ? 3n : 1n) | (0xfn << 2n) | (BigInt(s2ap) << 6n) | (3n << 8n) | (opts.af === false ? 0n : 1n << 10n);
}

/**
 * Writes a chain of tables from `root` for one leaf at `leafLevel` (tables allocated as needed,
 * or reused when already present). Returns the addresses of the descriptors on the path.
 */
export function mapOne(r: Rig, root: bigint, g: number, startLevel: number, ia: bigint, leaf: bigint, leafLevel: number): bigint[] {
  const path: bigint[] = [];
  let table = root;
  for (let level = startLevel; ; level++) {
    const shift = BigInt(levelShift(level, g));
    const q = ia >> shift;
    const idx = level === startLevel ? q : q & ((1n << BigInt(g - 3)) - 1n);
    const d = table + idx * 8n;
    path.push(d);
    if (level === leafLevel) {
      w64(r, d, leaf);
      return path;
    }
    const cur = r64(r, d);
    if ((cur & 3n) === 3n) {
      table = cur & 0x0000_ffff_ffff_f000n & ~((1n << BigInt(g)) - 1n);
    } else {
      const next = alloc(r, 1n << BigInt(g));
      w64(r, d, next | 3n);
      table = next;
    }
  }
}

export function tr(r: Rig, sid: number, addr: bigint, flag: number, trace?: Trace): IOMMUTLBEntry {
  return r.smmu.regionFor(sid).translate(addr, flag, 0, trace);
}

/** The 8 words of event record `i` in the event queue. */
export function eventWords(r: Rig, i: number, base = EVENTQ): number[] {
  const out: number[] = [];
  for (let k = 0; k < 4; k++) {
    const v = r64(r, base + BigInt(i * 32 + k * 8));
    out.push(Number(v & 0xffffffffn), Number(v >> 32n));
  }
  return out;
}

export function reg(r: Rig, name: string): bigint {
  const info = r.smmu.regs.registers.find((x) => x.name === name);
  assert.ok(info, `no register ${name}`);
  const v = r.smmu.regs.read(BigInt(info.offset), info.width, MEMTXATTRS_UNSPECIFIED);
  return v.value;
}

export function build(r: Rig, opts: Omit<BuildOptions, 'memory' | 'memoryBase' | 'at'> & { at?: bigint }): ReturnType<typeof buildSmmuTables> {
  const res = buildSmmuTables({ memory: r.ram.backing, memoryBase: RAM_BASE, at: opts.at ?? 0x40_0000n, ...opts });
  if (isEngineError(res)) throw new Error(res.message);
  program(r, res.registers);
  return res;
}

export function summaries(t: Trace): string[] {
  return t.map((s) => `${s.kind}: ${s.summary}`);
}
