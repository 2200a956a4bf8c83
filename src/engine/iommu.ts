/**
 * The IOMMU memory-region contract (QEMU's IOMMUMemoryRegionClass) and the notifier machinery
 * of system/memory.c: registration with the OR-of-flags protocol, notification with range
 * cropping and type filtering, the whole-range unmap, and the default replay.
 */
import { MEMTXATTRS_UNSPECIFIED, type MemTxAttrs } from './attrs';
import { engineError, type EngineError } from './errors';
import { formatRange, hex } from './hex';
import {
  IOMMU_NONE,
  IOMMU_NOTIFIER_DEVIOTLB_UNMAP,
  IOMMU_NOTIFIER_MAP,
  IOMMU_NOTIFIER_NONE,
  IOMMU_NOTIFIER_UNMAP,
  formatNotifierFlags,
  type IOMMUAccessFlags,
  type IOMMUNotifierFlag,
  type IOMMUTLBEntry,
  type IOMMUTLBEvent,
} from './iotlb';
import type { AddressSpace } from './address-space';
import { AliasRegion, MemoryRegion } from './memory';
import { newNumberEntry, type NumberTranslator } from './fast-path';
import type { Trace } from './trace';

/**
 * Which QEMU the notification rules follow. `current`: every entry is cropped to the notifier's
 * range (QEMU 10.0 on). `5.2-9.x`: only DEVIOTLB_UNMAP notifiers crop, and a MAP/UNMAP entry that
 * reaches past the range trips an assertion.
 */
export interface ProbeOptions {
  /**
   * Answer from the tables as they are now, past any cache the model keeps (an IOTLB, a config
   * cache): what the shadow checker compares shadows with.
   */
  readonly uncached?: boolean;
}

export type QemuSemantics = 'current' | '5.2-9.x';

export interface IOMMUNotifier {
  /** Called with the event as delivered (cropped). */
  notify(n: IOMMUNotifier, event: IOMMUTLBEvent): void;
  readonly flags: IOMMUNotifierFlag;
  /** Inclusive range of IOVAs, as QEMU's `start`/`end`. */
  readonly start: bigint;
  readonly end: bigint;
  readonly iommuIdx: number;
  /** For views: the registration's name and who made it (a device or `explicit`). */
  readonly name: string;
  readonly owner: string;
  readonly source?: string;
  /**
   * Memory-listener callbacks of the notifier's owner when the IOMMU region is enabled in or
   * disabled from its address space (see IOMMUMemoryRegion.setEnabled): vfio replays on
   * region_add and unmaps the section on region_del.
   */
  regionAdd?(): void;
  regionDel?(): void;
}

/** How one event met one notifier; the region's observer sees every one of these. */
export type NotifyOutcome = 'delivered' | 'no-overlap' | 'type-filtered' | 'assert' | 'replay';

export interface NotifyRecord {
  readonly region: IOMMUMemoryRegion;
  readonly notifier: IOMMUNotifier;
  readonly event: IOMMUTLBEvent;
  /** The entry the notifier received (after cropping), for `delivered` and `replay`. */
  readonly delivered?: IOMMUTLBEntry;
  readonly outcome: NotifyOutcome;
  /** For `assert`: what QEMU would assert. */
  readonly message?: string;
  /** What the notifier's owner made of a delivered event when it refused it (vfio's wrong target AS). */
  readonly consumerError?: string;
}

export interface ReplayResult {
  /** Which replay ran: QEMU's default loop or the model's own. */
  readonly kind: 'default' | 'model';
  /** translate() calls the default loop made. */
  readonly steps: number;
  readonly delivered: number;
  /** Set when the loop was stopped before the end of the region (see maxSteps). */
  readonly stopped?: EngineError;
  /** Set when `progress` paused the default loop: the address to pass as `start` to go on. */
  readonly resumeAt?: bigint;
}

