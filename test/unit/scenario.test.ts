/**
 * Scenarios on a Machine built by hand: each step's notifications, failed expectations, engine
 * errors as step errors (never exceptions), and stepping one step at a time.
 */
import assert from 'node:assert/strict';
import {
  AddressSpace,
  ContainerRegion,
  IOMMU_NOTIFIER_IOTLB_EVENTS,
  IOMMU_RO,
  IOMMU_RW,
  MEMTXATTRS_UNSPECIFIED,
  Machine,
  MemTxResult,
  MmioRegion,
  RamRegion,
  ScenarioRunner,
  TableIommu,
  isEngineError,
  register,
  runScenario,
  tcgRegistration,
  vfioRegistrations,
  type MachineOptions,
  type ScenarioStep,
  type StepResult,
} from '../../src/engine';

function build(opts: MachineOptions = {}) {
  const m = new Machine('hand-built', opts);
  const sysRoot = new ContainerRegion('sysmem', 1n << 32n);
  const ddr = new RamRegion('ddr', 0x10_0000n);
  const uart = new MmioRegion('uart', 0x1000n);
  sysRoot.addSubregion(ddr, 0x8000_0000n);
  sysRoot.addSubregion(uart, 0x1000_0000n);
  const system = new AddressSpace('system', sysRoot);
  m.regions.set('ddr', ddr);
  m.regions.set('uart', uart);
  m.addressSpaces.set('system', system);
  m.systemAs = system;

  const t = TableIommu.create({ name: 'tbl', size: 0x10_0000n, indexes: [{ name: 'ns' }, { name: 's', match: { secure: true } }] });
  if (isEngineError(t)) throw new Error(t.message);
  m.addIommu(t);
  const dma = m.dmaAddressSpace(t, undefined);
  m.devices.set('dev0', { name: 'dev0', kind: 'pci', as: dma, attrs: { requesterId: 0x10 }, iommu: t });
  m.devices.set('nic0', { name: 'nic0', kind: 'vfio-pci', as: dma, attrs: MEMTXATTRS_UNSPECIFIED, iommu: t });
  const vfio = vfioRegistrations('nic0', dma, system);
  const tcg = tcgRegistration('cpu', t.region, 1);
  m.addRegistrations([...vfio, tcg]);
  return { m, t, ddr, uart, system, vfio: vfio[0]!, tcg };
}

type N = [string, string, string, bigint, bigint];
function notes(r: StepResult): N[] {
  return r.notifications.map((n) => [n.notifier, n.type, n.outcome, n.entry.iova, n.entry.addrMask]);
}

const steps: ScenarioStep[] = [
  /* 0 */ { kind: 'map', iommu: 'tbl', index: 'ns', iova: 0x1000n, size: 0x3000n, targetAs: 'system', target: 0x8000_4000n, perm: IOMMU_RW },
  /* 1 */ { kind: 'access', from: 'dev0', addr: 0x1010n, op: 'write', size: 4, value: 0xcafen },
  /* 2 */ { kind: 'read-mem', as: 'system', addr: 0x8000_4010n, size: 4 },
  /* 3 */ { kind: 'write-mem', as: 'system', addr: 0x8000_5000n, size: 8, value: 0x1122_3344_5566_7788n },
  /* 4 */ { kind: 'access', from: 'dev0', addr: 0x2000n, op: 'read', size: 8 },
  /* 5 */ { kind: 'expect', from: 'dev0', addr: 0x1010n, reaches: { region: 'ddr', offset: 0x4010n } },
  /* 6 */ { kind: 'expect', from: 'dev0', addr: 0x1010n, reaches: { region: 'uart' } },
  /* 7 */ { kind: 'expect', from: 'dev0', addr: 0x9000n, faults: true },
  /* 8 */ { kind: 'expect', from: 'dev0', addr: 0x1010n, faults: true },
  /* 9 */ { kind: 'expect', from: 'dev0', addr: 0x1010n, size: 4, value: 0xcafen },
  /* 10 */ { kind: 'expect', from: 'dev0', addr: 0x1010n, size: 4, value: 0xbeefn },
  /* 11 */ { kind: 'map', iommu: 'tbl', index: 1, iova: 0x0n, size: 0x1000n, targetAs: 'system', target: 0x8000_0000n, perm: IOMMU_RO },
  /* 12 */ { kind: 'unmap', iommu: 'tbl', index: 'ns', iova: 0x1000n, size: 0x3000n },
  /* 13 */ { kind: 'expect', from: 'dev0', addr: 0x1010n, faults: true },
  /* 14 */ { kind: 'access', from: 'nobody', addr: 0n, op: 'read', size: 4 },
  /* 15 */ { kind: 'map', iommu: 'nope', index: 0, iova: 0n, size: 0x1000n, targetAs: 'system', target: 0n, perm: IOMMU_RW },
  /* 16 */ { kind: 'map', iommu: 'tbl', index: 'zz', iova: 0n, size: 0x1000n, targetAs: 'system', target: 0n, perm: IOMMU_RW },
  /* 17 */ { kind: 'map', iommu: 'tbl', index: 0, iova: 0n, size: 0x1000n, targetAs: 'nowhere', target: 0n, perm: IOMMU_RW },
  /* 18 */ { kind: 'write-reg', iommu: 'tbl', reg: 'CTRL', value: 1n },
  /* 19 */ { kind: 'write-reg', iommu: 'nope', reg: 'CTRL', value: 1n },
  /* 20 */ { kind: 'map', iommu: 'tbl', index: 0, iova: 0x8000n, size: 0x4000n, targetAs: 'system', target: 0x8000_0000n, perm: IOMMU_RW },
  /* 21 */ { kind: 'unmap', iommu: 'tbl', index: 0, iova: 0x8000n, size: 0x1000n },
  /* 22 */ { kind: 'read-mem', as: 'system', addr: 0x4000_0000n, size: 4 },
  /* 23 */ { kind: 'expect', from: 'dev0' },
  /* 24 */ { kind: 'read-mem', as: 'nowhere', addr: 0n, size: 4 },
];

