/**
 * Flat views as system/memory.c's render_memory_region draws them (subregions in the order
 * memory_region_update_container_subregions keeps: higher priority first, and among equals the
 * one added last first), address-space lookup, and the sparse RAM backing.
 */
import assert from 'node:assert/strict';
import {
  AddressSpace,
  AliasRegion,
  ContainerRegion,
  MmioRegion,
  RamRegion,
  SparseMemory,
  addressSpaceForRegion,
  isEngineError,
  renderFlatView,
  type AccessSize,
  type FlatRange,
  type MemoryRegion,
} from '../../src/engine';

/** [start, end-exclusive, region name, offset in region] */
type Row = [bigint, bigint, string, bigint];

function rows(view: readonly FlatRange[]): Row[] {
  return view.map((r) => [r.start, r.end, r.region.name, r.offsetInRegion]);
}

function ram(name: string, size: bigint): RamRegion {
  return new RamRegion(name, size);
}

describe('flat view rendering', () => {
  it('a higher priority subregion wins where they overlap, whatever the order they were added in', () => {
    for (const highFirst of [true, false]) {
      const root = new ContainerRegion('root', 0x10000n);
      const low = ram('low', 0x4000n);
      const high = ram('high', 0x4000n);
      if (highFirst) {
        root.addSubregion(high, 0x2000n, 1);
        root.addSubregion(low, 0n, 0);
      } else {
        root.addSubregion(low, 0n, 0);
        root.addSubregion(high, 0x2000n, 1);
      }
      assert.deepEqual(rows(renderFlatView(root)), [
        [0n, 0x2000n, 'low', 0n],
        [0x2000n, 0x6000n, 'high', 0n],
      ]);
    }
  });

  it('negative priorities sort below zero', () => {
    const root = new ContainerRegion('root', 0x10000n);
    root.addSubregion(ram('bg', 0x10000n), 0n, -1);
    root.addSubregion(ram('fg', 0x1000n), 0x1000n, 0);
    assert.deepEqual(rows(renderFlatView(root)), [
      [0n, 0x1000n, 'bg', 0n],
      [0x1000n, 0x2000n, 'fg', 0n],
      [0x2000n, 0x10000n, 'bg', 0x2000n],
    ]);
  });

  it('among equal priorities the subregion added later wins', () => {
    const root = new ContainerRegion('root', 0x10000n);
    root.addSubregion(ram('a', 0x4000n), 0n);
    root.addSubregion(ram('b', 0x4000n), 0x2000n);
    assert.deepEqual(rows(renderFlatView(root)), [
      [0n, 0x2000n, 'a', 0n],
      [0x2000n, 0x6000n, 'b', 0n],
    ]);
    const root2 = new ContainerRegion('root2', 0x10000n);
    root2.addSubregion(ram('b', 0x4000n), 0x2000n);
    root2.addSubregion(ram('a', 0x4000n), 0n);
    assert.deepEqual(rows(renderFlatView(root2)), [
      [0n, 0x4000n, 'a', 0n],
      [0x4000n, 0x6000n, 'b', 0x2000n],
    ]);
  });

  it('keeps the subregion list in QEMU order: priority descending, newest first among equals', () => {
    const root = new ContainerRegion('root', 0x10000n);
    const names = ['p0-first', 'p2', 'p0-second', 'p1', 'p2-second'];
    const prios = [0, 2, 0, 1, 2];
    names.forEach((n, i) => root.addSubregion(ram(n, 0x10n), BigInt(i) * 0x100n, prios[i]));
    assert.deepEqual(
      root.subregions.map((s) => s.region.name),
      ['p2-second', 'p2', 'p1', 'p0-second', 'p0-first'],
    );
  });

  it("a container's children do not compete with the container's siblings", () => {
    // The child has priority 100, but it only ranks inside its container (priority 1), which
    // loses to the sibling with priority 50 everywhere.
    const root = new ContainerRegion('root', 0x10000n);
    const inner = new ContainerRegion('inner', 0x4000n);
    inner.addSubregion(ram('child', 0x1000n), 0x1000n, 100);
    root.addSubregion(inner, 0n, 1);
    root.addSubregion(ram('sibling', 0x8000n), 0n, 50);
    assert.deepEqual(rows(renderFlatView(root)), [[0n, 0x8000n, 'sibling', 0n]]);

    // With the container above the sibling, the child shows, and the container's own gaps let
    // the sibling through (a container does not terminate).
    const root2 = new ContainerRegion('root2', 0x10000n);
    const inner2 = new ContainerRegion('inner2', 0x4000n);
    inner2.addSubregion(ram('child', 0x1000n), 0x1000n, -100);
    root2.addSubregion(inner2, 0n, 60);
    root2.addSubregion(ram('sibling', 0x8000n), 0n, 50);
    assert.deepEqual(rows(renderFlatView(root2)), [
      [0n, 0x1000n, 'sibling', 0n],
      [0x1000n, 0x2000n, 'child', 0n],
      [0x2000n, 0x8000n, 'sibling', 0x2000n],
    ]);
  });

  it('an alias with an offset draws the part of its target it covers', () => {
    const target = ram('target', 0x10000n);
    const root = new ContainerRegion('root', 0x40000n);
    root.addSubregion(new AliasRegion('win', 0x2000n, target, 0x3000n), 0x20000n);
    assert.deepEqual(rows(renderFlatView(root)), [[0x20000n, 0x22000n, 'target', 0x3000n]]);
  });

  it('an alias of a container shows what the container holds, shifted by the alias offset', () => {
    const bus = new ContainerRegion('bus', 0x10000n);
    bus.addSubregion(ram('dev-a', 0x1000n), 0x2000n);
    bus.addSubregion(ram('dev-b', 0x1000n), 0x5000n);
    const root = new ContainerRegion('root', 0x100000n);
    // The window covers bus [0x2800, 0x5800): half of dev-a, a gap, half of dev-b.
    root.addSubregion(new AliasRegion('window', 0x3000n, bus, 0x2800n), 0x80000n);
    assert.deepEqual(rows(renderFlatView(root)), [
      [0x80000n, 0x80800n, 'dev-a', 0x800n],
      [0x82800n, 0x83000n, 'dev-b', 0n],
    ]);
  });

  it('an alias larger than its target is clipped to the target', () => {
    const target = ram('small', 0x1000n);
    const root = new ContainerRegion('root', 0x10000n);
    root.addSubregion(new AliasRegion('big', 0x4000n, target, 0x800n), 0x4000n);
    assert.deepEqual(rows(renderFlatView(root)), [[0x4000n, 0x4800n, 'small', 0x800n]]);
  });

  it('clips a subregion to its parent', () => {
    const root = new ContainerRegion('root', 0x10000n);
    root.addSubregion(ram('tail', 0x4000n), 0xf000n);
    const box = new ContainerRegion('box', 0x2000n);
    box.addSubregion(ram('wide', 0x8000n), 0x1000n);
    root.addSubregion(box, 0x4000n);
    assert.deepEqual(rows(renderFlatView(root)), [
      [0x5000n, 0x6000n, 'wide', 0n],
      [0xf000n, 0x10000n, 'tail', 0n],
    ]);
  });

  it('nested containers add their offsets', () => {
    const root = new ContainerRegion('root', 0x100000n);
    const l1 = new ContainerRegion('l1', 0x10000n);
    const l2 = new ContainerRegion('l2', 0x2000n);
    l2.addSubregion(ram('leaf', 0x100n), 0x100n);
    l1.addSubregion(l2, 0x1000n);
    root.addSubregion(l1, 0x10000n);
    assert.deepEqual(rows(renderFlatView(root)), [[0x11100n, 0x11200n, 'leaf', 0n]]);
  });

  it('a terminating root fills the whole view', () => {
    const r = ram('r', 0x3000n);
    assert.deepEqual(rows(renderFlatView(r)), [[0n, 0x3000n, 'r', 0n]]);
  });

  it('a terminating region with subregions shows through their gaps (MMIO with a RAM window)', () => {
    const mmio = new MmioRegion('dev', 0x4000n);
    mmio.addSubregion(ram('buf', 0x1000n), 0x1000n);
    const root = new ContainerRegion('root', 0x10000n);
    root.addSubregion(mmio, 0x8000n);
    assert.deepEqual(rows(renderFlatView(root)), [
      [0x8000n, 0x9000n, 'dev', 0n],
      [0x9000n, 0xa000n, 'buf', 0n],
      [0xa000n, 0xc000n, 'dev', 0x2000n],
    ]);
  });
});

