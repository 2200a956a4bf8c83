/**
 * The declarative `table` model: construction errors, index selection, translate entries, and the
 * MAP/UNMAP notifications its map()/unmap() send (naturally aligned power-of-two chunks, as QEMU's
 * virtio-iommu and SMMUv3 split ranges; UNMAP with perm NONE as memory_region_notify_iommu_one
 * asserts).
 */
import assert from 'node:assert/strict';
import {
  AddressSpace,
  ContainerRegion,
  IOMMU_NONE,
  IOMMU_NOTIFIER_IOTLB_EVENTS,
  IOMMU_NOTIFIER_MAP,
  IOMMU_NOTIFIER_UNMAP,
  IOMMU_RO,
  IOMMU_RW,
  IOMMU_WO,
  MEMTXATTRS_UNSPECIFIED,
  RamRegion,
  TableIommu,
  isEngineError,
  powerOfTwoChunks,
  register,
  type EngineError,
  type IOMMUNotifier,
  type IOMMUTLBEvent,
  type TableIommuOptions,
  type TableMapping,
} from '../../src/engine';

function systemAs(): AddressSpace {
  const root = new ContainerRegion('sysmem', 1n << 32n);
  root.addSubregion(new RamRegion('ddr', 0x1000_0000n), 0x8000_0000n);
  return new AddressSpace('system', root);
}

function create(opts: TableIommuOptions): TableIommu {
  const t = TableIommu.create(opts);
  if (isEngineError(t)) throw new Error(`${t.code}: ${t.message}`);
  return t;
}

function expectError(v: unknown, code: string): EngineError {
  assert.ok(isEngineError(v), `expected ${code}, got ${String(v)}`);
  assert.equal(v.code, code);
  return v;
}

function listener(flags = IOMMU_NOTIFIER_IOTLB_EVENTS, iommuIdx = 0): IOMMUNotifier & { events: IOMMUTLBEvent[] } {
  const events: IOMMUTLBEvent[] = [];
  return {
    name: `l${iommuIdx}`,
    owner: 'test',
    flags,
    start: 0n,
    end: 0xffff_ffff_ffff_ffffn,
    iommuIdx,
    events,
    notify: (_n, ev) => events.push({ type: ev.type, entry: { ...ev.entry } }),
  };
}

describe('TableIommu.create', () => {
  const sys = systemAs();
  const base = (over: Partial<TableIommuOptions>): TableIommuOptions => ({ name: 't', size: 0x10000n, indexes: [{ name: 'i0' }], ...over });
  const map = (iova: bigint, size: bigint, target = 0x8000_0000n): TableMapping => ({ iova, size, targetAs: sys, target, perm: IOMMU_RW });

  const cases: Array<[string, Partial<TableIommuOptions>, string]> = [
    ['a page size that is not a power of two', { minPageSize: 0x1800n }, 'page-size'],
    ['a zero page size', { minPageSize: 0n }, 'page-size'],
    ['a size that is not a multiple of the page', { size: 0x10800n }, 'region-size'],
    ['a zero size', { size: 0n }, 'region-size'],
    ['a negative size', { size: -0x1000n }, 'region-size'],
    ['no indexes', { indexes: [] }, 'no-indexes'],
    ['a default index past the end', { defaultIndex: 1 }, 'index-range'],
    ['a negative default index', { defaultIndex: -1 }, 'index-range'],
    ['a fractional default index', { defaultIndex: 0.5 }, 'index-range'],
    ['an unaligned mapping iova', { indexes: [{ name: 'i0', mappings: [map(0x800n, 0x1000n)] }] }, 'mapping-alignment'],
    ['an unaligned mapping size', { indexes: [{ name: 'i0', mappings: [map(0x1000n, 0x1800n)] }] }, 'mapping-alignment'],
    ['an unaligned mapping target', { indexes: [{ name: 'i0', mappings: [map(0x1000n, 0x1000n, 0x8000_0100n)] }] }, 'mapping-alignment'],
    ['a zero-sized mapping', { indexes: [{ name: 'i0', mappings: [map(0x1000n, 0n)] }] }, 'mapping-size'],
    ['a mapping past the end', { indexes: [{ name: 'i0', mappings: [map(0xf000n, 0x2000n)] }] }, 'mapping-range'],
    ['overlapping mappings', { indexes: [{ name: 'i0', mappings: [map(0x1000n, 0x2000n), map(0x2000n, 0x1000n)] }] }, 'mapping-overlap'],
    ['a mapping overlapping a later one', { indexes: [{ name: 'i0', mappings: [map(0x4000n, 0x2000n), map(0x2000n, 0x3000n)] }] }, 'mapping-overlap'],
  ];
  for (const [what, over, code] of cases) {
    it(`refuses ${what} with ${code}`, () => {
      const r = TableIommu.create(base(over));
      const e = expectError(r, code);
      assert.ok(e.message.length > 10);
    });
  }

  it('accepts touching mappings and the same range in different indexes', () => {
    const t = TableIommu.create(
      base({
        indexes: [
          { name: 'a', mappings: [map(0x1000n, 0x1000n), map(0x2000n, 0x1000n), map(0xf000n, 0x1000n)] },
          { name: 'b', mappings: [map(0x1000n, 0x2000n)] },
        ],
      }),
    );
    assert.ok(!isEngineError(t));
    assert.equal(t.region.numIndexes(), 2);
    assert.deepEqual(t.region.mappings(0).map((m) => m.iova), [0x1000n, 0x2000n, 0xf000n]);
    assert.equal(t.region.minPageSize(), 0x1000n);
    assert.equal(t.regionFor(), t.region);
    assert.deepEqual(t.regions(), [t.region]);
  });

  it('keeps mappings sorted whatever order they are given in', () => {
    const t = create(base({ indexes: [{ name: 'a', mappings: [map(0x8000n, 0x1000n), map(0x1000n, 0x1000n), map(0x4000n, 0x2000n)] }] }));
    assert.deepEqual(t.region.mappings(0).map((m) => m.iova), [0x1000n, 0x4000n, 0x8000n]);
    assert.equal(t.region.find(0, 0x5fffn)?.iova, 0x4000n);
    assert.equal(t.region.find(0, 0x6000n), undefined);
  });
});