describe('scenario on a hand-built machine', () => {
  let res: ReturnType<typeof runScenario>;
  let env: ReturnType<typeof build>;
  before(() => {
    env = build();
    res = runScenario(env.m, steps);
  });

  it('runs every step, with its index and step', () => {
    assert.equal(res.steps.length, steps.length);
    res.steps.forEach((r, i) => {
      assert.equal(r.index, i);
      assert.equal(r.step, steps[i]);
      assert.ok(r.summary.length > 0);
    });
  });

  it('a map step lists the MAP notifications it caused: which notifier, type, outcome, entry', () => {
    const r = res.steps[0]!;
    assert.equal(r.error, undefined);
    assert.deepEqual(notes(r), [
      ['nic0/vfio', 'MAP', 'delivered', 0x1000n, 0xfffn],
      ['nic0/vfio', 'MAP', 'delivered', 0x2000n, 0x1fffn],
    ]);
    assert.equal(r.notifications[0]!.owner, 'nic0');
    assert.equal(r.notifications[0]!.region, 'tbl');
    assert.equal(r.notifications[0]!.iommuIdx, 0);
    assert.equal(r.notifications[1]!.entry.translatedAddr, 0x8000_5000n);
  });

  it('accesses and guest-memory steps move data through the IOMMU', () => {
    assert.equal(res.steps[1]!.result, MemTxResult.OK);
    assert.equal(res.steps[1]!.landing?.region, env.ddr);
    assert.equal(res.steps[1]!.landing?.offset, 0x4010n);
    assert.equal(res.steps[2]!.value, 0xcafen);
    assert.equal(res.steps[3]!.result, MemTxResult.OK);
    assert.equal(res.steps[4]!.value, 0x1122_3344_5566_7788n);
    for (const i of [1, 2, 3, 4]) assert.deepEqual(res.steps[i]!.notifications, []);
  });

  it('expectations: met ones have no failures, failed ones say what happened', () => {
    assert.deepEqual(res.steps[5]!.failures, []);
    assert.deepEqual(res.steps[6]!.failures, ['expected to reach uart, reached ddr+0x4010']);
    assert.deepEqual(res.steps[7]!.failures, []);
    assert.equal(res.steps[7]!.result, MemTxResult.DECODE_ERROR);
    assert.deepEqual(res.steps[8]!.failures, ['expected a fault, but the read reached ddr+0x4010']);
    assert.deepEqual(res.steps[9]!.failures, []);
    assert.deepEqual(res.steps[10]!.failures, ['read 0xcafe, expected 0xbeef']);
    assert.deepEqual(res.steps[13]!.failures, [], 'after the unmap the access faults');
    assert.match(res.steps[6]!.summary, /FAILED/);
    assert.match(res.steps[5]!.summary, /ok$/);
  });

  it('a map on the index only TCG watches is type-filtered for it (UNMAP-only)', () => {
    assert.deepEqual(notes(res.steps[11]!), [['cpu/tcg-idx1', 'MAP', 'type-filtered', 0x0n, 0xfffn]]);
    assert.equal(env.tcg.dropped.length, 1);
    assert.equal(env.tcg.dropped[0]!.outcome, 'type-filtered');
  });

  it('an unmap step lists its UNMAPs, and the vfio shadow is empty again', () => {
    assert.deepEqual(notes(res.steps[12]!), [
      ['nic0/vfio', 'UNMAP', 'delivered', 0x1000n, 0xfffn],
      ['nic0/vfio', 'UNMAP', 'delivered', 0x2000n, 0x1fffn],
    ]);
    assert.ok(res.steps[12]!.notifications.every((n) => n.entry.perm === 0));
  });

  it('unknown names and bad requests are step errors with codes, never exceptions', () => {
    const codes = [14, 15, 16, 17, 18, 19, 21, 22, 23, 24].map((i) => [i, res.steps[i]!.error?.code]);
    assert.deepEqual(codes, [
      [14, 'unknown-initiator'],
      [15, 'not-a-table'],
      [16, 'unknown-index'],
      [17, 'unknown-as'],
      [18, 'no-registers'],
      [19, 'unknown-iommu'],
      [21, 'unmap-partial'],
      [22, 'memory-fault'],
      [23, 'expect-shape'],
      [24, 'unknown-initiator'],
    ]);
    assert.match(res.steps[14]!.error!.message, /no device or address space named "nobody"/);
    assert.equal(res.steps[15]!.error!.message, 'no IOMMU named "nope"');
    assert.match(res.steps[16]!.error!.message, /no index named "zz"/);
    for (const i of [14, 15, 16, 17, 18, 19, 21, 22, 23, 24]) assert.ok(res.steps[i]!.summary.includes(res.steps[i]!.error!.message), `step ${i}`);
    assert.equal(res.steps[20]!.error, undefined);
  });

  it('counts failed steps: failed expectations plus errors', () => {
    // 6, 8, 10 failed expectations; 14-19 and 21-24 errors.
    assert.equal(res.failed, 3 + 6 + 4);
  });
});

