// The shadow checker: vfio's map and vhost's IOTLB compared with a fresh translation. A toy
// IOMMU whose page table can change without a notification stands in for a guest that rewrites
// a PTE and issues no invalidation; its invalidate() sends what a model's TLBI would.
import assert from 'node:assert/strict';
import {
  AddressSpace,
  ContainerRegion,
  IOMMUMemoryRegion,
  IOMMU_NONE,
  IOMMU_NOTIFIER_MAP,
  IOMMU_NOTIFIER_UNMAP,
  IOMMU_RW,
  Machine,
  RamRegion,
  ScenarioRunner,
  addressSpaceForRegion,
  checkShadows,
  vfioRegistrations,
  vhostRegistrations,
  type IOMMUAccessFlags,
  type IOMMUTLBEntry,
} from '../../src/engine';

const PAGE = 0x1000n;

class ToyIommu extends IOMMUMemoryRegion {
  readonly model = 'toy';
  /** page index -> translated page address in system memory */
  readonly table = new Map<bigint, bigint>();
  constructor(readonly sys: AddressSpace) {
    super('toy', 1n << 20n);
  }
  translate(addr: bigint, _flag: IOMMUAccessFlags, _idx: number): IOMMUTLBEntry {
    const pa = this.table.get(addr / PAGE);
    const iova = addr & ~(PAGE - 1n);
    return pa === undefined
      ? { targetAs: null, iova, translatedAddr: 0n, addrMask: PAGE - 1n, perm: IOMMU_NONE }
      : { targetAs: this.sys, iova, translatedAddr: pa, addrMask: PAGE - 1n, perm: IOMMU_RW };
  }
  /** What a TLBI for one page would send: UNMAP, and (for MAP notifiers) the new MAP. */
  invalidate(page: bigint): void {
    const iova = page * PAGE;
    this.notify(0, { type: IOMMU_NOTIFIER_UNMAP, entry: { targetAs: this.sys, iova, translatedAddr: 0n, addrMask: PAGE - 1n, perm: IOMMU_NONE } });
    const e = this.translate(iova, IOMMU_NONE, 0);
    if (e.perm !== IOMMU_NONE) this.notify(0, { type: IOMMU_NOTIFIER_MAP, entry: e });
  }
}

function machine() {
  const m = new Machine('toy');
  const sys = new AddressSpace('system', new ContainerRegion('system-root', 1n << 64n));
  sys.root.addSubregion(new RamRegion('ram', 1n << 24n), 0n);
  m.addressSpaces.set('system', sys);
  m.systemAs = sys;
  const toy = new ToyIommu(sys);
  toy.table.set(1n, 0x10000n);
  toy.table.set(2n, 0x11000n);
  m.addIommu({ name: 'toy', model: 'toy', regions: () => [toy], regionFor: () => toy });
  const dma = addressSpaceForRegion(toy, 'dma');
  return { m, toy, dma, sys };
}

describe('shadow checker', () => {
  it('finds vfio\'s map stale after a silent page-table change, and silent again after the invalidation', () => {
    const { m, toy, dma, sys } = machine();
    m.addRegistrations(vfioRegistrations('nic', dma, sys));
    assert.deepEqual(checkShadows(m), []);
    toy.table.set(1n, 0x20000n); // the guest rewrites the PTE, no TLBI
    const d = checkShadows(m);
    assert.equal(d.length, 1);
    assert.equal(d[0]!.kind, 'moved');
    assert.equal(d[0]!.iova, 0x1000n);
    assert.equal(d[0]!.size, 0x1000n);
    assert.equal(d[0]!.message, 'nic/vfio: vfio still maps 0x1000..0x1fff -> system 0x10000 RW, but toy\'s tables now map it to system 0x20000 RW');
    toy.invalidate(1n);
    assert.deepEqual(checkShadows(m), []);
  });

  it('reports an unmapped page that vfio still maps', () => {
    const { m, toy, dma, sys } = machine();
    m.addRegistrations(vfioRegistrations('nic', dma, sys));
    toy.table.delete(2n);
    const d = checkShadows(m);
    assert.deepEqual(
      d.map((x) => [x.kind, x.iova, x.message]),
      [['unmapped', 0x2000n, 'nic/vfio: vfio still maps 0x2000..0x2fff -> system 0x11000 RW, but toy\'s tables no longer map it']],
    );
    toy.invalidate(2n);
    assert.deepEqual(checkShadows(m), []);
  });

  it('fills the vhost IOTLB from its device\'s accesses and flushes it on UNMAP', () => {
    const { m, toy, dma } = machine();
    m.addRegistrations(vhostRegistrations('net0', dma, false));
    m.devices.set('net0', { name: 'net0', kind: 'vhost', as: dma, attrs: {} });
    const run = new ScenarioRunner(m, [{ kind: 'access', from: 'net0', addr: 0x1008n, op: 'read', size: 4 }], { checkShadows: true });
    assert.deepEqual(run.next()!.divergences, []);
    const vhost = m.registrations[0]!;
    assert.deepEqual([...vhost.shadow!.values()].map((e) => [e.iova, e.translated]), [[0x1000n, 0x10000n]]);
    toy.table.set(1n, 0x30000n);
    assert.equal(checkShadows(m)[0]?.message, 'net0/vhost: the vhost IOTLB still holds 0x1000..0x1fff -> system 0x10000 RW, but toy\'s tables now map it to system 0x30000 RW');
    toy.invalidate(1n);
    assert.equal(vhost.shadow!.size, 0);
    assert.deepEqual(checkShadows(m), []);
  });

  it('attributes a divergence to the step after which it appears, once', () => {
    const { m, toy, dma, sys } = machine();
    m.addRegistrations(vfioRegistrations('nic', dma, sys));
    // A read-mem step does nothing to the toy; the change between steps is done by hand.
    const steps = [
      { kind: 'read-mem' as const, as: 'system', addr: 0n, size: 8 as const },
      { kind: 'read-mem' as const, as: 'system', addr: 0n, size: 8 as const },
    ];
    const run = new ScenarioRunner(m, steps, { checkShadows: true });
    toy.table.set(2n, 0x40000n);
    assert.equal(run.next()!.divergences!.length, 1);
    assert.equal(run.next()!.divergences!.length, 0);
  });
});
