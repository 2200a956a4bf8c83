/**
 * `intel-iommu`: Intel VT-d DMA remapping as QEMU's hw/i386/intel_iommu.c models it (legacy
 * mode), following the architecture where QEMU leaves something out and reproducing Debian's
 * QEMU 7.2 in the `qemu-7.2` profile. One IOMMU region per PCI device (bus, devfn) and per PASID
 * address space (bus, devfn, PASID), created on demand; root, context and second-level tables and the invalidation queue live in guest memory
 * (`walk-memory`, QEMU's address_space_memory).
 *
 * Translation (vtd_iommu_translate, vtd_do_iommu_translate): with GSTS.TES=0 every address is
 * passed through in 4 KiB pages with RW. Otherwise the IOTLB is tried (keyed by source ID,
 * PASID, level, page), then the context cache (a per-device entry valid for one generation),
 * else the root and context entries are read and checked; a pass-through context gives the
 * 4 KiB identity with RW; otherwise the second-level tables are walked, checking the requested
 * permission at every level, and the leaf goes into the IOTLB. A success returns iova and
 * translated address aligned to the leaf's page, mask = page size - 1, perm = R/W combined down
 * the levels; a failure records a fault (unless FPD suppresses it) and returns an all-zero entry
 * with perm NONE (QEMU's error path).
 *
 * Notifiers (vtd_iommu_notify_flag_changed): refused with snoop-control, MAP without caching
 * mode, DEVIOTLB_UNMAP without device-iotlb, in that order, with QEMU's texts. Invalidations sync
 * the address spaces with notifiers (vtd_address_space_sync): a page walk whose leaves are
 * compared with the address space's record of notified mappings, so that an unchanged mapping is
 * not notified, a changed one is sent as UNMAP then MAP, a vanished one as UNMAP.
 */
import { MEMTXATTRS_UNSPECIFIED } from '../../attrs';
import { addressSpaceForRegion, type AddressSpace } from '../../address-space';
import { findRegister, registerRegion, type IommuDevice, type ModelCommand, type RegisterFile } from '../../device';
import { engineError, isEngineError, type EngineError } from '../../errors';
import { hex } from '../../hex';
import type { IOMMUMemoryRegion, IOMMUNotifier, ReplayResult } from '../../iommu';
import {
  IOMMU_NONE,
  IOMMU_NOTIFIER_DEVIOTLB_UNMAP,
  IOMMU_NOTIFIER_IOTLB_EVENTS,
  IOMMU_NOTIFIER_MAP,
  IOMMU_NOTIFIER_NONE,
  IOMMU_NOTIFIER_UNMAP,
  IOMMU_RW,
  IOMMU_WO,
  permName,
  type IOMMUAccessFlags,
  type IOMMUNotifierFlag,
  type IOMMUTLBEntry,
  type IOMMUTLBEvent,
} from '../../iotlb';
import type { MmioRegion } from '../../memory';
import { TablePageCache } from '../../page-cache';
import type { Trace, TraceFieldValue } from '../../trace';
import { GuestReader } from '../../guest-reader';
import { TT_NAMES, ceAgaw, ceLevel, devToContextEntry, smResolve, type ContextEntry, type ContextEnv } from './context';
import { FaultRecorder, describeDisposition, faultSummary, type FaultLogEntry, type VtdInterrupt } from './faults';
import { InvalidationQueue, encodeDescriptor, processDescriptor, type InvLogEntry, type VtdInvalidator } from './invalidation';
import { LeafWalker, VtdTranslator, bigToNum, halvesToBig, numToBig, readPasidWords } from './fast-path';
import { VtdIotlb } from './iotlb';
import { VtdRegion, type VtdOwner } from './region';
import { VtdRegisters } from './registers';
import {
  DMAR_CCMD_REG,
  DMAR_GCMD_REG,
  DMAR_GSTS_REG,
  DMAR_IOTLB_REG,
  DMAR_IQH_REG,
  DMAR_IQT_REG,
  DMAR_IVA_REG,
  DMAR_REG_SIZE,
  DMAR_RTADDR_REG,
  DMAR_ICS_REG,
  DMAR_IECTL_REG,
  DMAR_FECTL_REG,
  DMAR_FSTS_REG,
  DMAR_FEADDR_REG,
  DMAR_FEDATA_REG,
  DMAR_IEADDR_REG,
  DMAR_IEDATA_REG,
  PCI_NO_PASID,
  QUALIFIED_FAULTS,
  U64,
  VTD_CAP_CM,
  VTD_CAP_DRAIN,
  VTD_CAP_FRO,
  VTD_CAP_MAMV,
  VTD_CAP_ND,
  VTD_CAP_NFR,
  VTD_CAP_PSI,
  VTD_CAP_SAGAW_39,
  VTD_CAP_SAGAW_48,
  VTD_CAP_SAGAW_57,
  VTD_CAP_SLLPS,
  VTD_CCMD_CAIG_MASK,
  VTD_CCMD_CIRG_MASK,
  VTD_CCMD_DEVICE_INVL,
  VTD_CCMD_DEVICE_INVL_A,
  VTD_CCMD_DOMAIN_INVL,
  VTD_CCMD_GLOBAL_INVL,
  VTD_CCMD_GLOBAL_INVL_A,
  VTD_CCMD_ICC,
  VTD_ECAP_DT,
  VTD_ECAP_IR,
  VTD_GCMD_IRE,
  VTD_GCMD_SIRTP,
  VTD_GSTS_IRES,
  VTD_GSTS_IRTPS,
  VTD_ECAP_IRO,
  VTD_ECAP_FLTS,
  VTD_ECAP_PASID,
  VTD_ECAP_SLTS,
  VTD_ECAP_SMTS,
  VTD_ECAP_SRS,
  VTD_CAP_FL5LP,
  VTD_CAP_FS1GP,
  VTD_ECAP_PT,
  VTD_ECAP_QI,
  VTD_ECAP_SC,
  VTD_FECTL_IM,
  VTD_FECTL_IP,
  VTD_FSTS_IQE,
  VTD_FSTS_PFO,
  VTD_FSTS_PPF,
  VTD_GCMD_QIE,
  VTD_GCMD_SRTP,
  VTD_GCMD_TE,
  VTD_GSTS_RTPS,
  VTD_GSTS_TES,
  VTD_ICS_IWC,
  VTD_IECTL_IM,
  VTD_IECTL_IP,
  VTD_INTERRUPT_ADDR_FIRST,
  VTD_INTERRUPT_ADDR_LAST,
  VTD_IOTLB_MAX_SIZE,
  VTD_IQH_QH_MASK,
  VTD_MAMV,
  VTD_PAGE_SIZE,
  VTD_TLB_DSI_FLUSH,
  VTD_TLB_DSI_FLUSH_A,
  VTD_TLB_FLUSH_GRANU_MASK,
  VTD_TLB_FLUSH_GRANU_MASK_A,
  VTD_TLB_GLOBAL_FLUSH,
  VTD_TLB_GLOBAL_FLUSH_A,
  VTD_TLB_IVT,
  VTD_TLB_PSI_FLUSH,
  VTD_TLB_PSI_FLUSH_A,
  VTD_FR_INTERRUPT_ADDR,
  VTD_FR_SM_INTERRUPT_ADDR,
  bdfColon,
  bdfDots,
  faultName,
  hawMask,
  levelPageMask,
  pageSizeName,
  vtdCapMgaw,
  type VtdProfile,
} from './types';
import { dryFsWriter, type FsWriter, fsReservedMasks, iovaToFlpte, iovaToSlpte, leafHitsInterruptRange, leafOutput, newNumLeaf, type FsReservedMasks, numMasks, pageWalk, reservedMasks, type NumMasks, type ReservedMasks, type WalkEnv } from './walker';

export interface VtdRegisterWrite {
  /** A register name (`GCMD`, `RTADDR`...) or offset. */
  readonly reg: string | number;
  readonly value: bigint;
  readonly size?: 4 | 8;
}

export interface IntelIommuOptions {
  readonly name: string;
  /** Where root/context entries, page tables and the invalidation queue are read (QEMU's address_space_memory). */
  readonly memory: AddressSpace;
  /** Where translated accesses go. Default: `memory`. */
  readonly downstream?: AddressSpace;
  readonly profile?: VtdProfile;
  /** aw-bits: 39, 48 (default; 39 in qemu-7.2) or 57 (the architecture's 5-level tables). */
  readonly awBits?: number;
  /** caching-mode (CAP.CM), default off. */
  readonly cachingMode?: boolean;
  /** device-iotlb (ECAP.DT), default off. */
  readonly deviceIotlb?: boolean;
  /** pt (ECAP.PT), default on. */
  readonly passThrough?: boolean;
  /** snoop-control (ECAP.SC), default off. */
  readonly snoopControl?: boolean;
  /**
   * intremap (ECAP.IR and MHMV), default on as a q35 machine under TCG has it. Only GCMD.IRE and
   * SIRTP's status bits are modelled; interrupts are not remapped.
   */
  readonly intremap?: boolean;
  /**
   * x-scalable-mode (ECAP.SMTS, SRS, SLTS), default off: with RTADDR.SMT, scalable root and
   * context entries and the PASID table entry of RID_PASID (second-stage or pass-through).
   */
  readonly scalableMode?: boolean;
  /**
   * x-flts (current QEMU): first-stage translation in scalable mode, default off. ECAP.FLTS instead
   * of SLTS and SRS, CAP.FS1GP; PASID entries with PGTT=001b walk first-stage tables. QEMU 7.2 has
   * no such property.
   */
  readonly firstStage?: boolean;
  /** x-pasid-mode (ECAP.PASID), default off: needs scalable mode, and refuses device-iotlb. */
  readonly pasidMode?: boolean;
  /** dma-drain (CAP.DRD/DWD), default on. */
  readonly dmaDrain?: boolean;
  readonly iotlbSize?: number;
  readonly registers?: readonly VtdRegisterWrite[];
  readonly source?: string;
  readonly onInterrupt?: (irq: VtdInterrupt) => void;
}

export interface VtdProfileFlags {
  readonly profile: VtdProfile;
  /** Replay first unmaps the notifier's whole range (QEMU 7.2); current QEMU just forgets the record. */
  readonly replayUnmapsFirst: boolean;
  /** Replay walks when the address space has a MAP notifier (7.2), not when this notifier wants MAP. */
  readonly replayMapByAs: boolean;
  /** Syncing an address space without MAP notifiers walks its tables (7.2) instead of unmapping each notifier's range. */
  readonly syncWalksWithoutMap: boolean;
  /** Page-selective IOTLB invalidation's mask in a uint8_t (7.2). */
  readonly byteMask: boolean;
  /** TM is not reserved with device-iotlb (7.2); current QEMU also needs x-stale-tm. */
  readonly tmWithDt: boolean;
}

export function vtdProfileFlags(p: VtdProfile): VtdProfileFlags {
  const old = p === 'qemu-7.2';
  return { profile: p, replayUnmapsFirst: old, replayMapByAs: old, syncWalksWithoutMap: old, byteMask: old, tmWithDt: old };
}

export interface VtdCommandLogEntry {
  readonly effect: string;
  readonly error: number;
}

