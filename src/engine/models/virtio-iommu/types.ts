/**
 * The virtio-iommu device's numbers (include/standard-headers/linux/virtio_iommu.h, the virtio
 * specification's IOMMU device section) and the profiles: `current` follows current QEMU
 * (hw/virtio/virtio-iommu.c) and the specification where QEMU departs from it; `qemu-7.2`
 * reproduces Debian's QEMU 7.2, each difference said where it acts.
 */

/** Request types (struct virtio_iommu_req_head.type). */
export const VIRTIO_IOMMU_T_ATTACH = 0x01;
export const VIRTIO_IOMMU_T_DETACH = 0x02;
export const VIRTIO_IOMMU_T_MAP = 0x03;
export const VIRTIO_IOMMU_T_UNMAP = 0x04;
export const VIRTIO_IOMMU_T_PROBE = 0x05;

/** Request status (struct virtio_iommu_req_tail.status). */
export const VIRTIO_IOMMU_S_OK = 0x00;
export const VIRTIO_IOMMU_S_IOERR = 0x01;
export const VIRTIO_IOMMU_S_UNSUPP = 0x02;
export const VIRTIO_IOMMU_S_DEVERR = 0x03;
export const VIRTIO_IOMMU_S_INVAL = 0x04;
export const VIRTIO_IOMMU_S_RANGE = 0x05;
export const VIRTIO_IOMMU_S_NOENT = 0x06;
export const VIRTIO_IOMMU_S_FAULT = 0x07;
export const VIRTIO_IOMMU_S_NOMEM = 0x08;

const STATUS_NAMES = ['S_OK', 'S_IOERR', 'S_UNSUPP', 'S_DEVERR', 'S_INVAL', 'S_RANGE', 'S_NOENT', 'S_FAULT', 'S_NOMEM'];

export function statusName(s: number): string {
  return STATUS_NAMES[s] ?? `0x${s.toString(16)}`;
}

/** A status by its name, with or without the VIRTIO_IOMMU_ prefix, or undefined. */
export function statusByName(name: string): number | undefined {
  const n = name.toUpperCase().replace(/^VIRTIO_IOMMU_/, '');
  const i = STATUS_NAMES.indexOf(n);
  return i < 0 ? undefined : i;
}

export const VIRTIO_IOMMU_ATTACH_F_BYPASS = 1 << 0;

export const VIRTIO_IOMMU_MAP_F_READ = 1 << 0;
export const VIRTIO_IOMMU_MAP_F_WRITE = 1 << 1;
export const VIRTIO_IOMMU_MAP_F_MMIO = 1 << 2;
export const VIRTIO_IOMMU_MAP_F_MASK = VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE | VIRTIO_IOMMU_MAP_F_MMIO;

export function mapFlagsName(flags: number): string {
  const parts: string[] = [];
  if (flags & VIRTIO_IOMMU_MAP_F_READ) parts.push('READ');
  if (flags & VIRTIO_IOMMU_MAP_F_WRITE) parts.push('WRITE');
  if (flags & VIRTIO_IOMMU_MAP_F_MMIO) parts.push('MMIO');
  const unknown = flags & ~VIRTIO_IOMMU_MAP_F_MASK;
  if (unknown) parts.push(`0x${unknown.toString(16)}`);
  return parts.join('|') || 'none';
}

/** Probe properties. */
export const VIRTIO_IOMMU_PROBE_T_NONE = 0;
export const VIRTIO_IOMMU_PROBE_T_RESV_MEM = 1;
export const VIRTIO_IOMMU_RESV_MEM_T_RESERVED = 0;
export const VIRTIO_IOMMU_RESV_MEM_T_MSI = 1;
/** sizeof(struct virtio_iommu_probe_resv_mem): head (4), subtype, reserved[3], start, end. */
export const RESV_MEM_PROP_SIZE = 24;
/** VIOMMU_PROBE_SIZE: the probe buffer's size (config.probe_size). */
export const VIOMMU_PROBE_SIZE = 512;

