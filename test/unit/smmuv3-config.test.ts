/**
 * The smmuv3 config model: `walk-memory`, `build` (tables written into RAM, registers programmed),
 * `registers`, `profile`; devices behind it by bdf; vfio refused with QEMU's text; scenario
 * register writes; diagnostics for what the builder refuses.
 */
import * as assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load';
import { IOMMU_RO, IOMMU_RW, MemTxResult, isEngineError, runScenario, type Trace } from '../../src/engine';
import { Smmuv3 } from '../../src/engine/models/smmuv3';

const BASE = `iommu-lens: 1
memory:
  ddr: { kind: ram, size: 1GiB }
address-spaces:
  system:
    - { at: 0x8000_0000, region: ddr }
`;

function load(text: string) {
  const l = loadConfig('t.iommu.yaml', text);
  return l;
}

function errors(l: ReturnType<typeof load>): string[] {
  return l.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.range.start.line + 1}: ${d.code} ${d.message}`);
}

describe('smmuv3: config', () => {
  it('builds tables into RAM from `build`, and a device behind it by bdf translates through its stream', () => {
    const l = load(
      BASE +
        `iommus:
  smmu0:
    model: smmuv3
    walk-memory: system
    build:
      at: ddr+0x100000
      streams:
        0x10: { stage1: { granule: 4KiB, t0sz: 16, asid: 1,
                          map: [ { iova: 0x1000_0000, size: 64KiB, pa: 0x8020_0000, perm: rw } ] } }
        "0x18": { config: bypass }
    registers: { as: system, at: 0x0900_0000 }
devices:
  edu0: { kind: pci, bdf: "00:02.0", iommu: smmu0 }
  edu1: { kind: pci, bdf: "00:03.0", iommu: smmu0 }
  cpu: { as: system }
`,
    );
    assert.deepEqual(errors(l), []);
    const smmu = l.machine.iommus.get('smmu0');
    assert.ok(smmu instanceof Smmuv3);
    assert.equal(smmu.regs.smmuEnabled, true);
    assert.equal(smmu.regs.strtabBase, 0x8010_0000n);
    const t: Trace = [];
    const land = l.machine.translate({ from: 'edu0', addr: 0x1000_4010n, op: 'write', trace: t });
    assert.ok(!isEngineError(land));
    assert.equal(land.result, MemTxResult.OK);
    assert.equal(land.region?.name, 'ddr');
    assert.equal(land.offset, 0x20_4010n);
    assert.ok(t.some((s) => s.kind === 'descriptor-read' && s.source?.kind === 'guest-memory'));
    // 00:03.0 is SID 0x18: bypass.
    const b = l.machine.translate({ from: 'edu1', addr: 0x8000_0040n, op: 'read' });
    assert.ok(!isEngineError(b) && b.offset === 0x40n);
    // The register block is mapped where `registers` says: CR0 reads back.
    const cr0 = l.machine.access({ from: 'cpu', addr: 0x0900_0020n, op: 'read', size: 4 });
    assert.ok(!isEngineError(cr0));
    assert.equal(cr0.value, 0xdn);
    assert.deepEqual(smmu.regions().map((r) => r.name).sort(), ['smmu0.sid-0x10', 'smmu0.sid-0x18']);
  });

  it('registers alone point the SMMU at tables already in memory; gbpa is written with UPDATE; the qemu-7.2 profile applies', () => {
    const l = load(
      BASE +
        `iommus:
  smmu0:
    model: smmuv3
    walk-memory: system
    profile: qemu-7.2
    iotlb-size: 0
    registers: { gbpa: 0x100000, strtab-base: 0x8000_0000, strtab-base-cfg: 6, cr0: 0x1 }
`,
    );
    assert.deepEqual(errors(l), []);
    assert.deepEqual(
      l.diagnostics.map((d) => `${d.code} ${d.message}`),
      ['ignored-key QEMU 7.2 has no GBPA register: the write is ignored and a disabled SMMU always bypasses'],
    );
    const smmu = l.machine.iommus.get('smmu0') as Smmuv3;
    assert.equal(smmu.profile, 'qemu-7.2');
    assert.equal(smmu.iotlb.enabled, false);
    assert.equal(smmu.regs.strtabBaseCfg, 6);
    assert.equal(smmu.regs.cr0, 1);
    assert.equal(smmu.regionFor(1).size, 1n << 48n);
    const a = load(
      BASE +
        `iommus:
  smmu0: { model: smmuv3, walk-memory: system, registers: { gbpa: 0x100000 } }
`,
    );
    assert.equal((a.machine.iommus.get('smmu0') as Smmuv3).regs.gbpa, 0x100000);
  });

  it('refuses vfio behind the SMMU with QEMU text; accepts vhost', () => {
    const l = load(
      BASE +
        `iommus:
  smmu0: { model: smmuv3, walk-memory: system }