describe('TableIommu index selection (attrsToIndex)', () => {
  const t = create({
    name: 't',
    size: 0x10000n,
    defaultIndex: 3,
    indexes: [
      { name: 'dev10', match: { requesterId: 0x10 } },
      { name: 'secure', match: { secure: true } },
      { name: 'range', match: { requesterId: [0x20, 0x2f] } },
      { name: 'default' },
    ],
  });

  it('first match wins', () => {
    assert.equal(t.region.attrsToIndex({ secure: true, requesterId: 0x10 }), 0);
    assert.equal(t.region.attrsToIndex({ secure: true, requesterId: 0x20 }), 1);
    assert.equal(t.region.attrsToIndex({ requesterId: 0x2f }), 2);
    assert.equal(t.region.attrsToIndex({ requesterId: 0x20 }), 2);
  });

  it('falls back to the default index', () => {
    assert.equal(t.region.attrsToIndex({ requesterId: 0x30 }), 3);
    assert.equal(t.region.attrsToIndex({}), 3);
    assert.equal(t.region.attrsToIndex(MEMTXATTRS_UNSPECIFIED), 3);
  });

  it('names indexes and describes their selectors', () => {
    assert.equal(t.region.indexName(1), 'secure');
    assert.equal(t.region.indexName(9), '9');
    assert.equal(t.region.indexSelector(3), 'no other match (default)');
    assert.equal(t.region.indexSelector(1), 'secure');
  });
});

describe('TableIommu translate', () => {
  const sys = systemAs();
  const t = create({
    name: 't',
    size: 0x10_0000n,
    indexes: [
      { name: 'a', mappings: [{ iova: 0x4000n, size: 0x3000n, targetAs: sys, target: 0x8010_0000n, perm: IOMMU_RO }] },
      { name: 'b', mappings: [{ iova: 0x4000n, size: 0x1000n, targetAs: sys, target: 0x8020_0000n, perm: IOMMU_WO }] },
    ],
  });

  it('returns the page entry inside a mapping: iova = page, translated = target + page offset, mask = page - 1', () => {
    assert.deepEqual(t.region.translate(0x4000n, IOMMU_NONE, 0), { targetAs: sys, iova: 0x4000n, translatedAddr: 0x8010_0000n, addrMask: 0xfffn, perm: IOMMU_RO });
    assert.deepEqual(t.region.translate(0x5abcn, IOMMU_RO, 0), { targetAs: sys, iova: 0x5000n, translatedAddr: 0x8010_1000n, addrMask: 0xfffn, perm: IOMMU_RO });
    assert.deepEqual(t.region.translate(0x6fffn, IOMMU_WO, 0), { targetAs: sys, iova: 0x6000n, translatedAddr: 0x8010_2000n, addrMask: 0xfffn, perm: IOMMU_RO });
  });

  it('gives each index its own table', () => {
    assert.deepEqual(t.region.translate(0x4010n, IOMMU_NONE, 1), { targetAs: sys, iova: 0x4000n, translatedAddr: 0x8020_0000n, addrMask: 0xfffn, perm: IOMMU_WO });
    assert.equal(t.region.translate(0x5000n, IOMMU_NONE, 1).perm, IOMMU_NONE);
  });

  it('returns perm NONE with no target outside every mapping', () => {
    assert.deepEqual(t.region.translate(0x3fffn, IOMMU_NONE, 0), { targetAs: null, iova: 0x3000n, translatedAddr: 0n, addrMask: 0xfffn, perm: IOMMU_NONE });
    assert.deepEqual(t.region.translate(0x7000n, IOMMU_RO, 0), { targetAs: null, iova: 0x7000n, translatedAddr: 0n, addrMask: 0xfffn, perm: IOMMU_NONE });
  });
});

