/**
 * Programs QEMU's intel-iommu (q35) and an edu device through qtest, for the tests against a real
 * qemu-system-x86_64. Root, context and second-level tables are laid out by the engine's VT-d table
 * builder into a copy of guest RAM; the pages it wrote are written into QEMU, and the registers are
 * programmed on QEMU's DMAR unit as a driver does: RTADDR and SRTP, the invalidation queue (IQA,
 * QIE) when used, a global context-cache and IOTLB invalidation (queued, ending in a wait
 * descriptor, or through CCMD and IOTLB), then TE. QEMU walks those tables itself: the engine never
 * answers for QEMU.
 */
import { buildVtdTables, encodeDescriptor, type VtdBuildOptions, type VtdBuildResult } from '../../src/engine/models/intel-iommu';
import * as T from '../../src/engine/models/intel-iommu/types';
import { EDU_DMA_BUF, eduDmaAt } from './edu';
import type { QtestClient } from './qtest';

export { EDU_DMA_BUF };
import { Recording, writeTables } from './table-pages';

/** q35's DMAR unit (Q35_HOST_BRIDGE_IOMMU_ADDR). */
export const VTD_BASE = 0xfed9_0000n;
/** edu's BAR 0, in q35's 32-bit PCI hole. */
export const EDU_BAR = 0xe000_0000n;
/** edu at 00:01.0 (the first free slot with -nodefaults). */
export const EDU_SID = 0x08;

const OFFSETS: Readonly<Record<string, readonly [number, 4 | 8]>> = {
  GCMD: [T.DMAR_GCMD_REG, 4],
  GSTS: [T.DMAR_GSTS_REG, 4],
  RTADDR: [T.DMAR_RTADDR_REG, 8],
  CCMD: [T.DMAR_CCMD_REG, 8],
  FSTS: [T.DMAR_FSTS_REG, 4],
  FECTL: [T.DMAR_FECTL_REG, 4],
  IQH: [T.DMAR_IQH_REG, 8],
  IQT: [T.DMAR_IQT_REG, 8],
  IQA: [T.DMAR_IQA_REG, 8],
  ICS: [T.DMAR_ICS_REG, 4],
  IVA: [T.DMAR_IVA_REG, 8],
  IOTLB: [T.DMAR_IOTLB_REG, 8],
  FRCD_LO: [T.DMAR_FRCD_REG_OFFSET, 8],
  FRCD_HI: [T.DMAR_FRCD_REG_OFFSET + 8, 8],
};

export async function vtdWrite(qt: QtestClient, name: string, value: bigint): Promise<void> {
  const r = OFFSETS[name];
  if (!r) throw new Error(`no VT-d register ${name} here`);
  if (r[1] === 8) await qt.writeq(VTD_BASE + BigInt(r[0]), value);
  else await qt.writel(VTD_BASE + BigInt(r[0]), value);
}

export async function vtdRead(qt: QtestClient, name: string): Promise<bigint> {
  const r = OFFSETS[name];
  if (!r) throw new Error(`no VT-d register ${name} here`);
  return r[1] === 8 ? qt.readq(VTD_BASE + BigInt(r[0])) : qt.readl(VTD_BASE + BigInt(r[0]));
}

/** PCI configuration mechanism #1 (0xcf8 address, 0xcfc data). */
function cfgAddr(sid: number, reg: number): number {
  return (0x8000_0000 | (sid << 8) | (reg & 0xfc)) >>> 0;
}

/** Gives edu its BAR, and memory space and bus-master enable. */
export async function enableEdu(qt: QtestClient): Promise<void> {
  await qt.outl(0xcf8, cfgAddr(EDU_SID, 0x10));
  await qt.outl(0xcfc, Number(EDU_BAR));
  await qt.outl(0xcf8, cfgAddr(EDU_SID, 0x04));
  await qt.outw(0xcfc, 0x6);
}

