/**
 * The notifier users QEMU has, registering as QEMU's code does: vfio (hw/vfio/listener.c),
 * vhost (hw/virtio/vhost.c), TCG's per-index UNMAP notifier, and explicit registrations from a
 * config. Each registration keeps what its owner would see: the events delivered to it and, for
 * vfio, the shadow of mappings it built from replay and MAP/UNMAP.
 */
import { MEMTXATTRS_UNSPECIFIED } from './attrs';
import type { AddressSpace } from './address-space';
import type { EngineError } from './errors';
import { HWADDR_MAX, hex } from './hex';
import { BoundedLog, IntervalMap } from './interval-map';
import { IOMMUMemoryRegion, type IOMMUNotifier, type NotifyOutcome, type ReplayResult } from './iommu';
import {
  IOMMU_NOTIFIER_DEVIOTLB_UNMAP,
  IOMMU_NOTIFIER_IOTLB_EVENTS,
  IOMMU_NOTIFIER_MAP,
  IOMMU_NOTIFIER_UNMAP,
  type IOMMUNotifierFlag,
  type IOMMUTLBEntry,
  type IOMMUTLBEvent,
} from './iotlb';

export type ConsumerKind = 'vfio' | 'vhost' | 'tcg' | 'explicit';

/** One event as a registration saw it. */
export interface ReceivedEvent {
  readonly type: IOMMUNotifierFlag;
  readonly entry: IOMMUTLBEntry;
  /** `replay` for entries handed over by a replay. */
  readonly via: 'notify' | 'replay';
  /** What the owner made of it when it is an error (vfio's wrong target AS). */
  readonly error?: string;
}

export interface ShadowEntry {
  readonly iova: bigint;
  readonly size: bigint;
  readonly targetAs: AddressSpace | null;
  readonly translated: bigint;
  readonly perm: number;
}

export type RegistrationStatus = 'accepted' | 'refused' | 'invalid';

export class Registration implements IOMMUNotifier {
  status: RegistrationStatus = 'accepted';
  error?: EngineError;
  replayResult?: ReplayResult;
  /** The events delivered to it, oldest first; the oldest are dropped past eventLimit. */
  readonly received = new BoundedLog<ReceivedEvent>(10_000);
  /** Notifications that reached this notifier but were not delivered (and why). */
  readonly dropped: Array<{ event: IOMMUTLBEvent; outcome: NotifyOutcome; message?: string }> = [];
  readonly warnings: string[] = [];
  /**
   * vfio: the mappings it was told about (its container's DMA map); vhost: its device IOTLB.
   * Entries never overlap; keyed by their first IOVA, iterated in the order they were added.
   */
  readonly shadow?: IntervalMap<ShadowEntry>;

  /** Oldest events are dropped past this many. */
  get eventLimit(): number {
    return this.received.limit;
  }

  set eventLimit(n: number) {
    this.received.limit = n;
  }

  constructor(
    readonly kind: ConsumerKind,
    readonly name: string,
    readonly owner: string,
    readonly region: IOMMUMemoryRegion,
    readonly flags: IOMMUNotifierFlag,
    readonly start: bigint,
    readonly end: bigint,
    readonly iommuIdx: number,
    /** Offset of the region in the owner's address space (vfio's iommu_offset). */
    readonly iommuOffset: bigint,
    readonly source?: string,
    private readonly systemAs?: AddressSpace,
  ) {
    if (kind === 'vfio' || kind === 'vhost') this.shadow = new IntervalMap();
  }

  /** Set while a replay runs, so that what it hands over is marked as replayed. */
  replaying = false;

  /**
   * vfio_listener_region_add of the IOMMU section (the region enabled again): vfio registers
   * its notifier and replays, so every mapping comes again as MAP on top of what it holds.
   */
  regionAdd(): void {
    if (this.kind === 'vfio' && this.status === 'accepted') replayInto(this);
  }

  /** vfio_listener_region_del: vfio unregisters and unmaps the whole section from its container. */
  regionDel(): void {
    if (this.kind === 'vfio') this.shadow?.clear();
  }

  notify(_n: IOMMUNotifier, event: IOMMUTLBEvent): void {
    this.take(event, this.replaying ? 'replay' : 'notify');
  }

  private take(event: IOMMUTLBEvent, via: 'notify' | 'replay'): void {
    let error: string | undefined;
    if (this.kind === 'vfio') error = this.vfioNotify(event);
    else if (this.kind === 'vhost') this.vhostNotify(event);
    this.received.push({ type: event.type, entry: event.entry, via, error });
  }

