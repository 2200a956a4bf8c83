/**
 * virtio-iommu (hw/virtio/virtio-iommu.c, QEMU 7.2 and current; the virtio specification's IOMMU
 * device): the status of every request, the MAP/UNMAP notifications they cause (power-of-two
 * aligned chunks, skipped for MMIO mappings, perm none, or no notifier wanting them), translate
 * and its faults with their event records, bypass, reserved regions, the refusal of
 * DEVIOTLB_UNMAP, and the replay that MAPs again what vfio already holds.
 */
import * as assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load';
import {
  HWADDR_MAX,
  isEngineError,
  IOMMU_NONE,
  IOMMU_NOTIFIER_DEVIOTLB_UNMAP,
  IOMMU_NOTIFIER_IOTLB_EVENTS,
  IOMMU_RO,
  IOMMU_RW,
  IOMMU_WO,
  register,
  replayInto,
  runScenario,
  type Trace,
} from '../../src/engine';
import {
  VIRTIO_IOMMU_S_INVAL,
  VIRTIO_IOMMU_S_NOENT,
  VIRTIO_IOMMU_S_OK,
  VIRTIO_IOMMU_S_RANGE,
  VIRTIO_IOMMU_S_UNSUPP,
  VirtioIommu,
  dmaAlignedPow2Mask,
  pow2Chunks,
  type VirtioIommuRequest,
} from '../../src/engine/models/virtio-iommu';

import { NET, NIC, hx, rig } from './virtio-iommu-helpers';

const attach = (domain: number, endpoint: number, flags = 0): VirtioIommuRequest => ({ type: 'attach', domain, endpoint, flags });
const detach = (domain: number, endpoint: number): VirtioIommuRequest => ({ type: 'detach', domain, endpoint });
const map = (domain: number, virtStart: bigint, virtEnd: bigint, physStart: bigint, flags = 3): VirtioIommuRequest => ({ type: 'map', domain, virtStart, virtEnd, physStart, flags });
const unmap = (domain: number, virtStart: bigint, virtEnd: bigint): VirtioIommuRequest => ({ type: 'unmap', domain, virtStart, virtEnd });

