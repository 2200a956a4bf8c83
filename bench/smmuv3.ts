/**
 * SMMUv3 translation speed (DESIGN.md's targets): uncached 4-level stage-1 walks, IOTLB hits,
 * and the walk replay of a table with 1,000,000 4 KiB mappings. Tables are built into RAM by the
 * model's builder, so every walk reads real descriptors.
 */
import { AddressSpace, ContainerRegion, IOMMU_NOTIFIER_UNMAP, IOMMU_RO, IOMMU_RW, RamRegion, isEngineError, type IOMMUNotifier } from '../src/engine';
import { Smmuv3, buildSmmuTables, type BuildMapping } from '../src/engine/models/smmuv3';
import { rate, time, type BenchResult } from './harness';

const RAM_BASE = 0x8000_0000n;
const SID = 0x10;

function smmuWith(map: readonly BuildMapping[], iotlbSize: number, blocks: boolean): Smmuv3 {
  const ram = new RamRegion('ddr', 1n << 30n);
  const root = new ContainerRegion('sys-root', 1n << 64n);
  root.addSubregion(ram, RAM_BASE);
  const sys = new AddressSpace('system', root);
  const smmu = Smmuv3.create({ name: 'smmu0', memory: sys, iotlbSize });
  if (isEngineError(smmu)) throw new Error(smmu.message);
  const built = buildSmmuTables({
    memory: ram.backing,
    memoryBase: RAM_BASE,
    at: 0n,
    streams: [[SID, { stage1: { granule: 4096, t0sz: 16, asid: 1, map, blocks } }]],
  });
  if (isEngineError(built)) throw new Error(built.message);
  const err = smmu.program(built.registers);
  if (err) throw new Error(err.message);
  return smmu;
}

/** `pages` 4 KiB pages from iova 0x1_0000_0000, each to its own scattered output (no blocks form). */
function pageMappings(pages: number): BuildMapping[] {
  const out: BuildMapping[] = [];
  for (let i = 0; i < pages; i++) {
    out.push({ iova: 0x1_0000_0000n + BigInt(i) * 0x1000n, size: 0x1000n, pa: 0x100_0000_0000n + BigInt((i * 7919) % pages) * 0x1000n, perm: IOMMU_RW });
  }
  return out;
}

function addrs(n: number, pages: number): bigint[] {
  let x = 0x1234567;
  return Array.from({ length: n }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return 0x1_0000_0000n + BigInt((x >>> 0) % pages) * 0x1000n + 0x18n;
  });
}

export function benchSmmuv3(rounds: number): BenchResult[] {
  const out: BenchResult[] = [];
  const pages = 65536;
  const map = pageMappings(pages);
  const a = addrs(4096, pages);

  const uncached = smmuWith(map, 0, false).regionFor(SID);
  out.push(
    rate(
      {
        name: 'SMMUv3 stage-1 4-level walk, no IOTLB (translate)',
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

  const cached = smmuWith(map, 256, false).regionFor(SID);
  const hot = a.slice(0, 64);
  for (const x of hot) cached.translate(x, IOMMU_RO, 0);
  out.push(
    rate(
      {
        name: 'SMMUv3 translate, IOTLB hit',
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

  // The walk replay of 1,000,000 4 KiB mappings (about 4 GiB of IOVA, 8 MB of level-3 tables).
  const big = smmuWith(pageMappings(1_000_000), 256, false);
  const region = big.regionFor(SID);
  let delivered = 0;
  const n: IOMMUNotifier = { name: 'bench', owner: 'bench', flags: IOMMU_NOTIFIER_UNMAP, start: 0n, end: (1n << 64n) - 1n, iommuIdx: 0, notify: () => {} };
  // SMMUv3 refuses MAP notifiers, so the replay's MAPs reach a registered UNMAP notifier and are
  // filtered there; the region's observer counts them.
  const err = region.registerNotifier(n);
  if (err) throw new Error(err.message);
  region.observer = () => delivered++;
  const r = time('SMMUv3 walk replay of 1,000,000 4 KiB mappings', () => region.replay(n), Math.min(rounds, 3), '< 1 s');
  region.observer = undefined;
  if (delivered < 1_000_000) throw new Error(`the replay delivered ${delivered} MAPs, not 1,000,000 per round`);
  out.push(r);
  return out;
}
