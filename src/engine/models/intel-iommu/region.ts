/**
 * One IOMMU region per PCI device (bus, devfn) and per PASID address space (bus, devfn, PASID):
 * QEMU's VTDAddressSpace with its `iommu` region
 * (UINT64_MAX in size, one index). It keeps the device's context-cache entry (with the
 * generation it was filled in), the flags its notifiers asked for, and its record of notified
 * mappings (the iova tree). Everything it does is the device's.
 */
import type { EngineError } from '../../errors';
import type { NumberTranslator } from '../../fast-path';
import { IOMMUMemoryRegion, type IOMMUNotifier, type ProbeOptions, type ReplayResult } from '../../iommu';
import type { IOMMUAccessFlags, IOMMUNotifierFlag, IOMMUTLBEntry } from '../../iotlb';
import type { Trace } from '../../trace';
import type { ContextEntry } from './context';
import { TlbProbe, type PasidMemo } from './fast-path';
import { IovaTree } from './iova-tree';
import { PCI_NO_PASID, bdfColon } from './types';

export interface VtdOwner {
  translateAs(r: VtdRegion, addr: bigint, flag: IOMMUAccessFlags, trace: Trace | undefined): IOMMUTLBEntry;
  probeAs(r: VtdRegion, addr: bigint, flag: IOMMUAccessFlags, trace: Trace | undefined, uncached: boolean): IOMMUTLBEntry;
  asFlagsChanged(r: VtdRegion, old: IOMMUNotifierFlag, now: IOMMUNotifierFlag): EngineError | undefined;
  replayAs(r: VtdRegion, n: IOMMUNotifier): ReplayResult;
  enumerateAs(r: VtdRegion, sink: (e: IOMMUTLBEntry) => void): void;
  numberTranslatorFor(r: VtdRegion, uncached: boolean): NumberTranslator;
}

export class VtdRegion extends IOMMUMemoryRegion {
  readonly model = 'intel-iommu';
  /** The context-cache entry and the generation it was filled in (0: invalid). */
  ccGen = 0;
  ccEntry: ContextEntry | undefined;
  /** vtd_as->notifier_flags as last accepted. */
  asNotifierFlags: IOMMUNotifierFlag = 0;
  /** What this address space has notified as mapped (its iova_tree). */
  readonly tree = new IovaTree();
  /** translate()'s IOTLB look-up for this address space's own key (source ID, PASID). */
  readonly tlbProbe: TlbProbe;
  /** translate()'s last PASID-entry resolution in scalable mode, with the words it was made from. */
  pasidMemo: PasidMemo | undefined;

  constructor(
    private readonly owner: VtdOwner,
    /** PCI requester ID: bus << 8 | devfn. */
    readonly sid: number,
    name: string,
    /** The PASID of a PASID address space; PCI_NO_PASID for the device's own (requests without PASID). */
    readonly pasid = PCI_NO_PASID,
  ) {
    super(name, 1n << 64n);
    this.tlbProbe = new TlbProbe(sid, pasid);
  }

  get bdf(): string {
    return this.pasid === PCI_NO_PASID ? bdfColon(this.sid) : `${bdfColon(this.sid)} PASID ${this.pasid}`;
  }

  override indexSelector(_idx: number): string {
    return `all transactions of ${this.bdf} (requester ID 0x${this.sid.toString(16)}${this.pasid === PCI_NO_PASID ? ', no PASID' : `, PASID 0x${this.pasid.toString(16)}`})`;
  }

  translate(addr: bigint, flag: IOMMUAccessFlags, _iommuIdx: number, trace?: Trace): IOMMUTLBEntry {
    return this.owner.translateAs(this, addr, flag, trace);
  }

  override probe(addr: bigint, flag: IOMMUAccessFlags, _iommuIdx: number, trace?: Trace, opts?: ProbeOptions): IOMMUTLBEntry {
    return this.owner.probeAs(this, addr, flag, trace, opts?.uncached ?? false);
  }

  /** The number fast path (src/engine/fast-path.ts): answers as probe() with `opts`. */
  override numberTranslator(_iommuIdx: number, opts?: ProbeOptions): NumberTranslator {
    return this.owner.numberTranslatorFor(this, opts?.uncached ?? false);
  }

  override notifyFlagChanged(old: IOMMUNotifierFlag, now: IOMMUNotifierFlag): EngineError | undefined {
    return this.owner.asFlagsChanged(this, old, now);
  }

  /** vtd_iommu_replay. */
  override modelReplay(n: IOMMUNotifier): ReplayResult {
    return this.owner.replayAs(this, n);
  }

  /** Every readable or writable leaf of the device's tables now, from a page walk (no effects). */
  override enumerateMappings(_iommuIdx: number, sink: (e: IOMMUTLBEntry) => void): void {
    this.owner.enumerateAs(this, sink);
  }
}
