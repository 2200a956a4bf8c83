/**
 * Property tests (fast-check) for the invariants the engine must keep:
 * 1. a shadow built from the default replay plus every delivered MAP/UNMAP equals translate();
 * 2. the flat view agrees with a brute-force per-address walk of the region tree in QEMU order;
 * 3. powerOfTwoChunks covers exactly its range with naturally aligned power-of-two chunks;
 * 4. SparseMemory reads back what was written, masked to the access size.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  AddressSpace,
  AliasRegion,
  ContainerRegion,
  IOMMU_NONE,
  IOMMU_NOTIFIER_IOTLB_EVENTS,
  IOMMU_NOTIFIER_MAP,
  IOMMU_NOTIFIER_UNMAP,
  MmioRegion,
  RamRegion,
  SparseMemory,
  TableIommu,
  isEngineError,
  powerOfTwoChunks,
  type AccessSize,
  type IOMMUAccessFlags,
  type IOMMUNotifier,
  type MemoryRegion,
} from '../../src/engine';

describe('property: shadow from replay + notifications equals translate (table model)', () => {
  const PAGE = 0x1000n;
  const PAGES = 32;
  const SIZE = PAGE * BigInt(PAGES);

  const mapArb = fc.record({
    kind: fc.constant('map' as const),
    idx: fc.integer({ min: 0, max: 1 }),
    page: fc.integer({ min: 0, max: PAGES - 1 }),
    pages: fc.integer({ min: 1, max: 9 }),
    perm: fc.integer({ min: 1, max: 3 }),
    tpage: fc.integer({ min: 0, max: 255 }),
    far: fc.boolean(),
  });
  const unmapArb = fc.record({
    kind: fc.constant('unmap' as const),
    idx: fc.integer({ min: 0, max: 1 }),
    page: fc.integer({ min: 0, max: PAGES - 1 }),
    pages: fc.integer({ min: 1, max: 12 }),
  });

  interface Shadow {
    translated: bigint;
    perm: IOMMUAccessFlags;
    as: string;
  }

  it('holds for random map/unmap programs on two indexes', () => {
    fc.assert(
      fc.property(fc.array(mapArb, { maxLength: 6 }), fc.array(fc.oneof(mapArb, unmapArb), { maxLength: 30 }), (initial, program) => {
        const sysRoot = new ContainerRegion('sysmem', 1n << 40n);
        sysRoot.addSubregion(new RamRegion('ddr', 0x100_0000n), 0x8000_0000n);
        const system = new AddressSpace('system', sysRoot);
        const other = new AddressSpace('other', new RamRegion('other-ram', 0x100_0000n));
        const t = TableIommu.create({ name: 't', size: SIZE, indexes: [{ name: 'a' }, { name: 'b', match: { secure: true } }] });
        if (isEngineError(t)) throw new Error(t.message);
        const r = t.region;
        const clip = (page: number, pages: number) => BigInt(Math.min(pages, PAGES - page)) * PAGE;
        for (const m of initial) {
          // Overlapping initial mappings are refused; the rest make the initial state.
          r.load(m.idx, { iova: BigInt(m.page) * PAGE, size: clip(m.page, m.pages), targetAs: m.far ? other : system, target: BigInt(m.tpage) * PAGE, perm: m.perm });
        }

        const shadows = [new Map<bigint, Shadow>(), new Map<bigint, Shadow>()];
        const mapEvents: bigint[] = [];
        const notifiers: IOMMUNotifier[] = [0, 1].map((idx) => ({
          name: `shadow${idx}`,
          owner: 'test',
          flags: IOMMU_NOTIFIER_IOTLB_EVENTS,
          start: 0n,
          end: SIZE - 1n,
          iommuIdx: idx,
          notify: (_n, ev) => {
            const e = ev.entry;
            const shadow = shadows[idx]!;
            for (let p = e.iova; p <= e.iova + e.addrMask; p += PAGE) {
              if (ev.type === IOMMU_NOTIFIER_MAP) {
                assert.ok(e.targetAs !== null);
                shadow.set(p, { translated: e.translatedAddr + (p - e.iova), perm: e.perm, as: e.targetAs.name });
              } else {
                assert.equal(ev.type, IOMMU_NOTIFIER_UNMAP);
                assert.equal(e.perm, IOMMU_NONE);
                shadow.delete(p);
              }
            }
            if (ev.type === IOMMU_NOTIFIER_MAP) mapEvents.push(e.addrMask);
          },
        }));
        for (const n of notifiers) {
          assert.equal(r.registerNotifier(n), undefined);
          const rep = r.replay(n);
          assert.equal(rep.kind, 'default');
          assert.equal(rep.steps, PAGES);
          assert.equal(rep.stopped, undefined);
        }

        const check = () => {
          for (const idx of [0, 1]) {
            for (let p = 0n; p < SIZE; p += PAGE) {
              const e = r.translate(p, IOMMU_NONE, idx);
              const s = shadows[idx]!.get(p);
              if (e.perm === IOMMU_NONE) {
                assert.equal(s, undefined, `index ${idx} page ${p.toString(16)} is unmapped but the shadow has it`);
              } else {
                assert.deepEqual(s, { translated: e.translatedAddr, perm: e.perm, as: e.targetAs!.name }, `index ${idx} page ${p.toString(16)}`);
              }
            }
          }
        };
        check();
        for (const op of program) {
          const iova = BigInt(op.page) * PAGE;
          const size = clip(op.page, op.pages);
          if (op.kind === 'map') {
            r.map(op.idx, { iova, size, targetAs: op.far ? other : system, target: BigInt(op.tpage) * PAGE, perm: op.perm });
          } else {
            r.unmap(op.idx, iova, size);
          }
          check();
        }
        // Every MAP the model sent was a naturally aligned power-of-two chunk.
        for (const m of mapEvents) assert.equal(m & (m + 1n), 0n);
      }),
      { numRuns: 200 },
    );
  });
});

describe('property: flat view equals a brute-force per-address walk', () => {
  const ROOT = 0x400;
  const leafArb = fc.record({
    offset: fc.integer({ min: 0, max: 0x1ff }),
    size: fc.integer({ min: 1, max: 0x100 }),
    prio: fc.integer({ min: -2, max: 2 }),
  });
  const nodeArb = fc.record({
    kind: fc.constantFrom('ram', 'mmio', 'container', 'alias'),
    offset: fc.integer({ min: 0, max: ROOT - 1 }),
    size: fc.integer({ min: 1, max: 0x200 }),
    prio: fc.integer({ min: -2, max: 2 }),
    children: fc.array(leafArb, { maxLength: 3 }),
    aliasOffset: fc.integer({ min: 0, max: 0x100 }),
  });

  /** The test's own record of placements, to sort in QEMU's order independently of the engine. */
  interface Placement {
    region: MemoryRegion;
    offset: number;
    prio: number;
    seq: number;
  }
  const placements = new WeakMap<MemoryRegion, Placement[]>();
  let seq = 0;
  function place(parent: MemoryRegion, region: MemoryRegion, offset: number, prio: number): void {
    assert.equal(parent.addSubregion(region, BigInt(offset), prio), undefined);
    const list = placements.get(parent) ?? [];
    list.push({ region, offset, prio, seq: seq++ });
    placements.set(parent, list);
  }

  /** QEMU order: higher priority first; among equals, the one added later first. */
  function ordered(parent: MemoryRegion): Placement[] {
    return [...(placements.get(parent) ?? [])].sort((a, b) => b.prio - a.prio || b.seq - a.seq);
  }

  function resolve(mr: MemoryRegion, addr: number): { region: MemoryRegion; offset: number } | undefined {
    if (addr < 0 || BigInt(addr) >= mr.size) return undefined;
    if (mr instanceof AliasRegion) return resolve(mr.target, addr + Number(mr.targetOffset));
    for (const p of ordered(mr)) {
      if (addr >= p.offset) {
        const r = resolve(p.region, addr - p.offset);
        if (r) return r;
      }
    }
    const terminates = mr instanceof RamRegion || mr instanceof MmioRegion;
    return terminates ? { region: mr, offset: addr } : undefined;
  }

  it('holds for random trees of RAM, MMIO with windows, containers and aliases', () => {
    fc.assert(
      fc.property(fc.array(nodeArb, { minLength: 1, maxLength: 8 }), (nodes) => {
        const root = new ContainerRegion('root', BigInt(ROOT));
        nodes.forEach((n, i) => {
          const size = BigInt(n.size);
          const fill = (parent: MemoryRegion) =>
            n.children.forEach((c, j) => place(parent, new RamRegion(`n${i}c${j}`, BigInt(c.size)), c.offset, c.prio));
          let region: MemoryRegion;
          if (n.kind === 'ram') region = new RamRegion(`n${i}`, size);
          else if (n.kind === 'mmio') {
            region = new MmioRegion(`n${i}`, size);
            fill(region);
          } else if (n.kind === 'container') {
            region = new ContainerRegion(`n${i}`, size);
            fill(region);
          } else {
            const target = new ContainerRegion(`n${i}t`, 0x200n);
            fill(target);
            region = new AliasRegion(`n${i}`, size, target, BigInt(n.aliasOffset));
          }
          place(root, region, n.offset, n.prio);
        });
        const as = new AddressSpace('as', root);
        const view = as.flatView();
        for (let k = 0; k < view.length; k++) {
          const r = view[k]!;
          assert.ok(r.start < r.end, 'no empty ranges');
          if (k > 0) assert.ok(view[k - 1]!.end <= r.start, 'sorted and disjoint');
        }
        for (let a = 0; a < ROOT + 4; a++) {
          const want = resolve(root, a);
          const got = as.lookup(BigInt(a));
          if (want === undefined) {
            assert.equal(got, undefined, `address ${a.toString(16)}: expected unassigned, got ${got?.region.name}`);
          } else {
            assert.ok(got, `address ${a.toString(16)}: expected ${want.region.name}+${want.offset.toString(16)}, got unassigned`);
            assert.equal(got.region.name, want.region.name, `address ${a.toString(16)}`);
            assert.equal(got.region, want.region);
            assert.equal(BigInt(a) - got.start + got.offsetInRegion, BigInt(want.offset), `offset at ${a.toString(16)}`);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('property: powerOfTwoChunks', () => {
  const TWO64 = 1n << 64n;
  const startArb = fc.oneof(
    fc.bigInt({ min: 0n, max: TWO64 - 1n }),
    fc.tuple(fc.bigInt({ min: 0n, max: (1n << 20n) - 1n }), fc.integer({ min: 0, max: 63 })).map(([v, s]) => (v << BigInt(s)) % TWO64),
    fc.constant(0n),
  );
  const rangeArb = startArb.chain((start) =>
    fc.oneof(fc.bigInt({ min: 1n, max: TWO64 - start }), fc.bigInt({ min: 1n, max: 0x10_0000n }).map((s) => (s > TWO64 - start ? TWO64 - start : s))).map((size) => ({ start, size })),
  );

  it('covers exactly [start, start+size) with maximal naturally aligned power-of-two chunks', () => {
    fc.assert(
      fc.property(rangeArb, ({ start, size }) => {
        const chunks = powerOfTwoChunks(start, size);
        let at = start;
        let left = size;
        for (const c of chunks) {
          assert.equal(c.iova, at, 'contiguous');
          assert.ok(c.size > 0n && (c.size & (c.size - 1n)) === 0n, 'power of two');
          assert.equal(c.iova % c.size, 0n, 'naturally aligned');
          assert.ok(c.size <= left, 'inside the range');
          // Largest first: doubling would break alignment or overrun the range.
          assert.ok(c.size * 2n > left || c.iova % (c.size * 2n) !== 0n, 'maximal');
          at += c.size;
          left -= c.size;
        }
        assert.equal(left, 0n);
        assert.equal(at, start + size);
        assert.ok(chunks.length <= 128);
      }),
      { numRuns: 500 },
    );
  });
});

describe('property: SparseMemory', () => {
  const SIZE = 0x3000;
  const sizeArb = fc.constantFrom<AccessSize>(1, 2, 4, 8);
  const valueArb = fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }));

  it('write then read gives the value masked to the access size', () => {
    fc.assert(
      fc.property(sizeArb, fc.integer({ min: 0, max: SIZE - 8 }), valueArb, (size, offset, value) => {
        const m = new SparseMemory(BigInt(SIZE));
        assert.equal(m.write(BigInt(offset), size, value), undefined);
        assert.equal(m.read(BigInt(offset), size), BigInt.asUintN(size * 8, value));
      }),
      { numRuns: 500 },
    );
  });

  it('agrees with a byte-array reference over random write sequences (page crossings included)', () => {
    const opArb = fc.record({ size: sizeArb, offset: fc.integer({ min: 0xff0, max: 0x2010 }), value: valueArb });
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 20 }), fc.array(fc.tuple(sizeArb, fc.integer({ min: 0xfe0, max: 0x2020 })), { maxLength: 20 }), (writes, reads) => {
        const m = new SparseMemory(BigInt(SIZE));
        const ref = new Uint8Array(SIZE);
        for (const w of writes) {
          m.write(BigInt(w.offset), w.size, w.value);
          const v = BigInt.asUintN(64, w.value);
          for (let i = 0; i < w.size; i++) ref[w.offset + i] = Number((v >> BigInt(8 * i)) & 0xffn);
        }
        for (const [size, offset] of reads) {
          let want = 0n;
          for (let i = size - 1; i >= 0; i--) want = (want << 8n) | BigInt(ref[offset + i]!);
          assert.equal(m.read(BigInt(offset), size), want, `read ${size} at ${offset.toString(16)}`);
        }
      }),
      { numRuns: 300 },
    );
  });
});