describe('TableIommu map/unmap notifications', () => {
  function fresh() {
    const sys = systemAs();
    const t = create({ name: 't', size: 0x100_0000n, indexes: [{ name: 'a' }, { name: 'b' }] });
    const l0 = listener(IOMMU_NOTIFIER_IOTLB_EVENTS, 0);
    const l1 = listener(IOMMU_NOTIFIER_IOTLB_EVENTS, 1);
    t.region.registerNotifier(l0);
    t.region.registerNotifier(l1);
    return { sys, t, l0, l1 };
  }

  it('map 0x3000+0x5000 sends MAP 0x3000/0xfff then 0x4000/0x3fff, with the translated address of each chunk', () => {
    const { sys, t, l0, l1 } = fresh();
    assert.equal(t.region.map(0, { iova: 0x3000n, size: 0x5000n, targetAs: sys, target: 0x8000_7000n, perm: IOMMU_RW }), undefined);
    assert.deepEqual(l0.events, [
      { type: IOMMU_NOTIFIER_MAP, entry: { targetAs: sys, iova: 0x3000n, translatedAddr: 0x8000_7000n, addrMask: 0xfffn, perm: IOMMU_RW } },
      { type: IOMMU_NOTIFIER_MAP, entry: { targetAs: sys, iova: 0x4000n, translatedAddr: 0x8000_8000n, addrMask: 0x3fffn, perm: IOMMU_RW } },
    ]);
    assert.equal(l1.events.length, 0, 'other index not notified');
    assert.equal(t.region.translate(0x7fffn, IOMMU_NONE, 0).translatedAddr, 0x8000_b000n);
  });

  it('splits an unaligned range into the largest aligned chunks at each position', () => {
    const { sys, t, l1 } = fresh();
    assert.equal(t.region.map(1, { iova: 0x1000n, size: 0xe000n, targetAs: sys, target: 0x8010_0000n, perm: IOMMU_RO }), undefined);
    assert.deepEqual(
      l1.events.map((e) => [e.entry.iova, e.entry.addrMask, e.entry.translatedAddr, e.entry.perm]),
      [
        [0x1000n, 0xfffn, 0x8010_0000n, IOMMU_RO],
        [0x2000n, 0x1fffn, 0x8010_1000n, IOMMU_RO],
        [0x4000n, 0x3fffn, 0x8010_3000n, IOMMU_RO],
        [0x8000n, 0x3fffn, 0x8010_7000n, IOMMU_RO],
        [0xc000n, 0x1fffn, 0x8010_b000n, IOMMU_RO],
        [0xe000n, 0xfffn, 0x8010_d000n, IOMMU_RO],
      ],
    );
  });

  it('a refused map (overlap) changes nothing and sends nothing', () => {
    const { sys, t, l0 } = fresh();
    t.region.map(0, { iova: 0x4000n, size: 0x4000n, targetAs: sys, target: 0x8000_0000n, perm: IOMMU_RW });
    l0.events.length = 0;
    expectError(t.region.map(0, { iova: 0x7000n, size: 0x2000n, targetAs: sys, target: 0x8000_0000n, perm: IOMMU_RW }), 'mapping-overlap');
    expectError(t.region.map(5, { iova: 0x7000n, size: 0x2000n, targetAs: sys, target: 0x8000_0000n, perm: IOMMU_RW }), 'index-range');
    assert.equal(l0.events.length, 0);
    assert.equal(t.region.mappings(0).length, 1);
  });

  it('unmap sends UNMAP with perm NONE per chunk of each removed mapping and returns them', () => {
    const { sys, t, l0 } = fresh();
    const m1 = { iova: 0x3000n, size: 0x5000n, targetAs: sys, target: 0x8000_7000n, perm: IOMMU_RW };
    const m2 = { iova: 0x10000n, size: 0x1000n, targetAs: sys, target: 0x8000_0000n, perm: IOMMU_RO };
    t.region.map(0, m1);
    t.region.map(0, m2);
    l0.events.length = 0;
    const removed = t.region.unmap(0, 0x0n, 0x20000n);
    assert.ok(!isEngineError(removed));
    assert.deepEqual(removed.map((m) => m.iova), [0x3000n, 0x10000n]);
    assert.deepEqual(
      l0.events.map((e) => [e.type, e.entry.iova, e.entry.addrMask, e.entry.perm, e.entry.translatedAddr]),
      [
        [IOMMU_NOTIFIER_UNMAP, 0x3000n, 0xfffn, IOMMU_NONE, 0n],
        [IOMMU_NOTIFIER_UNMAP, 0x4000n, 0x3fffn, IOMMU_NONE, 0n],
        [IOMMU_NOTIFIER_UNMAP, 0x10000n, 0xfffn, IOMMU_NONE, 0n],
      ],
    );
    assert.equal(t.region.mappings(0).length, 0);
    assert.equal(t.region.translate(0x4000n, IOMMU_NONE, 0).perm, IOMMU_NONE);
  });

  it('a partial unmap is an error and changes nothing', () => {
    const { sys, t, l0 } = fresh();
    t.region.map(0, { iova: 0x3000n, size: 0x5000n, targetAs: sys, target: 0x8000_7000n, perm: IOMMU_RW });
    t.region.map(0, { iova: 0x10000n, size: 0x1000n, targetAs: sys, target: 0x8000_0000n, perm: IOMMU_RW });
    l0.events.length = 0;
    const e = expectError(t.region.unmap(0, 0x4000n, 0x10000n), 'unmap-partial');
    assert.match(e.message, /\[0x3000, 0x7fff\]/);
    assert.equal(l0.events.length, 0);
    assert.equal(t.region.mappings(0).length, 2);
    assert.equal(t.region.translate(0x3000n, IOMMU_NONE, 0).perm, IOMMU_RW);
    expectError(t.region.unmap(0, 0x4000n, 0n), 'mapping-size');
    expectError(t.region.unmap(2, 0x0n, 0x1000n), 'index-range');
  });

  it('unmapping a range with nothing in it sends nothing', () => {
    const { t, l0 } = fresh();
    const r = t.region.unmap(0, 0x50000n, 0x1000n);
    assert.deepEqual(r, []);
    assert.equal(l0.events.length, 0);
  });

  it('load adds a mapping without any notification', () => {
    const { sys, t, l0 } = fresh();
    assert.equal(t.region.load(0, { iova: 0x1000n, size: 0x1000n, targetAs: sys, target: 0x8000_0000n, perm: IOMMU_RW }), undefined);
    assert.equal(l0.events.length, 0);
    assert.equal(t.region.translate(0x1000n, IOMMU_NONE, 0).perm, IOMMU_RW);
  });
});

