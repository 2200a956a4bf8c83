/**
 * A Machine: what a device config describes, as engine objects. Regions, address spaces, IOMMUs
 * (model instances), devices (initiators and the vfio/vhost back ends that register notifiers),
 * and every notifier registration with its outcome. The config layer builds it; the CLI and the
 * extension query it.
 */
import { MEMTXATTRS_UNSPECIFIED, type MemTxAttrs } from './attrs';
import { AddressSpace, addressSpaceForRegion } from './address-space';
import { Registration } from './consumers';
import type { IommuDevice } from './device';
import { engineError, isEngineError, type EngineError } from './errors';
import type { IOMMUMemoryRegion, NotifyRecord, QemuSemantics } from './iommu';
import type { MemoryRegion } from './memory';
import { performAccess, translateAccess, type AccessOp, type AccessResult, type Landing } from './translate';
import type { AccessSize } from './guest-memory';
import { dmaAccess, type DmaResult, type FailedPieces } from './dma';
import type { Trace } from './trace';

export type DeviceKind = 'initiator' | 'pci' | 'vfio-pci' | 'vhost';

export interface Device {
  readonly name: string;
  readonly kind: DeviceKind;
  /** The address space its DMA (or its CPU accesses) go to. */
  readonly as: AddressSpace;
  /** Attributes its transactions carry unless a query overrides them. */
  readonly attrs: MemTxAttrs;
  readonly bdf?: string;
  readonly requesterId?: number;
  readonly iommu?: IommuDevice;
  readonly deviceIotlb?: boolean;
  readonly source?: string;
}

export interface MachineOptions {
  readonly semantics?: QemuSemantics;
  /** How accesses longer than one piece cut a failed stretch (see dma.ts): 'page' or QEMU 7.2's 4-byte pieces. */
  readonly failedPieces?: FailedPieces;
}

export interface Initiator {
  readonly as: AddressSpace;
  readonly attrs: MemTxAttrs;
  readonly device?: Device;
}

export interface MachineQuery {
  /** A device or address-space name. */
  readonly from: string;
  readonly addr: bigint;
  readonly op: AccessOp;
  /** Replace the device's attributes (a requester ID the device has is kept unless given). */
  readonly attrs?: MemTxAttrs;
  readonly trace?: Trace;
  /** A query: IOMMUs answer without effects on the machine (see IOMMUMemoryRegion.probe). */
  readonly probe?: boolean;
}

export class Machine {
  readonly regions = new Map<string, MemoryRegion>();
  readonly addressSpaces = new Map<string, AddressSpace>();
  readonly iommus = new Map<string, IommuDevice>();
  readonly devices = new Map<string, Device>();
  readonly registrations: Registration[] = [];
  readonly semantics: QemuSemantics;
  failedPieces: FailedPieces;
  private system?: AddressSpace;
  private sink?: NotifyRecord[];
  private readonly observed = new WeakSet<IOMMUMemoryRegion>();

  constructor(
    readonly name: string,
    opts: MachineOptions = {},
  ) {
    this.semantics = opts.semantics ?? 'current';
    this.failedPieces = opts.failedPieces ?? 'page';
  }

  /** System memory (QEMU's address_space_memory): what vfio requires its targets to be in. */
  get systemAs(): AddressSpace | undefined {
    return this.system;
  }

  set systemAs(as: AddressSpace | undefined) {
    this.system = as;
    for (const r of this.iommuRegions()) r.systemAs = as ?? null;
  }

  addIommu(dev: IommuDevice): void {
    this.iommus.set(dev.name, dev);
    for (const r of dev.regions()) this.observe(r);
  }

  /** Every IOMMU region of every IOMMU, in config order. */
  iommuRegions(): IOMMUMemoryRegion[] {
    const out: IOMMUMemoryRegion[] = [];
    for (const d of this.iommus.values()) {
      for (const r of d.regions()) {
        this.observe(r);
        out.push(r);
      }
    }
    return out;
  }