const LOG_LIMIT = 256;
const TWO53N = 1n << 53n;
/** 2^n as numbers, n = 0..64. */
const POW2 = Array.from({ length: 65 }, (_, n) => 2 ** n);
/** A leaf's addr_mask by level. */
const ADDR_MASK_BY_SIZE = new Map([0x1000, 0x20_0000, 0x4000_0000].map((s) => [s, BigInt(s) - 1n]));
const ADDR_MASKS = [0n, 0xfffn, 0x1f_ffffn, 0x3fff_ffffn, 0x7f_ffff_ffffn, 0xffff_ffff_ffffn];
/** A leaf's page mask by level (levelPageMask). */
const PAGE_MASKS = ADDR_MASKS.map((m) => U64 & ~m);
const PAGE_4K = U64 & ~0xfffn;

export class IntelIommu implements IommuDevice, VtdOwner, VtdInvalidator {
  readonly model = 'intel-iommu';
  readonly name: string;
  readonly source?: string;
  readonly flags: VtdProfileFlags;
  readonly memory: AddressSpace;
  readonly downstream: AddressSpace;
  readonly awBits: number;
  readonly cachingMode: boolean;
  readonly dt: boolean;
  readonly pt: boolean;
  readonly snoopControl: boolean;
  readonly ir: boolean;
  readonly scalableMode: boolean;
  /** x-flts: first-stage translation (PASID entries with PGTT=001b). */
  readonly firstStage: boolean;
  readonly fsRsvd: FsReservedMasks;
  readonly cap: bigint;
  readonly ecap: bigint;
  readonly regs: VtdRegisters;
  readonly registers: RegisterFile;
  readonly registerRegion: MmioRegion;
  readonly iotlb: VtdIotlb;
  readonly faults: FaultRecorder;
  readonly queue: InvalidationQueue;
  /** QEMU's error_report_once and trace output worth showing, oldest dropped past 256. */
  readonly log: string[] = [];
  readonly interrupts: VtdInterrupt[] = [];

  /** State QEMU keeps outside the registers. */
  root = 0n;
  /** RTADDR.SMT latched by SRTP while scalable mode is offered (vtd_update_scalable_state). */
  rootScalable = false;
  dmarEnabled = false;
  contextCacheGen = 1;

  private readonly reader: GuestReader;
  private readonly rsvd: ReservedMasks;
  private readonly nm: NumMasks;
  private readonly leafN = newNumLeaf();
  /** Guest pages of RAM the walks read tables from (src/engine/page-cache.ts), shared by this IOMMU's walkers. */
  private readonly tablePages = new TablePageCache(6);
  private readonly leafWalker = new LeafWalker(this.tablePages);
  private readonly fsNm: NumMasks;
  /**
   * translate() without a trace tries the number path first (translateFast); off, every call goes
   * the full way. Both give the same entries and effects (test/unit/intel-iommu-translate-fast.test.ts).
   */
  fastTranslate = true;
  /** Translations the number path answered (a diagnostic, shown with the IOTLB's counts). */
  fastAnswers = 0;
  private readonly pasidWords = new Float64Array(8);
  private readonly spaces = new Map<number, VtdRegion>();
  /** vtd_as_with_notifiers: head first. */
  private withNotifiers: VtdRegion[] = [];
  private readonly initial: readonly VtdRegisterWrite[];
  private readonly onInterrupt?: (irq: VtdInterrupt) => void;
  private quiet = false;
  private uncached = false;
  /**
   * vtd_switch_address_space: QEMU decides whether a device's DMA goes through its IOMMU region or
   * straight to memory (its no-DMAR region, QEMU's pass-through fast path) when it switches the
   * device's address space, reading the context entry at that moment: on TE, SRTP, a global
   * context-cache invalidation and reset (vtd_address_space_refresh_all), a device-selective one
   * for the devices it selects, the address space's creation, and a translation that meets a
   * pass-through entry (vtd_pt_enable_fast_path). A device switched to no-DMAR stays there until
   * the next switch, whatever its context entry says meanwhile: a context entry changed from
   * pass-through without a context-cache invalidation keeps passing through (as a context-cache
   * entry would, VT-d 6.5.1). The requests-without-PASID regions switched to no-DMAR; PASID
   * address spaces are decided at each translation.
   */
  private readonly nodmar = new Set<VtdRegion>();
  private walkEnvMemo: WalkEnv | undefined;
  /** A probe's first-stage writer: it says whether an A/D update would land, writing nothing. */
  private readonly dryWriter: FsWriter;

  static create(opts: IntelIommuOptions): IntelIommu | EngineError {
    const profile = opts.profile ?? 'architecture';
    const aw = opts.awBits ?? (profile === 'qemu-7.2' ? 39 : 48);
    // vtd_realize, then vtd_decide_config, in QEMU's order and words (QEMU 7.2's where they differ).
    if (opts.pasidMode && opts.deviceIotlb) return engineError('vtd-pasid', `intel-iommu ${opts.name}: PASID based device IOTLB is not supported`);
    if (opts.firstStage && profile === 'qemu-7.2') return engineError('vtd-flts', `intel-iommu ${opts.name}: Property 'intel-iommu.x-flts' not found (QEMU 7.2 has no first-stage translation)`);
    if (opts.firstStage && !opts.scalableMode) return engineError('vtd-flts', `intel-iommu ${opts.name}: x-flts is only available in scalable mode`);
    if (opts.firstStage && aw !== 48 && !(aw === 57 && profile === 'architecture')) {
      return engineError('vtd-aw-bits', `intel-iommu ${opts.name}: Scalable mode(x-flts=on): supported value for aw-bits is: 48 (and 57, the architecture's 5-level first-stage tables, which QEMU does not offer)`);
    }
    if (!opts.firstStage && aw !== 39 && aw !== 48 && !(aw === 57 && profile === 'architecture')) {
      const text = profile === 'qemu-7.2' ? 'Supported values for aw-bits are: 39, 48' : "Legacy mode: supported values for aw-bits are: 39, 48 (and 57, the architecture's 5-level tables, which QEMU does not offer)";
      return engineError('vtd-aw-bits', `intel-iommu ${opts.name}: ${text}`);
    }
    if (opts.scalableMode && opts.dmaDrain === false) return engineError('vtd-scalable', `intel-iommu ${opts.name}: Need to set dma_drain for scalable mode`);
    if (opts.pasidMode && !opts.scalableMode) return engineError('vtd-pasid', `intel-iommu ${opts.name}: Need to set scalable mode for PASID`);
    const size = opts.iotlbSize ?? VTD_IOTLB_MAX_SIZE;
    if (!Number.isInteger(size) || size < 0) return engineError('vtd-iotlb-size', `intel-iommu ${opts.name}: IOTLB size ${size} is not a non-negative integer`);
    const dev = new IntelIommu(opts, profile, aw, size);
    const err = dev.program(dev.initial);
    return err ?? dev;
  }

  private constructor(opts: IntelIommuOptions, profile: VtdProfile, aw: number, iotlbSize: number) {
    this.name = opts.name;
    this.source = opts.source;
    this.flags = vtdProfileFlags(profile);
    this.memory = opts.memory;
    this.downstream = opts.downstream ?? opts.memory;
    this.awBits = aw;
    this.cachingMode = opts.cachingMode ?? false;
    this.dt = opts.deviceIotlb ?? false;
    this.pt = opts.passThrough ?? true;
    this.snoopControl = opts.snoopControl ?? false;
    this.onInterrupt = opts.onInterrupt;
    // vtd_cap_init.
    let cap = VTD_CAP_FRO | VTD_CAP_NFR | VTD_CAP_ND | VTD_CAP_MAMV | VTD_CAP_PSI | VTD_CAP_SLLPS | vtdCapMgaw(aw);
    if (opts.dmaDrain ?? true) cap |= VTD_CAP_DRAIN;
    if (aw >= 39) cap |= VTD_CAP_SAGAW_39;
    if (aw >= 48) cap |= VTD_CAP_SAGAW_48;
    if (aw >= 57) cap |= VTD_CAP_SAGAW_57;
    if (this.cachingMode) cap |= VTD_CAP_CM;
    let ecap = VTD_ECAP_QI | VTD_ECAP_IRO;
    this.scalableMode = opts.scalableMode ?? false;
    this.firstStage = this.scalableMode && (opts.firstStage ?? false);
    // vtd_cap_init: x-flts offers first-stage only (SMTS, FLTS, CAP.FS1GP); otherwise SMTS, SRS, SLTS.
    if (this.firstStage) {
      ecap |= VTD_ECAP_SMTS | VTD_ECAP_FLTS;
      cap |= VTD_CAP_FS1GP;
      if (aw >= 57) cap |= VTD_CAP_FL5LP;
    } else if (this.scalableMode) ecap |= VTD_ECAP_SMTS | VTD_ECAP_SRS | VTD_ECAP_SLTS;
    if (opts.pasidMode) ecap |= VTD_ECAP_PASID;
    this.ir = opts.intremap ?? true;
    if (this.ir) ecap |= VTD_ECAP_IR | (15n << 20n);
    if (this.dt) ecap |= VTD_ECAP_DT;
    if (this.pt) ecap |= VTD_ECAP_PT;
    if (this.snoopControl) ecap |= VTD_ECAP_SC;
    this.cap = cap;
    this.ecap = ecap;
    // vtd_init: SNP is not reserved with snoop-control or in scalable mode (both QEMU 7.2 and current).
    this.rsvd = reservedMasks(aw, this.flags.tmWithDt && this.dt, this.snoopControl || (opts.scalableMode ?? false));
    this.nm = numMasks(this.rsvd, aw);
    this.fsRsvd = fsReservedMasks(aw, (cap & VTD_CAP_FS1GP) !== 0n);
    this.fsNm = numMasks(this.fsRsvd, aw);
    this.initial = [...(opts.registers ?? [])];
    this.reader = new GuestReader(opts.memory);
    this.dryWriter = dryFsWriter(this.reader);
    this.iotlb = new VtdIotlb(iotlbSize);
    this.regs = new VtdRegisters(
      {
        gcmd: () => this.handleGcmd(),
        ccmd: () => this.handleCcmd(),
        iotlb: () => this.handleIotlb(),
        fsts: () => this.handleFsts(),
        fectl: () => this.handleFectl(),
        iqt: () => this.queue.iqtWrite(),
        iqa: () => this.queue.updateDw(),
        ics: () => this.handleIcs(),
        iectl: () => this.handleIectl(),
        frcdHigh: () => this.faults.updatePpf(),
        iqBase: () => this.queue.base,
        log: (m) => this.guestLog(m),
      },
      cap,
      ecap,
    );
    this.registers = this.regs;
    const irq = (i: VtdInterrupt) => {
      this.interrupts.push(i);
      if (this.interrupts.length > LOG_LIMIT) this.interrupts.splice(0, this.interrupts.length - LOG_LIMIT);
      this.onInterrupt?.(i);
    };
    this.faults = new FaultRecorder(this.regs, irq, (m) => this.guestLog(m));
    this.queue = new InvalidationQueue(this.regs, this.reader, aw, this, irq, (m) => this.guestLog(m), { current: profile !== 'qemu-7.2', smts: this.scalableMode });
    this.registerRegion = registerRegion(`${opts.name}-regs`, BigInt(DMAR_REG_SIZE), this.regs);
    this.registerRegion.source = opts.source;
  }

  get profile(): VtdProfile {
    return this.flags.profile;
  }

  // --- IommuDevice ----------------------------------------------------------------------------

  regions(): readonly VtdRegion[] {
    return [...this.spaces.values()];
  }