describe('TableIommu refuse option', () => {
  it('refuses registrations whose flags include MAP with the given text (status refused via register)', () => {
    const t = create({ name: 'smmu-like', size: 0x10000n, indexes: [{ name: 'a' }], refuse: { map: 'device 00.03.0 requires iommu MAP notifier which is not currently supported' } });
    const r = register({ kind: 'explicit', name: 'n', owner: 'me', region: t.region, flags: IOMMU_NOTIFIER_IOTLB_EVENTS, start: 0n, end: 0xffffn, iommuIdx: 0, replay: true });
    assert.equal(r.status, 'refused');
    assert.equal(r.error?.code, 'notifier-refused');
    assert.equal(r.error?.message, 'device 00.03.0 requires iommu MAP notifier which is not currently supported');
    assert.equal(r.replayResult, undefined, 'no replay after a refusal');
    assert.deepEqual(t.region.notifiers, []);
    assert.equal(t.region.iommuNotifyFlags, 0);
    // UNMAP alone is fine.
    const u = register({ kind: 'explicit', name: 'u', owner: 'me', region: t.region, flags: IOMMU_NOTIFIER_UNMAP, start: 0n, end: 0xffffn, iommuIdx: 0 });
    assert.equal(u.status, 'accepted');
    assert.equal(t.region.iommuNotifyFlags, IOMMU_NOTIFIER_UNMAP);
  });

  it('refuses UNMAP and DEVIOTLB_UNMAP with their own texts', () => {
    const t = create({ name: 'x', size: 0x10000n, indexes: [{ name: 'a' }], refuse: { unmap: 'no unmap', deviotlbUnmap: 'no dev-iotlb' } });
    const u = register({ kind: 'vhost', name: 'u', owner: 'me', region: t.region, flags: IOMMU_NOTIFIER_UNMAP, start: 0n, end: 1n, iommuIdx: 0 });
    assert.equal(u.status, 'refused');
    assert.equal(u.error?.message, 'no unmap');
    const d = register({ kind: 'vhost', name: 'd', owner: 'me', region: t.region, flags: 4, start: 0n, end: 1n, iommuIdx: 0 });
    assert.equal(d.status, 'refused');
    assert.equal(d.error?.message, 'no dev-iotlb');
    const m = register({ kind: 'explicit', name: 'm', owner: 'me', region: t.region, flags: IOMMU_NOTIFIER_MAP, start: 0n, end: 1n, iommuIdx: 0 });
    assert.equal(m.status, 'accepted');
  });

  it('an invalid registration (bad index) has status invalid, not refused', () => {
    const t = create({ name: 'x', size: 0x10000n, indexes: [{ name: 'a' }] });
    const r = register({ kind: 'explicit', name: 'n', owner: 'me', region: t.region, flags: IOMMU_NOTIFIER_MAP, start: 0n, end: 1n, iommuIdx: 1 });
    assert.equal(r.status, 'invalid');
    assert.equal(r.error?.code, 'notifier-index');
  });
});

