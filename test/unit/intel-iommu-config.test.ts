/**
 * The intel-iommu config model: QEMU's properties, `build` (root, context and page tables written
 * into RAM, the queue, the registers programmed), devices behind it by bdf, vfio accepted with
 * caching mode and refused without it, the example's scenario and its one stale vfio mapping,
 * and diagnostics for what the builder refuses.
 */
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load';
import { IOMMU_RO, isEngineError, runScenario } from '../../src/engine';
import { IntelIommu } from '../../src/engine/models/intel-iommu';
import { regionViews } from '../../src/views/views';
import { mappingRuns } from '../../src/engine/mappings';

const BASE = `iommu-lens: 1
memory:
  ram: { kind: ram, size: 256MiB }
address-spaces:
  system:
    - { at: 0, region: ram }
`;

function errors(l: ReturnType<typeof loadConfig>): string[] {
  return l.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.range.start.line + 1}: ${d.code} ${d.message}`);
}

function example(name: string) {
  return loadConfig(name, readFileSync(join(__dirname, '..', '..', '..', 'examples', name), 'utf8'));
}

describe('intel-iommu: config', () => {
  it('the q35 example: no diagnostics; vfio accepted and shadowed by its replay; run --check-shadows finds exactly the stale page', () => {
    const l = example('q35-intel-iommu.iommu.yaml');
    assert.deepEqual(l.diagnostics.map((d) => d.message), []);
    const vfio = l.machine.registrations.find((r) => r.kind === 'vfio')!;
    assert.equal(vfio.status, 'accepted');
    assert.deepEqual([...vfio.shadow!.keys()], [0x1000_0000n, 0x1000_1000n, 0x1000_2000n, 0x1000_3000n]);
    const res = runScenario(l.machine, l.scenario, { checkShadows: true });
    assert.equal(res.failed, 0);
    assert.equal(res.divergences.length, 1);
    const d = res.divergences[0]!;
    assert.deepEqual([d.notifier, d.kind, d.iova, d.size, d.causeStep, d.shadow.translated], ['nic0/vfio', 'unmapped', 0x1000_0000n, 0x1000n, 6, 0x400_0000n]);
    assert.deepEqual([...vfio.shadow!.keys()].sort(), [0x1000_1000n, 0x1000_2000n, 0x1000_3000n, 0x1000_4000n]);
  });

  it('views: one region per device by BDF, its context entry decoded, mappings from the model\'s walk, registers decoded; no side effects', () => {
    const l = example('q35-intel-iommu.iommu.yaml');
    const d = l.machine.iommus.get('dmar0') as IntelIommu;
    const before = [d.iotlb.size, d.faultLog.length, d.regs.getLong(0x34)];
    const views = regionViews(l);
    assert.deepEqual(views.map((v) => v.name), ['dmar0.vtd-00:02.0', 'dmar0.vtd-00:03.0', 'dmar0.vtd-00:04.0']);
    assert.match(views[1]!.details!, /^00:03\.0: DID 2, T=0 \(untranslated requests, multi-level\), 4-level, 48-bit AGAW, SLPTPTR 0x1006000; 4 mapping\(s\) notified$/);
    const state = new Map(views[0]!.deviceState!.map((x) => [x.name, x.value]));
    assert.equal(state.get('GSTS'), '0xc4000000: TES RTPS QIES');
    assert.match(state.get('CAP')!, /^0x00d2008c222f0686: CM SAGAW 39-bit\/48-bit, MGAW 48, SLLPS 2M\/1G, PSI, MAMV 18, NFR 1, FRO 0x220$/);
    const runs = mappingRuns(views[0]!.region, 0, { maxRuns: 10 });
    assert.deepEqual(runs.runs.map((r) => [r.iova, r.size, r.translated]), [[0x1000_0000n, 0x1_0000n, 0x200_0000n]]);
    assert.deepEqual([d.iotlb.size, d.faultLog.length, d.regs.getLong(0x34)], before);
  });

  it('the example without caching mode: vfio refused with QEMU\'s text, vhost accepted', () => {
    const l = example('q35-intel-iommu-no-cm.iommu.yaml');
    assert.deepEqual(errors(l), []);
    const w = l.diagnostics.filter((d) => d.code === 'notifier-refused').map((d) => d.message);
    assert.deepEqual(w, ['intel-iommu dmar0.vtd-00:03.0 refuses the vfio notifier nic0/vfio: device 00.03.0 requires caching mode: Operation not supported']);
    assert.equal(l.machine.registrations.find((r) => r.kind === 'vhost')!.status, 'accepted');
    // Current QEMU has no machine-done check: the refusal above is all.
    assert.deepEqual(l.diagnostics.filter((d) => d.code === 'machine-done'), []);
  });

  it('QEMU 7.2 ends at machine-done when a vfio-pci device meets an intel-iommu without caching mode (vtd_machine_done_notify_one)', () => {
    const text = readFileSync(join(__dirname, '..', '..', '..', 'examples', 'q35-intel-iommu-no-cm.iommu.yaml'), 'utf8').replace('    caching-mode: false\n', '    caching-mode: false\n    profile: qemu-7.2\n');
    const l = loadConfig('no-cm-72.iommu.yaml', text);
    const md = l.diagnostics.filter((d) => d.code === 'machine-done').map((d) => `${d.severity} ${d.range.start.line + 1}: ${d.message}`);
    const line = text.split('\n').findIndex((x) => x.startsWith('  nic0:')) + 1;
    assert.deepEqual(md, [`warning ${line}: QEMU 7.2 exits when the machine is complete: We need to set caching-mode=on for intel-iommu to enable device assignment with IOMMU protection.`]);
    const withCm = loadConfig('cm-72.iommu.yaml', text.replace('caching-mode: false', 'caching-mode: true'));
    assert.deepEqual(withCm.diagnostics.filter((d) => d.code === 'machine-done'), []);
  });

  it('properties reach CAP/ECAP; the profile picks the default aw-bits; the register block maps where asked', () => {
    const l = loadConfig(
      't.iommu.yaml',
      BASE +
        `iommus:
  d:
    model: intel-iommu
    walk-memory: system
    profile: qemu-7.2
    device-iotlb: true
    caching-mode: true
    registers: { as: system, at: 0x0fed_0000, fectl: 0 }