export interface ReplayOptions {
  /** The default loop stops after this many translations and reports it. */
  readonly maxSteps?: number;
  /** For views: translate with probe() and tell no observer, so the machine stays as it was. */
  readonly probe?: boolean;
  /** Where the default loop starts (0 by default); a multiple of the min page size, to resume a paused replay. */
  readonly start?: bigint;
  /**
   * Progress and pausing, for callers that show progress or let a user cancel: called every
   * REPLAY_PROGRESS_INTERVAL translations of the default loop with the translations this call
   * has made; returning false pauses the loop there, and the result's `resumeAt` says where to
   * go on. A model's own replay runs whole.
   */
  readonly progress?: (steps: number) => boolean | void;
}

export const REPLAY_PROGRESS_INTERVAL = 4096;

export const DEFAULT_REPLAY_MAX_STEPS = 1 << 24;

const TWO53N = 1n << 53n;

/** TARGET_PAGE_SIZE on A-profile Arm and x86. */
export const DEFAULT_MIN_PAGE_SIZE = 4096n;

export abstract class IOMMUMemoryRegion extends MemoryRegion {
  readonly kind = 'iommu' as const;
  /** Head first: QEMU inserts at the head, so delivery runs in reverse registration order. */
  private readonly notifierList: IOMMUNotifier[] = [];
  /** The OR of the registered notifiers' flags, as last accepted by notifyFlagChanged. */
  private notifyFlags: IOMMUNotifierFlag = IOMMU_NOTIFIER_NONE;
  semantics: QemuSemantics = 'current';
  /**
   * System memory (QEMU's address_space_memory), which models name as the target of UNMAP
   * entries; the Machine sets it.
   */
  systemAs: AddressSpace | null = null;
  /** Sees every notification decision and every replayed entry. */
  observer?: (r: NotifyRecord) => void;

  /** The model's name, e.g. `tz-mpc`. */
  abstract readonly model: string;

  /**
   * The translation for `addr` (an offset in this region) under index `iommuIdx`. `flag` is a
   * hint; with IOMMU_NONE the model reports full permissions. Models push trace steps only when
   * `trace` is given.
   */
  abstract translate(addr: bigint, flag: IOMMUAccessFlags, iommuIdx: number, trace?: Trace): IOMMUTLBEntry;

  /**
   * The same answer as translate(), for queries (views, hovers, the shadow checker): a model
   * whose translate() has effects on the machine (SMMUv3 records fault events in guest memory and
   * fills its IOTLB) answers without them. QEMU has no such call; its consumers only translate.
   */
  probe(addr: bigint, flag: IOMMUAccessFlags, iommuIdx: number, trace?: Trace, _opts?: ProbeOptions): IOMMUTLBEntry {
    return this.translate(addr, flag, iommuIdx, trace);
  }

  /**
   * Optional number fast path (see fast-path.ts): a translator for index `iommuIdx` that answers
   * as probe() with `opts` would, with number addresses, no effects and no allocation; bound to
   * the machine's state now. Undefined when the model has none for this index.
   */
  numberTranslator?(iommuIdx: number, opts?: ProbeOptions): NumberTranslator | undefined;

  attrsToIndex(_attrs: MemTxAttrs): number {
    return 0;
  }

  numIndexes(): number {
    return 1;
  }

  minPageSize(): bigint {
    return DEFAULT_MIN_PAGE_SIZE;
  }

  /** A short name for an index, for views (`S`, `NS`, or the table model's names). */
  indexName(idx: number): string {
    return String(idx);
  }

  /** In words, which attributes select an index. */
  indexSelector(idx: number): string {
    return this.numIndexes() === 1 && idx === 0 ? 'all transactions' : `index ${idx}`;
  }

  /** May refuse a change of the OR of notifier flags; the message is the model's (QEMU's) text. */
  notifyFlagChanged(_old: IOMMUNotifierFlag, _new: IOMMUNotifierFlag): EngineError | undefined {
    return undefined;
  }