/** edu's vendor:device read through the configuration ports (1234:11e8). */
export async function eduId(qt: QtestClient): Promise<number> {
  await qt.outl(0xcf8, cfgAddr(EDU_SID, 0));
  return qt.inl(0xcfc);
}

export interface VtdProgram extends Omit<VtdBuildOptions, 'memory' | 'memoryBase' | 'at' | 'limit' | 'enable'> {
  readonly tablesAt: bigint;
  readonly tablesSize: bigint;
  /** Where a wait descriptor writes its status (queued invalidation). */
  readonly statusAt: bigint;
  /**
   * Damage to the built tables (an entry not present, reserved bits), made before they are
   * written into QEMU: as a driver that wrote them so, not a change behind QEMU's caches.
   */
  readonly damage?: (built: VtdBuildResult, read: (addr: bigint) => bigint) => [bigint, bigint] | undefined;
}

/**
 * Builds the tables at guest-physical `tablesAt` and programs QEMU's DMAR unit with them, from
 * reset state (TE, QIE off). Returns the build and the register writes made, in order.
 */
export async function programVtd(qt: QtestClient, opts: VtdProgram): Promise<{ built: VtdBuildResult; writes: Array<[string, bigint]>; read: (addr: bigint) => bigint }> {
  const mem = new Recording(opts.tablesSize);
  const built = buildVtdTables({ ...opts, memory: mem, memoryBase: opts.tablesAt, at: 0n, limit: opts.tablesSize, enable: false });
  if ('error' in built) throw new Error(`table build: ${built.message}`);
  const read = (addr: bigint): bigint => {
    const v = mem.inner.read(addr - opts.tablesAt, 8);
    return typeof v === 'bigint' ? v : 0n;
  };
  const dmg = opts.damage?.(built, read);
  if (dmg) mem.write(dmg[0] - opts.tablesAt, 8, dmg[1]);
  await writeTables(qt, mem, opts.tablesAt);
  const writes: Array<[string, bigint]> = [];
  const w = async (name: string, v: bigint) => {
    writes.push([name, v]);
    await vtdWrite(qt, name, v);
  };
  for (const r of built.registers) await w(String(r.reg), r.value);
  const gcmd = built.queue !== undefined ? BigInt(T.VTD_GCMD_QIE) : 0n;
  if (built.queue !== undefined) {
    // Queued: context-cache global, IOTLB global, wait with a status write; IQT past them.
    const descs = [encodeDescriptor({ op: 'CC_GLOBAL' }), encodeDescriptor({ op: 'IOTLB_GLOBAL' }), encodeDescriptor({ op: 'WAIT', 'status-addr': opts.statusAt, 'status-data': 0x600d })];
    const tail = Number((await vtdRead(qt, 'IQT')) >> 4n);
    let i = tail;
    for (const d of descs) {
      if ('error' in d) throw new Error(d.message);
      const b = new Uint8Array(16);
      const dv = new DataView(b.buffer);
      dv.setBigUint64(0, d.lo, true);
      dv.setBigUint64(8, d.hi, true);
      await qt.memwrite(built.queue + BigInt(16 * i), b);
      i++;
    }
    await w('IQT', BigInt(i) << 4n);
  } else {
    await w('CCMD', T.VTD_CCMD_ICC | T.VTD_CCMD_GLOBAL_INVL);
    await w('IOTLB', T.VTD_TLB_IVT | T.VTD_TLB_GLOBAL_FLUSH);
  }
  await w('GCMD', gcmd | BigInt(T.VTD_GCMD_TE >>> 0));
  return { built, writes, read };
}

/** One edu DMA on this machine (eduDmaAt with edu's BAR here). */
export function eduDma(qt: QtestClient, pciAddr: bigint, count: number, toPci: boolean, bufOffset = 0n): Promise<void> {
  return eduDmaAt(qt, EDU_BAR, pciAddr, count, toPci, bufOffset);
}