describe('AddressSpace lookup', () => {
  function space(): { as: AddressSpace; root: ContainerRegion } {
    const root = new ContainerRegion('root', 0x1_0000_0000n);
    root.addSubregion(ram('lo', 0x1000n), 0x1000n);
    root.addSubregion(ram('hi', 0x1000n), 0x2000n);
    root.addSubregion(ram('far', 0x10n), 0xffff_fff0n);
    return { as: new AddressSpace('sys', root), root };
  }

  it('finds the range at its first and last byte, and nothing in the gaps', () => {
    const { as } = space();
    assert.equal(as.lookup(0x0n), undefined);
    assert.equal(as.lookup(0xfffn), undefined);
    assert.equal(as.lookup(0x1000n)!.region.name, 'lo');
    assert.equal(as.lookup(0x1fffn)!.region.name, 'lo');
    assert.equal(as.lookup(0x2000n)!.region.name, 'hi');
    assert.equal(as.lookup(0x2fffn)!.region.name, 'hi');
    assert.equal(as.lookup(0x3000n), undefined);
    assert.equal(as.lookup(0xffff_ffefn), undefined);
    assert.equal(as.lookup(0xffff_fff0n)!.region.name, 'far');
    assert.equal(as.lookup(0xffff_ffffn)!.region.name, 'far');
    assert.equal(as.lookup(0x1_0000_0000n), undefined, 'past the root');
    assert.equal(as.lookup(0xffff_ffff_ffff_ffffn), undefined);
  });

  it('rebuilds the flat view after a subregion is added or removed', () => {
    const { as, root } = space();
    assert.equal(as.flatView().length, 3);
    const late = ram('late', 0x1000n);
    root.addSubregion(late, 0x5000n);
    assert.equal(as.lookup(0x5800n)!.region, late);
    assert.equal(as.flatView().length, 4);
    // A higher-priority region shadows one already in the view.
    const over = ram('over', 0x800n);
    root.addSubregion(over, 0x1400n, 5);
    assert.equal(as.lookup(0x1400n)!.region.name, 'over');
    assert.equal(as.lookup(0x1c00n)!.region.name, 'lo');
    assert.equal(as.lookup(0x1c00n)!.offsetInRegion, 0xc00n);
    assert.equal(root.removeSubregion(over), true);
    assert.equal(as.lookup(0x1400n)!.region.name, 'lo');
    assert.equal(root.removeSubregion(late), true);
    assert.equal(as.lookup(0x5800n), undefined);
    assert.equal(root.removeSubregion(late), false);
  });

  it('sees changes made deep inside the tree', () => {
    const root = new ContainerRegion('root', 0x10000n);
    const inner = new ContainerRegion('inner', 0x1000n);
    root.addSubregion(inner, 0x4000n);
    const as = new AddressSpace('sys', root);
    assert.deepEqual(rows(as.flatView()), []);
    inner.addSubregion(ram('x', 0x100n), 0x80n);
    assert.deepEqual(rows(as.flatView()), [[0x4080n, 0x4180n, 'x', 0n]]);
  });

  it('addressSpaceForRegion gives one address space per region', () => {
    const r: MemoryRegion = ram('r', 0x1000n);
    const a = addressSpaceForRegion(r);
    assert.equal(addressSpaceForRegion(r), a);
    assert.equal(a.root, r);
    assert.deepEqual(rows([a.lookup(0xfffn)!]), [[0n, 0x1000n, 'r', 0n]]);
  });
});