describe('powerOfTwoChunks', () => {
  const rows = (start: bigint, size: bigint) => powerOfTwoChunks(start, size).map((c) => [c.iova, c.size]);

  it('splits ranges into naturally aligned chunks, largest first at each position', () => {
    assert.deepEqual(rows(0x3000n, 0x5000n), [
      [0x3000n, 0x1000n],
      [0x4000n, 0x4000n],
    ]);
    assert.deepEqual(rows(0x1000n, 0x3000n), [
      [0x1000n, 0x1000n],
      [0x2000n, 0x2000n],
    ]);
    assert.deepEqual(rows(0x4000n, 0x3000n), [
      [0x4000n, 0x2000n],
      [0x6000n, 0x1000n],
    ]);
    assert.deepEqual(rows(0x1n, 0x3n), [
      [0x1n, 0x1n],
      [0x2n, 0x2n],
    ]);
    assert.deepEqual(rows(0x8000n, 0x8000n), [[0x8000n, 0x8000n]]);
    assert.deepEqual(rows(0x5n, 0n), []);
  });

  it('treats a start of 0 as aligned to everything', () => {
    assert.deepEqual(rows(0n, 0x10000n), [[0n, 0x10000n]]);
    assert.deepEqual(rows(0n, 0x3000n), [
      [0n, 0x2000n],
      [0x2000n, 0x1000n],
    ]);
    assert.deepEqual(rows(0n, 1n << 64n), [[0n, 1n << 64n]]);
  });

  it('splits 2^64 - 4096 from 0 into 52 halving chunks', () => {
    const r = powerOfTwoChunks(0n, (1n << 64n) - 0x1000n);
    assert.equal(r.length, 52);
    assert.deepEqual([r[0]!.iova, r[0]!.size], [0n, 1n << 63n]);
    assert.deepEqual([r[1]!.iova, r[1]!.size], [1n << 63n, 1n << 62n]);
    assert.deepEqual([r.at(-1)!.iova, r.at(-1)!.size], [(1n << 64n) - 0x2000n, 0x1000n]);
    assert.equal(r.reduce((s, c) => s + c.size, 0n), (1n << 64n) - 0x1000n);
  });

  it('splits [2^63, 2^64) into one chunk and [4 KiB, 2^64) into 52', () => {
    assert.deepEqual(rows(1n << 63n, 1n << 63n), [[1n << 63n, 1n << 63n]]);
    const r = powerOfTwoChunks(0x1000n, (1n << 64n) - 0x1000n);
    assert.equal(r.length, 52);
    assert.deepEqual([r[0]!.iova, r[0]!.size], [0x1000n, 0x1000n]);
    assert.deepEqual([r.at(-1)!.iova, r.at(-1)!.size], [1n << 63n, 1n << 63n]);
  });
});