  /**
   * vtd_find_add_as(bus, devfn, pasid): the region of requester ID `requesterId` (00:00.0 when none
   * is given) for requests without PASID, or the address space of one PASID of it. The RID_PASID's
   * address space is the device's own region (in scalable mode, the RID_PASID its context entry
   * names now); every other PASID is an address space of its own, with its own context-cache
   * entry, notifiers and record of notified mappings. (QEMU 7.2 never makes one: its
   * vtd_find_add_as is only called with PCI_NO_PASID; the qemu-7.2 profile runs 7.2's translate
   * for one as written, and says so in the trace.)
   */
  regionFor(requesterId: number | undefined, pasid?: number): VtdRegion {
    const sid = (requesterId ?? 0) & 0xffff;
    let p = pasid === undefined ? PCI_NO_PASID : pasid >>> 0;
    if (p !== PCI_NO_PASID && this.rootScalable) {
      const res = devToContextEntry({ ...this.contextEnv(), log: () => undefined }, sid);
      if ('ce' in res && res.ce !== undefined && Number(res.ce.hi & 0xfffffn) === p) p = PCI_NO_PASID;
    }
    const key = spaceKey(sid, p);
    let r = this.spaces.get(key);
    if (r === undefined) {
      r = new VtdRegion(this, sid, `${this.name}.vtd-${bdfColon(sid)}${p === PCI_NO_PASID ? '' : `-pasid-${p.toString(16)}`}`, p);
      r.source = this.source;
      this.spaces.set(key, r);
      this.switchAs(r);
    }
    return r;
  }

  /**
   * vtd_machine_done_notify_one (QEMU 7.2): a vfio-pci device anywhere in the machine without
   * caching mode ends QEMU at machine-done; current QEMU has no such check (vfio's MAP notifier is
   * refused instead, with notify_flag_changed's words).
   */
  machineDone(devices: ReadonlyArray<{ readonly name: string; readonly kind: string }>): Array<{ device: string; message: string }> {
    if (this.flags.profile !== 'qemu-7.2' || this.cachingMode) return [];
    const vfio = devices.find((d) => d.kind === 'vfio-pci');
    return vfio ? [{ device: vfio.name, message: `QEMU 7.2 exits when the machine is complete: We need to set caching-mode=on for intel-iommu to enable device assignment with IOMMU protection.` }] : [];
  }

  /** vtd_reset_exit: vtd_init, then every notifier's range unmapped; then the options' writes again. */
  reset(): void {
    this.init();
    this.refreshAll();
    this.program(this.initial);
  }

  private init(): void {
    this.regs.reset();
    this.root = 0n;
    this.rootScalable = false;
    this.dmarEnabled = false;
    this.queue.reset();
    this.faults.nextFrcd = 0;
    this.resetCaches();
  }

  /** Register writes by name or offset, as firmware or a driver would program them. */
  program(writes: readonly VtdRegisterWrite[]): EngineError | undefined {
    for (const w of writes) {
      const info = findRegister(this.regs, typeof w.reg === 'string' ? w.reg.toUpperCase().replace(/-/g, '_') : w.reg);
      if (!info) return engineError('vtd-register', `intel-iommu ${this.name}: no register ${typeof w.reg === 'string' ? `named ${w.reg}` : `at offset ${hex(w.reg)}`}`);
      if (info.name === 'IQH') {
        const e = this.restoreIqh(w.value);
        if (e) return e;
        continue;
      }
      if (info.access === 'ro') return engineError('vtd-register', `intel-iommu ${this.name}: ${info.name} is read-only`);
      this.regs.write(BigInt(info.offset), w.size ?? info.width, w.value, MEMTXATTRS_UNSPECIFIED);
    }
    return undefined;
  }

  /**
   * IQH is read-only to a driver; QEMU's migration state carries the queue head (vtd_vmstate's
   * iq_head) so that a restored queue goes on where it was. A config restores it the same way (an
   * attach to a live QEMU writes it): before GCMD.QIE, so that enabling the queue with IQT equal
   * to it runs nothing again.
   */
  private restoreIqh(value: bigint): EngineError | undefined {
    if (this.queue.enabled) return engineError('vtd-register', `intel-iommu ${this.name}: IQH can be restored only while the invalidation queue is disabled (before GCMD.QIE)`);
    const v = value & VTD_IQH_QH_MASK;
    this.queue.head = Number(v >> (this.queue.dw ? 5n : 4n));
    this.regs.setQuadRaw(DMAR_IQH_REG, v);
    return undefined;
  }

  /**
   * Invalidations as a driver issues them: with the invalidation queue enabled, each command is
   * written as a descriptor at the tail and IQT is advanced (which processes it); otherwise
   * context-cache and IOTLB commands go through CCMD and IVA/IOTLB. Returns what each did.
   */
  issueCommands(cmds: readonly ModelCommand[]): VtdCommandLogEntry[] | EngineError {
    const out: VtdCommandLogEntry[] = [];
    for (const c of cmds) {
      const d = encodeDescriptor(c);
      if (isEngineError(d)) return d;
      if (this.queue.enabled) {
        const q = this.queue;
        if ((q.tail + 1) % q.size === q.head) return engineError('vtd-queue', `intel-iommu ${this.name}: the invalidation queue is full`);
        const at = q.base + BigInt(q.tail * q.stride);
        // A 256-bit slot (IQA.DW) holds the descriptor in its low 128 bits, the rest zero.
        const words = q.dw ? [d.lo, d.hi, 0n, 0n] : [d.lo, d.hi];
        if (!words.every((v, i) => this.reader.write(at + BigInt(8 * i), 8, v))) {
          return engineError('vtd-queue', `intel-iommu ${this.name}: invalidation queue entry at ${hex(at)} cannot be written in ${this.memory.name}`);
        }
        const before = q.log.length;
        const tail = (q.tail + 1) % q.size;
        this.regs.write(BigInt(DMAR_IQT_REG), 8, BigInt(tail) << (q.dw ? 5n : 4n), MEMTXATTRS_UNSPECIFIED);
        const done = q.log.slice(before);
        if (done.length === 0) out.push({ effect: `queued at ${hex(at)}, not processed (FSTS.IQE=${this.regs.getLong(DMAR_FSTS_REG) & VTD_FSTS_IQE ? 1 : 0})`, error: 1 });
        for (const e of done) out.push({ effect: `${e.what}: ${e.effect}`, error: e.error });
        continue;
      }
      const type = Number(d.lo & 0xfn);
      const before = this.queue.log.length;
      if (type === 1) {
        const g = (d.lo >> 4n) & 3n;
        const v = VTD_CCMD_ICC | (g << 61n) | ((d.lo >> 48n) & 3n) << 32n | ((d.lo >> 32n) & 0xffffn) << 16n | ((d.lo >> 16n) & 0xffffn);
        this.regs.write(BigInt(DMAR_CCMD_REG), 8, v, MEMTXATTRS_UNSPECIFIED);
      } else if (type === 2) {
        const g = (d.lo >> 4n) & 3n;
        if (g === 3n) this.regs.write(BigInt(DMAR_IVA_REG), 8, d.hi, MEMTXATTRS_UNSPECIFIED);
        const v = VTD_TLB_IVT | (g << 60n) | (((d.lo >> 16n) & 0xffffn) << 32n);
        this.regs.write(BigInt(DMAR_IOTLB_REG), 8, v, MEMTXATTRS_UNSPECIFIED);
      } else {
        return engineError('vtd-queue', `intel-iommu ${this.name}: ${String(c.op)} needs the invalidation queue, which is disabled (GSTS.QIES=0)`);
      }
      for (const e of this.queue.log.slice(before)) out.push({ effect: `${e.what}: ${e.effect}`, error: e.error });
    }
    return out;
  }

  // --- register handlers ----------------------------------------------------------------------

  /** vtd_handle_gcmd_write. */
  private handleGcmd(): void {
    const status = this.regs.getLong(DMAR_GSTS_REG);
    const val = this.regs.getLong(DMAR_GCMD_REG);
    const changed = status ^ val;
    if (changed & VTD_GCMD_TE) this.gcmdTe((val & VTD_GCMD_TE) !== 0);
    if (val & VTD_GCMD_SRTP) {
      const rtaddr = this.regs.getQuad(DMAR_RTADDR_REG);
      this.root = rtaddr & (hawMask(this.awBits) ^ 0xfffn);
      if (this.scalableMode) this.rootScalable = (rtaddr & (1n << 10n)) !== 0n;
      this.regs.setClearLong(DMAR_GSTS_REG, 0, VTD_GSTS_RTPS);
      this.resetCaches();
      this.refreshAll();
    }
    if (changed & VTD_GCMD_QIE) this.queue.gcmdQie((val & VTD_GCMD_QIE) !== 0);
    // Interrupt remapping: only the status bits (the table is not read, interrupts are not remapped).
    if (val & VTD_GCMD_SIRTP) this.regs.setClearLong(DMAR_GSTS_REG, 0, VTD_GSTS_IRTPS);
    if (changed & VTD_GCMD_IRE && this.ir) {
      if (val & VTD_GCMD_IRE) this.regs.setClearLong(DMAR_GSTS_REG, 0, VTD_GSTS_IRES);
      else this.regs.setClearLong(DMAR_GSTS_REG, VTD_GSTS_IRES, 0);
    }
  }

  /** vtd_handle_gcmd_te. */
  private gcmdTe(en: boolean): void {
    if (this.dmarEnabled === en) return;
    this.dmarEnabled = en;
    if (en) this.regs.setClearLong(DMAR_GSTS_REG, 0, VTD_GSTS_TES);
    else {
      this.faults.nextFrcd = 0;
      this.regs.setClearLong(DMAR_GSTS_REG, VTD_GSTS_TES, 0);
    }
    this.resetCaches();
    this.refreshAll();
  }

  /** vtd_handle_ccmd_write. */
  private handleCcmd(): void {
    const val = this.regs.getQuad(DMAR_CCMD_REG);
    if (!(val & VTD_CCMD_ICC)) return;
    if (this.queue.enabled) {
      this.guestLog('Queued Invalidation enabled, should not use register-based invalidation');
      this.queue.push({ via: 'register', what: `CCMD ${hex(val)}`, effect: 'ignored: queued invalidation is enabled', error: 1 });
      return;
    }
    const type = val & VTD_CCMD_CIRG_MASK;
    let caig = 0n;
    let what: string;
    let effect: string;
    if (type === VTD_CCMD_DOMAIN_INVL || type === VTD_CCMD_GLOBAL_INVL) {
      caig = VTD_CCMD_GLOBAL_INVL_A;
      what = `CCMD context-cache invalidation (${type === VTD_CCMD_GLOBAL_INVL ? 'global' : `domain ${Number(val & 0xffffn)}, done as global`})`;
      effect = this.contextGlobal();
    } else if (type === VTD_CCMD_DEVICE_INVL) {
      caig = VTD_CCMD_DEVICE_INVL_A;
      const sid = Number((val >> 16n) & 0xffffn);
      const fm = Number((val >> 32n) & 3n);
      what = `CCMD context-cache invalidation (device ${bdfColon(sid)}, FM ${fm})`;
      effect = this.contextDevice(sid, fm);
    } else {
      this.guestLog(`vtd_context_cache_invalidate: invalid context: 0x${val.toString(16)}`);
      what = `CCMD ${hex(val)}`;
      effect = 'invalid granularity: CAIG 0';
    }
    this.regs.setClearQuad(DMAR_CCMD_REG, VTD_CCMD_ICC, 0n);
    this.regs.setClearQuad(DMAR_CCMD_REG, VTD_CCMD_CAIG_MASK, caig);
    this.queue.push({ via: 'register', what, effect, error: caig ? 0 : 1 });
  }

