/**
 * The registrations QEMU's notifier users make: vfio (hw/vfio/listener.c
 * vfio_container_region_add: flags IOTLB_EVENTS, range = the section inside the region, index =
 * attrs_to_index(MEMTXATTRS_UNSPECIFIED), iommu_offset = offset_within_address_space -
 * offset_within_region, then memory_region_iommu_replay), vhost (UNMAP or DEVIOTLB_UNMAP, no
 * replay) and TCG (UNMAP over 0..HWADDR_MAX per index).
 */
import assert from 'node:assert/strict';
import {
  AddressSpace,
  AliasRegion,
  ContainerRegion,
  IOMMU_NOTIFIER_DEVIOTLB_UNMAP,
  IOMMU_NOTIFIER_IOTLB_EVENTS,
  IOMMU_NOTIFIER_MAP,
  IOMMU_NOTIFIER_UNMAP,
  IOMMU_NONE,
  IOMMU_RO,
  IOMMU_RW,
  RamRegion,
  TableIommu,
  describeRegistration,
  isEngineError,
  iommuSections,
  tcgRegistration,
  vfioRegistrations,
  vhostRegistrations,
  type TableIommuOptions,
} from '../../src/engine';

function setup(extra: Partial<TableIommuOptions> = {}) {
  const sysRoot = new ContainerRegion('sysmem', 1n << 32n);
  sysRoot.addSubregion(new RamRegion('ddr', 0x10_0000n), 0x8000_0000n);
  const system = new AddressSpace('system', sysRoot);
  const otherRoot = new ContainerRegion('other-root', 0x10_0000n);
  otherRoot.addSubregion(new RamRegion('dev-ram', 0x10_0000n), 0n);
  const other = new AddressSpace('other', otherRoot);

  const t = TableIommu.create({
    name: 'viommu',
    size: 0x10000n,
    defaultIndex: 1,
    indexes: [
      { name: 'secure', match: { secure: true }, mappings: [{ iova: 0x5000n, size: 0x1000n, targetAs: system, target: 0x8001_0000n, perm: IOMMU_RW }] },
      {
        name: 'any',
        mappings: [
          // Outside the vfio range below: QEMU's default replay hands it over all the same.
          { iova: 0x0n, size: 0x1000n, targetAs: system, target: 0x8000_0000n, perm: IOMMU_RW },
          { iova: 0x5000n, size: 0x2000n, targetAs: system, target: 0x8000_2000n, perm: IOMMU_RO },
        ],
      },
    ],
    ...extra,
  });
  if (isEngineError(t)) throw new Error(t.message);
  // What a Machine does: the model names system memory (address_space_memory) as its UNMAPs' target.
  t.region.systemAs = system;

  // The DMA address space shows IOMMU offsets [0x4000, 0xa000) at [0x10000, 0x16000): an alias
  // window of 0x8000 bytes starting at offset 0x4000, clipped by the 0x16000-byte container.
  const dmaRoot = new ContainerRegion('dma', 0x16000n);
  dmaRoot.addSubregion(new RamRegion('bounce', 0x1000n), 0n);
  dmaRoot.addSubregion(new AliasRegion('win', 0x8000n, t.region, 0x4000n), 0x10000n);
  const dma = new AddressSpace('dma', dmaRoot);
  return { system, other, t, dma };
}