  /** A model's own replay; when absent the default loop runs. */
  modelReplay?(n: IOMMUNotifier, opts?: ReplayOptions): ReplayResult;

  /**
   * Whether QEMU's model has a replay callback of its own (VT-d, virtio-iommu). A model may also
   * offer modelReplay as a faster way to the default loop's events (SMMUv3 walks its tables;
   * QEMU's SMMUv3 has no replay), and then says false here.
   */
  get qemuHasOwnReplay(): boolean {
    return this.modelReplay !== undefined;
  }

  /**
   * Every valid leaf an index maps, in any order, for views: a model that can walk its tables
   * offers this so a view of a 2^64-byte region costs what is mapped, not the address range.
   * Like probe(), it leaves the model as it was: no cache fill, no event.
   */
  enumerateMappings?(iommuIdx: number, sink: (e: IOMMUTLBEntry) => void): void;

  /** Whether the region is enabled in its address space (memory_region_set_enabled). */
  get enabled(): boolean {
    return this.isEnabled;
  }
  private isEnabled = true;

  /**
   * memory_region_set_enabled for a model that switches a device between its IOMMU region and a
   * bypass alias (virtio-iommu, VT-d): the owners of the region's notifiers, as memory listeners
   * of the device's address space, see region_del or region_add of the IOMMU section. The
   * notifiers stay registered here; their owners' callbacks do what re-registering would.
   */
  setEnabled(on: boolean): void {
    if (on === this.isEnabled) return;
    this.isEnabled = on;
    for (const n of [...this.notifierList]) {
      if (on) n.regionAdd?.();
      else n.regionDel?.();
    }
  }

  get notifiers(): readonly IOMMUNotifier[] {
    return this.notifierList;
  }

  get iommuNotifyFlags(): IOMMUNotifierFlag {
    return this.notifyFlags;
  }

  /** memory_region_register_iommu_notifier, with QEMU's asserts turned into errors. */
  registerNotifier(n: IOMMUNotifier): EngineError | undefined {
    if (n.flags === IOMMU_NOTIFIER_NONE) {
      return engineError('notifier-flags-none', `notifier ${n.name}: flags must name at least one event (QEMU asserts notifier_flags != IOMMU_NOTIFIER_NONE)`);
    }
    if (n.start > n.end) {
      return engineError('notifier-range', `notifier ${n.name}: start ${hex(n.start)} is after end ${hex(n.end)} (QEMU asserts start <= end)`);
    }
    if (!Number.isInteger(n.iommuIdx) || n.iommuIdx < 0 || n.iommuIdx >= this.numIndexes()) {
      return engineError(
        'notifier-index',
        `notifier ${n.name}: index ${n.iommuIdx} is out of range; ${this.name} has ${this.numIndexes()} index(es) (QEMU asserts 0 <= iommu_idx < num_indexes)`,
      );
    }
    if (this.notifierList.includes(n)) {
      return engineError('notifier-registered', `notifier ${n.name} is already registered on ${this.name}`);
    }
    this.notifierList.unshift(n);
    const err = this.updateNotifyFlags();
    if (err) {
      this.notifierList.shift();
      return err;
    }
    return undefined;
  }

  /** memory_region_unregister_iommu_notifier: a refusal is ignored, and then the stored flags stay. */
  unregisterNotifier(n: IOMMUNotifier): boolean {
    const at = this.notifierList.indexOf(n);
    if (at < 0) return false;
    this.notifierList.splice(at, 1);
    this.updateNotifyFlags();
    return true;
  }

  private updateNotifyFlags(): EngineError | undefined {
    let flags = IOMMU_NOTIFIER_NONE;
    for (const n of this.notifierList) flags |= n.flags;
    if (flags !== this.notifyFlags) {
      const err = this.notifyFlagChanged(this.notifyFlags, flags);
      if (err) return err;
    }
    this.notifyFlags = flags;
    return undefined;
  }

