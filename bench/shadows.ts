/**
 * Shadows (issue 9): vfio registering on a table IOMMU and taking the replay of N mapped pages
 * into its DMA map, vhost filling its device IOTLB with N pages, and the shadow check of an
 * SMMUv3 stream whose vhost IOTLB holds N pages. Each is timed as a whole operation.
 */
import {
  AddressSpace,
  ContainerRegion,
  IOMMU_NONE,
  Machine,
  RamRegion,
  TableIommu,
  addressSpaceForRegion,
  checkShadows,
  isEngineError,
  vfioRegistrations,
  vhostRegistrations,
  type IOMMUTLBEntry,
  type TableMapping,
} from '../src/engine';
import { Smmuv3, buildSmmuTables } from '../src/engine/models/smmuv3';
import { time, type BenchResult } from './harness';
import { pageMappings } from './smmuv3';

function systemAs(): AddressSpace {
  const sys = new AddressSpace('system', new ContainerRegion('system-root', 1n << 64n));
  sys.root.addSubregion(new RamRegion('ram', 1n << 40n), 0n);
  return sys;
}

/** Scattered output pages, so that no two neighbours coalesce. */
function scatter(i: number, pages: number): bigint {
  return BigInt((i * 7919) % pages) * 0x1000n;
}

/** vfio-pci on a table IOMMU with `pages` 4 KiB mappings: register, replay (QEMU's default loop), unregister. */
export function benchVfio(pages: number, rounds: number, goal?: string): BenchResult {
  const sys = systemAs();
  const mappings: TableMapping[] = [];
  for (let i = 0; i < pages; i++) mappings.push({ iova: BigInt(i) * 0x1000n, size: 0x1000n, targetAs: sys, target: scatter(i, pages), perm: 3 });
  const t = TableIommu.create({ name: 'table', size: BigInt(pages) * 0x1000n, indexes: [{ name: 'all', mappings }] });
  if (isEngineError(t)) throw new Error(t.message);
  const dma = addressSpaceForRegion(t.region, 'dma');
  return time(
    `vfio register + replay of ${pages.toLocaleString('en-US')} mapped pages`,
    () => {
      const [r] = vfioRegistrations('nic', dma, sys);
      if (r?.status !== 'accepted' || r.shadow?.size !== pages) throw new Error(`vfio took ${r?.shadow?.size} pages, not ${pages}`);
      t.region.unregisterNotifier(r);
      return r;
    },
    rounds,
    goal,
  );
}

/** vhost's device IOTLB filled with `pages` translations in a scattered order. */
export function benchVhostFill(pages: number, rounds: number, goal?: string): BenchResult {
  const sys = systemAs();
  const t = TableIommu.create({ name: 'table', size: BigInt(pages) * 0x1000n, indexes: [{ name: 'all', mappings: [{ iova: 0n, size: BigInt(pages) * 0x1000n, targetAs: sys, target: 0n, perm: 3 }] }] });
  if (isEngineError(t)) throw new Error(t.message);
  const dma = addressSpaceForRegion(t.region, 'dma');
  const entries: Array<[bigint, IOMMUTLBEntry]> = [];
  for (let i = 0; i < pages; i++) {
    const addr = scatter(i, pages);
    entries.push([addr, t.region.translate(addr, IOMMU_NONE, 0)]);
  }
  return time(
    `vhost IOTLB fill of ${pages.toLocaleString('en-US')} pages`,
    () => {
      const [r] = vhostRegistrations('net0', dma, false);
      for (const [addr, e] of entries) r!.cacheTranslation(addr, e);
      if (r!.shadow!.size !== pages) throw new Error(`vhost holds ${r!.shadow!.size} pages, not ${pages}`);
      t.region.unregisterNotifier(r!);
      return r;
    },
    rounds,
    goal,
  );
}

/** checkShadows on an SMMUv3 stream (4 KiB pages, 4 levels) whose vhost IOTLB holds `pages` pages. */
export function benchShadowCheck(pages: number, rounds: number, goal?: string): BenchResult {
  const ramBase = 0x8000_0000n;
  const ram = new RamRegion('ddr', 1n << 30n);
  const root = new ContainerRegion('sys-root', 1n << 64n);
  root.addSubregion(ram, ramBase);
  const sys = new AddressSpace('system', root);
  const smmu = Smmuv3.create({ name: 'smmu0', memory: sys });
  if (isEngineError(smmu)) throw new Error(smmu.message);
  const built = buildSmmuTables({ memory: ram.backing, memoryBase: ramBase, at: 0n, streams: [[0x10, { stage1: { granule: 4096, t0sz: 16, asid: 1, map: pageMappings(pages) } }]] });
  if (isEngineError(built)) throw new Error(built.message);
  const err = smmu.program(built.registers);
  if (err) throw new Error(err.message);
  const region = smmu.regionFor(0x10);
  const m = new Machine('bench');
  m.systemAs = sys;
  const dma = addressSpaceForRegion(region, 'dma');
  const regs = vhostRegistrations('net0', dma, false);
  m.addRegistrations(regs);
  const r = regs[0]!;
  for (let i = 0; i < pages; i++) {
    const addr = 0x1_0000_0000n + BigInt(i) * 0x1000n;
    r.cacheTranslation(addr, region.translate(addr, IOMMU_NONE, 0));
  }
  if (r.shadow!.size !== pages) throw new Error(`vhost holds ${r.shadow!.size} pages, not ${pages}`);
  return time(
    `shadow check, SMMUv3, vhost IOTLB of ${pages.toLocaleString('en-US')} pages`,
    () => {
      const d = checkShadows(m);
      if (d.length) throw new Error(`the shadow check found ${d.length} divergences in a consistent shadow`);
      return d;
    },
    rounds,
    goal,
  );
}