describe('vfioRegistrations', () => {
  it('finds the IOMMU section with its offset in the region, clipped', () => {
    const { dma, t } = setup();
    assert.deepEqual(iommuSections(dma), [{ region: t.region, start: 0x10000n, size: 0x6000n, offsetInRegion: 0x4000n }]);
  });

  it('registers MAP|UNMAP over [offsetInRegion, offsetInRegion+size-1] on the unspecified index', () => {
    const { dma, system, t } = setup();
    const regs = vfioRegistrations('nic0', dma, system, 'src-nic0');
    assert.equal(regs.length, 1);
    const r = regs[0]!;
    assert.equal(r.kind, 'vfio');
    assert.equal(r.name, 'nic0/vfio');
    assert.equal(r.owner, 'nic0');
    assert.equal(r.source, 'src-nic0');
    assert.equal(r.region, t.region);
    assert.equal(r.flags, IOMMU_NOTIFIER_IOTLB_EVENTS);
    assert.equal(r.start, 0x4000n);
    assert.equal(r.end, 0x9fffn);
    assert.equal(r.iommuIdx, 1);
    assert.equal(r.iommuOffset, 0xc000n);
    assert.equal(r.status, 'accepted');
    assert.equal(r.error, undefined);
    assert.deepEqual(t.region.notifiers, [r]);
    assert.equal(t.region.iommuNotifyFlags, IOMMU_NOTIFIER_IOTLB_EVENTS);
  });

  it('replays with the default loop: every mapped page of its index, marked as replay, no range check', () => {
    const { dma, system } = setup();
    const r = vfioRegistrations('nic0', dma, system)[0]!;
    assert.deepEqual(r.replayResult, { kind: 'default', steps: 16, delivered: 3 });
    assert.deepEqual(
      r.received.map((e) => [e.via, e.type, e.entry.iova, e.entry.addrMask, e.entry.translatedAddr, e.entry.perm, e.entry.targetAs, e.error]),
      [
        ['replay', IOMMU_NOTIFIER_MAP, 0x0n, 0xfffn, 0x8000_0000n, IOMMU_RW, system, undefined],
        ['replay', IOMMU_NOTIFIER_MAP, 0x5000n, 0xfffn, 0x8000_2000n, IOMMU_RO, system, undefined],
        ['replay', IOMMU_NOTIFIER_MAP, 0x6000n, 0xfffn, 0x8000_3000n, IOMMU_RO, system, undefined],
      ],
    );
    // The shadow is keyed by iova + iommu_offset, as vfio_iommu_map_notify maps it.
    assert.deepEqual([...r.shadow!.values()], [
      { iova: 0xc000n, size: 0x1000n, targetAs: system, translated: 0x8000_0000n, perm: IOMMU_RW },
      { iova: 0x11000n, size: 0x1000n, targetAs: system, translated: 0x8000_2000n, perm: IOMMU_RO },
      { iova: 0x12000n, size: 0x1000n, targetAs: system, translated: 0x8000_3000n, perm: IOMMU_RO },
    ]);
    assert.equal(r.replaying, false);
  });

  it('follows MAP (cropped to its range) and UNMAP into its shadow; other indexes do not reach it', () => {
    const { dma, system, t } = setup();
    const r = vfioRegistrations('nic0', dma, system)[0]!;
    // 0x8000+0x4000 is one aligned chunk reaching past the range end 0x9fff: cropped to 0x2000.
    assert.equal(t.region.map(1, { iova: 0x8000n, size: 0x4000n, targetAs: system, target: 0x8004_0000n, perm: IOMMU_RW }), undefined);
    const last = r.received.at(-1)!;
    assert.equal(last.via, 'notify');
    assert.deepEqual([last.type, last.entry.iova, last.entry.addrMask, last.entry.translatedAddr], [IOMMU_NOTIFIER_MAP, 0x8000n, 0x1fffn, 0x8004_0000n]);
    assert.deepEqual(r.shadow!.get(0x14000n), { iova: 0x14000n, size: 0x2000n, targetAs: system, translated: 0x8004_0000n, perm: IOMMU_RW });
    const n = r.received.length;
    assert.equal(t.region.map(0, { iova: 0x8000n, size: 0x1000n, targetAs: system, target: 0x8005_0000n, perm: IOMMU_RW }), undefined);
    assert.equal(r.received.length, n, 'index 0 is not tracked');
    const removed = t.region.unmap(1, 0x5000n, 0x2000n);
    assert.ok(!isEngineError(removed));
    assert.deepEqual(
      r.received.slice(n).map((e) => [e.via, e.type, e.entry.iova, e.entry.addrMask, e.entry.perm]),
      [
        ['notify', IOMMU_NOTIFIER_UNMAP, 0x5000n, 0xfffn, IOMMU_NONE],
        ['notify', IOMMU_NOTIFIER_UNMAP, 0x6000n, 0xfffn, IOMMU_NONE],
      ],
    );
    assert.deepEqual([...r.shadow!.keys()].sort((a, b) => (a < b ? -1 : 1)), [0xc000n, 0x14000n]);
  });

  it('refuses a target outside system memory with QEMU\'s text and leaves the shadow alone', () => {
    const { dma, system, other, t } = setup();
    const r = vfioRegistrations('nic0', dma, system)[0]!;
    const before = [...r.shadow!.entries()];
    assert.equal(t.region.map(1, { iova: 0x4000n, size: 0x1000n, targetAs: other, target: 0x2000n, perm: IOMMU_RW }), undefined);
    const last = r.received.at(-1)!;
    assert.equal(last.error, 'Wrong target AS "other", only system memory is allowed');
    assert.deepEqual([...r.shadow!.entries()], before);
  });

  it('checks the target AS before anything else, for UNMAPs too (the shadow then keeps the stale entry)', () => {
    const { dma, system, t } = setup();
    const r = vfioRegistrations('nic0', dma, system)[0]!;
    t.region.systemAs = null;
    const removed = t.region.unmap(1, 0x5000n, 0x2000n);
    assert.ok(!isEngineError(removed));
    assert.deepEqual(
      r.received.slice(-2).map((e) => [e.type, e.entry.iova, e.error]),
      [
        [IOMMU_NOTIFIER_UNMAP, 0x5000n, 'Wrong target AS "none", only system memory is allowed'],
        [IOMMU_NOTIFIER_UNMAP, 0x6000n, 'Wrong target AS "none", only system memory is allowed'],
      ],
    );
    assert.ok(r.shadow!.has(0x11000n) && r.shadow!.has(0x12000n));
  });

  it('warns that it tracks one index of a multi-index IOMMU', () => {
    const { dma, system } = setup();
    const r = vfioRegistrations('nic0', dma, system)[0]!;
    assert.equal(r.warnings.length, 1);
    assert.ok(r.warnings[0]!.includes('viommu has 2 indexes; vfio tracks only index 1 (any), the one unspecified attributes select'), r.warnings[0]);
  });

  it('does not warn for a single-index IOMMU', () => {
    const sysRoot = new ContainerRegion('s', 0x1000n);
    const system = new AddressSpace('system', sysRoot);
    const t = TableIommu.create({ name: 'one', size: 0x1000n, indexes: [{ name: 'only' }] });
    assert.ok(!isEngineError(t));
    const root = new ContainerRegion('dma', 0x1000n);
    root.addSubregion(t.region, 0n);
    const r = vfioRegistrations('nic', new AddressSpace('dma', root), system)[0]!;
    assert.deepEqual(r.warnings, []);
    assert.equal(r.iommuIdx, 0);
    assert.deepEqual(r.replayResult, { kind: 'default', steps: 1, delivered: 0 });
  });

  it('makes one registration per IOMMU section, numbered', () => {
    const { dma, system, t } = setup();
    (dma.root as ContainerRegion).addSubregion(new AliasRegion('win2', 0x1000n, t.region, 0xf000n), 0x2000n);
    const regs = vfioRegistrations('nic0', dma, system);
    assert.deepEqual(
      regs.map((r) => [r.name, r.start, r.end, r.iommuOffset]),
      [
        ['nic0/vfio#0', 0xf000n, 0xffffn, 0x2000n - 0xf000n],
        ['nic0/vfio#1', 0x4000n, 0x9fffn, 0xc000n],
      ],
    );
    assert.equal(t.region.notifiers.length, 2);
  });

  it('a refused registration records status refused with the model text, and does not replay', () => {
    const text = 'device 00.03.0 requires iommu MAP notifier which is not currently supported';
    const { dma, system, t } = setup({ refuse: { map: text } });
    const r = vfioRegistrations('nic0', dma, system)[0]!;
    assert.equal(r.status, 'refused');
    assert.equal(r.error?.code, 'notifier-refused');
    assert.equal(r.error?.message, text);
    assert.equal(r.replayResult, undefined);
    assert.deepEqual(r.received.toArray(), []);
    assert.equal(r.shadow!.size, 0);
    assert.deepEqual(t.region.notifiers, []);
    assert.equal(t.region.iommuNotifyFlags, 0);
    assert.equal(describeRegistration(r), `nic0/vfio on viommu[1] 0x4000..0x9fff: refused: ${text}`);
  });
});