  /** vtd_handle_iotlb_write / vtd_iotlb_flush. */
  private handleIotlb(): void {
    const val = this.regs.getQuad(DMAR_IOTLB_REG);
    if (!(val & VTD_TLB_IVT)) return;
    if (this.queue.enabled) {
      this.guestLog('Queued Invalidation enabled, should not use register-based invalidation');
      this.queue.push({ via: 'register', what: `IOTLB ${hex(val)}`, effect: 'ignored: queued invalidation is enabled', error: 1 });
      return;
    }
    const type = val & VTD_TLB_FLUSH_GRANU_MASK;
    const did = Number((val >> 32n) & 0xffffn);
    let iaig = 0n;
    let what = `IOTLB register invalidation`;
    let effect: string;
    if (type === VTD_TLB_GLOBAL_FLUSH) {
      iaig = VTD_TLB_GLOBAL_FLUSH_A;
      what += ' (global)';
      effect = this.iotlbGlobal();
    } else if (type === VTD_TLB_DSI_FLUSH) {
      iaig = VTD_TLB_DSI_FLUSH_A;
      what += ` (domain ${did})`;
      effect = this.iotlbDomain(did);
    } else if (type === VTD_TLB_PSI_FLUSH) {
      const iva = this.regs.getQuad(DMAR_IVA_REG);
      const am = Number(iva & 0x3fn);
      const addr = iva & ~0xfffn;
      what += ` (page: domain ${did}, IVA ${hex(addr)}, AM ${am}${iva & 0x40n ? ', IH' : ''})`;
      if (am > VTD_MAMV) {
        this.guestLog(`vtd_iotlb_flush: address mask overflow: 0x${iva.toString(16)}`);
        effect = `AM ${am} is beyond CAP.MAMV ${VTD_MAMV}: IAIG 0`;
      } else {
        iaig = VTD_TLB_PSI_FLUSH_A;
        effect = this.iotlbPage(did, addr, am, (iva & 0x40n) !== 0n);
      }
    } else {
      this.guestLog(`vtd_iotlb_flush: invalid granularity: 0x${val.toString(16)}`);
      effect = 'invalid granularity: IAIG 0';
    }
    this.regs.setClearQuad(DMAR_IOTLB_REG, VTD_TLB_IVT, 0n);
    this.regs.setClearQuad(DMAR_IOTLB_REG, VTD_TLB_FLUSH_GRANU_MASK_A, iaig);
    this.queue.push({ via: 'register', what, effect, error: iaig ? 0 : 1 });
  }

  /** vtd_handle_fsts_write. */
  private handleFsts(): void {
    const fsts = this.regs.getLong(DMAR_FSTS_REG);
    const fectl = this.regs.getLong(DMAR_FECTL_REG);
    if (fectl & VTD_FECTL_IP && !(fsts & (VTD_FSTS_PFO | VTD_FSTS_PPF | VTD_FSTS_IQE))) this.regs.setClearLong(DMAR_FECTL_REG, VTD_FECTL_IP, 0);
  }

  /** vtd_handle_fectl_write. */
  private handleFectl(): void {
    const fectl = this.regs.getLong(DMAR_FECTL_REG);
    if (fectl & VTD_FECTL_IP && !(fectl & VTD_FECTL_IM)) {
      this.pushIrq({ kind: 'fault', addr: this.regs.getLong(DMAR_FEADDR_REG), data: this.regs.getLong(DMAR_FEDATA_REG) });
      this.regs.setClearLong(DMAR_FECTL_REG, VTD_FECTL_IP, 0);
    }
  }

  private handleIcs(): void {
    if (this.regs.getLong(DMAR_IECTL_REG) & VTD_IECTL_IP && !(this.regs.getLong(DMAR_ICS_REG) & VTD_ICS_IWC)) this.regs.setClearLong(DMAR_IECTL_REG, VTD_IECTL_IP, 0);
  }

  private handleIectl(): void {
    const v = this.regs.getLong(DMAR_IECTL_REG);
    if (v & VTD_IECTL_IP && !(v & VTD_IECTL_IM)) {
      this.pushIrq({ kind: 'completion', addr: this.regs.getLong(DMAR_IEADDR_REG), data: this.regs.getLong(DMAR_IEDATA_REG) });
      this.regs.setClearLong(DMAR_IECTL_REG, VTD_IECTL_IP, 0);
    }
  }

  private pushIrq(i: VtdInterrupt): void {
    this.interrupts.push(i);
    if (this.interrupts.length > LOG_LIMIT) this.interrupts.splice(0, this.interrupts.length - LOG_LIMIT);
    this.onInterrupt?.(i);
  }

  generateFaultEvent(preFsts: number): unknown {
    return this.faults.generateFaultEvent(preFsts);
  }

  // --- caches ---------------------------------------------------------------------------------

  /** vtd_reset_caches: the IOTLB emptied, every context-cache entry invalid, generation 1. */
  private resetCaches(): void {
    this.iotlb.clear();
    for (const r of this.spaces.values()) r.ccGen = 0;
    this.contextCacheGen = 1;
  }

  private contextEnv(): ContextEnv {
    return {
      reader: this.reader,
      root: this.root,
      awBits: this.awBits,
      cap: this.cap,
      dt: this.dt,
      pt: this.pt,
      memoryName: this.memory.name,
      scalable: this.rootScalable,
      ecap: this.ecap,
      qemu72: this.flags.profile === 'qemu-7.2',
      log: (m) => {
        if (!this.quiet) this.guestLog(m);
      },
    };
  }

  private walkEnv(): WalkEnv {
    return this.walkEnvCached;
  }

  private get walkEnvCached(): WalkEnv {
    if (this.walkEnvMemo === undefined) this.walkEnvMemo = { reader: this.reader, awBits: this.awBits, rsvd: this.rsvd, memoryName: this.memory.name };
    return this.walkEnvMemo;
  }

  /** vtd_dev_to_context_entry for a region, without the context cache. */
  contextOf(r: VtdRegion, trace?: Trace): ReturnType<typeof devToContextEntry> {
    return devToContextEntry(this.contextEnv(), r.sid, trace, asPasid(r));
  }

  // --- translation ----------------------------------------------------------------------------

  translateAs(r: VtdRegion, addr: bigint, flag: IOMMUAccessFlags, trace: Trace | undefined): IOMMUTLBEntry {
    if (trace === undefined && this.fastTranslate && !this.quiet) {
      const e = this.translateFast(r, addr, flag);
      if (e !== undefined) return e;
    }
    return this.translateFull(r, addr, flag, trace);
  }

  /**
   * smResolve of the cached context entry `base` for translateFast, or undefined where the full
   * path must resolve (a fault, anything logged). QEMU reads the PASID entry again for every
   * translation; so does this, as numbers, and while the context entry and the words read are
   * those of the last resolution it answers that resolution's entry (smResolve is a function of
   * them and of the IOMMU's fixed capabilities); otherwise smResolve decides, and is remembered.
   */
  private pasidResolved(r: VtdRegion, base: ContextEntry): ContextEntry | undefined {
    const m = r.pasidMemo;
    const w = this.pasidWords;
    if (m !== undefined && m.base === base) {
      const pAddr = readPasidWords(this.reader, m.dAddr, base.rid2pasid!, w);
      const mw = m.words;
      if (pAddr === m.pAddr && w[0] === mw[0] && w[1] === mw[1] && w[2] === mw[2] && w[3] === mw[3] && w[4] === mw[4] && w[5] === mw[5] && w[6] === mw[6] && w[7] === mw[7]) return m.ce;
    }
    // Whatever the resolution would log (into the guest log) is the full path's to do.
    let logged = false;
    const again = smResolve({ ...this.contextEnv(), log: () => void (logged = true) }, base.lo, base.hi, base.addr, undefined, asPasid(r), true);
    if ('fault' in again || logged) return undefined;
    const dir = bigToNum(base.lo & ~0xfffn);
    const pasid = base.rid2pasid;
    if (dir >= 0 && pasid !== undefined && pasid === again.ce.rid2pasid) {
      const dAddr = dir + ((pasid >> 6) & 0x3fff) * 8;
      const words = new Float64Array(8);
      const pAddr = readPasidWords(this.reader, dAddr, pasid, words);
      r.pasidMemo = pAddr < 0 ? undefined : { base, ce: again.ce, dAddr, pAddr, words };
    }
    return again.ce;
  }

  /**
   * vtd_do_iommu_translate on numbers for the common cases: an IOTLB hit, and a walk that succeeds
   * on a device whose context entry is in the context cache, with the effects translateFull has
   * for them (the hit and miss counts, the IOTLB fill). It declines (undefined, having changed
   * nothing) before anything else: remapping off, a device switched to no-DMAR or meeting a
   * pass-through entry (the switch is the full path's), the interrupt range, an input at or above
   * 2^53, a context-cache miss, a PASID entry that does not resolve, a fault of any kind, a first-stage
   * entry whose A or D bit the walk would set, an output at or above 2^53. translateFull then
   * answers from the start, so both paths read the same entries and decide the same way.
   */
  private translateFast(r: VtdRegion, addr: bigint, flag: IOMMUAccessFlags): IOMMUTLBEntry | undefined {
    if (!this.dmarEnabled || this.uncached || this.nodmar.has(r)) return undefined;
    const a = bigToNum(addr);
    if (a < 0) return undefined;
    const noPasid = r.pasid === PCI_NO_PASID;
    const irq = a >= 0xfee00000 && a <= 0xfeefffff;
    if (irq && noPasid) return undefined;
    const iotlb = this.iotlb;
    const rid2pasid = noPasid && this.rootScalable;
    if (!rid2pasid) {
      const e = r.tlbProbe.find(iotlb, a);
      if (e !== undefined) {
        iotlb.hits++;
        this.fastAnswers++;
        return { targetAs: this.downstream, iova: e.iova, translatedAddr: e.out, addrMask: e.addrMask, perm: e.perm };
      }
    }
    let ce = r.ccEntry;
    if (r.ccGen !== this.contextCacheGen || ce === undefined) return undefined;
    if (this.rootScalable) {
      ce = this.pasidResolved(r, ce);
      if (ce === undefined) return undefined;
    }
    if (ce.tt === 2) {
      // The interrupt range faults; a device's own address space is switched to no-DMAR (switchAs).
      if (irq || noPasid) return undefined;
      if (!rid2pasid) iotlb.misses++;
      this.fastAnswers++;
      return { targetAs: this.downstream, iova: addr & PAGE_4K, translatedAddr: addr & PAGE_4K, addrMask: 0xfffn, perm: IOMMU_RW };
    }
    const pasid = rid2pasid ? ce.rid2pasid! : r.pasid;
    if (rid2pasid) {
      const e = iotlb.lookupPage(r.sid, pasid, Math.floor(a / 4096));
      if (e !== undefined) {
        iotlb.hits++;
        this.fastAnswers++;
        return { targetAs: this.downstream, iova: e.iova, translatedAddr: e.out, addrMask: e.addrMask, perm: e.perm };
      }
    }
    if (ce.slptN < 0) return undefined;
    const width = POW2[Math.min(30 + 9 * ce.aw, this.awBits)]!;
    const isWrite = (flag & IOMMU_WO) !== 0;
    const L = this.leafN;
    if (ce.fs === true) {
      // Canonical inputs below 2^53 are those below half the width.
      if (a >= width / 2 || !this.leafWalker.fs(this.reader, this.fsNm, ce.slptN, 2 + ce.aw, a, isWrite, L)) return undefined;
    } else if (a >= width || !this.leafWalker.sl(this.reader, this.nm, ce.slptN, 2 + ce.aw, a, isWrite, L)) return undefined;
    const hawHi = ce.fs === true ? this.fsNm.hawHi : this.nm.hawHi;
    const base = leafOutput(L, hawHi, 0);
    if (base < 0 || leafHitsInterruptRange(L, hawHi)) return undefined;
    if (!rid2pasid) iotlb.misses++;
    this.fastAnswers++;
    const out = numToBig(base);
    if (iotlb.maxSize > 0) iotlb.insert(r.sid, ce.did, addr, halvesToBig(L.lo, L.hi), L.perm, L.level, out, pasid);
    return { targetAs: this.downstream, iova: addr & PAGE_MASKS[L.level]!, translatedAddr: out, addrMask: ADDR_MASKS[L.level]!, perm: L.perm };
  }

