// The shadow checker: vfio's map and vhost's IOTLB compared with a fresh translation. A toy
// IOMMU whose page table can change without a notification stands in for a guest that rewrites
// a PTE and issues no invalidation; its invalidate() sends what a model's TLBI would.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load';
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
  runScenario,
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

  it('reports a divergence still there at the end, attributed to the step after which it appeared, once', () => {
    const { m, toy, dma, sys } = machine();
    m.addRegistrations(vfioRegistrations('nic', dma, sys));
    // A read-mem step does nothing to the toy; the change between steps is done by hand.
    const steps = [
      { kind: 'read-mem' as const, as: 'system', addr: 0n, size: 8 as const },
      { kind: 'read-mem' as const, as: 'system', addr: 0n, size: 8 as const },
    ];
    const run = new ScenarioRunner(m, steps, { checkShadows: true });
    toy.table.set(2n, 0x40000n);
    // Pending after step 0 (nothing accessed memory yet); reported at the end, caused by step 0.
    assert.deepEqual(run.next()!.divergences, []);
    assert.deepEqual(run.next()!.divergences!.map((d) => [d.causeStep, d.iova]), [[0, 0x2000n]]);
  });
});

describe('shadow checker on the SMMUv3 example', () => {
  const text = readFileSync(join(__dirname, '..', '..', '..', 'examples', 'virt-smmuv3.iommu.yaml'), 'utf8');

  it('catches the PTE rewritten without a TLBI: vhost\'s IOTLB keeps the old page until the invalidation', () => {
    const cfg = loadConfig('virt-smmuv3.iommu.yaml', text);
    assert.equal(cfg.errorCount, 0);
    const r = runScenario(cfg.machine, cfg.scenario, { checkShadows: true });
    assert.equal(r.failed, 0);
    assert.deepEqual(
      r.divergences.map((d) => [d.notifier, d.kind, d.iova, d.size, d.shadow.translated, d.now.translated, cfg.scenario[d.causeStep]!.kind]),
      [['net0/vhost', 'moved', 0x2000_0000n, 0x1000n, 0x4030_0000n, 0x4040_0000n, 'write-mem']],
    );
    // Found at net0's next DMA (the access after the rewrite), not before.
    const at = r.steps.findIndex((s) => s.divergences?.length);
    assert.equal(cfg.scenario[at]!.kind, 'access');
  });

  it('stays silent when the TLBI comes before the device uses the page again', () => {
    // The same scenario with net0's stale DMA taken out: write PTE, TLBI, sync, then the access.
    const fixed = text.replace(/\n {2}- access: +\{ from: net0, addr: 0x2000_0008[^\n]*/, '');
    assert.notEqual(fixed, text);
    const cfg = loadConfig('virt-smmuv3.iommu.yaml', fixed + '  - access:    { from: net0, addr: 0x2000_0008, op: write, size: 8, value: 0x5a5a }\n');
    const r = runScenario(cfg.machine, cfg.scenario, { checkShadows: true });
    assert.equal(r.failed, 0);
    assert.deepEqual(r.divergences, []);
  });
});
