/**
 * VT-d translation speed (the same targets as SMMUv3's): uncached legacy 4-level walks, IOTLB
 * hits, and the model's replay of a table with 1,000,000 4 KiB mappings into a MAP notifier (with
 * caching mode, as vfio's). Tables are built into RAM by the model's builder, so every walk reads
 * real entries.
 */
import { AddressSpace, ContainerRegion, IOMMU_NOTIFIER_IOTLB_EVENTS, IOMMU_RO, RamRegion, isEngineError, type IOMMUNotifier } from '../src/engine';
import { IntelIommu, buildVtdTables, type VtdBuildMapping } from '../src/engine/models/intel-iommu';
import { rate, time, type BenchResult } from './harness';
// The same tables and addresses as the SMMUv3 rows, so the two models' rows compare.
import { addrs, pageMappings } from './smmuv3';

const SID = 0x18;

function vtdWith(map: readonly VtdBuildMapping[], iotlbSize: number): IntelIommu {
  const ram = new RamRegion('ram', 1n << 30n);
  const root = new ContainerRegion('sys-root', 1n << 64n);
  root.addSubregion(ram, 0n);
  const sys = new AddressSpace('system', root);
  const dev = IntelIommu.create({ name: 'dmar0', memory: sys, iotlbSize, cachingMode: true });
  if (isEngineError(dev)) throw new Error(dev.message);
  const built = buildVtdTables({ memory: ram.backing, memoryBase: 0n, at: 0x10_0000n, devices: [[SID, { domain: 1, map, largePages: false }]] });
  if (isEngineError(built)) throw new Error(built.message);
  const err = dev.program(built.registers);
  if (err) throw new Error(err.message);
  return dev;
}

export function benchIntelIommu(rounds: number): BenchResult[] {
  const out: BenchResult[] = [];
  const pages = 65536;
  const map = pageMappings(pages);
  const a = addrs(4096, pages);

  const uncached = vtdWith(map, 0).regionFor(SID);
  out.push(
    rate(
      {
        name: 'VT-d legacy 4-level walk, no IOTLB (translate)',
        unit: 'walks/s',
        goal: '>= 1 M/s',
        run: (n) => {
          let acc = 0;
          for (let i = 0; i < n; i++) acc += uncached.translate(a[i & 4095]!, IOMMU_RO, 0).perm;
          return acc;
        },
      },
      rounds,
    ),
  );

  const cached = vtdWith(map, 1024).regionFor(SID);
  const hot = a.slice(0, 64);
  for (const x of hot) cached.translate(x, IOMMU_RO, 0);
  out.push(
    rate(
      {
        name: 'VT-d translate, IOTLB hit',
        unit: 'translations/s',
        goal: '>= 10 M/s',
        run: (n) => {
          let acc = 0;
          for (let i = 0; i < n; i++) acc += cached.translate(hot[i & 63]!, IOMMU_RO, 0).perm;
          return acc;
        },
      },
      rounds,
    ),
  );

  // vtd_iommu_replay of 1,000,000 4 KiB mappings (4 GiB of IOVA, about 8 MB of page tables).
  const region = vtdWith(pageMappings(1_000_000), 1024).regionFor(SID);
  let delivered = 0;
  const n: IOMMUNotifier = { name: 'bench', owner: 'bench', flags: IOMMU_NOTIFIER_IOTLB_EVENTS, start: 0n, end: (1n << 64n) - 1n, iommuIdx: 0, notify: () => delivered++ };
  const err = region.registerNotifier(n);
  if (err) throw new Error(err.message);
  const rounds3 = Math.min(rounds, 3);
  const r = time('VT-d replay of 1,000,000 4 KiB mappings (MAP notifier)', () => region.replay(n), rounds3, '< 1 s');
  if (delivered < 1_000_000) throw new Error(`the replay delivered ${delivered} MAPs, not 1,000,000 per round`);
  out.push(r);
  return out;
}
