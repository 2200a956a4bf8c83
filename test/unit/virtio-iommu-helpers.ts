/** A virtio-iommu with two endpoints behind it: a vfio NIC (0x18) and a vhost back end (0x20). */
import * as assert from 'node:assert/strict';
import {
  AddressSpace,
  ContainerRegion,
  HWADDR_MAX,
  IOMMU_NOTIFIER_IOTLB_EVENTS,
  IOMMU_NOTIFIER_UNMAP,
  RamRegion,
  formatNotifierFlags,
  isEngineError,
  register,
  type NotifyRecord,
} from '../../src/engine';
import { VirtioIommu, statusName, type VirtioIommuOptions, type VirtioIommuRequest } from '../../src/engine/models/virtio-iommu';

export const NIC = 0x18; // 00:03.0, vfio
export const NET = 0x20; // 00:04.0, vhost

export function rig(opts: Partial<VirtioIommuOptions> = {}) {
  const root = new ContainerRegion('sysmem', 1n << 40n);
  root.addSubregion(new RamRegion('ram', 0x1000_0000n), 0x4000_0000n);
  const system = new AddressSpace('system', root);
  const dev = VirtioIommu.create({ name: 'viommu', memory: system, ...opts });
  if (isEngineError(dev)) throw new Error(dev.message);
  const nicR = dev.regionFor(NIC);
  const netR = dev.regionFor(NET);
  const records: NotifyRecord[] = [];
  for (const r of [nicR, netR]) {
    r.systemAs = system;
    r.observer = (rec) => records.push(rec);
  }
  const vfio = register({ kind: 'vfio', name: 'nic0/vfio', owner: 'nic0', region: nicR, flags: IOMMU_NOTIFIER_IOTLB_EVENTS, start: 0n, end: HWADDR_MAX, iommuIdx: 0, replay: true, systemAs: system });
  const vhost = register({ kind: 'vhost', name: 'net0/vhost', owner: 'net0', region: netR, flags: IOMMU_NOTIFIER_UNMAP, start: 0n, end: HWADDR_MAX, iommuIdx: 0, systemAs: system });
  assert.equal(vfio.status, 'accepted');
  assert.equal(vhost.status, 'accepted');
  const req = (r: VirtioIommuRequest) => statusName(dev.request(r).status);
  /** Delivered events since the last call, as `who TYPE iova/mask->translated perm`. */
  const events = () => {
    const out = records.filter((r) => r.outcome === 'delivered').map((r) => `${r.notifier.owner} ${formatNotifierFlags(r.event.type)} ${hx(r.delivered!.iova)}/${hx(r.delivered!.addrMask)}${r.event.type === 2 ? `->${hx(r.delivered!.translatedAddr)} ${r.delivered!.perm}` : ''}`);
    records.length = 0;
    return out;
  };
  return { dev, system, nicR, netR, vfio, vhost, req, events, records };
}

export const hx = (v: bigint) => `0x${v.toString(16)}`;
