/**
 * VT-d translation speed (the same targets as SMMUv3's, issue 9): uncached legacy 4-level walks
 * beside a plain-JS walker over the same tables, IOTLB hits through translate() and through the
 * number path, and the model's replay of a table with 1,000,000 4 KiB mappings into a MAP
 * notifier (with caching mode, as vfio's). Tables are built into RAM by the model's builder, so
 * every walk reads real entries.
 */
import { AddressSpace, ContainerRegion, IOMMU_NOTIFIER_IOTLB_EVENTS, IOMMU_RO, RamRegion, isEngineError, newNumberEntry, type IOMMUNotifier, type NumberTranslator } from '../src/engine';
import { IntelIommu, buildVtdTables, type VtdBuildMapping } from '../src/engine/models/intel-iommu';
import { rate, ratioRow, time, type BenchResult } from './harness';
// The same tables and addresses as the SMMUv3 rows, so the two models' rows compare.
import { addrs, pageMappings } from './smmuv3';

const SID = 0x18;

interface Built {
  readonly dev: IntelIommu;
  readonly ram: RamRegion;
  readonly slpt: number;
  readonly end: number;
}

function vtdWith(map: readonly VtdBuildMapping[], iotlbSize: number): IntelIommu {
  return vtdBuilt(map, iotlbSize).dev;
}

function vtdBuilt(map: readonly VtdBuildMapping[], iotlbSize: number): Built {
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
  return { dev, ram, slpt: Number(built.devices.get(SID)!.slptptr!), end: Number(built.end) };
}

/**
 * The anchor: a legacy 4-level second-level walk as a plain JavaScript loop over one Uint32Array
 * holding the same tables (copied out of the model's RAM, which starts at 0), number in, number
 * out; R checked at each level and the leaf's PS bit. None of the model's generality (AGAWs,
 * large pages, reserved bits, faults, caches, traces) is there.
 */
class PlainVtdWalker {
  private readonly words: Uint32Array;
  constructor(
    b: Built,
    private readonly top: number,
  ) {
    this.words = new Uint32Array(Math.ceil(b.end / 8) * 2);
    for (let off = 0; off < b.end; off += 8) {
      const v = b.ram.backing.read(BigInt(off), 8);
      if (typeof v !== 'bigint') throw new Error('table memory unreadable');
      this.words[off / 4] = Number(v & 0xffffffffn);
      this.words[off / 4 + 1] = Number(v >> 32n);
    }
  }

  /** The output address of `ia` (below 2^48), or -1. Table addresses fit 32 bits here. */
  walk(ia: number): number {
    const w = this.words;
    const hi = Math.floor(ia / 4294967296);
    const lo = ia >>> 0;
    let at = (this.top + ((hi >>> 7) & 511) * 8) >>> 2;
    let d = w[at]!;
    if ((d & 1) === 0) return -1;
    at = (((d & ~0xfff) >>> 0) + ((((hi & 0x7f) << 2) | (lo >>> 30)) * 8)) >>> 2;
    d = w[at]!;
    if ((d & 1) === 0 || (d & 0x80) !== 0) return -1;
    at = (((d & ~0xfff) >>> 0) + ((lo >>> 21) & 511) * 8) >>> 2;
    d = w[at]!;
    if ((d & 1) === 0 || (d & 0x80) !== 0) return -1;
    at = (((d & ~0xfff) >>> 0) + ((lo >>> 12) & 511) * 8) >>> 2;
    d = w[at]!;
    if ((d & 1) === 0) return -1;
    return (w[at + 1]! & 0xfffff) * 4294967296 + ((d & ~0xfff) >>> 0) + (lo & 0xfff);
  }
}

function numberRate(name: string, t: NumberTranslator, an: readonly number[], span: number, rounds: number, goal?: string): BenchResult {
  const e = newNumberEntry();
  return rate(
    {
      name,
      unit: name.includes('walk') ? 'walks/s' : 'translations/s',
      goal,
      run: (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) {
          t.translate(an[i & (span - 1)]!, IOMMU_RO, e);
          acc += e.perm;
        }
        return acc;
      },
    },
    rounds,
  );
}

export function benchIntelIommu(rounds: number): BenchResult[] {
  const out: BenchResult[] = [];
  const pages = 65536;
  const map = pageMappings(pages);
  const a = addrs(4096, pages);

  const an = a.map(Number);
  const u = vtdBuilt(map, 0);
  const uncached = u.dev.regionFor(SID);
  const walk = rate(
    {
      name: 'VT-d legacy 4-level walk, no IOTLB (translate)',
      unit: 'walks/s',
      goal: '>= 5 M/s',
      run: (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) acc += uncached.translate(a[i & 4095]!, IOMMU_RO, 0).perm;
        return acc;
      },
    },
    rounds,
  );
  const plain = new PlainVtdWalker(u, u.slpt);
  // The anchor must agree with the model before it is timed.
  for (let i = 0; i < 64; i++) {
    const e = uncached.translate(a[i]!, IOMMU_RO, 0);
    if (BigInt(plain.walk(an[i]!)) !== (e.translatedAddr | (a[i]! & e.addrMask))) throw new Error(`the plain walker disagrees at ${a[i]!.toString(16)}`);
  }
  const anchor = rate(
    {
      name: '  anchor: plain-JS walker over one Uint32Array, same tables',
      unit: 'walks/s',
      run: (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) acc += plain.walk(an[i & 4095]!);
        return acc;
      },
    },
    rounds,
  );
  out.push(walk, anchor, ratioRow('  ratio: VT-d walk / plain-JS walker', walk, anchor, '>= 0.3'));
  out.push(numberRate('VT-d walk through the number path (uncached probe)', uncached.numberTranslator(0, { uncached: true }), an, 4096, rounds));

  const cached = vtdWith(map, 1024).regionFor(SID);
  const hot = a.slice(0, 64);
  for (const x of hot) cached.translate(x, IOMMU_RO, 0);
  out.push(
    rate(
      {
        name: 'VT-d translate, IOTLB hit (entry object out)',
        unit: 'translations/s',
        goal: '>= 14 M/s',
        run: (n) => {
          let acc = 0;
          for (let i = 0; i < n; i++) acc += cached.translate(hot[i & 63]!, IOMMU_RO, 0).perm;
          return acc;
        },
      },
      rounds,
    ),
  );
  out.push(numberRate('VT-d IOTLB hit through the number path (no allocation)', cached.numberTranslator(0), an, 64, rounds, '>= 30 M/s'));

  // vtd_iommu_replay of 1,000,000 4 KiB mappings (4 GiB of IOVA, about 8 MB of page tables).
  const region = vtdWith(pageMappings(1_000_000), 1024).regionFor(SID);
  let delivered = 0;
  const n: IOMMUNotifier = { name: 'bench', owner: 'bench', flags: IOMMU_NOTIFIER_IOTLB_EVENTS, start: 0n, end: (1n << 64n) - 1n, iommuIdx: 0, notify: () => delivered++ };
  const err = region.registerNotifier(n);
  if (err) throw new Error(err.message);
  const rounds3 = Math.min(rounds, 3);
  const r = time('VT-d replay of 1,000,000 4 KiB mappings (MAP notifier)', () => region.replay(n), rounds3, '< 0.3 s');
  if (delivered < 1_000_000) throw new Error(`the replay delivered ${delivered} MAPs, not 1,000,000 per round`);
  out.push(r);
  return out;
}
