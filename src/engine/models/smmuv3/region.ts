/**
 * One SMMUv3 IOMMU region per stream (QEMU's SMMUDevice.iommu, created by smmu_find_add_as for
 * each PCI requester): one index, UINT64_MAX in size (2^48 before QEMU 8.0), the default
 * TARGET_PAGE_SIZE minimum page size. Everything it does is the device's; the region only keeps
 * the stream's cached configuration.
 */
import type { EngineError } from '../../errors';
import type { NumberTranslator } from '../../fast-path';
import { IOMMUMemoryRegion, type IOMMUNotifier, type ProbeOptions, type ReplayOptions, type ReplayResult } from '../../iommu';
import { IOMMU_NOTIFIER_MAP, type IOMMUAccessFlags, type IOMMUNotifierFlag, type IOMMUTLBEntry } from '../../iotlb';
import type { Trace } from '../../trace';
import type { TlbMap } from './iotlb';
import type { StreamConfig, TlbProbes, TtInfo } from './types';

/** A decoded stream configuration with its IOTLB maps (QEMU's config cache entry). */
export interface ActiveConfig {
  readonly cfg: StreamConfig;
  /** Maps and probes per translation table (TTB0, TTB1) and for stage 2 (ASID -1). */
  readonly map0?: TlbMap;
  readonly map1?: TlbMap;
  readonly s2map?: TlbMap;
  readonly probes0?: TlbProbes;
  readonly probes1?: TlbProbes;
  readonly probesS2?: TlbProbes;
  /**
   * translate()'s fast path (Smmuv3.translateStream): inputs below `fastLimit` (a number) use
   * `fastMap` and `fastProbes` (TTB0's, or stage 2's without stage 1) and, on a miss, walk
   * `fastTt` (undefined: stage 2 only) without going through the config decode's checks again.
   */
  readonly fastLimit: number;
  readonly fastMap?: TlbMap;
  readonly fastProbes?: TlbProbes;
  readonly fastTt?: TtInfo;
  /**
   * Whether a miss may walk on the fast path: not under nesting, where a walk fills the IOTLB
   * with stage-2 translations of table addresses on its way, so a walk that faults and is then
   * run again by the full path could leave the IOTLB otherwise than one walk does.
   */
  readonly fastWalk: boolean;
}

/** What a stream region asks of its SMMU. */
export interface StreamOwner {
  translateStream(r: Smmuv3Region, addr: bigint, flag: IOMMUAccessFlags, trace: Trace | undefined): IOMMUTLBEntry;
  /** translateStream without effects on the machine. */
  probeStream(r: Smmuv3Region, addr: bigint, flag: IOMMUAccessFlags, trace: Trace | undefined, uncached: boolean): IOMMUTLBEntry;
  /** The number fast path (peek() as numbers, the configuration decoded once). */
  numberTranslatorFor(r: Smmuv3Region, uncached: boolean): NumberTranslator;
  streamFlagsChanged(r: Smmuv3Region, old: IOMMUNotifierFlag, now: IOMMUNotifierFlag): EngineError | undefined;
  /**
   * Every leaf of the stream's current tables, for the walk replay; returns descriptors read.
   * `quiet`: for views, which must leave the config cache and the IOTLB as they were.
   */
  walkStream(r: Smmuv3Region, sink: (entry: IOMMUTLBEntry) => void, quiet?: boolean): number;
}

export class Smmuv3Region extends IOMMUMemoryRegion {
  readonly model = 'smmuv3';
  /** The config cache entry (smmuv3_get_config); dropped by CFGI_* and reset. */
  active: ActiveConfig | undefined;
  cfgHits = 0;
  cfgMisses = 0;

  constructor(
    private readonly owner: StreamOwner,
    readonly sid: number,
    name: string,
    size: bigint,
  ) {
    super(name, size);
  }

  override indexSelector(_idx: number): string {
    return `all transactions of stream 0x${this.sid.toString(16)}`;
  }

  translate(addr: bigint, flag: IOMMUAccessFlags, _iommuIdx: number, trace?: Trace): IOMMUTLBEntry {
    return this.owner.translateStream(this, addr, flag, trace);
  }

  /** Without recording events or filling the IOTLB or the config cache. */
  override probe(addr: bigint, flag: IOMMUAccessFlags, _iommuIdx: number, trace?: Trace, opts?: ProbeOptions): IOMMUTLBEntry {
    return this.owner.probeStream(this, addr, flag, trace, opts?.uncached ?? false);
  }

  override numberTranslator(_iommuIdx: number, opts?: ProbeOptions): NumberTranslator {
    return this.owner.numberTranslatorFor(this, opts?.uncached ?? false);
  }

  override notifyFlagChanged(old: IOMMUNotifierFlag, now: IOMMUNotifierFlag): EngineError | undefined {
    return this.owner.streamFlagsChanged(this, old, now);
  }

  /**
   * The engine's walk replay. QEMU's SMMUv3 has no replay method, so QEMU runs the default loop
   * (translate every 4 KiB page of the region with IOMMU_NONE), which over a 2^64-byte region
   * never ends. This walks the stream's current tables instead and emits a MAP for every valid
   * leaf (a page or block; under nesting, each piece where stage 2 maps in smaller pieces), with
   * the permissions translate(IOMMU_NONE) would report, to the replayed notifier through
   * memory_region_notify_iommu_one as virtio-iommu's replay does. Time is proportional to the tables, not to the address range.
   * A disabled SMMU or an aborting, bypassing or broken stream replays nothing (the default loop
   * gets perm NONE there too). No event is recorded; the IOTLB gets no input translations (only,
   * under nesting, the stage-2 translations of table addresses, as a walk would cache them).
   */
  /** The same walk for views, without filling the config cache or the IOTLB. */
  override enumerateMappings(_iommuIdx: number, sink: (e: IOMMUTLBEntry) => void): void {
    this.owner.walkStream(this, sink, true);
  }

  /** QEMU's SMMUv3 has no replay callback: QEMU runs the default loop, whose events this walk gives. */
  override get qemuHasOwnReplay(): boolean {
    return false;
  }

  override modelReplay(n: IOMMUNotifier, opts?: ReplayOptions): ReplayResult {
    let delivered = 0;
    // To the notifier being replayed only (memory_region_notify_iommu_one, as virtio-iommu's replay).
    const steps = this.owner.walkStream(
      this,
      (entry) => {
        delivered++;
        this.notifyOne(n, { type: IOMMU_NOTIFIER_MAP, entry });
      },
      opts?.probe,
    );
    return { kind: 'model', steps, delivered };
  }
}