  /** memory_region_notify_iommu: every notifier on exactly this index. */
  notify(iommuIdx: number, event: IOMMUTLBEvent): void {
    const list = this.notifierList;
    if (list.length === 1) {
      const n = list[0]!;
      if (n.iommuIdx === iommuIdx) this.notifyOne(n, event);
      return;
    }
    // A snapshot: a notifier may unregister (or register another) while it is notified.
    for (const n of [...list]) {
      if (n.iommuIdx === iommuIdx) this.notifyOne(n, event);
    }
  }

  /** memory_region_notify_iommu_one. */
  notifyOne(n: IOMMUNotifier, event: IOMMUTLBEvent): NotifyOutcome {
    const entry = event.entry;
    const entryEnd = entry.iova + entry.addrMask;
    if (event.type === IOMMU_NOTIFIER_UNMAP && entry.perm !== IOMMU_NONE) {
      return this.record(n, event, 'assert', undefined, `UNMAP event with perm ${entry.perm} (QEMU asserts entry->perm == IOMMU_NONE)`);
    }
    if (n.start > entryEnd || n.end < entry.iova) return this.record(n, event, 'no-overlap');
    let delivered: IOMMUTLBEntry;
    if (this.semantics === 'current' || n.flags & IOMMU_NOTIFIER_DEVIOTLB_UNMAP) {
      // Cropping cannot fail here: filter first and build nothing for a filtered event.
      if (!(event.type & n.flags)) return this.record(n, event, 'type-filtered');
      const iova = entry.iova > n.start ? entry.iova : n.start;
      const last = entryEnd < n.end ? entryEnd : n.end;
      delivered = { ...entry, iova, addrMask: last - iova };
    } else {
      if (entry.iova < n.start || entryEnd > n.end) {
        return this.record(
          n,
          event,
          'assert',
          undefined,
          `entry ${formatRange(entry.iova, entryEnd)} reaches outside notifier range ${formatRange(n.start, n.end)}: this would assert in QEMU < 10.0`,
        );
      }
      delivered = { ...entry };
    }
    if (!(event.type & n.flags)) return this.record(n, event, 'type-filtered');
    const ev: IOMMUTLBEvent = { type: event.type, entry: delivered };
    // Delivered first, recorded after: an observer can then see what the notifier made of it.
    n.notify(n, ev);
    return this.record(n, event, 'delivered', delivered);
  }

  /** memory_region_unmap_iommu_notifier_range: one UNMAP of the whole range, no index filter. */
  unmapNotifierRange(n: IOMMUNotifier): NotifyOutcome {
    return this.notifyOne(n, {
      type: IOMMU_NOTIFIER_UNMAP,
      entry: { targetAs: this.systemAs, iova: n.start, translatedAddr: 0n, addrMask: n.end - n.start, perm: IOMMU_NONE },
    });
  }

