/**
 * Faults as the device reports them on its event virtqueue (virtio_iommu_report_fault): a
 * struct virtio_iommu_fault of 24 bytes (reason, reserved[3], flags le32, endpoint le32,
 * reserved2[4], address le64). The guest's event-queue buffers are not modelled: every fault
 * is taken to find one (QEMU otherwise drops it with "no buffer available in event queue to
 * report event").
 */
import { hex } from '../../hex';
import { faultFlagsName, faultReasonName } from './types';

export interface VirtioIommuFault {
  readonly reason: number;
  readonly flags: number;
  readonly endpoint: number;
  readonly address: bigint;
}

export interface FaultRecord extends VirtioIommuFault {
  /** The record's 24 bytes as the device writes them, hex pairs. */
  readonly bytes: string;
  /** In words: `R_MAPPING F_READ|F_ADDRESS endpoint 0x8 address 0x1000`. */
  readonly text: string;
}

export const VIRTIO_IOMMU_FAULT_SIZE = 24;

export function faultRecord(f: VirtioIommuFault): FaultRecord {
  const b = new Uint8Array(VIRTIO_IOMMU_FAULT_SIZE);
  const dv = new DataView(b.buffer);
  dv.setUint8(0, f.reason & 0xff);
  dv.setUint32(4, f.flags >>> 0, true);
  dv.setUint32(8, f.endpoint >>> 0, true);
  dv.setBigUint64(16, f.address, true);
  const bytes = [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
  return { ...f, bytes, text: `${faultReasonName(f.reason)} ${faultFlagsName(f.flags)} endpoint ${hex(f.endpoint)} address ${hex(f.address)}` };
}
