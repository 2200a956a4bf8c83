/**
 * IOTLB entries, access flags, notifier flags and events: QEMU's include/system/memory.h types.
 */
import type { AddressSpace } from './address-space';

/** IOMMUAccessFlags. */
export const IOMMU_NONE = 0;
export const IOMMU_RO = 1;
export const IOMMU_WO = 2;
export const IOMMU_RW = 3;
export type IOMMUAccessFlags = number;

export function permName(perm: IOMMUAccessFlags): string {
  return ['NONE', 'RO', 'WO', 'RW'][perm & 3] ?? `0x${perm.toString(16)}`;
}

/** Short form for tables: `--`, `r-`, `-w`, `rw`. */
export function permShort(perm: IOMMUAccessFlags): string {
  return `${perm & IOMMU_RO ? 'r' : '-'}${perm & IOMMU_WO ? 'w' : '-'}`;
}

export interface IOMMUTLBEntry {
  /** The address space the translated address is in (null: none, as for a fault). */
  targetAs: AddressSpace | null;
  /** Input address; SMMUv3 and virtio-iommu return it unaligned, so never assume alignment. */
  iova: bigint;
  translatedAddr: bigint;
  /** 0xfff means a 4 KiB page; after cropping it need not be 2^n-1. */
  addrMask: bigint;
  perm: IOMMUAccessFlags;
}

/** IOMMUNotifierFlag. */
export const IOMMU_NOTIFIER_NONE = 0;
export const IOMMU_NOTIFIER_UNMAP = 1;
export const IOMMU_NOTIFIER_MAP = 2;
export const IOMMU_NOTIFIER_DEVIOTLB_UNMAP = 4;
export const IOMMU_NOTIFIER_IOTLB_EVENTS = IOMMU_NOTIFIER_MAP | IOMMU_NOTIFIER_UNMAP;
export const IOMMU_NOTIFIER_ALL = IOMMU_NOTIFIER_IOTLB_EVENTS | IOMMU_NOTIFIER_DEVIOTLB_UNMAP;
export type IOMMUNotifierFlag = number;

export function notifierFlagNames(flags: IOMMUNotifierFlag): string[] {
  const names: string[] = [];
  if (flags & IOMMU_NOTIFIER_UNMAP) names.push('UNMAP');
  if (flags & IOMMU_NOTIFIER_MAP) names.push('MAP');
  if (flags & IOMMU_NOTIFIER_DEVIOTLB_UNMAP) names.push('DEVIOTLB_UNMAP');
  return names;
}

export function formatNotifierFlags(flags: IOMMUNotifierFlag): string {
  return notifierFlagNames(flags).join('|') || 'NONE';
}

/** The event type is one notifier flag: UNMAP, MAP or DEVIOTLB_UNMAP. */
export interface IOMMUTLBEvent {
  type: IOMMUNotifierFlag;
  entry: IOMMUTLBEntry;
}

export function copyEntry(e: IOMMUTLBEntry): IOMMUTLBEntry {
  return { targetAs: e.targetAs, iova: e.iova, translatedAddr: e.translatedAddr, addrMask: e.addrMask, perm: e.perm };
}