describe('ScenarioRunner', () => {
  it('steps one at a time and reports its position', () => {
    const { m } = build();
    const runner = new ScenarioRunner(m, steps.slice(0, 3));
    assert.equal(runner.position, 0);
    assert.equal(runner.done, false);
    const r0 = runner.next()!;
    assert.equal(r0.index, 0);
    assert.equal(r0.notifications.length, 2);
    assert.equal(runner.position, 1);
    // Nothing of step 1 has happened yet.
    const before = m.access({ from: 'system', addr: 0x8000_4010n, op: 'read', size: 4 });
    assert.ok(!isEngineError(before));
    assert.equal(before.value, 0n);
    const r1 = runner.next()!;
    assert.equal(r1.index, 1);
    assert.equal(runner.position, 2);
    const r2 = runner.next()!;
    assert.equal(r2.value, 0xcafen);
    assert.equal(runner.done, true);
    assert.equal(runner.next(), undefined);
    assert.equal(runner.position, 3);
    assert.deepEqual(runner.results, [r0, r1, r2]);
    assert.deepEqual(runner.runAll(), { steps: [r0, r1, r2], failed: 0, divergences: [] });
  });
});

describe("scenario under '5.2-9.x' semantics", () => {
  it('reports an entry reaching outside a MAP|UNMAP notifier as an assert, and the registration records it as dropped', () => {
    const { m, t } = build({ semantics: '5.2-9.x' });
    assert.equal(t.region.semantics, '5.2-9.x');
    const narrow = register({ kind: 'explicit', name: 'narrow', owner: 'explicit', region: t.region, flags: IOMMU_NOTIFIER_IOTLB_EVENTS, start: 0x2000n, end: 0x2fffn, iommuIdx: 0 });
    m.addRegistrations([narrow]);
    const r = runScenario(m, [{ kind: 'map', iommu: 'tbl', index: 0, iova: 0n, size: 0x4000n, targetAs: 'system', target: 0x8000_0000n, perm: IOMMU_RW }]);
    const step = r.steps[0]!;
    assert.equal(step.error, undefined);
    // Head of the list first: narrow (registered last), then nic0/vfio.
    assert.deepEqual(notes(step), [
      ['narrow', 'MAP', 'assert', 0n, 0x3fffn],
      ['nic0/vfio', 'MAP', 'delivered', 0n, 0x3fffn],
    ]);
    assert.match(step.notifications[0]!.message!, /this would assert in QEMU < 10\.0/);
    assert.deepEqual(narrow.received.toArray(), []);
    assert.equal(narrow.dropped.length, 1);
    assert.equal(narrow.dropped[0]!.outcome, 'assert');
  });

  it("the same map under 'current' crops for the narrow notifier", () => {
    const { m, t } = build();
    const narrow = register({ kind: 'explicit', name: 'narrow', owner: 'explicit', region: t.region, flags: IOMMU_NOTIFIER_IOTLB_EVENTS, start: 0x2000n, end: 0x2fffn, iommuIdx: 0 });
    const r = runScenario(m, [{ kind: 'map', iommu: 'tbl', index: 0, iova: 0n, size: 0x4000n, targetAs: 'system', target: 0x8000_0000n, perm: IOMMU_RW }]);
    assert.deepEqual(notes(r.steps[0]!), [
      ['narrow', 'MAP', 'delivered', 0x2000n, 0xfffn],
      ['nic0/vfio', 'MAP', 'delivered', 0n, 0x3fffn],
    ]);
    assert.equal(narrow.received.at(0)!.entry.translatedAddr, 0x8000_0000n, 'translated_addr is not adjusted by the crop');
  });
});