describe('virtio-iommu: request statuses', () => {
  it('ATTACH: unknown flags S_INVAL, an endpoint with no device S_NOENT, the other bypass flag S_INVAL (after detaching), a domain outside domain_range S_RANGE', () => {
    const { req, dev } = rig({ domainRange: [0, 15] });
    assert.equal(req(attach(1, NIC, 2)), 'S_INVAL');
    assert.equal(req(attach(1, 0x99)), 'S_NOENT');
    assert.equal(req(attach(1, NIC)), 'S_OK');
    assert.equal(req(attach(2, NET, 1)), 'S_OK');
    // Domain 2 is a bypass domain: NIC is detached from domain 1 (which goes) and then refused.
    assert.equal(req(attach(2, NIC)), 'S_INVAL');
    assert.equal(dev.endpoints.get(NIC)!.domain, undefined);
    assert.equal(dev.domains.has(1), false);
    assert.equal(req(attach(16, NIC)), 'S_RANGE');
    // QEMU 7.2 does not check the domain range.
    assert.equal(rig({ domainRange: [0, 15], profile: 'qemu-7.2' }).req(attach(16, NIC)), 'S_OK');
  });

  it('DETACH: never-attached S_NOENT, another or no domain S_INVAL; the last endpoint frees the domain and its mappings; the endpoint is forgotten (QEMU 7.2: kept)', () => {
    for (const [profile, again] of [['current', 'S_NOENT'], ['qemu-7.2', 'S_INVAL']] as const) {
      const { req, dev } = rig({ profile });
      assert.equal(req(detach(1, NIC)), 'S_NOENT');
      assert.equal(req(attach(1, NIC)), 'S_OK');
      assert.equal(req(map(1, 0x1000n, 0x1fffn, 0x4000_0000n)), 'S_OK');
      assert.equal(req(detach(2, NIC)), 'S_INVAL');
      assert.equal(req(detach(1, NIC)), 'S_OK');
      assert.equal(req(detach(1, NIC)), again);
      assert.equal(req(map(1, 0x1000n, 0x1fffn, 0x4000_0000n)), 'S_NOENT');
      assert.equal(dev.endpoints.has(NIC), profile === 'qemu-7.2');
      // An endpoint in no domain but known: the other bypass flag leaves it so.
      assert.equal(req(attach(5, NET, 1)), 'S_OK');
      assert.equal(req(attach(5, NIC)), 'S_INVAL');
      assert.equal(req(detach(5, NIC)), 'S_INVAL');
    }
  });

  it('MAP: unknown flags S_INVAL, unknown domain S_NOENT, bypass domain S_INVAL, overlap S_INVAL; outside the input range or unaligned S_RANGE (QEMU 7.2: S_OK)', () => {
    for (const profile of ['current', 'qemu-7.2'] as const) {
      const { req } = rig({ awBits: 48, profile });
      assert.equal(req(map(1, 0x1000n, 0x1fffn, 0n)), 'S_NOENT');
      assert.equal(req(attach(1, NIC)), 'S_OK');
      assert.equal(req(attach(3, NET, 1)), 'S_OK');
      assert.equal(req(map(1, 0x1000n, 0x1fffn, 0n, 8)), 'S_INVAL');
      assert.equal(req(map(3, 0x1000n, 0x1fffn, 0n)), 'S_INVAL');
      assert.equal(req(map(1, 0x1000n, 0x2fffn, 0x4000_0000n)), 'S_OK');
      assert.equal(req(map(1, 0x2000n, 0x2fffn, 0x4000_0000n)), 'S_INVAL');
      assert.equal(req(map(1, 0x3000n, 0x3fffn, 0x4000_0000n)), 'S_OK');
      const range = profile === 'current' ? 'S_RANGE' : 'S_OK';
      assert.equal(req(map(1, 1n << 48n, (1n << 48n) + 0xfffn, 0x4000_0000n)), range);
      assert.equal(req(map(1, 0x10_0800n, 0x10_17ffn, 0x4000_0000n)), range);
      assert.equal(req(map(1, 0x20_0000n, 0x20_0fffn, 0x4000_0800n)), range);
    }
  });

  it('UNMAP: unknown domain S_NOENT, bypass S_INVAL, nothing there S_OK, whole mappings S_OK; a split S_RANGE removing nothing (QEMU 7.2: removing those below it)', () => {
    for (const profile of ['current', 'qemu-7.2'] as const) {
      const { req, dev } = rig({ profile });
      assert.equal(req(unmap(1, 0n, 0xfffn)), 'S_NOENT');
      assert.equal(req(attach(1, NIC)), 'S_OK');
      assert.equal(req(attach(3, NET, 1)), 'S_OK');
      assert.equal(req(unmap(3, 0n, 0xfffn)), 'S_INVAL');
      assert.equal(req(unmap(1, 0n, 0xfffn)), 'S_OK');
      for (const a of [0x1000n, 0x3000n, 0x5000n]) assert.equal(req(map(1, a, a + 0xfffn, 0x4000_0000n + a)), 'S_OK');
      assert.equal(req(map(1, 0x8000n, 0x9fffn, 0x4000_8000n)), 'S_OK');
      assert.equal(req(unmap(1, 0x1000n, 0x8fffn)), 'S_RANGE');
      const left = dev.domains.get(1)!.mappings.all().map((m) => hx(m.low));
      // QEMU's GTree after inserting 0x1000, 0x3000, 0x5000, 0x8000 is 0x3000(0x1000, 0x5000(-, 0x8000)):
      // its lookups meet 0x3000, then 0x5000, then the split 0x8000, and 0x1000 is left.
      assert.deepEqual(left, profile === 'current' ? ['0x1000', '0x3000', '0x5000', '0x8000'] : ['0x1000', '0x8000']);
      assert.equal(req(unmap(1, 0n, 0xffffn)), 'S_OK');
      assert.equal(dev.domains.get(1)!.mappings.size, 0);
    }
  });

  it('PROBE: unknown endpoint S_NOENT; the reserved regions as RESV_MEM properties; more than the 512-byte buffer holds S_INVAL; an unknown request type S_UNSUPP', () => {
    const { dev } = rig({ reservedRegions: [{ low: 0x800_0000n, high: 0x80f_ffffn, type: 'msi' }, { low: 0xfee0_0000n, high: 0xfeef_ffffn, type: 'reserved' }] });
    assert.equal(dev.request({ type: 'probe', endpoint: 0x99 }).status, VIRTIO_IOMMU_S_NOENT);
    const r = dev.request({ type: 'probe', endpoint: NIC });
    assert.equal(r.status, VIRTIO_IOMMU_S_OK);
    assert.deepEqual(r.properties, [
      { type: 1, length: 20, subtype: 1, start: 0x800_0000n, end: 0x80f_ffffn },
      { type: 1, length: 20, subtype: 0, start: 0xfee0_0000n, end: 0xfeef_ffffn },
    ]);
    const many = (n: number) => Array.from({ length: n }, (_, i) => ({ low: BigInt(i) << 20n, high: (BigInt(i) << 20n) + 0xfffn, type: 'reserved' as const }));
    assert.equal(rig({ reservedRegions: many(21) }).dev.request({ type: 'probe', endpoint: NIC }).status, VIRTIO_IOMMU_S_OK);
    assert.equal(rig({ reservedRegions: many(22) }).dev.request({ type: 'probe', endpoint: NIC }).status, VIRTIO_IOMMU_S_INVAL);
    assert.equal(dev.request({ type: 'unknown', code: 9 }).status, VIRTIO_IOMMU_S_UNSUPP);
    assert.equal(VIRTIO_IOMMU_S_RANGE, 5);
  });
});

