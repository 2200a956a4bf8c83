/**
 * One IOMMU region per endpoint (QEMU's IOMMUDevice.iommu_mr, made by virtio_iommu_find_add_as
 * for each PCI device behind the IOMMU): one index, 2^64 bytes. The region is enabled while the
 * endpoint translates and disabled while it bypasses (QEMU switches the device's address space
 * to an alias of system memory then). Everything it does is the device's.
 */
import type { EngineError } from '../../errors';
import type { NumberTranslator } from '../../fast-path';
import { IOMMUMemoryRegion, type IOMMUNotifier, type ProbeOptions, type ReplayResult } from '../../iommu';
import type { IOMMUAccessFlags, IOMMUNotifierFlag, IOMMUTLBEntry } from '../../iotlb';
import type { Trace } from '../../trace';
import { sidBdf } from './types';

export interface EndpointOwner {
  translateEndpoint(r: VirtioIommuRegion, addr: bigint, flag: IOMMUAccessFlags, trace: Trace | undefined, quiet: boolean): IOMMUTLBEntry;
  endpointFlagsChanged(r: VirtioIommuRegion, old: IOMMUNotifierFlag, now: IOMMUNotifierFlag): EngineError | undefined;
  /** virtio_iommu_replay: the mappings visited and the MAP events sent. */
  replayEndpoint(r: VirtioIommuRegion, n: IOMMUNotifier): { mappings: number; events: number };
  endpointMappings(r: VirtioIommuRegion, sink: (e: IOMMUTLBEntry) => void): void;
  minPageSize(): bigint;
  /** The number fast path (probe() as numbers, the endpoint's state taken now). */
  numberTranslatorFor(r: VirtioIommuRegion): NumberTranslator | undefined;
}

export class VirtioIommuRegion extends IOMMUMemoryRegion {
  readonly model = 'virtio-iommu';

  constructor(
    private readonly owner: EndpointOwner,
    readonly sid: number,
    name: string,
  ) {
    super(name, 1n << 64n);
  }

  override indexSelector(_idx: number): string {
    return `all transactions of endpoint 0x${this.sid.toString(16)} (${sidBdf(this.sid)})`;
  }

  override minPageSize(): bigint {
    return this.owner.minPageSize();
  }

  translate(addr: bigint, flag: IOMMUAccessFlags, _iommuIdx: number, trace?: Trace): IOMMUTLBEntry {
    return this.owner.translateEndpoint(this, addr, flag, trace, false);
  }

  /**
   * Without reporting a fault on the event queue. With IOMMU_NONE (a query: views, the shadow
   * checker) the answer carries the mapping's permissions: QEMU's translate answers perm = the
   * requested flag, so NONE there yields NONE, which is why virtio-iommu has its own replay.
   */
  override probe(addr: bigint, flag: IOMMUAccessFlags, _iommuIdx: number, trace?: Trace, _opts?: ProbeOptions): IOMMUTLBEntry {
    return this.owner.translateEndpoint(this, addr, flag, trace, true);
  }

  override numberTranslator(_iommuIdx: number, _opts?: ProbeOptions): NumberTranslator | undefined {
    return this.owner.numberTranslatorFor(this);
  }

  override notifyFlagChanged(old: IOMMUNotifierFlag, now: IOMMUNotifierFlag): EngineError | undefined {
    return this.owner.endpointFlagsChanged(this, old, now);
  }

  /**
   * virtio_iommu_replay: MAP for every mapping of the endpoint's domain, through
   * memory_region_notify_iommu on index 0, so to every notifier of the region that wants MAP,
   * not only the one replayed; no UNMAP first, no de-duplication. A notifier not registered here
   * (a view's stand-in) gets them alone.
   */
  override modelReplay(n: IOMMUNotifier): ReplayResult {
    const r = this.owner.replayEndpoint(this, n);
    return { kind: 'model', steps: r.mappings, delivered: r.events };
  }

  override enumerateMappings(_iommuIdx: number, sink: (e: IOMMUTLBEntry) => void): void {
    this.owner.endpointMappings(this, sink);
  }
}
