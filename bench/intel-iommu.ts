/**
 * VT-d translation speed (the same targets as SMMUv3's, issue 9): uncached legacy 4-level walks
 * beside a plain-JS walker over the same tables, in the rows bench/smmuv3.ts has (the number path
 * against the bare anchor, translate() against the same walker behind the API's shape, and the
 * ceiling that shape sets), first-stage 4-level walks (scalable mode, x-flts), IOTLB hits through
 * translate() beside a JS Map of pages behind the same shape, and through the number path, and the
 * model's replay of a table with 1,000,000 4 KiB mappings into a MAP notifier (with caching mode,
 * as vfio's). Tables are built into RAM by the model's builder, so every walk reads real entries.
 * The walks take SMMUv3's mappings and addresses: 4096 addresses spread over 65,536 pages.
 */
import { AddressSpace, ContainerRegion, IOMMU_NOTIFIER_IOTLB_EVENTS, IOMMU_RO, IOMMU_RW, RamRegion, isEngineError, newNumberEntry, type IOMMUNotifier, type IOMMUTLBEntry, type NumberTranslator } from '../src/engine';
import { IntelIommu, buildVtdTables, type VtdBuildMapping } from '../src/engine/models/intel-iommu';
import { rate, ratesInTurn, ratioRow, time, type BenchResult, type RateCase } from './harness';
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

function vtdBuilt(map: readonly VtdBuildMapping[], iotlbSize: number, firstStage = false): Built {
  const ram = new RamRegion('ram', 1n << 30n);
  const root = new ContainerRegion('sys-root', 1n << 64n);
  root.addSubregion(ram, 0n);
  const sys = new AddressSpace('system', root);
  const dev = IntelIommu.create({ name: 'dmar0', memory: sys, iotlbSize, cachingMode: true, ...(firstStage ? { scalableMode: true, firstStage: true, awBits: 48 } : {}) });
  if (isEngineError(dev)) throw new Error(dev.message);
  const translation = firstStage ? ('first-stage' as const) : undefined;
  const built = buildVtdTables({ memory: ram.backing, memoryBase: 0n, at: 0x10_0000n, scalable: firstStage, devices: [[SID, { domain: 1, map, largePages: false, translation }]] });
  if (isEngineError(built)) throw new Error(built.message);
  const err = dev.program(built.registers);
  if (err) throw new Error(err.message);
  return { dev, ram, slpt: Number(built.devices.get(SID)!.slptptr!), end: Number(built.end) };
}