describe('virtio-iommu: notifications', () => {
  it('dma_aligned_pow2_mask splits a range into aligned power-of-two chunks', () => {
    assert.deepEqual(
      pow2Chunks(0x1000n, 0x6fffn).map((c) => `${hx(c.iova)}/${hx(c.mask)}`),
      ['0x1000/0xfff', '0x2000/0x1fff', '0x4000/0x1fff', '0x6000/0xfff'],
    );
    assert.deepEqual(pow2Chunks(0n, HWADDR_MAX), [{ iova: 0n, mask: HWADDR_MAX }]);
    assert.deepEqual(pow2Chunks(0xffff_ffff_ffff_f000n, HWADDR_MAX), [{ iova: 0xffff_ffff_ffff_f000n, mask: 0xfffn }]);
    assert.equal(dmaAlignedPow2Mask(0n, 0x2_ffffn), 0x1_ffffn);
    assert.equal(dmaAlignedPow2Mask(0x1_0000n, 0x1_0fffn), 0xfffn);
  });

  it('MAP goes in chunks to the endpoints that want MAP, with translated advancing; none for MMIO, for perm none, or for vhost', () => {
    const { req, events } = rig({ bootBypass: false });
    req(attach(1, NIC));
    req(attach(1, NET));
    events();
    assert.equal(req(map(1, 0x1000n, 0x6fffn, 0x4010_0000n, 1)), 'S_OK');
    assert.deepEqual(events(), ['nic0 MAP 0x1000/0xfff->0x40100000 1', 'nic0 MAP 0x2000/0x1fff->0x40101000 1', 'nic0 MAP 0x4000/0x1fff->0x40103000 1', 'nic0 MAP 0x6000/0xfff->0x40105000 1']);
    assert.equal(req(map(1, 0x10_0000n, 0x10_0fffn, 0x4020_0000n, 7)), 'S_OK'); // READ|WRITE|MMIO
    assert.equal(req(map(1, 0x20_0000n, 0x20_0fffn, 0x4020_0000n, 0)), 'S_OK'); // perm none
    assert.deepEqual(events(), []);
  });

  it('UNMAP goes to every endpoint of the domain, newest attached first, in chunks, perm NONE', () => {
    const { req, events } = rig({ bootBypass: false });
    req(attach(1, NIC));
    req(attach(1, NET));
    req(map(1, 0x1000n, 0x2fffn, 0x4010_0000n));
    events();
    assert.equal(req(unmap(1, 0n, 0xffffn)), 'S_OK');
    assert.deepEqual(events(), ['net0 UNMAP 0x1000/0xfff', 'net0 UNMAP 0x2000/0xfff', 'nic0 UNMAP 0x1000/0xfff', 'nic0 UNMAP 0x2000/0xfff']);
  });

  it('UNMAP of several mappings goes in the order QEMU\'s GTree lookups meet them, not address order', () => {
    const { req, events } = rig({ bootBypass: false });
    req(attach(1, NIC));
    for (const a of [0x1000n, 0x3000n, 0x5000n, 0x8000n]) req(map(1, a, a + 0xfffn, 0x4000_0000n + a));
    events();
    assert.equal(req(unmap(1, 0n, 0xffffn)), 'S_OK');
    assert.deepEqual(events(), ['nic0 UNMAP 0x3000/0xfff', 'nic0 UNMAP 0x5000/0xfff', 'nic0 UNMAP 0x8000/0xfff', 'nic0 UNMAP 0x1000/0xfff']);
  });

  it('ATTACH sends the domain mappings as MAP; a re-attach elsewhere UNMAPs the old domain first; DETACH UNMAPs them', () => {
    const { req, events } = rig({ bootBypass: false });
    req(attach(1, NET));
    req(map(1, 0x1000n, 0x1fffn, 0x4010_0000n));
    events();
    assert.equal(req(attach(1, NIC)), 'S_OK');
    assert.deepEqual(events(), ['nic0 MAP 0x1000/0xfff->0x40100000 3']);
    req(attach(2, NET));
    req(map(2, 0x8000n, 0x8fffn, 0x4020_0000n, 2));
    events();
    assert.equal(req(attach(2, NIC)), 'S_OK');
    assert.deepEqual(events(), ['nic0 UNMAP 0x1000/0xfff', 'nic0 MAP 0x8000/0xfff->0x40200000 2']);
    assert.equal(req(detach(2, NIC)), 'S_OK');
    assert.deepEqual(events(), ['nic0 UNMAP 0x8000/0xfff']);
  });

  it('refuses DEVIOTLB_UNMAP with QEMU\'s text and accepts MAP', () => {
    const { nicR, netR } = rig();
    const r = register({ kind: 'vhost', name: 'x', owner: 'x', region: netR, flags: IOMMU_NOTIFIER_DEVIOTLB_UNMAP, start: 0n, end: HWADDR_MAX, iommuIdx: 0 });
    assert.equal(r.status, 'refused');
    assert.equal(r.error?.message, 'Virtio-iommu does not support dev-iotlb yet');
    assert.equal(nicR.iommuNotifyFlags, IOMMU_NOTIFIER_IOTLB_EVENTS);
  });
});