describe('SparseMemory', () => {
  it('reads and writes little-endian values of 1, 2, 4 and 8 bytes', () => {
    const m = new SparseMemory(0x10000n);
    assert.equal(m.write(0x100n, 8, 0x1122_3344_5566_7788n), undefined);
    assert.equal(m.read(0x100n, 1), 0x88n);
    assert.equal(m.read(0x101n, 1), 0x77n);
    assert.equal(m.read(0x100n, 2), 0x7788n);
    assert.equal(m.read(0x102n, 2), 0x5566n);
    assert.equal(m.read(0x100n, 4), 0x5566_7788n);
    assert.equal(m.read(0x104n, 4), 0x1122_3344n);
    assert.equal(m.read(0x100n, 8), 0x1122_3344_5566_7788n);
    m.write(0x103n, 1, 0xabn);
    assert.equal(m.read(0x100n, 8), 0x1122_3344_ab66_7788n);
    m.write(0x106n, 2, 0xbeefn);
    assert.equal(m.read(0x100n, 8), 0xbeef_3344_ab66_7788n);
    m.write(0x100n, 4, 0xdead_c0den);
    assert.equal(m.read(0x100n, 8), 0xbeef_3344_dead_c0den);
  });

  it('handles accesses that cross a 4 KiB page', () => {
    const m = new SparseMemory(0x10000n);
    assert.equal(m.write(0xffen, 4, 0x1122_3344n), undefined);
    assert.equal(m.read(0xffen, 2), 0x3344n);
    assert.equal(m.read(0x1000n, 2), 0x1122n);
    assert.equal(m.read(0xffen, 4), 0x1122_3344n);
    assert.equal(m.read(0xfffn, 2), 0x2233n);
    m.write(0x1ffbn, 8, 0x0102_0304_0506_0708n);
    assert.equal(m.read(0x1ffbn, 8), 0x0102_0304_0506_0708n);
    assert.equal(m.read(0x2000n, 4), 0x0001_0203n);
    assert.equal(m.read(0x1ffcn, 4), 0x0405_0607n);
    // Crossing into a page never written reads its bytes as zero.
    m.write(0x3ffen, 2, 0xffffn);
    assert.equal(m.read(0x3ffen, 4), 0xffffn);
  });

  it('reads 0 from pages never written and allocates nothing for a read', () => {
    const m = new SparseMemory(1n << 40n);
    assert.equal(m.read(0n, 8), 0n);
    assert.equal(m.read(0x1234_5678n, 4), 0n);
    assert.equal(m.read((1n << 40n) - 8n, 8), 0n);
    assert.equal(m.populatedPages, 0);
    m.write(0x5000n, 1, 1n);
    assert.equal(m.populatedPages, 1);
    assert.equal(m.read(0x5001n, 1), 0n);
  });

  it('fillZero clears a range across pages as 8-byte writes of 0 would, allocates no page, and refuses a range past the end', () => {
    const m = new SparseMemory(0x10000n);
    for (let a = 0x0ff0n; a < 0x1010n; a += 8n) m.write(a, 8, 0x1111_2222_3333_4444n);
    m.write(0x3000n, 8, 5n);
    assert.equal(m.populatedPages, 3);
    assert.equal(m.fillZero(0x0ff8n, 0x10n), undefined); // the last 8 bytes of page 0, the first 8 of page 1
    assert.deepEqual([0x0ff0n, 0x0ff8n, 0x1000n, 0x1008n].map((a) => m.read(a, 8)), [0x1111_2222_3333_4444n, 0n, 0n, 0x1111_2222_3333_4444n]);
    // Page 2 was never written: it stays absent (and reads 0); page 3 is cleared.
    assert.equal(m.fillZero(0x2000n, 0x2000n), undefined);
    assert.equal(m.populatedPages, 3);
    assert.equal(m.read(0x3000n, 8), 0n);
    // Past the end: an error, and nothing cleared.
    m.write(0xfff8n, 8, 7n);
    assert.equal(m.fillZero(0xfff8n, 0x10n)?.code, 'memory-fault');
    assert.equal(m.read(0xfff8n, 8), 7n);
  });

  it('an access past the end (or before the start) is a memory-fault EngineError, not an exception', () => {
    const m = new SparseMemory(0x2000n, 'ddr');
    for (const [off, size] of [
      [0x1ffen, 4],
      [0x2000n, 1],
      [0x1ff9n, 8],
      [-1n, 1],
    ] as Array<[bigint, AccessSize]>) {
      const r = m.read(off, size);
      assert.ok(isEngineError(r), `read ${off}/${size}`);
      assert.equal(r.code, 'memory-fault');
      const w = m.write(off, size, 0x55n);
      assert.ok(isEngineError(w), `write ${off}/${size}`);
      assert.equal(w.code, 'memory-fault');
    }
    assert.match((m.read(0x1ffen, 4) as { message: string }).message, /^ddr: /);
    // Nothing was written by the failed writes, not even their in-range bytes.
    assert.equal(m.read(0x1ffen, 2), 0n);
    assert.equal(m.populatedPages, 0);
    // The last bytes are fine.
    assert.equal(m.write(0x1ff8n, 8, 0x77n), undefined);
    assert.equal(m.read(0x1ff8n, 8), 0x77n);
  });

  it('round-trips 64-bit values, including all ones, and truncates values wider than the access', () => {
    const m = new SparseMemory(0x10000n);
    m.write(0x10n, 8, 0xffff_ffff_ffff_ffffn);
    assert.equal(m.read(0x10n, 8), 0xffff_ffff_ffff_ffffn);
    m.write(0xffcn, 8, 0x8000_0000_0000_0001n);
    assert.equal(m.read(0xffcn, 8), 0x8000_0000_0000_0001n);
    m.write(0x20n, 2, 0x1_2345n);
    assert.equal(m.read(0x20n, 4), 0x2345n);
    m.write(0x30n, 8, 0x1_0000_0000_0000_0002n);
    assert.equal(m.read(0x30n, 8), 2n);
    m.write(0x40n, 4, -1n);
    assert.equal(m.read(0x40n, 8), 0xffff_ffffn);
  });

  it('writeBytes writes in order and refuses a range past the end as a whole', () => {
    const m = new SparseMemory(0x1000n);
    assert.equal(m.writeBytes(0xffcn, new Uint8Array([1, 2, 3, 4])), undefined);
    assert.equal(m.read(0xffcn, 4), 0x0403_0201n);
    const e = m.writeBytes(0xffen, new Uint8Array([9, 9, 9]));
    assert.ok(isEngineError(e));
    assert.equal(e.code, 'memory-fault');
    assert.equal(m.read(0xffen, 2), 0x0403n);
  });
});