  /**
   * memory_region_iommu_replay: the model's replay if it has one, else translate(addr, NONE, idx)
   * from 0 to the region's size in min-page-size steps, handing every entry with perm != NONE
   * straight to the notifier (no range check, no crop, no type filter), stopping on wrap.
   */
  replay(n: IOMMUNotifier, opts: ReplayOptions = {}): ReplayResult {
    if (this.modelReplay) return this.modelReplay(n, opts);
    const granularity = this.minPageSize();
    const maxSteps = opts.maxSteps ?? DEFAULT_REPLAY_MAX_STEPS;
    // The number fast path, where it answers as translate() (and probe()) would: an address it
    // answers with perm NONE delivers nothing, so it is counted and passed over without an entry.
    // It is asked only after a page without a mapping (dense stretches go straight to translate()).
    const fast = this.numberTranslator?.(n.iommuIdx);
    const skip = fast !== undefined && (opts.probe === true || fast.answersTranslate === true) ? fast : undefined;
    const scratch = newNumberEntry();
    let sparse = true;
    let steps = 0;
    let delivered = 0;
    for (let addr = opts.start ?? 0n; addr < this.size; addr += granularity) {
      if (steps >= maxSteps) {
        const total = (this.size + granularity - 1n) / granularity;
        return {
          kind: 'default',
          steps,
          delivered,
          stopped: engineError(
            'replay-too-long',
            `default replay of ${this.name} stopped after ${addr / granularity} of ${total} translations at ${hex(addr)}; QEMU would walk the whole ${hex(this.size)}-byte region`,
          ),
        };
      }
      steps++;
      if (skip === undefined || !sparse || addr >= TWO53N || !skip.translate(Number(addr), IOMMU_NONE, scratch) || scratch.perm !== IOMMU_NONE) {
        const entry = opts.probe ? this.probe(addr, IOMMU_NONE, n.iommuIdx) : this.translate(addr, IOMMU_NONE, n.iommuIdx);
        sparse = entry.perm === IOMMU_NONE;
        if (entry.perm !== IOMMU_NONE) {
          const event: IOMMUTLBEvent = { type: IOMMU_NOTIFIER_MAP, entry };
          n.notify(n, event);
          if (!opts.probe) this.record(n, event, 'replay', entry);
          delivered++;
        }
      }
      if (((addr + granularity) & ((1n << 64n) - 1n)) < addr) break;
      if (opts.progress && steps % REPLAY_PROGRESS_INTERVAL === 0 && addr + granularity < this.size && opts.progress(steps) === false) {
        return { kind: 'default', steps, delivered, resumeAt: addr + granularity };
      }
    }
    return { kind: 'default', steps, delivered };
  }

  /** For models: a MAP or UNMAP through notify() with QEMU's rules. */
  protected emit(iommuIdx: number, type: IOMMUNotifierFlag, entry: IOMMUTLBEntry): void {
    this.notify(iommuIdx, { type, entry });
  }

  private record(n: IOMMUNotifier, event: IOMMUTLBEvent, outcome: NotifyOutcome, delivered?: IOMMUTLBEntry, message?: string): NotifyOutcome {
    this.observer?.({ region: this, notifier: n, event, delivered, outcome, message });
    return outcome;
  }
}

/** Registration through an alias lands on the region it aliases, as in QEMU. */
export function registerIommuNotifier(mr: MemoryRegion, n: IOMMUNotifier): EngineError | undefined {
  const target = resolveIommu(mr);
  if (!target) return engineError('not-an-iommu', `${mr.name} is not an IOMMU region`);
  return target.registerNotifier(n);
}

export function resolveIommu(mr: MemoryRegion): IOMMUMemoryRegion | undefined {
  let r: MemoryRegion = mr;
  for (let depth = 0; r instanceof AliasRegion && depth < 64; depth++) r = r.target;
  return r instanceof IOMMUMemoryRegion ? r : undefined;
}

/** The index unspecified attributes select: what vfio and vhost track. */
export function unspecifiedIndex(iommu: IOMMUMemoryRegion): number {
  return iommu.attrsToIndex(MEMTXATTRS_UNSPECIFIED);
}

/** Checks a translate() request from outside the engine: an error instead of a model's undefined behaviour. */
export function checkTranslateArgs(iommu: IOMMUMemoryRegion, addr: bigint, iommuIdx: number): EngineError | undefined {
  if (!Number.isInteger(iommuIdx) || iommuIdx < 0 || iommuIdx >= iommu.numIndexes()) {
    return engineError('index-range', `${iommu.name} has ${iommu.numIndexes()} index(es); ${iommuIdx} is out of range`);
  }
  if (addr < 0n || addr >= iommu.size) {
    return engineError('address-range', `${hex(addr)} is outside ${iommu.name} (size ${hex(iommu.size)})`);
  }
  return undefined;
}

export function describeNotifier(n: IOMMUNotifier): string {
  return `${n.name} [${formatNotifierFlags(n.flags)}] idx ${n.iommuIdx} ${formatRange(n.start, n.end)}`;
}