  probeAs(r: VtdRegion, addr: bigint, flag: IOMMUAccessFlags, trace: Trace | undefined, uncached: boolean): IOMMUTLBEntry {
    this.quiet = true;
    this.uncached = uncached;
    try {
      return this.translateFull(r, addr, flag, trace);
    } finally {
      this.quiet = false;
      this.uncached = false;
    }
  }

  /** VtdRegion.numberTranslator: the device's context resolved now, without effects (see fast-path.ts). */
  numberTranslatorFor(r: VtdRegion, uncached: boolean): VtdTranslator {
    let ce: ContextEntry | undefined;
    let ctxFault = 0;
    if (this.dmarEnabled) {
      const env: ContextEnv = { ...this.contextEnv(), log: () => undefined };
      if (!uncached && r.ccGen === this.contextCacheGen && r.ccEntry !== undefined) {
        ce = r.ccEntry;
        if (this.rootScalable) {
          const again = smResolve(env, ce.lo, ce.hi, ce.addr, undefined, asPasid(r), true);
          if ('fault' in again) {
            ce = undefined;
            ctxFault = again.fault;
          } else ce = again.ce;
        }
      } else {
        const res = devToContextEntry(env, r.sid, undefined, asPasid(r));
        if ('fault' in res) ctxFault = res.fault;
        else ce = res.ce;
      }
    }
    return new VtdTranslator({
      downstream: this.downstream,
      dmar: this.dmarEnabled && (uncached || !this.nodmar.has(r)),
      sid: r.sid,
      iotlb: uncached ? undefined : this.iotlb,
      rid2pasid: this.rootScalable && r.pasid === PCI_NO_PASID,
      pasid: r.pasid,
      ce,
      ctxFault,
      env: this.walkEnvCached,
      nm: this.nm,
      smFaults: this.scalableMode,
      pages: this.tablePages,
      fsRsvd: this.fsRsvd,
      fsWriter: this.dryWriter,
    });
  }

  private translateFull(r: VtdRegion, addr: bigint, flag: IOMMUAccessFlags, trace: Trace | undefined): IOMMUTLBEntry {
    const sid = r.sid;
    const isWrite = (flag & IOMMU_WO) !== 0;
    if (trace) {
      trace.push(step(`${this.name}: ${bdfColon(sid)} (source ID ${hex(sid)}), ${isWrite ? 'write' : 'read'} at ${hex(addr)}${this.flags.profile === 'architecture' ? '' : ` [profile ${this.flags.profile}]`}`, {
        sid,
        addr,
        flag: permName(flag),
        profile: this.flags.profile,
      }));
    }
    if (trace && r.pasid !== PCI_NO_PASID && this.flags.profile === 'qemu-7.2') {
      // QEMU 7.2 has the PASID plumbing in vtd_do_iommu_translate but nothing that uses it.
      trace.push(
        step(
          `QEMU 7.2 creates no PASID address space: vtd_find_add_as is only called with PCI_NO_PASID (vtd_host_dma_iommu) and MemTxAttrs carries no PASID, so no device there issues this request; the model runs 7.2's vtd_do_iommu_translate with vtd_as->pasid=${r.pasid}, as a PASID address space would`,
          { qemu72: true, pasid: r.pasid },
        ),
      );
    }
    if (!this.dmarEnabled) {
      if (trace) trace.push(step('GSTS.TES=0: DMA remapping disabled, 4 KiB identity with RW (QEMU switches the device to its no-DMAR region)', { TES: 0 }));
      return this.identity(addr);
    }
    if (!this.uncached && this.nodmar.has(r)) {
      if (trace) {
        trace.push(
          step(
            'no-DMAR: the context entry was pass-through when QEMU last switched this device\'s address space (TE, SRTP, a context-cache invalidation or a pass-through translation); its DMA goes straight to memory, 4 KiB identity with RW, until the next switch (vtd_switch_address_space)',
            { nodmar: true },
          ),
        );
      }
      return this.identity(addr);
    }
    // Requests with PASID in 0xfeexxxxx are translated like any other (VT-d 3.14; QEMU disables
    // the interrupt region of PASID address spaces).
    if (r.pasid === PCI_NO_PASID && addr >= VTD_INTERRUPT_ADDR_FIRST && addr <= VTD_INTERRUPT_ADDR_LAST) {
      if (trace) {
        trace.push(step(`${hex(addr)} is in the interrupt address range 0xfee00000..0xfeefffff: QEMU sends it to the interrupt-remapping region, never to translate (interrupt remapping is not modelled)`, { interrupt: true }));
      }
      return this.failEntry();
    }
    // A PASID address space's requests carry their PASID; only requests without one use RID_PASID.
    const rid2pasid = this.rootScalable && r.pasid === PCI_NO_PASID;
    if (!this.uncached && !rid2pasid) {
      const e = this.iotlb.lookup(sid, r.pasid, addr);
      if (e !== undefined) {
        if (!this.quiet) this.iotlb.hits++;
        if (trace) {
          trace.push({
            kind: 'iotlb-entry',
            summary: `IOTLB hit${r.pasid === PCI_NO_PASID ? '' : ` [PASID ${r.pasid}]`}: ${hex(addr & e.mask)} (${pageSizeName(e.level)}, level ${e.level}) -> ${hex(e.out)} ${permName(e.perm)} [DID ${e.domainId}]`,
            fields: { level: e.level, gfn: e.gfn, did: e.domainId, slpte: e.slpte, perm: permName(e.perm) },
          });
        }
        return { targetAs: this.downstream, iova: addr & e.mask, translatedAddr: e.out, addrMask: e.addrMask, perm: e.perm };
      }
      if (!this.quiet) this.iotlb.misses++;
    }
    let ce: ContextEntry;
    if (!this.uncached && r.ccGen === this.contextCacheGen && r.ccEntry !== undefined) {
      ce = r.ccEntry;
      if (this.rootScalable) {
        const again = smResolve(this.contextEnv(), ce.lo, ce.hi, ce.addr, trace, asPasid(r), true);
        if ('fault' in again) return this.fault(r, addr, isWrite, again.fault, again.why, ce.fpd || again.fpd === true, false, trace, PCI_NO_PASID, again.silent);
        ce = again.ce;
      }
      if (trace) {
        trace.push(step(`context cache hit (generation ${r.ccGen}): T=${ce.tt} (${TT_NAMES[ce.tt]}), SLPTPTR=${hex(ce.slptptr)}, AW=${ce.aw}, DID=${ce.did}, FPD=${ce.fpd ? 1 : 0}`, {
          generation: r.ccGen,
          lo: ce.lo,
          hi: ce.hi,
        }));
      }
    } else {
      const res = devToContextEntry(this.contextEnv(), sid, trace, asPasid(r));
      if ('fault' in res) return this.fault(r, addr, isWrite, res.fault, res.why, res.fpd === true || (res.ce?.fpd ?? false), false, trace, PCI_NO_PASID, res.silent);
      ce = res.ce;
      if (!this.quiet) {
        r.ccEntry = ce;
        r.ccGen = this.contextCacheGen;
      }
    }
    if (ce.tt === 2) {
      if (r.pasid !== PCI_NO_PASID && addr >= VTD_INTERRUPT_ADDR_FIRST && addr <= VTD_INTERRUPT_ADDR_LAST) {
        // vtd_report_ir_illegal_access: pass-through would reach the interrupt range (VT-d 3.14).
        return this.fault(r, addr, isWrite, VTD_FR_SM_INTERRUPT_ADDR, `PASID ${r.pasid} is pass-through and ${hex(addr)} is in the interrupt address range 0xfee00000..0xfeefffff`, ce.fpd || ce.peFpd === true, true, trace, r.pasid);
      }
      if (trace) trace.push(step(`${this.rootScalable ? 'PASID entry PGTT=4' : 'context entry T=2'}: pass-through, 4 KiB identity with RW, not cached in the IOTLB`, { T: 2 }));
      // vtd_pt_enable_fast_path: QEMU switches the device to its no-DMAR region now.
      if (!this.quiet) this.switchAs(r);
      return this.identity(addr);
    }
    const pasid = rid2pasid ? ce.rid2pasid! : r.pasid;
    if (rid2pasid && !this.uncached) {
      const e = this.iotlb.lookup(sid, pasid, addr);
      if (e !== undefined) {
        if (!this.quiet) this.iotlb.hits++;
        if (trace) trace.push({ kind: 'iotlb-entry', summary: `IOTLB hit [PASID ${pasid}]: ${hex(addr & e.mask)} (${pageSizeName(e.level)}) -> ${hex(e.out)} ${permName(e.perm)} [DID ${e.domainId}]`, fields: { level: e.level, did: e.domainId, perm: permName(e.perm) } });
        return { targetAs: this.downstream, iova: addr & e.mask, translatedAddr: e.out, addrMask: e.addrMask, perm: e.perm };
      }
    }
    // The untraced walk on numbers first (slLeafNum); anything but a plain success is walked again below.
    if (ce.fs === true) return this.translateFs(r, ce, addr, isWrite, pasid, trace);
    if (trace === undefined && addr < TWO53N && ce.slptN >= 0) {
      const a = Number(addr);
      const L = this.leafN;
      const base = a < POW2[Math.min(30 + 9 * ce.aw, this.awBits)]! && this.leafWalker.sl(this.reader, this.nm, ce.slptN, 2 + ce.aw, a, isWrite, L) && !leafHitsInterruptRange(L, this.nm.hawHi) ? leafOutput(L, this.nm.hawHi, 0) : -1;
      if (base >= 0) {
        const out = numToBig(base);
        if (!this.quiet && this.iotlb.maxSize > 0) this.iotlb.insert(sid, ce.did, addr, halvesToBig(L.lo, L.hi), L.perm, L.level, out, pasid);
        return { targetAs: this.downstream, iova: addr & PAGE_MASKS[L.level]!, translatedAddr: out, addrMask: ADDR_MASKS[L.level]!, perm: L.perm };
      }
    }
    const fpd = ce.fpd || ce.peFpd === true;
    const leaf = iovaToSlpte(this.walkEnvCached, ce, addr, isWrite, trace);
    if ('fault' in leaf) return this.fault(r, addr, isWrite, leaf.fault, leaf.why, fpd, true, trace, pasid);
    const mask = levelPageMask(leaf.level);
    const xlat = leaf.slpte & ~0xfffn & hawMask(this.awBits);
    const size = ~mask + 1n;
    if (xlat <= VTD_INTERRUPT_ADDR_LAST && xlat + (size & U64) - 1n >= VTD_INTERRUPT_ADDR_FIRST) {
      return this.fault(r, addr, isWrite, this.scalableMode ? VTD_FR_SM_INTERRUPT_ADDR : VTD_FR_INTERRUPT_ADDR, `the output ${hex(xlat)}..${hex(xlat + (size & U64) - 1n)} overlaps the interrupt address range`, fpd, true, trace, pasid);
    }
    const perm = (leaf.reads ? 1 : 0) | (leaf.writes ? 2 : 0);
    if (!this.quiet) {
      if (this.iotlb.insert(sid, ce.did, addr, leaf.slpte, perm, leaf.level, xlat, pasid) && trace) {
        trace.push(step(`the IOTLB held ${this.iotlb.maxSize} entries: flushed whole before this insert (VTD_IOTLB_MAX_SIZE)`, { flushed: true }));
      }
    }
    const entry = this.leafEntry(addr, leaf.slpte, mask, perm);
    if (trace) {
      trace.push({
        kind: 'compose',
        summary: `${hex(entry.iova)} -> ${hex(entry.translatedAddr)} (${pageSizeName(leaf.level)} page at level ${leaf.level}), ${permName(perm)} (R/W combined down the levels) [DID ${ce.did}]`,
        fields: { iova: entry.iova, translated: entry.translatedAddr, mask: entry.addrMask, level: leaf.level, perm: permName(perm), did: ce.did },
      });
    }
    return entry;
  }