`,
    );
    assert.deepEqual(errors(l), []);
    const d = l.machine.iommus.get('d') as IntelIommu;
    assert.equal(d.cap, 0x00d2008c22260286n);
    assert.equal(d.ecap, 0xf00f4en);
    assert.equal(d.regs.getLong(0x38), 0);
    const r = l.machine.access({ from: 'system', addr: 0x0fed_0008n, op: 'read', size: 8 });
    assert.ok(!isEngineError(r) && r.value === d.cap);
  });

  it('builder diagnostics: overlapping mappings, a bad bdf key, aw-bits 57 under qemu-7.2', () => {
    const l = loadConfig(
      't.iommu.yaml',
      BASE +
        `iommus:
  d:
    model: intel-iommu
    walk-memory: system
    build:
      at: ram+0x100000
      devices:
        "00:03.0": { map: [ { iova: 0x1000, size: 8KiB, pa: 0x9000, perm: rw }, { iova: 0x2000, size: 4KiB, pa: 0xa000, perm: rw } ] }
  e:
    model: intel-iommu
    walk-memory: system
    build: { at: ram, devices: { "00:33.0": { map: [] } } }
  f:
    model: intel-iommu
    walk-memory: system
    profile: qemu-7.2
    aw-bits: 57
`,
    );
    const e = errors(l);
    assert.equal(e.length, 3);
    assert.match(e[0]!, /^14: mapping-overlap d: device 00:03\.0: mapping 0x2000\+0x1000 overlaps 0x1000\+0x2000$/);
    assert.match(e[1]!, /^18: bad-value "00:33\.0" is not a PCI bus:device\.function/);
    assert.equal(e[2], '23: bad-value intel-iommu f: Supported values for aw-bits are: 39, 48');
  });

  it('a pass-through device and a 3-level device built side by side', () => {
    const l = loadConfig(
      't.iommu.yaml',
      BASE +
        `iommus:
  d:
    model: intel-iommu
    walk-memory: system
    build:
      at: ram+0x100000
      devices:
        "00:02.0": { translation: pass-through }
        "00:03.0": { aw-bits: 39, domain: 7, map: [ { iova: 0x4000_0000, size: 1GiB, pa: 0x4000_0000, perm: ro } ] }
devices:
  a: { kind: pci, bdf: "00:02.0", iommu: d }
  b: { kind: pci, bdf: "00:03.0", iommu: d }
`,
    );
    assert.deepEqual(errors(l), []);
    const a = l.machine.translate({ from: 'a', addr: 0x1234_5678n, op: 'write' });
    const b = l.machine.translate({ from: 'b', addr: 0x4123_4567n, op: 'read' });
    assert.ok(!isEngineError(a) && !isEngineError(b));
    const d = l.machine.iommus.get('d') as IntelIommu;
    const e = d.regionFor(0x18).translate(0x4123_4567n, IOMMU_RO, 0);
    assert.deepEqual([e.iova, e.addrMask, e.perm], [0x4000_0000n, 0x3fff_ffffn, IOMMU_RO]);
    assert.match(d.describeDevice(0x18), /^DID 7, T=0 .*3-level, 39-bit AGAW/);
  });

  it('qemu-7.2: a PASID entry in build is written, with a warning that QEMU 7.2 creates no PASID address space; none under the architecture', () => {
    const text = (profile: string) => `${BASE}iommus:
  dmar0:
    model: intel-iommu
    walk-memory: system${profile}
    scalable-mode: true
    pasid-mode: true
    build:
      at: ram+0x100_0000
      devices:
        "00:02.0":
          domain: 1
          map: [ { iova: 0x1000, size: 4KiB, pa: 0x20_0000, perm: rw } ]
          pasids:
            "5": { domain: 2, map: [ { iova: 0x1000, size: 4KiB, pa: 0x30_0000, perm: ro } ] }
devices:
  dev: { kind: pci, bdf: "00:02.0", iommu: dmar0 }
  dev-pasid5: { kind: pci, bdf: "00:02.0", iommu: dmar0, attrs: { pasid: 5 } }
`;
    const q = loadConfig('q.iommu.yaml', text('\n    profile: qemu-7.2'));
    assert.deepEqual(errors(q), []);
    const warned = q.diagnostics.filter((d) => d.code === 'profile-difference');
    assert.deepEqual(
      warned.map((d) => `${d.severity} ${d.range.start.line + 1}: ${d.message}`),
      [
        "warning 21: QEMU 7.2 creates no PASID address space (vtd_find_add_as is only called with PCI_NO_PASID, and MemTxAttrs carries no PASID): PASID 5's entry is written, but no DMA in QEMU 7.2 goes through it",
      ],
    );
    // The entry is still written and walked, as 7.2's translate would walk it.
    const d = q.machine.iommus.get('dmar0') as IntelIommu;
    const e = d.regionFor(0x10, 5).translate(0x1008n, IOMMU_RO, 0);
    assert.deepEqual([e.translatedAddr, e.perm], [0x30_0000n, IOMMU_RO]);
    const a = loadConfig('a.iommu.yaml', text(''));
    assert.deepEqual(errors(a), []);
    assert.deepEqual(a.diagnostics.filter((d) => d.code === 'profile-difference'), []);
  });
});