describe('virtio-iommu: replay', () => {
  it('MAPs every mapping of the endpoint\'s domain to every MAP notifier, with no UNMAP first and no de-duplication: vfio answers EEXIST and keeps its map', () => {
    const { req, events, vfio, nicR } = rig({ bootBypass: false });
    req(attach(1, NIC));
    req(map(1, 0x1000n, 0x2fffn, 0x4010_0000n));
    req(map(1, 0x8000n, 0x8fffn, 0x4020_0000n, 1));
    events();
    const before = [...vfio.shadow!.values()];
    const res = replayInto(vfio);
    assert.deepEqual(res, { kind: 'model', steps: 2, delivered: 3 });
    assert.deepEqual(events(), ['nic0 MAP 0x1000/0xfff->0x40100000 3', 'nic0 MAP 0x2000/0xfff->0x40101000 3', 'nic0 MAP 0x8000/0xfff->0x40200000 1']);
    const errs = vfio.received.slice(-3).map((e) => e.error);
    assert.deepEqual(errs, [0x1000n, 0x2000n, 0x8000n].map((a) => `VFIO_MAP_DMA failed: File exists; vfio_dma_map(container, ${hx(a)}, 0x1000, vaddr) = -17 (File exists); vfio keeps its mapping of the range as it was`));
    assert.deepEqual([...vfio.shadow!.values()], before);
    // translate(IOMMU_NONE) answers perm NONE, which is why the default replay would deliver nothing.
    assert.equal(nicR.translate(0x1000n, IOMMU_NONE, 0).perm, IOMMU_NONE);
  });

  it('a view\'s replay (a stand-in notifier, not registered) gets the MAPs alone: vfio is not disturbed', () => {
    const { req, vfio, nicR } = rig({ bootBypass: false });
    req(attach(1, NIC));
    req(map(1, 0x1000n, 0x2fffn, 0x4010_0000n));
    const before = vfio.received.length;
    const got: string[] = [];
    const res = nicR.replay({ name: 'stand-in', owner: 'view', flags: IOMMU_NOTIFIER_IOTLB_EVENTS, start: 0n, end: HWADDR_MAX, iommuIdx: 0, notify: (_n, ev) => got.push(`${hx(ev.entry.iova)}/${hx(ev.entry.addrMask)}`) });
    assert.deepEqual(res, { kind: 'model', steps: 1, delivered: 2 });
    assert.deepEqual(got, ['0x1000/0xfff', '0x2000/0xfff']);
    assert.equal(vfio.received.length, before);
  });

  it('re-attaching with config.bypass = 1: vfio re-adds the section and replays, then ATTACH MAPs again: EEXIST per chunk', () => {
    const { req, events, vfio, dev } = rig({ bootBypass: true });
    req(attach(1, NIC));
    req(attach(1, NET));
    req(map(1, 0x1000n, 0x2fffn, 0x4010_0000n));
    events();
    assert.equal(req(attach(1, NIC)), 'S_OK');
    assert.deepEqual(events(), [
      'nic0 UNMAP 0x1000/0xfff', 'nic0 UNMAP 0x2000/0xfff',
      'nic0 MAP 0x1000/0xfff->0x40100000 3', 'nic0 MAP 0x2000/0xfff->0x40101000 3',
      'nic0 MAP 0x1000/0xfff->0x40100000 3', 'nic0 MAP 0x2000/0xfff->0x40101000 3',
    ]);
    assert.deepEqual(vfio.received.slice(-4).map((e) => [e.via, e.error?.startsWith('VFIO_MAP_DMA failed: File exists') ?? false]), [['replay', false], ['replay', false], ['notify', true], ['notify', true]]);
    assert.equal(vfio.shadow!.size, 2);
    // Alone in its domain, a re-attach frees the domain first (QEMU's attach): its mappings go.
    req(detach(1, NET));
    assert.equal(req(attach(1, NIC)), 'S_OK');
    assert.equal(dev.domains.get(1)!.mappings.size, 0);
    assert.equal(vfio.shadow!.size, 0);
  });
});