  /**
   * First-stage translation (current QEMU's vtd_iova_to_flpte under x-flts; VT-d 3.6): the walk
   * sets A/D in guest memory, or, in a probe, only checks that it could (FS_BIT_UPDATE_FAILED where
   * it could not); the result is cached in the IOTLB tagged with the PASID as a second-stage one is.
   */
  private translateFs(r: VtdRegion, ce: ContextEntry, addr: bigint, isWrite: boolean, pasid: number, trace: Trace | undefined): IOMMUTLBEntry {
    const fpd = ce.fpd || ce.peFpd === true;
    const leaf = iovaToFlpte(this.walkEnvCached, this.fsRsvd, ce, addr, isWrite, trace, this.quiet ? this.dryWriter : this.reader);
    if ('fault' in leaf) return this.fault(r, addr, isWrite, leaf.fault, leaf.why, fpd, true, trace, pasid);
    const mask = levelPageMask(leaf.level);
    const xlat = leaf.slpte & ~0xfffn & hawMask(this.awBits);
    const size = ~mask + 1n;
    if (xlat <= VTD_INTERRUPT_ADDR_LAST && xlat + (size & U64) - 1n >= VTD_INTERRUPT_ADDR_FIRST) {
      return this.fault(r, addr, isWrite, VTD_FR_SM_INTERRUPT_ADDR, `the output ${hex(xlat)}..${hex(xlat + (size & U64) - 1n)} overlaps the interrupt address range`, fpd, true, trace, pasid);
    }
    const perm = (leaf.reads ? 1 : 0) | (leaf.writes ? 2 : 0);
    if (!this.quiet && this.iotlb.insert(r.sid, ce.did, addr, leaf.slpte, perm, leaf.level, xlat, pasid) && trace) {
      trace.push(step(`the IOTLB held ${this.iotlb.maxSize} entries: flushed whole before this insert (VTD_IOTLB_MAX_SIZE)`, { flushed: true }));
    }
    const entry = this.leafEntry(addr, leaf.slpte, mask, perm);
    if (trace) {
      trace.push({
        kind: 'compose',
        summary: `${hex(entry.iova)} -> ${hex(entry.translatedAddr)} (${pageSizeName(leaf.level)} page at level ${leaf.level}, first stage), ${permName(perm)} (present: read; R/W combined down the levels) [DID ${ce.did}, PASID ${pasid}]`,
        fields: { iova: entry.iova, translated: entry.translatedAddr, mask: entry.addrMask, level: leaf.level, perm: permName(perm), did: ce.did, pasid, stage: 'first' },
      });
    }
    return entry;
  }

  private leafEntry(addr: bigint, slpte: bigint, mask: bigint, perm: number): IOMMUTLBEntry {
    return { targetAs: this.downstream, iova: addr & mask, translatedAddr: slpte & ~0xfffn & hawMask(this.awBits) & mask, addrMask: U64 & ~mask, perm };
  }

  private identity(addr: bigint): IOMMUTLBEntry {
    return { targetAs: this.downstream, iova: addr & ~0xfffn, translatedAddr: addr & ~0xfffn, addrMask: 0xfffn, perm: IOMMU_RW };
  }

  private failEntry(): IOMMUTLBEntry {
    return { targetAs: this.downstream, iova: 0n, translatedAddr: 0n, addrMask: 0n, perm: IOMMU_NONE };
  }

  /**
   * vtd_report_fault and QEMU's error path. QEMU (7.2 and current) records a paging fault (`walk`)
   * with the PASID the walk used (`walkPasid`: PP=1 and PV unless PCI_NO_PASID, written as
   * PV=0xffff), any other fault with PP=0, and PV in 16 bits (its VTD_FRCD_PV). The architecture
   * (VT-d 10.4.14, FRCD_REG: PP "indicates the faulted request has a PASID", PV [59:40] "relevant
   * only when PP is set") records PP=1 and the whole PV for every fault of a request with PASID,
   * and PP=0 for a request without, also where the walk used the RID_PASID (PV is then left as
   * QEMU writes it). `silent`: QEMU 7.2's undefined path (see pasidEntryQemu72), which records nothing.
   */
  private fault(r: VtdRegion, addr: bigint, isWrite: boolean, reason: number, why: string, fpd: boolean, walk: boolean, trace: Trace | undefined, walkPasid = PCI_NO_PASID, silent = false): IOMMUTLBEntry {
    const old = this.flags.profile === 'qemu-7.2';
    const requestPasid = r.pasid !== PCI_NO_PASID;
    const qemuPasid = walk && walkPasid !== PCI_NO_PASID;
    const isPasid = old ? qemuPasid : requestPasid;
    const pasid = isPasid && !old ? r.pasid : walk ? walkPasid & 0xffff : 0;
    if (silent) fpd = true;
    let entry: FaultLogEntry;
    if (this.quiet) entry = this.faults.suppressed(r.sid, addr, reason, isWrite, 'probe');
    else if (silent || (fpd && QUALIFIED_FAULTS.has(reason))) entry = this.faults.suppressed(r.sid, addr, reason, isWrite, 'fpd');
    else entry = this.faults.report(r.sid, addr, reason, isWrite, isPasid, pasid);
    if (!this.quiet) {
      this.guestLog(`vtd_iommu_translate: detected translation failure (dev=${devColons(r.sid)}, iova=0x${addr.toString(16)})`);
    }
    if (trace) {
      const d = entry.disposition;
      const fields: Record<string, TraceFieldValue> = { reason: faultName(reason), FR: reason, sid: r.sid, addr, write: isWrite, disposition: d.kind === 'recorded' ? 'recorded' : d.reason };
      if (d.kind === 'recorded') {
        fields.frcdHi = d.hi;
        fields.frcdLo = d.lo;
      }
      let pv: string;
      if (walk && !requestPasid) {
        pv = qemuPasid
          ? old
            ? `; PP=1, PV=${pasid} (the RID_PASID) [QEMU 7.2 records the PASID its walk used; the architecture records a request without PASID with PP=0]`
            : `; PP=0 (a request without PASID), PV=${pasid} (the RID_PASID the walk used) [QEMU records PP=1]`
          : '; PV=0xffff with PP=0 (QEMU passes PCI_NO_PASID to the record)';
      } else if (requestPasid) {
        pv = isPasid
          ? `; PP=1, PV=${pasid} (the request's PASID)`
          : `; PP=0 [QEMU 7.2: vtd_do_iommu_translate reports context and PASID-entry faults without the PASID; the architecture records PP=1, PV=${r.pasid}]`;
      } else {
        pv = '';
      }
      trace.push({
        kind: 'fault',
        summary: `${faultSummary(reason)}: ${why}; ${this.quiet && !(silent || (fpd && QUALIFIED_FAULTS.has(reason))) ? 'a probe records nothing' : silent ? 'not recorded (QEMU 7.2: undefined, see above)' : fpd && QUALIFIED_FAULTS.has(reason) ? describeDisposition({ kind: 'dropped', reason: 'fpd' }) : describeDisposition(d)}${d.kind === 'recorded' ? pv : ''}`,
        fields,
      });
    }
    return this.failEntry();
  }

  private guestLog(m: string): void {
    this.log.push(m);
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
  }

  // --- notifiers ------------------------------------------------------------------------------

  /** vtd_iommu_notify_flag_changed. */
  asFlagsChanged(r: VtdRegion, old: IOMMUNotifierFlag, now: IOMMUNotifierFlag): EngineError | undefined {
    if (this.snoopControl) return engineError('notifier-refused', 'Snoop Control with vhost or VFIO is not supported: Operation not supported');
    if (!this.cachingMode && now & IOMMU_NOTIFIER_MAP) return engineError('notifier-refused', `device ${bdfDots(r.sid)} requires caching mode: Operation not supported`);
    if (!this.dt && now & IOMMU_NOTIFIER_DEVIOTLB_UNMAP) return engineError('notifier-refused', `device ${bdfDots(r.sid)} requires device IOTLB mode: Operation not supported`);
    r.asNotifierFlags = now;
    if (old === IOMMU_NOTIFIER_NONE) this.withNotifiers.unshift(r);
    else if (now === IOMMU_NOTIFIER_NONE) this.withNotifiers = this.withNotifiers.filter((x) => x !== r);
    return undefined;
  }

  /** Address spaces with notifiers, as QEMU lists them (most recently gained first). */
  get spacesWithNotifiers(): readonly VtdRegion[] {
    return this.withNotifiers;
  }

  /** vtd_page_walk_one: the record of notified mappings decides what is sent. Returns 1 if sent. */
  private walkOne(r: VtdRegion, map: boolean, iova: number, size: number, translated: number, perm: number, notifyUnmap: boolean, hook: (e: IOMMUTLBEvent) => void): number {
    if (!map && !notifyUnmap) return 0;
    const tree = r.tree;
    const first = iova / 4096;
    const last = first + size / 4096 - 1;
    const at = tree.findPages(first, last);
    const targetAs = r.systemAs ?? this.downstream;
    const iovaB = BigInt(iova);
    const mask = size <= 0x4000_0000 ? ADDR_MASK_BY_SIZE.get(size)! : BigInt(size) - 1n;
    let sent = 0;
    if (map) {
      if (at >= 0) {
        if (tree.same(at, iova, size, translated, perm)) return 0;
        hook({ type: IOMMU_NOTIFIER_UNMAP, entry: { targetAs, iova: iovaB, translatedAddr: BigInt(translated), addrMask: mask, perm: IOMMU_NONE } });
        sent++;
        tree.removePages(first, last);
      }
      tree.insert(iova, size, translated, perm);
      hook({ type: IOMMU_NOTIFIER_MAP, entry: { targetAs, iova: iovaB, translatedAddr: BigInt(translated), addrMask: mask, perm } });
      return sent + 1;
    }
    if (at < 0) return 0;
    tree.removePages(first, last);
    hook({ type: IOMMU_NOTIFIER_UNMAP, entry: { targetAs, iova: iovaB, translatedAddr: BigInt(translated), addrMask: mask, perm } });
    return 1;
  }