  /** vhost_iommu_unmap_notify: an invalidation flushes what the device IOTLB holds of the range. */
  private vhostNotify(event: IOMMUTLBEvent): void {
    const e = event.entry;
    if (event.type === IOMMU_NOTIFIER_MAP) return;
    const iova = this.toIova(e.iova);
    for (const x of this.shadow!.overlapping(iova, this.sizeOf(e.addrMask))) this.shadow!.delete(x.iova);
  }

  /**
   * The vhost back end's IOTLB miss: its device translated `addr` (an offset in the region) and
   * caches the page the entry covers until an UNMAP flushes it.
   */
  cacheTranslation(addr: bigint, entry: IOMMUTLBEntry): void {
    if (this.kind !== 'vhost' || !this.shadow || entry.perm === 0) return;
    const size = this.sizeOf(entry.addrMask);
    const notMask = this.notMask;
    const iova = this.toIova(addr & notMask);
    for (const x of this.shadow.overlapping(iova, size)) this.shadow.delete(x.iova);
    this.shadow.insert({ iova, size, targetAs: entry.targetAs, translated: entry.translatedAddr & notMask, perm: entry.perm });
  }

  // A shadow holds a page size and an IOVA per entry. The size of the last mask asked for (and the
  // mask's complement) are kept, and an offset of 0 adds nothing: bigints shared, not made, per page.
  private lastMask = -1n;
  private lastSize = 0n;
  private notMask = 0n;

  /** addrMask + 1, and `notMask` set to ~addrMask. */
  private sizeOf(addrMask: bigint): bigint {
    if (addrMask !== this.lastMask) {
      this.lastMask = addrMask;
      this.lastSize = addrMask + 1n;
      this.notMask = ~addrMask;
    }
    return this.lastSize;
  }

  /** An offset in the region as an IOVA of the owner's address space. */
  private toIova(offset: bigint): bigint {
    return this.iommuOffset === 0n ? offset : offset + this.iommuOffset;
  }

  /**
   * vfio_iommu_map_notify: first the target must be system memory (for UNMAPs too), then the
   * entry's perm, not the event type, decides: any of RW maps, NONE unmaps.
   */
  private vfioNotify(event: IOMMUTLBEvent): string | undefined {
    const e = event.entry;
    const wrong = vfioTargetError(e, this.systemAs);
    if (wrong) return wrong;
    const iova = this.toIova(e.iova);
    const size = this.sizeOf(e.addrMask);
    const shadow = this.shadow!;
    const hit = shadow.overlapping(iova, size);
    if ((e.perm & 3) !== 0) {
      // VFIO_IOMMU_MAP_DMA refuses a range that is partly mapped already (type1: -EEXIST);
      // QEMU reports it in two lines (QEMU 7.2 hw/vfio/common.c, vfio_dma_map and
      // vfio_iommu_map_notify) and the old mapping stays.
      if (hit.length) {
        return `VFIO_MAP_DMA failed: File exists; vfio_dma_map(container, ${hex(iova)}, ${hex(size)}, vaddr) = -17 (File exists); vfio keeps its mapping of the range as it was`;
      }
      shadow.insert({ iova, size, targetAs: e.targetAs, translated: e.translatedAddr, perm: e.perm });
      return undefined;
    }
    for (const x of hit) shadow.delete(x.iova);
    return undefined;
  }
}

/** vfio_iommu_map_notify refuses entries whose target is not system memory, with this text. */
export function vfioTargetError(e: IOMMUTLBEntry, systemAs: AddressSpace | undefined): string | undefined {
  if (systemAs === undefined || e.targetAs === systemAs) return undefined;
  return `Wrong target AS "${e.targetAs?.name ?? 'none'}", only system memory is allowed`;
}


export interface RegistrationRequest {
  readonly kind: ConsumerKind;
  readonly name: string;
  readonly owner: string;
  readonly region: IOMMUMemoryRegion;
  readonly flags: IOMMUNotifierFlag;
  readonly start: bigint;
  readonly end: bigint;
  readonly iommuIdx: number;
  readonly iommuOffset?: bigint;
  readonly replay?: boolean;
  readonly source?: string;
  readonly systemAs?: AddressSpace;
}