devices:
  nic0: { kind: vfio-pci, bdf: "00:03.0", iommu: smmu0 }
  net0: { kind: vhost, bdf: "00:04.0", iommu: smmu0 }
`,
    );
    const regs = l.machine.registrations;
    const vfio = regs.find((r) => r.kind === 'vfio')!;
    assert.equal(vfio.status, 'refused');
    assert.equal(vfio.error!.message, 'device 00.03.0 requires iommu MAP notifier which is not currently supported');
    assert.equal(regs.find((r) => r.kind === 'vhost')!.status, 'accepted');
  });

  it('nested and stage-2 streams, a 2-level stream table, and scenario register writes', () => {
    const l = load(
      BASE +
        `iommus:
  smmu0:
    model: smmuv3
    walk-memory: system
    registers: { as: system, at: 0x0900_0000 }
    build:
      at: { region: ddr, offset: 0x200000 }
      two-level: { split: 6 }
      streams:
        0x20:
          stage1: { granule: 4KiB, t0sz: 16, asid: 2, map: [ { iova: 0x4000_0000, size: 2MiB, pa: 0x10_0000_0000, perm: rw } ] }
          stage2: { granule: 4KiB, t0sz: 16, vmid: 1, map: [ { ipa: 0x10_0000_0000, size: 2MiB, pa: 0x8040_0000, perm: ro } ] }
        0x21:
          stage2: { granule: 64KiB, t0sz: 24, vmid: 2, map: [ { ipa: 0x0, size: 64KiB, pa: 0x8050_0000, perm: rw } ] }
devices:
  a: { bdf: "00:04.0", iommu: smmu0 }
  b: { bdf: "00:04.1", iommu: smmu0 }
scenario:
  - write-reg: { iommu: smmu0, reg: CR0, value: 0 }
  - expect: { from: a, addr: 0x8000_0008, op: read, reaches: { region: ddr, offset: 0x8 } }
  - write-reg: { iommu: smmu0, reg: CR0, value: 0xd }
  - expect: { from: a, addr: 0x4000_0008, op: read, reaches: { region: ddr, offset: 0x40_0008 } }
  - expect: { from: a, addr: 0x4000_0008, op: write, faults: true }
  - expect: { from: b, addr: 0x1234, op: write, reaches: { region: ddr, offset: 0x50_1234 } }
`,
    );
    assert.deepEqual(errors(l), []);
    const res = runScenario(l.machine, l.scenario);
    assert.deepEqual(
      res.steps.filter((s) => s.failures.length || s.error).map((s) => [s.index, s.summary, s.failures]),
      [],
    );
    const smmu = l.machine.iommus.get('smmu0') as Smmuv3;
    assert.equal(smmu.regs.twoLevel, true);
    const e = smmu.regionFor(0x20).translate(0x4000_0000n, 0, 0);
    assert.equal(e.perm, IOMMU_RO);
    assert.equal(smmu.regionFor(0x21).translate(0n, 0, 0).perm, IOMMU_RW);
  });

  it('reports what the builder refuses at the stream, and a region that walk-memory does not show', () => {
    const l = load(
      (BASE +
        `  other:
    - { at: 0x0, region: lone }
iommus:
  smmu0:
    model: smmuv3
    walk-memory: system
    build:
      at: ddr+0x1000
      streams:
        0x10: { stage1: { granule: 4KiB, t0sz: 16, asid: 1, map: [ { iova: 0x1800, size: 4KiB, pa: 0, perm: rw } ] } }
  smmu1:
    model: smmuv3
    walk-memory: system
    build: { at: lone, streams: {} }
`).replace('memory:\n  ddr: { kind: ram, size: 1GiB }', 'memory:\n  ddr: { kind: ram, size: 1GiB }\n  lone: { kind: ram, size: 1MiB }'),
    );
    const errs = errors(l);
    assert.equal(errs.length, 2, errs.join('\n'));
    assert.match(errs[0]!, /size-alignment smmu0: stream 0x10: mapping 0x1800\+0x1000 -> 0x0 is not aligned to the 4 KiB granule/);
    assert.match(errs[1]!, /bad-value lone is not placed in system/);
  });

  it('validates against the schema: unknown keys and bad profiles are reported', () => {
    const l = load(
      BASE +
        `iommus:
  smmu0: { model: smmuv3, walk-memory: system, profile: qemu-9, bogus: 1 }
`,
    );
    const errs = errors(l);
    assert.ok(errs.some((e) => /profile/.test(e)), errs.join('\n'));
    assert.ok(errs.some((e) => /bogus/.test(e)), errs.join('\n'));
  });
});