describe('virtio-iommu: translate, bypass, reserved regions, faults', () => {
  const tr = (dev: VirtioIommu, sid: number, addr: bigint, flag: number, trace?: Trace) => dev.regionFor(sid).translate(addr, flag, 0, trace);

  it('a mapping: translated = addr - virt_start + phys_start, perm = the requested flag, mask from the granule', () => {
    const { dev, req, system } = rig({ bootBypass: false, granule: 0x1_0000n });
    req(attach(1, NIC));
    req(map(1, 0x10_0000n, 0x11_ffffn, 0x4020_0000n));
    assert.deepEqual(tr(dev, NIC, 0x10_1234n, IOMMU_RO), { targetAs: system, iova: 0x10_1234n, translatedAddr: 0x4020_1234n, addrMask: 0xffffn, perm: IOMMU_RO });
    assert.equal(dev.regionFor(NIC).probe(0x10_1234n, IOMMU_NONE, 0).perm, IOMMU_RW);
    // QEMU 7.2 has no granule property: TARGET_PAGE_MASK.
    const old = rig({ bootBypass: false, granule: 0x1_0000n, profile: 'qemu-7.2' });
    old.req(attach(1, NIC));
    old.req(map(1, 0x10_0000n, 0x11_ffffn, 0x4020_0000n));
    assert.equal(tr(old.dev, NIC, 0x10_1234n, IOMMU_RO).addrMask, 0xfffn);
  });

  it('faults with their reason, flags and event record: unknown endpoint, no domain, no mapping, a missing WRITE flag, a reserved region', () => {
    const { dev, req } = rig({ bootBypass: false, reservedRegions: [{ low: 0xfee0_0000n, high: 0xfeef_ffffn, type: 'reserved' }, { low: 0x800_0000n, high: 0x80f_ffffn, type: 'msi' }] });
    assert.equal(tr(dev, NIC, 0x1000n, IOMMU_RO).perm, IOMMU_NONE);
    // NET known but in no domain: refused by a bypass domain after leaving its own.
    assert.equal(req(attach(7, NIC, 1)), 'S_OK');
    assert.equal(req(attach(7, NET, 1)), 'S_OK');
    assert.equal(req(attach(7, NET)), 'S_INVAL');
    assert.equal(req(attach(1, NIC)), 'S_OK');
    req(map(1, 0x2000_0000n, 0x2000_0fffn, 0x4030_0000n, 1));
    assert.equal(tr(dev, NET, 0x1000n, IOMMU_WO).perm, IOMMU_NONE);
    assert.equal(tr(dev, NIC, 0x3000_0000n, IOMMU_RO).perm, IOMMU_NONE);
    assert.equal(tr(dev, NIC, 0x2000_0000n, IOMMU_WO).perm, IOMMU_NONE);
    assert.equal(tr(dev, NIC, 0xfee0_0040n, IOMMU_WO).perm, IOMMU_NONE);
    const msi = tr(dev, NIC, 0x800_0040n, IOMMU_WO);
    assert.deepEqual([msi.translatedAddr, msi.perm], [0x800_0040n, IOMMU_WO]);
    assert.deepEqual(
      dev.faults.map((f) => f.text),
      [
        'R_UNKNOWN F_ADDRESS endpoint 0x18 address 0x1000',
        'R_DOMAIN F_ADDRESS endpoint 0x20 address 0x1000',
        'R_MAPPING F_ADDRESS endpoint 0x18 address 0x30000000',
        'R_MAPPING F_WRITE|F_ADDRESS endpoint 0x18 address 0x20000000',
        'R_MAPPING F_ADDRESS endpoint 0x18 address 0xfee00040',
      ],
    );
    assert.equal(dev.faults[3]!.bytes, '02 00 00 00 02 01 00 00 18 00 00 00 00 00 00 00 00 00 00 20 00 00 00 00');
    assert.deepEqual(dev.log, [
      'virtio_iommu_translate sid=24 is not known!!',
      'virtio_iommu_translate 00:04.0 not attached to any domain',
      'virtio_iommu_translate no mapping for 0x30000000 for sid=24',
      'virtio_iommu_translate permission error on 0x20000000(2): allowed=1',
    ]);
    // A query reports nothing.
    const n = dev.faults.length;
    const trace: Trace = [];
    dev.regionFor(NIC).probe(0x3000_0000n, IOMMU_RO, 0, trace);
    assert.equal(dev.faults.length, n);
    assert.match(trace.at(-1)!.summary, /^R_MAPPING: domain 1 maps nothing at 0x30000000; a query reports no fault/);
  });

  it('bypass: boot-bypass for endpoints in no domain, a bypass domain, and config.bypass written by the driver', () => {
    const { dev, req, nicR, vfio } = rig({ bootBypass: true });
    assert.equal(nicR.enabled, false);
    assert.deepEqual([tr(dev, NIC, 0x4000_1000n, IOMMU_WO).translatedAddr, tr(dev, NIC, 0x4000_1000n, IOMMU_WO).perm], [0x4000_1000n, IOMMU_WO]);
    req(attach(5, NIC, 1));
    assert.equal(req(map(5, 0n, 0xfffn, 0n)), 'S_INVAL');
    assert.equal(tr(dev, NIC, 0x1000n, IOMMU_RO).perm, IOMMU_RO);
    req(attach(1, NIC));
    assert.equal(nicR.enabled, true);
    req(map(1, 0x1000n, 0x1fffn, 0x4000_0000n));
    req(detach(1, NIC));
    assert.equal(nicR.enabled, false);
    assert.equal(vfio.shadow!.size, 0);
    assert.deepEqual(dev.setConfigBypass(0), { effect: 'config.bypass <- 0: 2 endpoint(s) switch address space' });
    assert.equal(tr(dev, NIC, 0x1000n, IOMMU_RO).perm, IOMMU_NONE);
    // DETACH forgot the endpoint (QEMU 9.1 on): R_UNKNOWN, not R_DOMAIN.
    assert.equal(dev.faults.at(-1)!.text, 'R_UNKNOWN F_ADDRESS endpoint 0x18 address 0x1000');
    assert.equal(dev.setConfigBypass(2).error, "invalid config.bypass value '2'");
  });

  it('QEMU 7.2 looks up [addr, addr + 1]: the byte below a mapping translates to phys_start - 1; the specification faults', () => {
    for (const [profile, perm, out] of [['current', IOMMU_NONE, 0x1fffn], ['qemu-7.2', IOMMU_RO, 0x4000_ffffn]] as const) {
      const { dev, req } = rig({ bootBypass: false, profile });
      req(attach(1, NIC));
      req(map(1, 0x2000n, 0x2fffn, 0x4001_0000n));
      const trace: Trace = [];
      const e = tr(dev, NIC, 0x1fffn, IOMMU_RO, trace);
      assert.deepEqual([e.perm, e.translatedAddr], [perm, out]);
      if (profile === 'qemu-7.2') assert.ok(trace.some((s) => /QEMU 7.2 looks up \[0x1fff, 0x2000\]/.test(s.summary)));
    }
  });
});

