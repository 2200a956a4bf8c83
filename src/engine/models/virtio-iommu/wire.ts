/**
 * Requests as bytes (include/standard-headers/linux/virtio_iommu.h, little-endian): what a
 * driver writes into the request queue and the device reads back. The device reads the request
 * without its tail (virtio_iommu_iov_to_req with sizeof(req) - sizeof(tail); PROBE: the whole
 * 72-byte struct) and answers S_INVAL when the buffers hold fewer bytes.
 */
import {
  VIOMMU_PROBE_SIZE,
  VIRTIO_IOMMU_T_ATTACH,
  VIRTIO_IOMMU_T_DETACH,
  VIRTIO_IOMMU_T_MAP,
  VIRTIO_IOMMU_T_PROBE,
  VIRTIO_IOMMU_T_UNMAP,
  type ReservedRegion,
} from './types';
import type { VirtioIommuRequest } from './virtio-iommu';

/** Bytes the device reads for each request type. */
export const REQUEST_PAYLOAD: Readonly<Record<number, number>> = {
  [VIRTIO_IOMMU_T_ATTACH]: 20,
  [VIRTIO_IOMMU_T_DETACH]: 20,
  [VIRTIO_IOMMU_T_MAP]: 36,
  [VIRTIO_IOMMU_T_UNMAP]: 28,
  [VIRTIO_IOMMU_T_PROBE]: 72,
};

const TYPE_OF: Readonly<Record<string, number>> = { attach: VIRTIO_IOMMU_T_ATTACH, detach: VIRTIO_IOMMU_T_DETACH, map: VIRTIO_IOMMU_T_MAP, unmap: VIRTIO_IOMMU_T_UNMAP, probe: VIRTIO_IOMMU_T_PROBE };

export function encodeRequest(r: VirtioIommuRequest): Uint8Array {
  const type = r.type === 'unknown' ? r.code : TYPE_OF[r.type]!;
  const b = new Uint8Array(REQUEST_PAYLOAD[type] ?? 4);
  const dv = new DataView(b.buffer);
  dv.setUint8(0, type & 0xff);
  switch (r.type) {
    case 'attach':
      dv.setUint32(4, r.domain, true);
      dv.setUint32(8, r.endpoint, true);
      dv.setUint32(12, (r.flags ?? 0) >>> 0, true);
      break;
    case 'detach':
      dv.setUint32(4, r.domain, true);
      dv.setUint32(8, r.endpoint, true);
      break;
    case 'map':
      dv.setUint32(4, r.domain, true);
      dv.setBigUint64(8, r.virtStart, true);
      dv.setBigUint64(16, r.virtEnd, true);
      dv.setBigUint64(24, r.physStart, true);
      dv.setUint32(32, r.flags >>> 0, true);
      break;
    case 'unmap':
      dv.setUint32(4, r.domain, true);
      dv.setBigUint64(8, r.virtStart, true);
      dv.setBigUint64(16, r.virtEnd, true);
      break;
    case 'probe':
      dv.setUint32(4, r.endpoint, true);
      break;
    case 'unknown':
      break;
  }
  return b;
}

/** The request in `out` (head included), or S_INVAL's reason when the buffers are short. */
export function decodeRequest(out: Uint8Array): VirtioIommuRequest | string {
  const type = out[0]!;
  const need = REQUEST_PAYLOAD[type];
  if (need === undefined) return { type: 'unknown', code: type };
  if (out.length < need) return `the request has ${out.length} bytes; type ${type} needs ${need}`;
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  switch (type) {
    case VIRTIO_IOMMU_T_ATTACH:
      return { type: 'attach', domain: dv.getUint32(4, true), endpoint: dv.getUint32(8, true), flags: dv.getUint32(12, true) };
    case VIRTIO_IOMMU_T_DETACH:
      return { type: 'detach', domain: dv.getUint32(4, true), endpoint: dv.getUint32(8, true) };
    case VIRTIO_IOMMU_T_MAP:
      return { type: 'map', domain: dv.getUint32(4, true), virtStart: dv.getBigUint64(8, true), virtEnd: dv.getBigUint64(16, true), physStart: dv.getBigUint64(24, true), flags: dv.getUint32(32, true) };
    case VIRTIO_IOMMU_T_UNMAP:
      return { type: 'unmap', domain: dv.getUint32(4, true), virtStart: dv.getBigUint64(8, true), virtEnd: dv.getBigUint64(16, true) };
    default:
      return { type: 'probe', endpoint: dv.getUint32(4, true) };
  }
}

/** The PROBE reply: RESV_MEM properties, zeros to probe_size, then the tail. */
export function probeReply(props: readonly ReservedRegion[] | undefined, status: number): Uint8Array {
  const b = new Uint8Array(VIOMMU_PROBE_SIZE + 4);
  const dv = new DataView(b.buffer);
  (props ?? []).forEach((r, i) => {
    const at = 24 * i;
    dv.setUint16(at, 1, true);
    dv.setUint16(at + 2, 20, true);
    dv.setUint8(at + 4, r.type === 'msi' ? 1 : 0);
    dv.setBigUint64(at + 8, r.low, true);
    dv.setBigUint64(at + 16, r.high, true);
  });
  b[VIOMMU_PROBE_SIZE] = status;
  return b;
}