describe('vhostRegistrations', () => {
  for (const [deviceIotlb, flags] of [
    [false, IOMMU_NOTIFIER_UNMAP],
    [true, IOMMU_NOTIFIER_DEVIOTLB_UNMAP],
  ] as const) {
    it(`registers ${deviceIotlb ? 'DEVIOTLB_UNMAP' : 'UNMAP'} with device-iotlb ${deviceIotlb}, same range and index, no replay`, () => {
      const { dma, t } = setup();
      const regs = vhostRegistrations('net0', dma, deviceIotlb);
      assert.equal(regs.length, 1);
      const r = regs[0]!;
      assert.equal(r.kind, 'vhost');
      assert.equal(r.name, 'net0/vhost');
      assert.equal(r.flags, flags);
      assert.deepEqual([r.start, r.end, r.iommuIdx, r.iommuOffset], [0x4000n, 0x9fffn, 1, 0xc000n]);
      assert.equal(r.status, 'accepted');
      assert.equal(r.replayResult, undefined);
      assert.deepEqual(r.received.toArray(), []);
      assert.equal(r.shadow?.size, 0, 'a vhost IOTLB starts empty: it fills from its device\'s own translations');
      assert.equal(r.warnings.length, 1);
      assert.ok(r.warnings[0]!.includes('viommu has 2 indexes; vhost tracks only index 1 (any), the one unspecified attributes select'), r.warnings[0]);
      assert.deepEqual(t.region.notifiers, [r]);
    });
  }

  it('gets UNMAPs (cropped) and not MAPs', () => {
    const { dma, system, t } = setup();
    const r = vhostRegistrations('net0', dma, false)[0]!;
    const received = () => r.received;
    t.region.map(1, { iova: 0x8000n, size: 0x8000n, targetAs: system, target: 0x8000_8000n, perm: IOMMU_RW });
    assert.equal(received().length, 0);
    t.region.unmap(1, 0x8000n, 0x8000n);
    assert.deepEqual(
      received().map((e) => [e.via, e.type, e.entry.iova, e.entry.addrMask]),
      [['notify', IOMMU_NOTIFIER_UNMAP, 0x8000n, 0x1fffn]],
    );
  });
});