/**
 * The anchor: a legacy 4-level second-level walk as a plain JavaScript loop over one Uint32Array
 * holding the same tables (copied out of the model's RAM, which starts at 0), number in, number
 * out; R checked at each level and the PS bit of the upper levels. Each table address is formed
 * from both halves of its entry (the ADDR field is bits [HAW-1:12]), as the SMMUv3 anchor does, so
 * that the two anchors do the same work per level over the same access pattern (`lowHalves`
 * takes it from the low half alone, right only for tables below 4 GiB, as this anchor did before).
 * None of the model's generality (AGAWs, large pages, reserved bits, faults, caches, traces) is
 * there.
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

  /** The output address of `ia` (below 2^48), or -1. Table offsets fit 32 bits here. */
  walk(ia: number): number {
    const w = this.words;
    const hi = Math.floor(ia / 4294967296);
    const lo = ia >>> 0;
    let at = (this.top + ((hi >>> 7) & 511) * 8) >>> 2;
    let d = w[at]!;
    if ((d & 1) === 0) return -1;
    at = ((((w[at + 1]! & 0xfffff) * 4294967296 + ((d & ~0xfff) >>> 0)) >>> 0) + (((hi & 0x7f) << 2) | (lo >>> 30)) * 8) >>> 2;
    d = w[at]!;
    if ((d & 1) === 0 || (d & 0x80) !== 0) return -1;
    at = ((((w[at + 1]! & 0xfffff) * 4294967296 + ((d & ~0xfff) >>> 0)) >>> 0) + ((lo >>> 21) & 511) * 8) >>> 2;
    d = w[at]!;
    if ((d & 1) === 0 || (d & 0x80) !== 0) return -1;
    at = ((((w[at + 1]! & 0xfffff) * 4294967296 + ((d & ~0xfff) >>> 0)) >>> 0) + ((lo >>> 12) & 511) * 8) >>> 2;
    d = w[at]!;
    if ((d & 1) === 0) return -1;
    return (w[at + 1]! & 0xfffff) * 4294967296 + ((d & ~0xfff) >>> 0) + (lo & 0xfff);
  }

  /** walk() with each table address taken from its entry's low half only. */
  lowHalves(ia: number): number {
    const w = this.words;
    const hi = Math.floor(ia / 4294967296);
    const lo = ia >>> 0;
    let at = (this.top + ((hi >>> 7) & 511) * 8) >>> 2;
    let d = w[at]!;
    if ((d & 1) === 0) return -1;
    at = (((d & ~0xfff) >>> 0) + (((hi & 0x7f) << 2) | (lo >>> 30)) * 8) >>> 2;
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
  const ft = uncached.numberTranslator(0, { uncached: true });
  const ne = newNumberEntry();
  const plain = new PlainVtdWalker(u, u.slpt);
  // The anchor must agree with the model (translate() and the number path) before it is timed.
  for (let i = 0; i < 64; i++) {
    const e = uncached.translate(a[i]!, IOMMU_RO, 0);
    const want = plain.walk(an[i]!);
    if (BigInt(want) !== (e.translatedAddr | (a[i]! & e.addrMask)) || plain.lowHalves(an[i]!) !== want) throw new Error(`the plain walker disagrees at ${a[i]!.toString(16)}`);
    if (!ft.translate(an[i]!, IOMMU_RO, ne) || ne.translated !== want) throw new Error(`the number path disagrees at ${a[i]!.toString(16)}`);
  }
  const anchorCase: RateCase = {
    name: '  anchor: plain-JS walker over one Uint32Array, same tables (number in, number out)',
    unit: 'walks/s',
    run: (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += plain.walk(an[i & 4095]!);
      return acc;
    },
  };
  const lowAnchorCase: RateCase = {
    name: '  the same anchor with table addresses from the low halves only (tables below 4 GiB)',
    unit: 'walks/s',
    run: (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += plain.lowHalves(an[i & 4095]!);
      return acc;
    },
  };
  // The fair comparison: the model's walk with the anchor's shape (number in, number out).
  const numberWalkCase: RateCase = {
    name: 'VT-d legacy 4-level walk, number path (uncached, number in and out)',
    unit: 'walks/s',
    run: (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        ft.translate(an[i & 4095]!, IOMMU_RO, ne);
        acc += ne.translated;
      }
      return acc;
    },
  };
  const walkCase: RateCase = {
    name: 'VT-d legacy 4-level walk, no IOTLB (translate(): bigint in, entry out)',
    unit: 'walks/s',
    goal: '>= 5 M/s',
    run: (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += uncached.translate(a[i & 4095]!, IOMMU_RO, 0).perm;
      return acc;
    },
  };
  // The same plain walker behind this API's shape (bigint in, entry object out, the entry's iova
  // and output aligned to the page as VT-d's are): what the shape alone costs.
  const target = u.dev.downstream;
  const shapedCase: RateCase = {
    name: '  anchor: the same plain-JS walker, API shape (bigint in, entry out)',
    unit: 'walks/s',
    run: (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        const addr = a[i & 4095]!;
        const ia = Number(addr);
        const out = plain.walk(ia);
        const e: IOMMUTLBEntry =
          out < 0 ? { targetAs: target, iova: 0n, translatedAddr: 0n, addrMask: 0n, perm: 0 } : { targetAs: target, iova: addr & ~0xfffn, translatedAddr: BigInt(out - (ia % 4096)), addrMask: 0xfffn, perm: IOMMU_RW };
        acc += e.perm;
      }
      return acc;
    },
  };
  // Each group measured in turns, round by round, so that each ratio compares neighbouring
  // rounds; the cases that allocate (bigints, entry objects) apart from those that do not, whose
  // rounds would otherwise share the garbage collector's work.
  const [anchor, lowAnchor, numberWalk] = ratesInTurn([anchorCase, lowAnchorCase, numberWalkCase], rounds);
  const [walk, shaped] = ratesInTurn([walkCase, shapedCase], rounds);
  out.push(
    numberWalk,
    anchor,
    ratioRow('  ratio: number-path walk / plain-JS walker (same shape)', numberWalk, anchor, '>= 0.3'),
    lowAnchor,
    ratioRow('  ratio: number-path walk / low-halves anchor', numberWalk, lowAnchor, ''),
    walk,
    shaped,
    ratioRow('  ratio: translate() walk / API-shaped plain-JS walker', walk, shaped, ''),
    ratioRow('  ceiling of translate() against the plain-JS walker: API-shaped / plain anchor', shaped, anchor, ''),
    ratioRow('  ratio: translate() walk / plain-JS walker', walk, anchor, ''),
  );

  // First stage (scalable mode, x-flts, PGTT=001b): the same mappings as 4-level first-stage
  // tables. A translation reads the PASID entry again each time (QEMU keeps no PASID cache here);
  // the first pass sets the A bits, as a device's first DMA would, so the timed walks only read.
  const f = vtdBuilt(map, 0, true).dev.regionFor(SID);
  for (const x of a) f.translate(x, IOMMU_RO, 0);
  out.push(
    rate(
      {
        name: 'VT-d first-stage 4-level walk, no IOTLB (translate)',
        unit: 'walks/s',
        run: (n) => {
          let acc = 0;
          for (let i = 0; i < n; i++) acc += f.translate(a[i & 4095]!, IOMMU_RO, 0).perm;
          return acc;
        },
      },
      rounds,
    ),
  );
  out.push(numberRate('VT-d first-stage walk through the number path (uncached probe)', f.numberTranslator(0, { uncached: true }), an, 4096, rounds));

  const cached = vtdWith(map, 1024).regionFor(SID);
  const hot = a.slice(0, 64);
  const hotN = hot.map(Number);
  for (const x of hot) cached.translate(x, IOMMU_RO, 0);
  const hitCase: RateCase = {
    name: 'VT-d translate, IOTLB hit (entry object out)',
    unit: 'translations/s',
    goal: '>= 14 M/s',
    run: (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += cached.translate(hot[i & 63]!, IOMMU_RO, 0).perm;
      return acc;
    },
  };
  // The anchor: the same question (bigint in, entry object out) answered from a JS Map of pages.
  const pagesMap = new Map<number, { out: number; perm: number }>();
  for (const x of hotN) pagesMap.set(Math.floor(x / 4096), { out: plain.walk(x) - (x % 4096), perm: IOMMU_RW });
  const mapAnchorCase: RateCase = {
    name: '  anchor: plain-JS Map lookup, same API shape (bigint in, entry out)',
    unit: 'translations/s',
    run: (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        const addr = hot[i & 63]!;
        const p = pagesMap.get(Math.floor(Number(addr) / 4096))!;
        const e: IOMMUTLBEntry = { targetAs: target, iova: addr & ~0xfffn, translatedAddr: BigInt(p.out), addrMask: 0xfffn, perm: p.perm };
        acc += e.perm;
      }
      return acc;
    },
  };
  const [hit, mapAnchor] = ratesInTurn([hitCase, mapAnchorCase], rounds);
  out.push(hit, mapAnchor, ratioRow('  ratio: IOTLB hit / Map anchor', hit, mapAnchor, ''));
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