describe('virtio-iommu: config', () => {
  const BASE = `iommu-lens: 1
memory:
  ram: { kind: ram, size: 256MiB }
address-spaces:
  system:
    - { at: 0x4000_0000, region: ram }
`;
  it('rejects aw-bits outside [32,64] with QEMU\'s text; QEMU 7.2 ignores granule and aw-bits with a warning', () => {
    const bad = loadConfig('t.iommu.yaml', `${BASE}iommus:\n  v: { model: virtio-iommu, aw-bits: 20 }\n`);
    assert.deepEqual(bad.diagnostics.map((d) => `${d.code} ${d.message}`), ['bad-value aw-bits must be within [32,64]']);
    const old = loadConfig('t.iommu.yaml', `${BASE}iommus:\n  v: { model: virtio-iommu, profile: qemu-7.2, granule: 64k, aw-bits: 48 }\n`);
    assert.deepEqual(old.diagnostics.map((d) => d.code), ['ignored-key', 'ignored-key']);
  });

  it('runs requests from command steps and checks their statuses; a malformed request is a load error', () => {
    const l = loadConfig(
      't.iommu.yaml',
      `${BASE}iommus:\n  v: { model: virtio-iommu }\ndevices:\n  nic0: { kind: vfio-pci, bdf: "00:03.0", iommu: v }\nscenario:\n` +
        `  - command: { iommu: v, cmd: attach, domain: 1, endpoint: 0x18, expect-status: S_OK }\n` +
        `  - command: { iommu: v, cmd: map, domain: 1, virt-start: 0x1000, virt-end: 0x1fff, phys-start: 0x4000_0000, flags: rw, expect-status: S_OK }\n` +
        `  - command: { iommu: v, cmd: unmap, domain: 1, virt-start: 0x1000, virt-end: 0x17ff, expect-status: S_OK }\n` +
        `  - expect: { from: nic0, addr: 0x1010, reaches: { region: ram, offset: 0x10 } }\n`,
    );
    assert.deepEqual(l.diagnostics, []);
    const r = runScenario(l.machine, l.scenario);
    assert.deepEqual(r.steps.map((s) => s.failures), [[], [], ['status S_RANGE, expected S_OK'], []]);
    assert.equal(r.steps[1]!.notifications.length, 1);
    const bad = loadConfig('t.iommu.yaml', `${BASE}iommus:\n  v: { model: virtio-iommu }\nscenario:\n  - command: { iommu: v, cmd: map, domain: 1 }\n`);
    assert.deepEqual(bad.diagnostics.map((d) => `${d.code} ${d.message}`), ['bad-value v: map needs a number "virt-start"']);
  });
});

