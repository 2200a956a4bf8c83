/**
 * SMMUv3 translation speed (issue 9's targets): uncached 4-level stage-1 walks beside a plain-JS
 * walker over the same tables, IOTLB hits through translate() beside a plain-JS Map with the same
 * API shape, the number fast path, and the walk replay (with its scaling). Tables are built into
 * RAM by the model's builder, so every walk reads real descriptors.
 */
import { AddressSpace, ContainerRegion, IOMMU_NOTIFIER_UNMAP, IOMMU_RO, IOMMU_RW, RamRegion, isEngineError, type IOMMUNotifier, type NumberEntry, type IOMMUTLBEntry } from '../src/engine';
import { Smmuv3, buildSmmuTables, type BuildMapping } from '../src/engine/models/smmuv3';
import { rate, ratesInTurn, ratioRow, time, type BenchResult, type RateCase } from './harness';

const RAM_BASE = 0x8000_0000n;
const SID = 0x10;

interface Built {
  readonly smmu: Smmuv3;
  readonly ram: RamRegion;
  /** TTB0 (a guest address) and the end of what the builder wrote (an offset in `ram`). */
  readonly ttb0: number;
  readonly end: number;
}

function smmuWith(map: readonly BuildMapping[], iotlbSize: number, blocks: boolean): Built {
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
  return { smmu, ram, ttb0: Number(built.streams.get(SID)!.ttb0!), end: Number(built.end) };
}

/** `pages` 4 KiB pages from iova 0x1_0000_0000, each to its own scattered output (no blocks form). */
export function pageMappings(pages: number): BuildMapping[] {
  const out: BuildMapping[] = [];
  for (let i = 0; i < pages; i++) {
    out.push({ iova: 0x1_0000_0000n + BigInt(i) * 0x1000n, size: 0x1000n, pa: 0x100_0000_0000n + BigInt((i * 7919) % pages) * 0x1000n, perm: IOMMU_RW });
  }
  return out;
}

/** `n` pseudo-random addresses inside the `pages` mapped by pageMappings (an odd offset in each page). */
export function addrs(n: number, pages: number): bigint[] {
  let x = 0x1234567;
  return Array.from({ length: n }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return 0x1_0000_0000n + BigInt((x >>> 0) % pages) * 0x1000n + 0x18n;
  });
}

/**
 * The anchor: a 4 KiB, 4-level stage-1 walk as a plain JavaScript loop over one Uint32Array
 * holding the same tables (copied out of the model's RAM), number in, number out. It checks what
 * the architecture requires of this walk over these tables: the valid bit and the table and page
 * types at every level, the access flag at the leaf (CD.AFFD is 0 here: AF=0 is an Access flag
 * fault) and AP[2] for a write. The output-size checks are vacuous at these tables' 48-bit IPS
 * (descriptor bits [47:12] cannot exceed it), and no table here sets APTable, so it does not
 * test them. None of the model's generality (granules, levels, blocks, stage 2, profiles, faults
 * as events, traces, memory that is sparse and live) is there.
 */
class PlainWalker {
  private readonly words: Uint32Array;
  constructor(
    b: Built,
    private readonly ttb: number,
  ) {
    this.words = new Uint32Array(Math.ceil(b.end / 8) * 2);
    for (let off = 0; off < b.end; off += 8) {
      const v = b.ram.backing.read(BigInt(off), 8);
      if (typeof v !== 'bigint') throw new Error('table memory unreadable');
      this.words[off / 4] = Number(v & 0xffffffffn);
      this.words[off / 4 + 1] = Number(v >> 32n);
    }
  }