/** Fault reasons and flags (struct virtio_iommu_fault). */
export const VIRTIO_IOMMU_FAULT_R_UNKNOWN = 0;
export const VIRTIO_IOMMU_FAULT_R_DOMAIN = 1;
export const VIRTIO_IOMMU_FAULT_R_MAPPING = 2;
export const VIRTIO_IOMMU_FAULT_F_READ = 1 << 0;
export const VIRTIO_IOMMU_FAULT_F_WRITE = 1 << 1;
export const VIRTIO_IOMMU_FAULT_F_EXEC = 1 << 2;
export const VIRTIO_IOMMU_FAULT_F_ADDRESS = 1 << 8;

export function faultReasonName(r: number): string {
  return ['R_UNKNOWN', 'R_DOMAIN', 'R_MAPPING'][r] ?? `0x${r.toString(16)}`;
}

export function faultFlagsName(f: number): string {
  const parts: string[] = [];
  if (f & VIRTIO_IOMMU_FAULT_F_READ) parts.push('F_READ');
  if (f & VIRTIO_IOMMU_FAULT_F_WRITE) parts.push('F_WRITE');
  if (f & VIRTIO_IOMMU_FAULT_F_EXEC) parts.push('F_EXEC');
  if (f & VIRTIO_IOMMU_FAULT_F_ADDRESS) parts.push('F_ADDRESS');
  return parts.join('|') || '0';
}

export type ReservedType = 'reserved' | 'msi';

/** A reserved memory region (QEMU's ReservedRegion): [low, high] inclusive. */
export interface ReservedRegion {
  readonly low: bigint;
  readonly high: bigint;
  readonly type: ReservedType;
}

export type VirtioIommuProfile = 'current' | 'qemu-7.2';

export interface ProfileFlags {
  readonly profile: VirtioIommuProfile;
  /** `granule` and `aw-bits` properties (QEMU 9.0 on); 7.2 has page_size_mask = TARGET_PAGE_MASK and a 64-bit input range. */
  readonly properties: boolean;
  /**
   * The specification's range checks that QEMU does not make: MAP outside the input range or not
   * aligned on the granule, ATTACH outside the domain range -> S_RANGE.
   */
  readonly specRangeChecks: boolean;
  /**
   * UNMAP that would split a mapping: the specification says S_RANGE and no mapping removed;
   * QEMU removes the wholly covered mappings its tree search meets before the split one.
   */
  readonly unmapAtomic: boolean;
  /**
   * translate looks up the interval [addr, addr + 1] (QEMU): an address just below a mapping
   * hits that mapping (and translates to phys_start - 1). The specification maps each address
   * by the mapping that contains it.
   */
  readonly exactLookup: boolean;
  /**
   * DETACH forgets the endpoint (QEMU 9.1 on, "virtio-iommu: Remove the end point on detach"):
   * a second DETACH answers S_NOENT and its DMA faults R_UNKNOWN; QEMU 7.2 keeps it (S_INVAL,
   * R_DOMAIN).
   */
  readonly detachRemovesEndpoint: boolean;
}

export function profileFlags(p: VirtioIommuProfile): ProfileFlags {
  return p === 'qemu-7.2'
    ? { profile: p, properties: false, specRangeChecks: false, unmapAtomic: false, exactLookup: false, detachRemovesEndpoint: false }
    : { profile: p, properties: true, specRangeChecks: true, unmapAtomic: true, exactLookup: true, detachRemovesEndpoint: true };
}

/** PCI requester ID as bus:dev.fn, as QEMU prints it (%02x:%02x.%01x). */
export function sidBdf(sid: number): string {
  const h2 = (v: number) => v.toString(16).padStart(2, '0');
  return `${h2((sid >> 8) & 0xff)}:${h2((sid >> 3) & 0x1f)}.${(sid & 7).toString(16)}`;
}