describe('tcgRegistration', () => {
  it('registers UNMAP over 0..2^64-1 on the given index, without replay', () => {
    const { t, system } = setup();
    const r = tcgRegistration('cpu0', t.region, 0);
    assert.equal(r.kind, 'tcg');
    assert.equal(r.name, 'cpu0/tcg-idx0');
    assert.equal(r.flags, IOMMU_NOTIFIER_UNMAP);
    assert.equal(r.start, 0n);
    assert.equal(r.end, 0xffff_ffff_ffff_ffffn);
    assert.equal(r.iommuIdx, 0);
    assert.equal(r.status, 'accepted');
    assert.equal(r.replayResult, undefined);
    t.region.map(0, { iova: 0x1000n, size: 0x1000n, targetAs: system, target: 0x8000_0000n, perm: IOMMU_RW });
    t.region.unmap(0, 0x1000n, 0x1000n);
    assert.deepEqual(r.received.map((e) => [e.type, e.entry.iova, e.entry.addrMask]), [[IOMMU_NOTIFIER_UNMAP, 0x1000n, 0xfffn]]);
  });

  it('an index the region does not have makes an invalid registration', () => {
    const { t } = setup();
    const r = tcgRegistration('cpu0', t.region, 2);
    assert.equal(r.status, 'invalid');
    assert.equal(r.error?.code, 'notifier-index');
    assert.deepEqual(t.region.notifiers, []);
  });

  it('a model refusing UNMAP refuses TCG too', () => {
    const { t } = setup({ refuse: { unmap: 'no unmap notifiers here' } });
    const r = tcgRegistration('cpu0', t.region, 1);
    assert.equal(r.status, 'refused');
    assert.equal(r.error?.message, 'no unmap notifiers here');
  });
});