  /** vtd_address_space_unmap: UNMAPs of the notifier's range (up to 2^aw) in aligned power-of-two chunks. */
  private unmapNotifier(r: VtdRegion, n: IOMMUNotifier): number {
    const limit = (1n << BigInt(this.awBits)) - 1n;
    let start = n.start;
    const end = n.end > limit ? limit : n.end;
    if (start > end) return 0;
    const total = end - start + 1n;
    let remain = total;
    let sent = 0;
    while (remain >= VTD_PAGE_SIZE) {
      const mask = alignedPow2Mask(start, end, this.awBits);
      r.notifyOne(n, { type: IOMMU_NOTIFIER_UNMAP, entry: { targetAs: r.systemAs ?? this.downstream, iova: start, translatedAddr: 0n, addrMask: mask, perm: IOMMU_NONE } });
      sent++;
      start += mask + 1n;
      remain -= mask + 1n;
    }
    r.tree.remove(n.start, total - 1n);
    return sent;
  }

  /** vtd_address_space_sync (QEMU 7.2: vtd_sync_shadow_page_table). Returns events sent. */
  private sync(r: VtdRegion): number {
    if (!(r.asNotifierFlags & IOMMU_NOTIFIER_MAP)) {
      if (!this.flags.syncWalksWithoutMap) {
        for (const n of [...r.notifiers]) r.unmapNotifierRange(n);
        return r.notifiers.length;
      }
      if (!(r.iommuNotifyFlags & IOMMU_NOTIFIER_IOTLB_EVENTS)) return 0;
    }
    const res = devToContextEntry(this.contextEnv(), r.sid, undefined, asPasid(r));
    if ('fault' in res) {
      let sent = 0;
      if (res.fault === 2) for (const n of [...r.notifiers]) sent += this.unmapNotifier(r, n);
      return sent;
    }
    return this.syncRange(r, res.ce, 0n, U64);
  }

  /** vtd_sync_shadow_page_table_range. */
  private syncRange(r: VtdRegion, ce: ContextEntry, addr: bigint, size: bigint): number {
    let sent = 0;
    const end = addr + size;
    const hook = (e: IOMMUTLBEvent) => r.notify(0, e);
    pageWalk(this.walkEnv(), ce, addr, end > U64 ? U64 : end, (map, iova, size, translated, perm) => {
      sent += this.walkOne(r, map, iova, size, translated, perm, true, hook);
    });
    return sent;
  }

  /** vtd_iommu_replay. */
  replayAs(r: VtdRegion, n: IOMMUNotifier): ReplayResult {
    let delivered = 0;
    if (this.flags.replayUnmapsFirst) delivered += this.unmapNotifier(r, n);
    else r.tree.clear();
    const res = devToContextEntry(this.contextEnv(), r.sid, undefined, asPasid(r));
    if ('fault' in res) return { kind: 'model', steps: 0, delivered };
    const wants = this.flags.replayMapByAs ? (r.asNotifierFlags & IOMMU_NOTIFIER_MAP) !== 0 : (n.flags & IOMMU_NOTIFIER_MAP) !== 0;
    // Pass-through: QEMU would walk whatever SLPTPTR holds, but it has switched such a device to
    // its no-DMAR region, so no notifier sits on the IOMMU region; the engine replays nothing.
    if (!wants || res.ce.tt === 2) return { kind: 'model', steps: 0, delivered };
    const hook = (e: IOMMUTLBEvent) => {
      r.notifyOne(n, e);
    };
    const steps = pageWalk(this.walkEnv(), res.ce, 0n, U64, (map, iova, size, translated, perm) => {
      delivered += this.walkOne(r, map, iova, size, translated, perm, false, hook);
    });
    return { kind: 'model', steps, delivered };
  }

  enumerateAs(r: VtdRegion, sink: (e: IOMMUTLBEntry) => void): void {
    if (!this.dmarEnabled) return;
    const res = devToContextEntry({ ...this.contextEnv(), log: () => undefined }, r.sid, undefined, asPasid(r));
    if ('fault' in res || res.ce.tt === 2) return;
    pageWalk(this.walkEnv(), res.ce, 0n, U64, (map, iova, size, translated, perm) => {
      if (map) sink({ targetAs: this.downstream, iova: BigInt(iova), translatedAddr: BigInt(translated), addrMask: BigInt(size) - 1n, perm });
    });
  }

  /** vtd_address_space_refresh_all: every notifier's range unmapped, every address space switched. */
  private refreshAll(): number {
    let sent = 0;
    for (const r of [...this.withNotifiers]) for (const n of [...r.notifiers]) sent += this.unmapNotifier(r, n);
    for (const r of this.spaces.values()) this.switchAs(r);
    return sent;
  }

  /** vtd_switch_address_space (see `nodmar`): no-DMAR when DMA remapping is on and the context entry is pass-through. */
  private switchAs(r: VtdRegion): void {
    if (r.pasid !== PCI_NO_PASID) return;
    let pt = false;
    if (this.dmarEnabled) {
      const res = devToContextEntry({ ...this.contextEnv(), log: () => undefined }, r.sid, undefined, asPasid(r));
      pt = !('fault' in res) && res.ce.tt === 2;
    }
    if (pt) this.nodmar.add(r);
    else this.nodmar.delete(r);
  }

  /** Whether QEMU has switched the region to its no-DMAR region (views, tests). */
  isNoDmar(r: VtdRegion): boolean {
    return this.nodmar.has(r);
  }

  private replayAll(): number {
    let sent = 0;
    for (const r of [...this.withNotifiers]) sent += this.sync(r);
    return sent;
  }

  // --- VtdInvalidator ---------------------------------------------------------------------------

  contextGlobal(): string {
    this.contextCacheGen++;
    if (this.contextCacheGen === 0xffffffff) this.resetCaches();
    const unmapped = this.refreshAll();
    const synced = this.replayAll();
    return `context cache generation ${this.contextCacheGen}; ${unmapped} UNMAP(s) of whole ranges, then ${synced} event(s) from syncing ${this.withNotifiers.length} notified address space(s)`;
  }

  contextDevice(sid: number, fm: number): string {
    const mask = ~[0, 4, 6, 7][fm & 3]! & 0xff;
    let hit = 0;
    let sent = 0;
    for (const r of this.spaces.values()) {
      if ((r.sid >> 8) === (sid >> 8) && ((r.sid & 0xff) & mask) === ((sid & 0xff) & mask)) {
        hit++;
        r.ccGen = 0;
        this.switchAs(r);
        sent += this.sync(r);
      }
    }
    return `${hit} device context-cache entr${hit === 1 ? 'y' : 'ies'} dropped; ${sent} event(s) from syncing`;
  }

  iotlbGlobal(): string {
    const n = this.iotlb.clear();
    const sent = this.replayAll();
    return `${n} IOTLB entr${n === 1 ? 'y' : 'ies'} dropped; ${sent} event(s) from syncing ${this.withNotifiers.length} notified address space(s)`;
  }

  iotlbDomain(did: number): string {
    const n = this.iotlb.removeDomain(did);
    let sent = 0;
    for (const r of [...this.withNotifiers]) {
      const res = devToContextEntry(this.contextEnv(), r.sid, undefined, asPasid(r));
      if (!('fault' in res) && res.ce.did === did) sent += this.sync(r);
    }
    return `${n} IOTLB entr${n === 1 ? 'y' : 'ies'} of domain ${did} dropped; ${sent} event(s) from syncing`;
  }

  iotlbPage(did: number, addr: bigint, am: number, ih: boolean): string {
    const n = this.iotlb.removePage(did, addr, am, this.flags.byteMask);
    const size = (1n << BigInt(am)) * VTD_PAGE_SIZE;
    const sent = this.pageInvalidateNotify(did, addr, size, PCI_NO_PASID);
    const ihNote = ih ? ' (IH: QEMU ignores the invalidation hint)' : '';
    const byte = this.flags.byteMask && am < 8 ? ' (QEMU 7.2 compares only the low 8 bits of the page number)' : '';
    return `${n} IOTLB entr${n === 1 ? 'y' : 'ies'} of domain ${did} in ${hex(addr)}..${hex(addr + size - 1n)} dropped${byte}${ihNote}; ${sent} event(s) sent`;
  }

  /**
   * vtd_iotlb_page_invalidate_notify: the notified address spaces of domain `did` that the
   * invalidation's PASID names (PCI_NO_PASID for an IOTLB invalidation) are synced over the range
   * when they have a MAP notifier, else sent one UNMAP of it. Current QEMU matches an address space
   * when its PASID is the invalidation's, or it serves requests without PASID and the invalidation
   * names its RID_PASID; QEMU 7.2 skips only address spaces of another PASID when a PASID is given.
   */
  private pageInvalidateNotify(did: number, addr: bigint, size: bigint, pasid: number): number {
    let sent = 0;
    for (const r of [...this.withNotifiers]) {
      const res = devToContextEntry(this.contextEnv(), r.sid, undefined, asPasid(r));
      if ('fault' in res || res.ce.did !== did) continue;
      if (this.flags.profile === 'qemu-7.2') {
        if (pasid !== PCI_NO_PASID && pasid !== r.pasid) continue;
      } else {
        const rid2pasid = this.rootScalable ? Number(res.ce.hi & 0xfffffn) : PCI_NO_PASID;
        if (!(r.pasid === pasid || (r.pasid === PCI_NO_PASID && pasid === rid2pasid))) continue;
      }
      if (r.asNotifierFlags & IOMMU_NOTIFIER_MAP) {
        // Current QEMU: with x-flts in scalable mode a MAP notifier's device is meant to sit on the
        // guest's first-stage tables (nesting), so the page-selective invalidation syncs nothing.
        if (!(this.firstStage && this.rootScalable)) sent += this.syncRange(r, res.ce, addr, size);
      } else {
        r.notify(0, { type: IOMMU_NOTIFIER_UNMAP, entry: { targetAs: r.systemAs ?? this.downstream, iova: addr, translatedAddr: 0n, addrMask: size - 1n, perm: IOMMU_NONE } });
        sent++;
      }
    }
    return sent;
  }

  /** vtd_piotlb_pasid_invalidate (current QEMU). */
  piotlbPasid(did: number, pasid: number): string {
    const n = this.iotlb.removePasid(did, pasid);
    let sent = 0;
    let synced = 0;
    for (const r of [...this.withNotifiers]) {
      const res = devToContextEntry(this.contextEnv(), r.sid, undefined, asPasid(r));
      if ('fault' in res || res.ce.did !== did) continue;
      // QEMU reads RID_PASID from the context entry's upper half whatever the mode.
      const rid2pasid = Number(res.ce.hi & 0xfffffn);
      if ((r.pasid !== PCI_NO_PASID || pasid !== rid2pasid) && r.pasid !== pasid) continue;
      synced++;
      sent += this.sync(r);
    }
    return `${n} IOTLB entr${n === 1 ? 'y' : 'ies'} of domain ${did}, PASID ${pasid} dropped; ${sent} event(s) from syncing ${synced} address space(s)`;
  }