  /** The output address of `ia` (below 2^48), or -1 (invalid, or a write to a read-only page when `write`). */
  walk(ia: number, write: boolean): number {
    const w = this.words;
    const hi = Math.floor(ia / 4294967296);
    const lo = ia >>> 0;
    // Table offsets from the RAM base fit in 32 bits here; indexes are the 9-bit fields of the input.
    let at = (this.ttb - 0x8000_0000 + ((hi >>> 7) & 511) * 8) >>> 2;
    let d = w[at]!;
    if ((d & 3) !== 3) return -1;
    at = ((((w[at + 1]! & 0xffff) * 4294967296 + ((d & ~0xfff) >>> 0) - 0x8000_0000) >>> 0) + ((((hi & 0x7f) << 2) | (lo >>> 30)) * 8)) >>> 2;
    d = w[at]!;
    if ((d & 3) !== 3) return -1;
    at = ((((w[at + 1]! & 0xffff) * 4294967296 + ((d & ~0xfff) >>> 0) - 0x8000_0000) >>> 0) + ((lo >>> 21) & 511) * 8) >>> 2;
    d = w[at]!;
    if ((d & 3) !== 3) return -1;
    at = ((((w[at + 1]! & 0xffff) * 4294967296 + ((d & ~0xfff) >>> 0) - 0x8000_0000) >>> 0) + ((lo >>> 12) & 511) * 8) >>> 2;
    d = w[at]!;
    if ((d & 3) !== 3 || (d & 0x400) === 0) return -1;
    if (write && (d & 0x80) !== 0) return -1;
    return (w[at + 1]! & 0xffff) * 4294967296 + ((d & ~0xfff) >>> 0) + (lo & 0xfff);
  }
}