/** Registers and (if asked and accepted) replays; the Registration records the outcome either way. */
export function register(req: RegistrationRequest): Registration {
  const r = new Registration(
    req.kind,
    req.name,
    req.owner,
    req.region,
    req.flags,
    req.start,
    req.end,
    req.iommuIdx,
    req.iommuOffset ?? 0n,
    req.source,
    req.systemAs,
  );
  const err = req.region.registerNotifier(r);
  if (err) {
    r.status = err.code === 'notifier-refused' ? 'refused' : 'invalid';
    r.error = err;
    return r;
  }
  if (req.replay) replayInto(r);
  return r;
}

/** Runs the region's replay (the model's or QEMU's default loop) into a registration. */
export function replayInto(r: Registration): ReplayResult {
  r.replaying = true;
  try {
    r.replayResult = r.region.replay(r);
  } finally {
    r.replaying = false;
  }
  return r.replayResult;
}

/**
 * The registrations a vfio-pci device makes: one MAP|UNMAP notifier per IOMMU section of its DMA
 * address space, over the section's part of the region, on the index unspecified attributes
 * select; then a replay of each.
 */
export function vfioRegistrations(owner: string, dmaAs: AddressSpace, systemAs: AddressSpace | undefined, source?: string): Registration[] {
  return iommuSections(dmaAs).map((s, i, all) =>
    register({
      kind: 'vfio',
      name: all.length > 1 ? `${owner}/vfio#${i}` : `${owner}/vfio`,
      owner,
      region: s.region,
      flags: IOMMU_NOTIFIER_IOTLB_EVENTS,
      start: s.offsetInRegion,
      end: s.offsetInRegion + s.size - 1n,
      iommuIdx: s.region.attrsToIndex(MEMTXATTRS_UNSPECIFIED),
      iommuOffset: s.start - s.offsetInRegion,
      replay: true,
      source,
      systemAs,
    }),
  ).map((r) => withIndexWarning(r));
}

/** vhost: UNMAP (or DEVIOTLB_UNMAP with a device IOTLB) per IOMMU section; no replay. */
export function vhostRegistrations(owner: string, dmaAs: AddressSpace, deviceIotlb: boolean, source?: string): Registration[] {
  return iommuSections(dmaAs).map((s, i, all) =>
    withIndexWarning(
      register({
        kind: 'vhost',
        name: all.length > 1 ? `${owner}/vhost#${i}` : `${owner}/vhost`,
        owner,
        region: s.region,
        flags: deviceIotlb ? IOMMU_NOTIFIER_DEVIOTLB_UNMAP : IOMMU_NOTIFIER_UNMAP,
        start: s.offsetInRegion,
        end: s.offsetInRegion + s.size - 1n,
        iommuIdx: s.region.attrsToIndex(MEMTXATTRS_UNSPECIFIED),
        iommuOffset: s.start - s.offsetInRegion,
        source,
      }),
    ),
  );
}

/** TCG: one UNMAP notifier over 0..HWADDR_MAX for a (region, index), to flush the CPU TLB. */
export function tcgRegistration(owner: string, region: IOMMUMemoryRegion, iommuIdx: number, source?: string): Registration {
  return register({
    kind: 'tcg',
    name: `${owner}/tcg-idx${iommuIdx}`,
    owner,
    region,
    flags: IOMMU_NOTIFIER_UNMAP,
    start: 0n,
    end: HWADDR_MAX,
    iommuIdx,
    source,
  });
}

function withIndexWarning(r: Registration): Registration {
  const n = r.region.numIndexes();
  if (n > 1 && r.status === 'accepted') {
    r.warnings.push(
      `${r.name}: ${r.region.name} has ${n} indexes; ${r.kind} tracks only index ${r.iommuIdx} (${r.region.indexName(r.iommuIdx)}), the one unspecified attributes select, and misses changes to the others`,
    );
  }
  return r;
}

interface IommuSection {
  readonly region: IOMMUMemoryRegion;
  readonly start: bigint;
  readonly size: bigint;
  readonly offsetInRegion: bigint;
}

/** The IOMMU sections of an address space's flat view, as vfio's listener sees them. */
export function iommuSections(as: AddressSpace): IommuSection[] {
  const out: IommuSection[] = [];
  for (const r of as.flatView()) {
    if (r.region instanceof IOMMUMemoryRegion) {
      out.push({ region: r.region, start: r.start, size: r.end - r.start, offsetInRegion: r.offsetInRegion });
    }
  }
  return out;
}

export function describeRegistration(r: Registration): string {
  const what = r.status === 'accepted' ? 'accepted' : `${r.status}: ${r.error?.message ?? ''}`;
  return `${r.name} on ${r.region.name}[${r.iommuIdx}] ${hex(r.start)}..${hex(r.end)}: ${what}`;
}