  /**
   * vtd_piotlb_page_invalidate (current QEMU): only first-stage IOTLB entries are dropped (VT-d
   * 6.5.2.4: page-selective-within-PASID does not invalidate second-stage mappings, and the model
   * caches only second-stage ones), then the notifiers are told as for an IOTLB invalidation.
   */
  piotlbPage(did: number, pasid: number, addr: bigint, am: number, ih: boolean): string {
    const size = (1n << BigInt(am)) * VTD_PAGE_SIZE;
    const sent = this.pageInvalidateNotify(did, addr, size, pasid);
    return `no IOTLB entry dropped (second-stage entries stay: VT-d 6.5.2.4)${ih ? ' (IH ignored)' : ''}; ${sent} event(s) sent for domain ${did}, PASID ${pasid}, ${hex(addr)}..${hex(addr + size - 1n)}`;
  }

  /** vtd_process_device_piotlb_desc (current QEMU). */
  deviceIotlbPasid(sid: number, pasid: number, global: boolean, sizeBit: boolean, addr: bigint): string {
    if (global) {
      const told: string[] = [];
      for (const r of [...this.withNotifiers]) {
        if (r.pasid !== PCI_NO_PASID && r.sid === sid) told.push(this.devTlbUnmap(r, sizeBit, addr));
      }
      return told.length ? told.join('; ') : `no PASID address space of ${bdfColon(sid)} has notifiers: nothing to notify`;
    }
    const r = this.spaces.get(spaceKey(sid, pasid));
    if (r === undefined || r.pasid === PCI_NO_PASID) return `no address space for ${bdfColon(sid)} PASID ${pasid}: nothing to notify`;
    return this.devTlbUnmap(r, sizeBit, addr);
  }

  /** vtd_process_device_iotlb_desc. */
  deviceIotlb(sid: number, sizeBit: boolean, addr: bigint): string {
    const r = this.spaces.get(spaceKey(sid, PCI_NO_PASID));
    if (r === undefined) return `no address space for ${bdfColon(sid)}: nothing to notify`;
    return this.devTlbUnmap(r, sizeBit, addr);
  }

  /** do_invalidate_device_tlb: one DEVIOTLB_UNMAP with the size the S bit encodes. */
  private devTlbUnmap(r: VtdRegion, sizeBit: boolean, addr: bigint): string {
    let sz = VTD_PAGE_SIZE;
    if (sizeBit) {
      let ones = 0n;
      for (let v = addr >> 12n; v & 1n; v >>= 1n) ones++;
      sz = (VTD_PAGE_SIZE * 2n) << ones;
      addr &= ~(sz - 1n);
    }
    r.notify(0, { type: IOMMU_NOTIFIER_DEVIOTLB_UNMAP, entry: { targetAs: addressSpaceForRegion(r, `${r.name}-dma`), iova: addr, translatedAddr: 0n, addrMask: sz - 1n, perm: IOMMU_NONE } });
    return `DEVIOTLB_UNMAP ${hex(addr)}..${hex(addr + sz - 1n)} to ${r.bdf}`;
  }

  // --- views ----------------------------------------------------------------------------------

  get faultLog(): readonly FaultLogEntry[] {
    return this.faults.log;
  }

  get invalidationLog(): readonly InvLogEntry[] {
    return this.queue.log;
  }

  /** The decoded context entry of a device (no effects), for views. */
  describeDevice(sid: number): string {
    const res = devToContextEntry({ ...this.contextEnv(), log: () => undefined }, sid);
    if ('fault' in res) return `${faultName(res.fault)}: ${res.why}`;
    const ce = res.ce;
    if (ce.fs === true) return `DID ${ce.did}, PGTT=1 (first-stage), ${ceLevel(ce)}-level, ${ceAgaw(ce)}-bit canonical, FSPTPTR ${hex(ce.slptptr)}${ce.fpd ? ', FPD' : ''}`;
    return `DID ${ce.did}, T=${ce.tt} (${TT_NAMES[ce.tt]}), ${ceLevel(ce)}-level, ${ceAgaw(ce)}-bit AGAW, SLPTPTR ${hex(ce.slptptr)}${ce.fpd ? ', FPD' : ''}`;
  }

  /** The region's device, for views: its context entry decoded and what its notifiers were told. */
  describeRegion(region: IOMMUMemoryRegion): string | undefined {
    if (!(region instanceof VtdRegion) || this.spaces.get(spaceKey(region.sid, region.pasid)) !== region) return undefined;
    const told = region.tree.size ? `; ${region.tree.size} mapping(s) notified` : '';
    return `${region.bdf}: ${this.dmarEnabled ? this.describeDevice(region.sid) : 'DMA remapping off (GSTS.TES=0): 4 KiB identity'}${told}`;
  }

  /** Registers and state decoded, for views (reads nothing from guest memory). */
  inspect(): Array<{ name: string; value: string }> {
    const g = this.regs.getLong(DMAR_GSTS_REG);
    const q = (off: number) => this.regs.getQuad(off);
    const l = (off: number) => this.regs.getLong(off);
    const flags = (v: number | bigint, names: ReadonlyArray<readonly [number, string]>) => names.filter(([b]) => (BigInt(v) >> BigInt(b)) & 1n).map(([, n]) => n).join(' ') || '-';
    const cap = this.cap;
    const sagaw = [1, 2, 3].filter((b) => (cap >> BigInt(8 + b)) & 1n).map((b) => `${30 + 9 * b}-bit`);
    const fsts = l(DMAR_FSTS_REG);
    const frHi = q(0x228);
    const iqa = q(0x90);
    return [
      { name: 'VER', value: `${hex(l(0))} (${l(0) >> 4}.${l(0) & 15})` },
      { name: 'CAP', value: `${hex(cap, 16)}: ${cap & VTD_CAP_CM ? 'CM ' : ''}SAGAW ${sagaw.join('/')}, MGAW ${Number((cap >> 16n) & 0x3fn) + 1}, SLLPS 2M${(cap >> 35n) & 1n ? '/1G' : ''}, PSI, MAMV ${Number((cap >> 48n) & 0x3fn)}, NFR ${Number((cap >> 40n) & 0xffn) + 1}, FRO ${hex(((cap >> 24n) & 0x3ffn) * 16n)}${cap & VTD_CAP_FS1GP ? ', FS1GP' : ''}${cap & VTD_CAP_FL5LP ? ', FL5LP' : ''}` },
      { name: 'ECAP', value: `${hex(this.ecap, 16)}: ${flags(this.ecap, [[1, 'QI'], [2, 'DT'], [3, 'IR'], [6, 'PT'], [7, 'SC']])}, IRO ${hex(((this.ecap >> 8n) & 0x3ffn) * 16n)}${this.ecap & VTD_ECAP_SMTS ? `, SMTS${this.ecap & VTD_ECAP_SRS ? ' SRS' : ''}${this.ecap & VTD_ECAP_SLTS ? ' SLTS' : ''}${this.ecap & VTD_ECAP_FLTS ? ' FLTS' : ''}` : ''}` },
      { name: 'GSTS', value: `${hex(g)}: ${flags(g >>> 0, [[31, 'TES'], [30, 'RTPS'], [26, 'QIES'], [25, 'IRES'], [24, 'IRTPS']])}` },
      { name: 'RTADDR', value: `${hex(q(DMAR_RTADDR_REG))} (latched root table ${hex(this.root)}, ${this.rootScalable ? 'scalable' : 'legacy'} mode)` },
      { name: 'FSTS', value: `${hex(fsts)}: ${flags(fsts, [[0, 'PFO'], [1, 'PPF'], [4, 'IQE']])}, FRI ${(fsts >> 8) & 0xff}` },
      { name: 'FECTL', value: `${hex(l(DMAR_FECTL_REG))}: ${flags(l(DMAR_FECTL_REG) >>> 0, [[31, 'IM'], [30, 'IP']])}` },
      { name: 'FRCD0', value: frHi & (1n << 63n) ? `F=1 ${frHi & (1n << 62n) ? 'read' : 'write'} FR ${faultName(Number((frHi >> 32n) & 0xffn))} SID ${bdfColon(Number(frHi & 0xffffn))}${frHi & (1n << 31n) ? ` PP=1 PV=${hex((frHi >> 40n) & 0xfffffn)}` : ''} FI ${hex(q(0x220))}` : 'F=0 (no fault pending)' },
      { name: 'IQA', value: `${hex(iqa)}: ${this.queue.enabled ? `queue at ${hex(this.queue.base)}, ${this.queue.size} descriptors` : 'queued invalidation off'}` },
      { name: 'IQH / IQT', value: `${this.queue.head} / ${this.queue.tail}` },
      { name: 'ICS / IECTL', value: `${hex(l(DMAR_ICS_REG))} / ${hex(l(DMAR_IECTL_REG))}` },
      { name: 'IOTLB', value: `${this.iotlb.size} entr${this.iotlb.size === 1 ? 'y' : 'ies'} (max ${this.iotlb.maxSize}), ${this.iotlb.hits} hit(s), ${this.iotlb.misses} miss(es); ${this.fastAnswers} translation(s) answered on the number path` },
      { name: 'context cache', value: `generation ${this.contextCacheGen}` },
      { name: 'notified address spaces', value: this.withNotifiers.map((r) => r.bdf).join(', ') || 'none' },
      { name: 'properties', value: `aw-bits ${this.awBits}, caching-mode ${this.cachingMode ? 'on' : 'off'}, device-iotlb ${this.dt ? 'on' : 'off'}, pt ${this.pt ? 'on' : 'off'}, snoop-control ${this.snoopControl ? 'on' : 'off'}, scalable-mode ${this.scalableMode ? `on (root ${this.rootScalable ? 'scalable' : 'legacy'})` : 'off'}${this.firstStage ? ', flts on' : ''}, profile ${this.flags.profile}` },
    ];
  }

  /** Descriptor processing without a queue, for tests of single descriptors. */
  processDescriptor(lo: bigint, hi: bigint): { ok: boolean; what: string; effect: string } {
    return processDescriptor(lo, hi, this, (m) => this.guestLog(m), { wait: () => ({ ok: false, effect: 'wait descriptors need the queue' }) });
  }
}

/** QEMU's `dev=%02x:%02x:%02x`. */
export function devColons(sid: number): string {
  const h = (n: number) => n.toString(16).padStart(2, '0');
  return `${h(sid >> 8)}:${h((sid >> 3) & 0x1f)}:${h(sid & 7)}`;
}

function step(summary: string, fields: Record<string, TraceFieldValue>) {
  return { kind: 'model' as const, summary, fields };
}

/** The key of an address space: the requester ID, or the requester ID and a PASID. */
/** The PASID entry a region's translations resolve in scalable mode: undefined for the RID_PASID. */
function asPasid(r: VtdRegion): number | undefined {
  return r.pasid === PCI_NO_PASID ? undefined : r.pasid;
}

function spaceKey(sid: number, pasid: number): number {
  return pasid === PCI_NO_PASID ? sid : 0x10000 + sid * 0x100000 + pasid;
}

/** dma_aligned_pow2_mask (system/dma-helpers.c). */
export function alignedPow2Mask(start: bigint, end: bigint, maxAddrBits: number): bigint {
  const maxMask = maxAddrBits === 64 ? U64 : (1n << BigInt(maxAddrBits)) - 1n;
  const addrMask = end - start;
  let alignment = start ? (start & -start) - 1n : maxMask;
  if (alignment > maxMask) alignment = maxMask;
  const sizeMask = addrMask < maxMask ? addrMask : maxMask;
  if (alignment <= sizeMask) return alignment;
  if (addrMask === U64) return U64;
  let p = 1n;
  while (p * 2n <= addrMask + 1n) p *= 2n;
  return p - 1n;
}