describe('virtio-iommu: the request queue in guest memory', () => {
  const Q = 0x4f00_0000n;

  it('requests go through a split virtqueue: descriptors, available ring, the device\'s reply and the used ring in guest memory', () => {
    const { dev, events } = rig({ bootBypass: false, requestQueue: { at: Q, size: 16 }, reservedRegions: [{ low: 0x800_0000n, high: 0x80f_ffffn, type: 'msi' }] });
    const q = dev.queue!;
    assert.deepEqual([q.desc, q.avail, q.used, q.buffers], [Q, Q + 0x100n, Q + 0x128n, Q + 0x1b0n]);
    const res = dev.issueCommands([
      { op: 'attach', domain: 1, endpoint: NIC },
      { op: 'map', domain: 1, 'virt-start': 0x1000n, 'virt-end': 0x2fffn, 'phys-start': 0x4010_0000n, flags: 'rw' },
      { op: 'probe', endpoint: NIC },
      { op: 'map', domain: 9, 'virt-start': 0x1000n, 'virt-end': 0x1fffn, 'phys-start': 0n, flags: 'r' },
    ]);
    assert.ok(!isEngineError(res));
    assert.deepEqual(res.map((r) => r.status), ['S_OK', 'S_OK', 'S_OK', 'S_NOENT']);
    assert.match(res[1]!.effect, /\[request queue: chain 2, status S_OK read back at 0x4f000630\]$/);
    assert.deepEqual(events(), ['nic0 MAP 0x1000/0xfff->0x40100000 3', 'nic0 MAP 0x2000/0xfff->0x40101000 3']);
    // avail.idx and used.idx are 4; used ring: {id, len} = {0, 4}, {2, 4}, {4, 516}, {6, 4}.
    assert.equal(q.read(q.avail + 2n, 2), 4n);
    assert.equal(q.read(q.used + 2n, 2), 4n);
    assert.deepEqual([0, 1, 2, 3].map((i) => [q.read(q.used + 4n + 8n * BigInt(i), 4), q.read(q.used + 8n + 8n * BigInt(i), 4)]), [[0n, 4n], [2n, 4n], [4n, 516n], [6n, 4n]]);
    // The map request as the driver wrote it: head, domain, virt_start, virt_end, phys_start, flags.
    const mapReq = q.readBytes(q.buffers + 1024n, 36)!;
    assert.deepEqual([...mapReq.subarray(0, 8)], [3, 0, 0, 0, 1, 0, 0, 0]);
    // PROBE's reply: one RESV_MEM property (type 1, length 20, MSI) then the tail at probe_size.
    const reply = q.readBytes(q.buffers + 2048n + 128n, 516)!;
    assert.deepEqual([...reply.subarray(0, 8)], [1, 0, 20, 0, 1, 0, 0, 0]);
    assert.equal(reply[512], 0);
  });

  it('the device reads what the guest wrote: a short MAP request is S_INVAL; a chain without a tail buffer breaks the device', () => {
    const { dev } = rig({ bootBypass: false, requestQueue: { at: Q, size: 4 } });
    const q = dev.queue!;
    dev.request(attach(1, NIC));
    // By hand: a MAP head and 8 bytes, then a 4-byte writable tail.
    const sub = q.submit(Uint8Array.of(3, 0, 0, 0, 1, 0, 0, 0), 4);
    assert.ok(typeof sub !== 'string');
    const done = dev.kick();
    assert.ok(typeof done !== 'string');
    assert.deepEqual(done.map((d) => [d.status, d.effect]), [[VIRTIO_IOMMU_S_INVAL, 'S_INVAL: the request has 8 bytes; type 3 needs 36']]);
    assert.equal(q.read(sub.inAddr, 1), BigInt(VIRTIO_IOMMU_S_INVAL));
    q.submit(Uint8Array.of(1, 0, 0, 0), 2);
    const broke = dev.kick();
    assert.ok(typeof broke !== 'string');
    assert.equal(broke[0]!.effect, 'virtio_error: virtio-iommu bad head/tail size (the chain is dropped; the device needs a reset)');
    assert.equal(dev.broken, 'virtio-iommu bad head/tail size');
  });
});