  /** The IOMMU region a device with this requester ID (and PASID, if its transactions carry one) goes through. */
  iommuRegionFor(dev: IommuDevice, requesterId: number | undefined, pasid?: number): IOMMUMemoryRegion {
    const r = pasid === undefined ? dev.regionFor(requesterId) : dev.regionFor(requesterId, pasid);
    this.observe(r);
    return r;
  }

  /** The address space a device behind `dev` does DMA in: the IOMMU region itself, from 0. */
  dmaAddressSpace(dev: IommuDevice, requesterId: number | undefined, pasid?: number): AddressSpace {
    const r = this.iommuRegionFor(dev, requesterId, pasid);
    return addressSpaceForRegion(r, `${r.name}-dma`);
  }

  addRegistrations(regs: readonly Registration[]): void {
    this.registrations.push(...regs);
  }

  resolveInitiator(from: string, attrs?: MemTxAttrs): Initiator | EngineError {
    const dev = this.devices.get(from);
    if (dev) {
      const merged: MemTxAttrs = attrs
        ? { ...attrs, requesterId: attrs.requesterId ?? dev.attrs.requesterId ?? dev.requesterId }
        : dev.attrs;
      // A PASID the access names (and the device's own attributes do not) picks the IOMMU's
      // address space for it, for models that keep one per PASID.
      const as = dev.iommu !== undefined && merged.pasid !== undefined && merged.pasid !== dev.attrs.pasid ? this.dmaAddressSpace(dev.iommu, dev.requesterId, merged.pasid) : dev.as;
      return { as, attrs: merged, device: dev };
    }
    const as = this.addressSpaces.get(from);
    if (as) return { as, attrs: attrs ?? MEMTXATTRS_UNSPECIFIED };
    const names = [...this.devices.keys(), ...this.addressSpaces.keys()];
    return engineError('unknown-initiator', `no device or address space named "${from}"${names.length ? ` (have: ${names.join(', ')})` : ''}`);
  }

  translate(q: MachineQuery): Landing | EngineError {
    const init = this.resolveInitiator(q.from, q.attrs);
    if (isEngineError(init)) return init;
    return translateAccess({ as: init.as, addr: q.addr, op: q.op, attrs: init.attrs, trace: q.trace, probe: q.probe });
  }

  access(q: MachineQuery & { size: AccessSize; value?: bigint }): AccessResult | EngineError {
    const init = this.resolveInitiator(q.from, q.attrs);
    if (isEngineError(init)) return init;
    return performAccess({ as: init.as, addr: q.addr, op: q.op, attrs: init.attrs, trace: q.trace, size: q.size, value: q.value });
  }

  /** An access of any length, split and translated piece by piece as QEMU's DMA helpers do (dma.ts). */
  dma(q: MachineQuery & { len: number; data?: Uint8Array }): DmaResult | EngineError {
    const init = this.resolveInitiator(q.from, q.attrs);
    if (isEngineError(init)) return init;
    return dmaAccess({ as: init.as, addr: q.addr, op: q.op, attrs: init.attrs, len: q.len, data: q.data, failedPieces: this.failedPieces, probe: q.probe });
  }

  /** Runs `fn` and returns every notification decision made meanwhile. */
  collectNotifications<T>(fn: () => T): { value: T; records: NotifyRecord[] } {
    const outer = this.sink;
    const records: NotifyRecord[] = [];
    this.sink = records;
    try {
      return { value: fn(), records };
    } finally {
      this.sink = outer;
      outer?.push(...records);
    }
  }

  private observe(r: IOMMUMemoryRegion): void {
    if (this.observed.has(r)) return;
    this.observed.add(r);
    r.semantics = this.semantics;
    r.systemAs = this.system ?? null;
    r.observer = (rec) => {
      const owner = rec.notifier instanceof Registration && (rec.outcome === 'delivered' || rec.outcome === 'replay') ? rec.notifier.received.at(-1)?.error : undefined;
      this.sink?.push(owner ? { ...rec, consumerError: owner } : rec);
      if (rec.notifier instanceof Registration && rec.outcome !== 'delivered' && rec.outcome !== 'replay') {
        rec.notifier.dropped.push({ event: rec.event, outcome: rec.outcome, message: rec.message });
      }
    };
  }
}
