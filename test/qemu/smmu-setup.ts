/**
 * Programs QEMU's SMMUv3 and an edu device through qtest, for the tests against a real QEMU.
 * The stream table, CDs and page tables are laid out by the engine's table builder into a copy
 * of guest RAM; the pages it wrote are then written into QEMU and its register writes replayed
 * on QEMU's SMMU. QEMU then walks those tables itself: the engine never answers for QEMU.
 */
import * as R from '../../src/engine/models/smmuv3/registers';
import { buildSmmuTables, type BuildOptions, type BuildResult } from '../../src/engine/models/smmuv3';
import { EDU_DMA_BUF, eduDmaAt } from './edu';
import type { QtestClient } from './qtest';

export { EDU_DMA_BUF };
import { Recording, writeTables } from './table-pages';

export const RAM_BASE = 0x4000_0000n;
export const SMMU_BASE = 0x0905_0000n;
/** virt's high PCIe ECAM (VIRT_HIGH_PCIE_ECAM) and the 32-bit PCI MMIO window (hw/arm/virt.c). */
export const ECAM_BASE = 0x40_1000_0000n;
export const EDU_BAR = 0x1000_0000n;
/** edu's requester ID: 00:01.0 (the first free slot on virt's pcie.0). */
export const EDU_SID = 0x08;

export async function writeRegister(qt: QtestClient, name: string, value: bigint): Promise<void> {
  const off = (R as unknown as Record<string, number>)[`A_${name}`];
  if (off === undefined) throw new Error(`no SMMUv3 register ${name}`);
  const wide = ['STRTAB_BASE', 'CMDQ_BASE', 'EVENTQ_BASE', 'GERROR_IRQ_CFG0', 'EVENTQ_IRQ_CFG0'].includes(name);
  if (wide) await qt.writeq(SMMU_BASE + BigInt(off), value);
  else await qt.writel(SMMU_BASE + BigInt(off), value);
}

/**
 * Builds tables at guest-physical `tablesAt` (inside RAM) and programs QEMU's SMMU with them.
 * CR0 is written last, as the builder orders it.
 */
export async function programSmmu(qt: QtestClient, opts: Omit<BuildOptions, 'memory' | 'memoryBase' | 'at'> & { tablesAt: bigint; tablesSize: bigint }): Promise<BuildResult> {
  const mem = new Recording(opts.tablesSize);
  const built = buildSmmuTables({ ...opts, memory: mem, memoryBase: opts.tablesAt, at: 0n, limit: opts.tablesSize });
  if ('error' in built) throw new Error(`table build: ${built.message}`);
  await writeTables(qt, mem, opts.tablesAt);
  await writeRegister(qt, 'CR0', 0n);
  for (const w of built.registers) await writeRegister(qt, String(w.reg), w.value);
  return built;
}

/** Gives edu its BAR and memory and bus-master enable through the ECAM. */
export async function enableEdu(qt: QtestClient): Promise<void> {
  const cfg = ECAM_BASE + (BigInt(EDU_SID) << 12n);
  await qt.writel(cfg + 0x10n, EDU_BAR);
  await qt.writew(cfg + 0x04n, 0x6);
}

/** One edu DMA on this machine (eduDmaAt with edu's BAR here). */
export function eduDma(qt: QtestClient, pciAddr: bigint, count: number, toPci: boolean, bufOffset = 0n): Promise<void> {
  return eduDmaAt(qt, EDU_BAR, pciAddr, count, toPci, bufOffset);
}
