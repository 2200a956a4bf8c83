/**
 * MAP and UNMAP notifications as virtio-iommu sends them (virtio_iommu_notify_map,
 * virtio_iommu_notify_unmap, virtio_iommu_notify_map_unmap): a range is split into
 * power-of-two sized, naturally aligned chunks (dma_aligned_pow2_mask) and each chunk goes to
 * memory_region_notify_iommu on index 0. MAP goes out only when some notifier on the region
 * wants MAP, and never for an MMIO-flagged mapping or one with neither READ nor WRITE; UNMAP
 * only when some notifier wants UNMAP.
 */
import type { AddressSpace } from '../../address-space';
import { U64_MAX } from '../../hex';
import type { IOMMUMemoryRegion, IOMMUNotifier } from '../../iommu';
import { IOMMU_NONE, IOMMU_NOTIFIER_MAP, IOMMU_NOTIFIER_UNMAP, IOMMU_RO, IOMMU_WO, type IOMMUAccessFlags } from '../../iotlb';
import { VIRTIO_IOMMU_MAP_F_MMIO, VIRTIO_IOMMU_MAP_F_READ, VIRTIO_IOMMU_MAP_F_WRITE } from './types';

/** IOMMU_ACCESS_FLAG(flags & READ, flags & WRITE). */
export function mapPerm(flags: number): IOMMUAccessFlags {
  return (flags & VIRTIO_IOMMU_MAP_F_READ ? IOMMU_RO : 0) | (flags & VIRTIO_IOMMU_MAP_F_WRITE ? IOMMU_WO : 0);
}

/** dma_aligned_pow2_mask (system/dma-helpers.c) with max_addr_bits = 64. */
export function dmaAlignedPow2Mask(start: bigint, end: bigint): bigint {
  const addrMask = (end - start) & U64_MAX;
  const alignmentMask = start !== 0n ? (start & -start) - 1n : U64_MAX;
  if (alignmentMask <= addrMask) return alignmentMask;
  if (addrMask === U64_MAX) return U64_MAX;
  // 1 << (63 - clz64(addr_mask + 1)): the largest power of two not above the size.
  const size = addrMask + 1n;
  return (1n << BigInt(size.toString(2).length - 1)) - 1n;
}

/** The chunks [iova, iova + mask] virtio_iommu_notify_map_unmap sends for [start, end]. */
export function pow2Chunks(start: bigint, end: bigint): Array<{ iova: bigint; mask: bigint }> {
  const out: Array<{ iova: bigint; mask: bigint }> = [];
  // A 2^64-byte range goes out once whole; the loop then stops at once (virt_end + 1 wraps to 0).
  if (((end - start) & U64_MAX) === U64_MAX) return [{ iova: start, mask: U64_MAX }];
  const stop = (end + 1n) & U64_MAX;
  let va = start;
  while (va !== stop) {
    const mask = dmaAlignedPow2Mask(va, end);
    out.push({ iova: va, mask });
    va = (va + mask + 1n) & U64_MAX;
  }
  return out;
}

/**
 * Why a MAP was not sent, or undefined when it was. `only`: a notifier not registered on the
 * region (a view's stand-in for a replay) gets the events alone, so a query disturbs no one.
 */
export function notifyMap(mr: IOMMUMemoryRegion, target: AddressSpace | null, start: bigint, end: bigint, paddr: bigint, flags: number, only?: IOMMUNotifier): string | undefined {
  const perm = mapPerm(flags);
  if (!(mr.iommuNotifyFlags & IOMMU_NOTIFIER_MAP)) return 'no notifier wants MAP';
  if (flags & VIRTIO_IOMMU_MAP_F_MMIO) return 'MMIO mapping: no MAP';
  if (perm === IOMMU_NONE) return 'neither READ nor WRITE: no MAP';
  let translated = paddr;
  for (const c of pow2Chunks(start, end)) {
    const event = { type: IOMMU_NOTIFIER_MAP, entry: { targetAs: target, iova: c.iova, translatedAddr: translated, addrMask: c.mask, perm } };
    if (only) mr.notifyOne(only, event);
    else mr.notify(0, event);
    translated = (translated + c.mask + 1n) & U64_MAX;
  }
  return undefined;
}

export function notifyUnmap(mr: IOMMUMemoryRegion, target: AddressSpace | null, start: bigint, end: bigint): string | undefined {
  if (!(mr.iommuNotifyFlags & IOMMU_NOTIFIER_UNMAP)) return 'no notifier wants UNMAP';
  for (const c of pow2Chunks(start, end)) {
    mr.notify(0, { type: IOMMU_NOTIFIER_UNMAP, entry: { targetAs: target, iova: c.iova, translatedAddr: 0n, addrMask: c.mask, perm: IOMMU_NONE } });
  }
  return undefined;
}