export function benchSmmuv3(rounds: number): BenchResult[] {
  const out: BenchResult[] = [];
  const pages = 65536;
  const map = pageMappings(pages);
  const a = addrs(4096, pages);
  const an = a.map(Number);

  const u = smmuWith(map, 0, false);
  const uncached = u.smmu.regionFor(SID);
  const ft = uncached.numberTranslator(0, { uncached: true });
  const ne: NumberEntry = { targetAs: null, translated: 0, shift: 0, perm: 0, fault: 0 };
  const plain = new PlainWalker(u, u.ttb0);
  // The anchor must agree with the model (translate() and the number path) before it is timed.
  for (let i = 0; i < 64; i++) {
    const e = uncached.translate(a[i]!, IOMMU_RO, 0);
    if (BigInt(plain.walk(an[i]!, false)) !== e.translatedAddr) throw new Error(`the plain walker disagrees at ${a[i]!.toString(16)}`);
    if (!ft.translate(an[i]!, IOMMU_RO, ne) || ne.translated !== plain.walk(an[i]!, false)) throw new Error(`the number path disagrees at ${a[i]!.toString(16)}`);
  }
  const anchorCase: RateCase = {
    name: '  anchor: plain-JS walker over one Uint32Array, same tables (number in, number out)',
    unit: 'walks/s',
    run: (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += plain.walk(an[i & 4095]!, false);
      return acc;
    },
  };
  // The fair comparison: the model's walk with the anchor's shape (number in, number out).
  const numberWalkCase: RateCase = {
    name: 'SMMUv3 stage-1 4-level 4 KiB walk, number path (uncached, number in and out)',
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
    name: 'SMMUv3 stage-1 4-level 4 KiB walk, no IOTLB (translate(): bigint in, entry out)',
    unit: 'walks/s',
    goal: '>= 5 M/s',
    run: (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += uncached.translate(a[i & 4095]!, IOMMU_RO, 0).perm;
      return acc;
    },
  };
  // The same plain walker behind this API's shape (bigint in, entry object out): what the shape
  // alone costs (two conversions between bigint and number, one object).
  const target = u.smmu.downstream;
  const shapedCase: RateCase = {
    name: '  anchor: the same plain-JS walker, API shape (bigint in, entry out)',
    unit: 'walks/s',
    run: (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        const addr = a[i & 4095]!;
        const out = plain.walk(Number(addr), false);
        const e: IOMMUTLBEntry = out < 0 ? { targetAs: target, iova: addr, translatedAddr: addr, addrMask: -1n, perm: 0 } : { targetAs: target, iova: addr, translatedAddr: BigInt(out), addrMask: 0xfffn, perm: IOMMU_RO };
        acc += e.perm;
      }
      return acc;
    },
  };
  // Each group measured in turns, round by round, so that each ratio compares neighbouring
  // rounds; the cases that allocate (bigints, entry objects) apart from those that do not, whose
  // rounds would otherwise share the garbage collector's work.
  const [anchor, numberWalk] = ratesInTurn([anchorCase, numberWalkCase], rounds);
  const [walk, shaped] = ratesInTurn([walkCase, shapedCase], rounds);
  out.push(
    numberWalk,
    anchor,
    ratioRow('  ratio: number-path walk / plain-JS walker (same shape)', numberWalk, anchor, '>= 0.3'),
    walk,
    shaped,
    ratioRow('  ratio: translate() walk / API-shaped plain-JS walker', walk, shaped, ''),
    ratioRow('  ceiling of translate() against the plain-JS walker: API-shaped / plain anchor', shaped, anchor, ''),
    ratioRow('  ratio: translate() walk / plain-JS walker', walk, anchor, ''),
  );

  const cached = smmuWith(map, 256, false).smmu.regionFor(SID);
  const hot = a.slice(0, 64);
  const hotN = hot.map(Number);
  for (const x of hot) cached.translate(x, IOMMU_RO, 0);
  const hitCase: RateCase = {
    name: 'SMMUv3 translate, IOTLB hit (entry object out)',
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
  for (const x of hotN) pagesMap.set(Math.floor(x / 4096), { out: plain.walk(x, false) - (x % 4096), perm: IOMMU_RW });
  const mapAnchorCase: RateCase = {
    name: '  anchor: plain-JS Map lookup, same API shape (bigint in, entry out)',
    unit: 'translations/s',
    run: (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        const addr = hot[i & 63]!;
        const ia = Number(addr);
        const p = pagesMap.get(Math.floor(ia / 4096))!;
        const e: IOMMUTLBEntry = { targetAs: target, iova: addr, translatedAddr: BigInt(p.out + (ia % 4096)), addrMask: 0xfffn, perm: p.perm };
        acc += e.perm;
      }
      return acc;
    },
  };
  const [hit, mapAnchor] = ratesInTurn([hitCase, mapAnchorCase], rounds);
  out.push(hit, mapAnchor, ratioRow('  ratio: IOTLB hit / Map anchor', hit, mapAnchor, ''));

  const fc = cached.numberTranslator?.(0);
  if (fc) {
    const e: NumberEntry = { targetAs: null, translated: 0, shift: 0, perm: 0, fault: 0 };
    out.push(
      rate(
        {
          name: 'SMMUv3 IOTLB hit through the number path (no allocation)',
          unit: 'translations/s',
          goal: '>= 30 M/s',
          run: (n) => {
            let acc = 0;
            for (let i = 0; i < n; i++) {
              fc.translate(hotN[i & 63]!, IOMMU_RO, e);
              acc += e.perm;
            }
            return acc;
          },
        },
        rounds,
      ),
    );
  } else {
    out.push({ name: 'SMMUv3 IOTLB hit through the number path (no allocation)', median: 0, min: 0, max: 0, unit: 'translations/s', rounds: 0, goal: '>= 30 M/s (none here)' });
  }
  return out;
}

/** The walk replay of `pages` 4 KiB mappings into a registered UNMAP notifier; ms per replay. */
export function benchReplay(pages: number, rounds: number, goal?: string): BenchResult {
  const big = smmuWith(pageMappings(pages), 256, false).smmu;
  const region = big.regionFor(SID);
  let delivered = 0;
  const n: IOMMUNotifier = { name: 'bench', owner: 'bench', flags: IOMMU_NOTIFIER_UNMAP, start: 0n, end: (1n << 64n) - 1n, iommuIdx: 0, notify: () => {} };
  // SMMUv3 refuses MAP notifiers, so the replay's MAPs reach a registered UNMAP notifier and are
  // filtered there; the region's observer counts them.
  const err = region.registerNotifier(n);
  if (err) throw new Error(err.message);
  region.observer = () => delivered++;
  const r = time(`SMMUv3 walk replay of ${pages.toLocaleString('en-US')} 4 KiB mappings`, () => region.replay(n), rounds, goal);
  region.observer = undefined;
  if (delivered < pages) throw new Error(`the replay delivered ${delivered} MAPs, not ${pages} per round`);
  return r;
}
