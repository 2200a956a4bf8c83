/**
 * `smmuv3`: an Arm SMMUv3 as QEMU's hw/arm/smmuv3.c and smmu-common.c model it, following the
 * architecture where QEMU departs from it (and reproducing Debian's QEMU 7.2 in the `qemu-7.2`
 * profile). One IOMMU region per stream ID, created on demand; the tables, queues and event
 * records live in guest memory (the `walk-memory` address space).
 *
 * Translation (smmuv3_translate): SMMUEN=0 bypasses (or aborts with GBPA.ABORT); otherwise the
 * stream's config comes from the config cache or is decoded from the STE and CD (faults:
 * C_BAD_STREAMID, F_STE_FETCH, C_BAD_STE, F_CD_FETCH, C_BAD_CD); abort and bypass streams need
 * no walk; a translating stream looks in the IOTLB and walks the tables on a miss. A success
 * returns iova = the input address (unaligned, as QEMU), the translated address of that byte,
 * mask = the page or block size - 1 and the permissions; bypass is the identity with perm = the
 * requested flag and a 4 KiB mask; abort and faults give perm NONE and an all-ones mask. Faults
 * become events, recorded (if EVENTQEN) unless CD.R / STE.S2R suppress them, always traced.
 */
import { MEMTXATTRS_UNSPECIFIED } from '../../attrs';
import type { AddressSpace } from '../../address-space';
import { findRegister, registerRegion, type IommuDevice, type ModelEventLog, type ModelEventRecord, type RegisterFile } from '../../device';
import { engineError, type EngineError } from '../../errors';
import { fmtBdf, fmtRaw } from '../../format';
import { HWADDR_MAX, hex } from '../../hex';
import {
  IOMMU_NONE,
  IOMMU_NOTIFIER_DEVIOTLB_UNMAP,
  IOMMU_NOTIFIER_MAP,
  IOMMU_NOTIFIER_NONE,
  IOMMU_NOTIFIER_UNMAP,
  IOMMU_RO,
  IOMMU_WO,
  permName,
  type IOMMUAccessFlags,
  type IOMMUNotifierFlag,
  type IOMMUTLBEntry,
} from '../../iotlb';
import type { MmioRegion } from '../../memory';
import { STEP_NAMES, type Trace, type TraceFieldValue } from '../../trace';
import { CommandQueue, encodeCommand, type CommandLogEntry, type Smmuv3Command } from './command-queue';
import { cdFields, decodeCd, mergeProbes, probesFor, type CdFields } from './context-descriptor';
import { EventQueue, describeDisposition } from './event-queue';
import { MODE_BYPASS, MODE_FAIL, MODE_TRANSLATE, StreamTranslator } from './fast-path';
import { GuestReader } from '../../guest-reader';
import { Iotlb, SMMU_IOTLB_MAX_SIZE, maskOf, tlbKey, type TlbEntry, type TlbMap } from './iotlb';
import { Smmuv3Irqs, type IrqPulse } from './irq';
import { Smmuv3Region, type ActiveConfig, type StreamOwner } from './region';
import { A_CMDQ_PROD, SMMUV3_MMIO_SIZE, Smmuv3Registers, queueBase, queueFull, queueIncr, queueIndex } from './registers';
import { configName, decodeSte, findSte, steFields, type SteFields } from './stream-table';
import {
  CLASS_CD,
  CLASS_IN,
  EVT_F_ADDR_SIZE,
  EVT_F_CD_FETCH,
  EVT_F_PERMISSION,
  EVT_F_TRANSLATION,
  EVT_F_WALK_EABT,
  POW2,
  PTW_EVENT,
  PTW_WALK_EABT,
  className,
  eventName,
  hexn,
  isConfigFault,
  log2Pow2,
  profileFlags,
  sidBdf,
  tgCode,
  type ConfigFault,
  type EventLogEntry,
  type ProfileFlags,
  type S2Info,
  type SmmuEvent,
  type Smmuv3Profile,
  type StreamConfig,
  type TtInfo,
} from './types';
import { Walker, sizeName } from './walker';

export interface Smmuv3RegisterWrite {
  /** A register name (`CR0`, `STRTAB_BASE`...) or offset. */
  readonly reg: string | number;
  readonly value: bigint;
  /** Access size (default: the register's width). */
  readonly size?: 4 | 8;
}

export interface Smmuv3Options {
  readonly name: string;
  /** Where STEs, CDs, page tables and queues are read and event records written (`walk-memory`). */
  readonly memory: AddressSpace;
  /** Where translated (and bypassed) accesses go; QEMU's address_space_memory. Default: `memory`. */
  readonly downstream?: AddressSpace;
  readonly profile?: Smmuv3Profile;
  /** IOTLB entries before the flush-all (QEMU's SMMU_IOTLB_MAX_SIZE, 256); 0 turns the IOTLB off. */
  readonly iotlbSize?: number;
  /** Register writes applied after reset, in order (as firmware would program the SMMU). */
  readonly registers?: readonly Smmuv3RegisterWrite[];
  readonly source?: string;
  /** Config source of each stream the config describes, for its region (views reveal and hover there). */
  readonly streamSources?: ReadonlyMap<number, string>;
  readonly onIrq?: (p: IrqPulse) => void;
}

const LOG_LIMIT = 256;
const WO_OR_NONE = (flag: number) => flag & IOMMU_WO;

export class Smmuv3 implements IommuDevice, StreamOwner {
  readonly model = 'smmuv3';
  readonly name: string;
  readonly source?: string;
  private readonly streamSources: ReadonlyMap<number, string>;
  readonly flags: ProfileFlags;
  readonly memory: AddressSpace;
  readonly downstream: AddressSpace;
  readonly regs: Smmuv3Registers;
  readonly registers: RegisterFile;
  readonly registerRegion: MmioRegion;
  readonly iotlb: Iotlb;
  readonly irqs: Smmuv3Irqs;
  readonly events: EventQueue;
  readonly commands: CommandQueue;
  /** QEMU's qemu_log_mask output (LOG_GUEST_ERROR, LOG_UNIMP), oldest dropped past 256. */
  readonly log: string[] = [];
  /** Size of every stream region. */
  readonly regionSize: bigint;

  private readonly reader: GuestReader;
  private readonly walker: Walker;
  private readonly streams = new Map<number, Smmuv3Region>();
  /** QEMU's devices_with_notifiers: head first. */
  private withNotifiers: Smmuv3Region[] = [];
  private readonly initial: readonly Smmuv3RegisterWrite[];
  /** Set while peek() runs: no event, no IOTLB or config-cache fill. */
  private quiet = false;
  /** The event the last peek would have recorded (see lastProbeEvent). */
  private probeEvent: ModelEventRecord | undefined;
  /** peek(..., uncached): past the IOTLB and the config cache. */
  private uncached = false;

  static create(opts: Smmuv3Options): Smmuv3 | EngineError {
    const size = opts.iotlbSize ?? SMMU_IOTLB_MAX_SIZE;
    if (!Number.isInteger(size) || size < 0) return engineError('smmuv3-iotlb-size', `smmuv3 ${opts.name}: IOTLB size ${size} is not a non-negative integer`);
    const dev = new Smmuv3(opts, size);
    const err = dev.program(dev.initial);
    return err ?? dev;
  }

  private constructor(opts: Smmuv3Options, iotlbSize: number) {
    this.name = opts.name;
    this.source = opts.source;
    this.streamSources = opts.streamSources ?? new Map();
    this.flags = profileFlags(opts.profile ?? 'architecture');
    this.memory = opts.memory;
    this.downstream = opts.downstream ?? opts.memory;
    this.regionSize = 1n << BigInt(this.flags.regionBits);
    this.initial = [...(opts.registers ?? [])];
    this.reader = new GuestReader(opts.memory);
    this.iotlb = new Iotlb(iotlbSize);
    this.regs = new Smmuv3Registers(this.flags, { consumeCommands: () => this.commands.consume(), log: (m) => this.guestLog(m) });
    this.registers = this.regs;
    this.irqs = new Smmuv3Irqs(this.regs, opts.onIrq);
    this.events = new EventQueue(this.regs, this.reader, this.flags, this.irqs);
    this.commands = new CommandQueue(this.regs, this.reader, this.flags, this.irqs, {
      iotlb: this.iotlb,
      invalidateConfigs: (s, e) => this.invalidateConfigs(s, e),
      unmapAllNotifiers: () => this.unmapAllNotifiers(),
      notifyIova: (asid, vmid, iova, tg, bytes, stage) => this.notifyIova(asid, vmid, iova, tg, bytes, stage),
    }, (m) => this.guestLog(m));
    this.walker = new Walker(this.reader, this.flags, this.iotlb);
    this.registerRegion = registerRegion(`${opts.name}-regs`, SMMUV3_MMIO_SIZE, this.regs);
    this.registerRegion.source = opts.source;
  }

  get profile(): Smmuv3Profile {
    return this.flags.profile;
  }

  // --- IommuDevice --------------------------------------------------------------------------

  regions(): readonly Smmuv3Region[] {
    return [...this.streams.values()];
  }

  /** The region of stream `requesterId` (QEMU's smmu_find_add_as); stream 0 when none is given. */
  regionFor(requesterId: number | undefined): Smmuv3Region {
    const sid = (requesterId ?? 0) >>> 0;
    let r = this.streams.get(sid);
    if (r === undefined) {
      r = new Smmuv3Region(this, sid, `${this.name}.sid-0x${sid.toString(16)}`, this.regionSize);
      r.source = this.streamSources.get(sid) ?? this.source;
      this.streams.set(sid, r);
    }
    return r;
  }

  /** smmu_reset_hold + smmu_base_reset_exit, then the options' register writes again. */
  reset(): void {
    this.regs.reset();
    this.iotlb.invAll();
    for (const r of this.streams.values()) r.active = undefined;
    this.program(this.initial);
  }

  /** Register writes by name or offset (the config's `registers:`, a driver's programming). */
  program(writes: readonly Smmuv3RegisterWrite[]): EngineError | undefined {
    for (const w of writes) {
      const info = findRegister(this.regs, typeof w.reg === 'string' ? w.reg.toUpperCase().replace(/-/g, '_') : w.reg);
      if (!info) return engineError('smmuv3-register', `smmuv3 ${this.name}: no register ${typeof w.reg === 'string' ? `named ${w.reg}` : `at offset ${hexn(w.reg)}`}`);
      if (info.access === 'ro') return engineError('smmuv3-register', `smmuv3 ${this.name}: ${info.name} is read-only`);
      this.regs.write(BigInt(info.offset), w.size ?? info.width, w.value, MEMTXATTRS_UNSPECIFIED);
    }
    return undefined;
  }

  /**
   * Issues commands as a driver does: writes them into the command queue in guest memory at
   * CMDQ_PROD and writes CMDQ_PROD, which runs them. Returns what the queue did.
   */
  issueCommands(cmds: readonly Smmuv3Command[]): CommandLogEntry[] | EngineError {
    const regs = this.regs;
    if (!regs.cmdqEnabled) return engineError('smmuv3-cmdq', `smmuv3 ${this.name}: the command queue is disabled (CR0.CMDQEN=0)`);
    const q = regs.cmdq;
    const before = this.commands.log.length;
    let pending = 0;
    const flush = () => {
      if (pending) regs.write(BigInt(A_CMDQ_PROD), 4, BigInt(q.prod), MEMTXATTRS_UNSPECIFIED);
      pending = 0;
    };
    for (const c of cmds) {
      const words = encodeCommand(c);
      if (!words) return engineError('smmuv3-command', `smmuv3 ${this.name}: unknown command ${String(c.op)}`);
      if (queueFull(q)) {
        flush();
        if (queueFull(q)) return engineError('smmuv3-cmdq', `smmuv3 ${this.name}: the command queue is full and does not drain (GERROR.CMDQ_ERR pending?)`);
      }
      const at = BigInt(queueBase(q)) + BigInt(16 * queueIndex(q, q.prod));
      const lo = (BigInt(words[1]) << 32n) | BigInt(words[0]);
      const hi = (BigInt(words[3]) << 32n) | BigInt(words[2]);
      if (!this.reader.write(at, 8, lo) || !this.reader.write(at + 8n, 8, hi)) {
        return engineError('smmuv3-cmdq', `smmuv3 ${this.name}: command queue entry at ${hex(at)} cannot be written in ${this.memory.name}`);
      }
      q.prod = queueIncr(q, q.prod);
      pending++;
    }
    flush();
    return this.commands.log.slice(before);
  }

  // --- translation --------------------------------------------------------------------------

  /**
   * smmuv3_translate. The fast path, for a call without a trace on a stream whose config is
   * cached: the input as a number, the IOTLB and, on a miss, the walk, then the same IOTLB insert
   * and entry as translateFull. Anything that records an event (a fault, a permission refused
   * on a hit), a TTB1 input or a nested walk goes to translateFull, which answers from the start.
   */
  translateStream(r: Smmuv3Region, addr: bigint, flag: IOMMUAccessFlags, trace: Trace | undefined): IOMMUTLBEntry {
    const a = r.active;
    if (trace === undefined && a !== undefined && a.fastMap !== undefined && (this.regs.cr0 & 1) !== 0 && !this.quiet) {
      // Exact: fastLimit is an integer below 2^53, and Number() rounds monotonically.
      const ia = Number(addr);
      if (ia < a.fastLimit) {
        const iotlb = this.iotlb;
        const map = a.fastMap;
        if (iotlb.limit > 0) {
          const e = iotlb.lookup(map, ia, a.fastProbes!);
          if (e !== undefined) {
            // The entry's input base is aligned to its size, so the byte's offset is addr & mask.
            if ((flag & e.perm) === flag) return { targetAs: this.downstream, iova: addr, translatedAddr: e.outBig + (addr & e.mask), addrMask: e.mask, perm: e.perm };
            return this.translateFull(r, addr, flag, trace);
          }
        }
        if (a.fastWalk) {
          const w = this.walker;
          const tt = a.fastTt;
          if (tt !== undefined ? w.translateS1(a.cfg, tt, ia, flag) : w.translate(a.cfg, tt, ia, flag, undefined, a.s2map)) return this.walked(map, addr, ia, 0n);
        }
      }
    }
    return this.translateFull(r, addr, flag, trace);
  }

  /**
   * translate() without its side effects, for views and hovers: the same answer and trace, but
   * no event is recorded, and nothing enters the IOTLB or the config cache (a view must not
   * change what the guest sees). Cached entries are still used, as translate() would.
   */
  probeStream(r: Smmuv3Region, addr: bigint, flag: IOMMUAccessFlags, trace: Trace | undefined, uncached: boolean): IOMMUTLBEntry {
    return this.peek(r.sid, addr, flag, trace, uncached);
  }

  /** With `uncached`, the answer comes from the STE, CD and tables in memory now, not from the IOTLB or the config cache. */
  peek(sid: number, addr: bigint, flag: IOMMUAccessFlags, trace?: Trace, uncached = false): IOMMUTLBEntry {
    const r = this.streams.get(sid) ?? new Smmuv3Region(this, sid, `${this.name}.sid-0x${sid.toString(16)}`, this.regionSize);
    this.quiet = true;
    this.probeEvent = undefined;
    this.uncached = uncached;
    this.walker.noInsert = true;
    this.walker.noLookup = uncached;
    try {
      return this.translateFull(r, addr, flag, trace);
    } finally {
      this.quiet = false;
      this.uncached = false;
      this.walker.noInsert = false;
      this.walker.noLookup = false;
    }
  }

  /**
   * The number fast path of a stream (src/engine/fast-path.ts): the configuration decoded once,
   * now, as peek() would (no event, no cache fill); the translator then answers as peek() does.
   */
  numberTranslatorFor(r: Smmuv3Region, uncached: boolean): StreamTranslator {
    const make = (mode: number, fault: number, a?: ActiveConfig) => new StreamTranslator(mode, fault, a, this.walker, this.iotlb, this.flags, this.downstream, uncached);
    if (!this.regs.smmuEnabled) return make(this.regs.gbpaAbort ? MODE_FAIL : MODE_BYPASS, 0);
    this.quiet = true;
    this.uncached = uncached;
    this.walker.noInsert = true;
    this.walker.noLookup = uncached;
    let a: ReturnType<Smmuv3['activeConfig']>;
    try {
      a = this.activeConfig(r, undefined);
    } finally {
      this.quiet = false;
      this.uncached = false;
      this.walker.noInsert = false;
      this.walker.noLookup = false;
    }
    if (isConfigFault(a)) return make(MODE_FAIL, a.fault.type);
    if ('ptwFault' in a) return make(MODE_FAIL, a.ptwFault.type);
    if (a.cfg.kind === 'abort') return make(MODE_FAIL, 0);
    if (a.cfg.kind === 'bypass') return make(MODE_BYPASS, 0);
    return make(MODE_TRANSLATE, 0, a);
  }

  private translateFull(r: Smmuv3Region, addr: bigint, flag: IOMMUAccessFlags, trace: Trace | undefined): IOMMUTLBEntry {
    const sid = r.sid;
    const regs = this.regs;
    if (trace) {
      trace.push(step(`${this.name}: stream ${hexn(sid)} (BDF ${fmtBdf(sid)}), ${permName(flag)} at ${hex(addr)}${this.flags.profile === 'architecture' ? '' : ` [profile ${this.flags.profile}]`}`, {
        sid,
        addr,
        flag: permName(flag),
        profile: this.flags.profile,
      }, STEP_NAMES.streamLookup));
    }
    if (!regs.smmuEnabled) {
      if (regs.gbpaAbort) {
        if (trace) trace.push(step('CR0.SMMUEN=0 and GBPA.ABORT=1: the transaction is aborted (no event)', { smmuen: 0, gbpaAbort: 1 }, 'GBPA abort'));
        return this.abortEntry(addr);
      }
      if (trace) {
        const ignored = !this.flags.gbpa ? ' (QEMU 7.2 has no GBPA: a disabled SMMU always bypasses)' : '';
        trace.push(step(`CR0.SMMUEN=0, GBPA.ABORT=0: bypass${ignored}`, { smmuen: 0, bypass: true }, 'GBPA bypass'));
      }
      return this.bypassEntry(addr, flag);
    }
    const a = this.activeConfig(r, trace);
    if (isConfigFault(a)) return this.fail(r, addr, a.fault, true, trace);
    if ('ptwFault' in a) return this.fail(r, addr, a.ptwFault, a.record, trace);
    const cfg = a.cfg;
    if (cfg.kind === 'abort') {
      if (trace) trace.push(step(`STE.Config=abort: the transaction is aborted (no event)`, { config: 'abort' }, 'STE.Config abort'));
      return this.abortEntry(addr);
    }
    if (cfg.kind === 'bypass') {
      if (trace) trace.push(step(`STE.Config=bypass: identity, perm = the requested ${permName(flag)}`, { config: 'bypass' }, 'STE.Config bypass'));
      return this.bypassEntry(addr, flag);
    }

    // The input: which table (stage 1), or the IPA (stage 2 only).
    let tt: TtInfo | undefined;
    let ia: number;
    let map = a.s2map;
    let probes = a.probesS2;
    let ttLo = 0n;
    if (cfg.s1) {
      tt = this.selectTt(cfg, addr, trace);
      if (tt === undefined) {
        return this.ptwFail(r, cfg, addr, flag, EVT_F_TRANSLATION, 1, 0, CLASS_IN, `${hex(addr)} is in neither TTB0's nor TTB1's input range (or that table is disabled by EPD)`, trace);
      }
      if (tt.sel === 1 && addr >= tt.lo) {
        ttLo = tt.lo;
        ia = Number(addr - tt.lo);
        map = a.map1;
        probes = a.probes1;
      } else {
        ia = Number(addr);
        map = tt.sel === 1 ? a.map1 : a.map0;
        probes = tt.sel === 1 ? a.probes1 : a.probes0;
      }
    } else {
      if (addr >= 1n << BigInt(cfg.oas)) {
        // QEMU: with stage 1 bypassed, an input beyond the IAS is a stage-1 Address Size fault,
        // recorded only if CD.R, which a stream without stage 1 does not have.
        return this.ptwFail(r, cfg, addr, flag, EVT_F_ADDR_SIZE, 1, 0, CLASS_IN, `input ${hex(addr)} is beyond the ${cfg.oas}-bit IAS (stage 1 bypassed)`, trace);
      }
      ia = Number(addr);
    }

    if (this.iotlb.enabled && !this.uncached && map !== undefined && probes !== undefined) {
      const e = this.iotlb.lookup(map, ia, probes);
      if (e !== undefined) {
        if (trace) trace.push(this.tlbStep('IOTLB hit', cfg, e, STEP_NAMES.iotlbHit));
        const need = this.flags.hitReadCheck ? flag : WO_OR_NONE(flag);
        if ((e.perm & need) !== need) {
          const stage = (e.s1perm & need) !== need ? 1 : 2;
          const a2 = stage === 2 && !cfg.s1 ? ia : 0;
          return this.ptwFail(r, cfg, addr, flag, EVT_F_PERMISSION, stage, a2, CLASS_IN, `the cached translation allows ${permName(e.perm)}, not ${permName(flag)}`, trace);
        }
        return { targetAs: this.downstream, iova: addr, translatedAddr: BigInt(e.out + (ia - e.ia)), addrMask: e.mask, perm: e.perm };
      }
      if (trace) trace.push(step(`IOTLB miss (ASID ${cfg.asid}, VMID ${cfg.vmid}): walking the tables`, { iotlb: 'miss', asid: cfg.asid, vmid: cfg.vmid }, STEP_NAMES.iotlbMiss));
    } else if (trace) {
      trace.push(step('IOTLB off: walking the tables', { iotlb: 'off' }, 'IOTLB off'));
    }

    const w = this.walker;
    if (!w.translate(cfg, tt, ia, flag, trace, a.s2map)) {
      if (trace && w.note) trace.push(step(w.note, { profileNote: w.note }, STEP_NAMES.profileNote));
      return this.ptwFail(r, cfg, addr, flag, PTW_EVENT[w.fault]!, w.faultStage, w.faultAddr2, w.faultClass, w.faultWhy, trace);
    }
    if (trace === undefined) return this.walked(this.quiet ? undefined : map, addr, ia, ttLo);
    const mask = maskOf(w.shift);
    if (this.iotlb.enabled && map !== undefined && !this.quiet) {
      const entry = this.walkEntry(ttLo);
      this.iotlb.insert(map, entry);
      trace.push(this.tlbStep('walk result inserted in the IOTLB', cfg, entry, STEP_NAMES.iotlbInsert));
    }
    if (w.note) trace.push(step(w.note, { profileNote: w.note }, STEP_NAMES.profileNote));
    return { targetAs: this.downstream, iova: addr, translatedAddr: BigInt(w.out + (ia - w.inBase)), addrMask: mask, perm: w.perm };
  }

  /** The IOTLB entry of the walker's last translation (`ttLo`: TTB1's first input, else 0). */
  private walkEntry(ttLo: bigint): TlbEntry {
    const w = this.walker;
    const size = POW2[w.shift]!;
    return {
      iova: ttLo === 0n ? BigInt(w.inBase) : ttLo + BigInt(w.inBase),
      ia: w.inBase,
      size,
      mask: maskOf(w.shift),
      out: w.out,
      outBig: BigInt(w.out),
      shift: w.shift,
      perm: w.perm,
      s1perm: w.s1perm,
      s2perm: w.s2perm,
      level: w.level,
      granule: w.granule,
      key: tlbKey(w.inBase, size, w.level, tgCode(w.granule)),
    };
  }

  /** After a successful untraced walk of input `ia`: the IOTLB insert (into `map` when given), and the entry. */
  private walked(map: TlbMap | undefined, addr: bigint, ia: number, ttLo: bigint): IOMMUTLBEntry {
    const w = this.walker;
    if (map !== undefined && this.iotlb.limit > 0) this.iotlb.insert(map, this.walkEntry(ttLo));
    return { targetAs: this.downstream, iova: addr, translatedAddr: BigInt(w.out + (ia - w.inBase)), addrMask: maskOf(w.shift), perm: w.perm };
  }

  /** select_tt: TTB0 when the top bits are zero, TTB1 when they are ones, else none. */
  private selectTt(cfg: StreamConfig, addr: bigint, trace: Trace | undefined): TtInfo | undefined {
    const t0 = cfg.tt[0];
    const t1 = cfg.tt[1];
    if (t0 && addr < t0.hi) return t0;
    if (this.flags.ttb1Arch) {
      if (t1 && addr >= t1.lo) return t1;
      return undefined;
    }
    // QEMU 7.2 tests TTB1's top bits for zero (observation 5).
    if (t1 && addr < 1n << BigInt(t1.inputBits)) {
      if (trace) trace.push(step(`QEMU 7.2 selects TTB1 for ${hex(addr)} (its top ${t1.tsz} bits are zero); the architecture raises F_TRANSLATION`, { profileNote: 'ttb1' }, STEP_NAMES.profileNote));
      return t1;
    }
    return undefined;
  }

  /** The cached config, or a decode from guest memory (smmuv3_get_config / smmuv3_decode_config). */
  activeConfig(r: Smmuv3Region, trace: Trace | undefined): ActiveConfig | ConfigFault | { ptwFault: SmmuEvent; record: boolean } {
    if (r.active !== undefined && !this.uncached) {
      r.cfgHits++;
      if (trace) {
        const c = r.active.cfg;
        trace.push(step(`config cache hit for SID ${hexn(r.sid)}: ${describeConfig(c)} (STE at ${hex(c.steAddr)}${c.cdAddr !== undefined ? `, CD at ${hex(c.cdAddr)}` : ''})`, { sid: r.sid, configCache: 'hit' }, STEP_NAMES.configCacheHit));
      }
      return r.active;
    }
    r.cfgMisses++;
    const sid = r.sid;
    const flags = this.flags;
    const found = findSte(this.regs, flags, this.reader, sid, trace);
    if ('type' in found) return { fault: found };
    const sf = steFields(found.words);
    const d = decodeSte(flags, sid, sf);
    if (trace) {
      trace.push({
        kind: 'descriptor-read',
        name: STEP_NAMES.steFetch,
        summary: `STE for SID ${hexn(sid)} at ${hex(found.addr)}: V=${sf.valid ? 1 : 0} Config=${configName(sf.config)}${sf.config & 2 ? ` S2VMID=${sf.s2Vmid} S2T0SZ=${sf.s2T0sz} S2SL0=${sf.s2Sl0} S2TG=${sf.s2Tg} S2TTB=${hex(sf.s2Ttb)}` : ''}${sf.config & 1 ? ` S1ContextPtr=${hex(sf.s1ContextPtr)}` : ''}`,
        fields: steTraceFields(found.words, sf),
        source: { kind: 'guest-memory', as: this.memory.name, addr: found.addr, size: 64 },
      });
      if ('notes' in d) for (const n of d.notes) trace.push(step(n, { profileNote: n }, STEP_NAMES.profileNote));
    }
    if ('type' in d) return { fault: d };
    const base = { sid, steAddr: found.addr, ste: found.words };
    if (d.kind !== 'translate') {
      const cfg: StreamConfig = { ...base, kind: d.kind, s1: false, asid: -1, vmid: d.vmid, tt: [undefined, undefined], oas: flags.oasBits, recordS1: false, affd: false };
      return this.activate(r, { cfg, fastLimit: 0, fastWalk: false });
    }
    let s2: S2Info | undefined;
    if (d.s2cfg) {
      const c = d.s2cfg;
      s2 = { ...c, vmid: d.vmid, probes: probesFor(c.granule, c.startLevel, flags.strictBlockLevels) };
    }
    const s2map = s2 ? this.iotlb.map(-1, d.vmid, false) : undefined;
    if (!d.s1) {
      const cfg: StreamConfig = { ...base, kind: 'translate', s1: false, asid: -1, vmid: d.vmid, tt: [undefined, undefined], oas: flags.oasBits, recordS1: false, affd: false, s2 };
      const limit = Math.min(cfg.oas, s2!.inputBits);
      return this.activate(r, { cfg, s2map, probesS2: s2!.probes, fastLimit: POW2[limit]!, fastMap: s2map, fastProbes: s2!.probes, fastWalk: true });
    }
    // Stage 1: the CD (an IPA when stage 2 is on).
    let cdAddr = d.ctxPtr;
    if (s2) {
      if (!this.walker.translateS2Cached(s2, s2map!, Number(cdAddr), CLASS_CD, trace, 'CD')) {
        const w = this.walker;
        const ev = this.ptwEvent(sid, cdAddr, IOMMU_RO, PTW_EVENT[w.fault]!, 2, w.faultAddr2, CLASS_CD, `CD address: ${w.faultWhy}`);
        return { ptwFault: ev, record: w.fault === PTW_WALK_EABT || s2.record };
      }
      cdAddr = BigInt(this.walker.s2Pa);
    }
    const cdWords = this.reader.readWords(cdAddr, 8);
    if (cdWords === undefined) {
      if (trace) trace.push({ kind: 'descriptor-read', name: STEP_NAMES.cdFetch, summary: `CD at ${hex(cdAddr)}: read failed`, fields: { address: cdAddr }, source: { kind: 'guest-memory', as: this.memory.name, addr: cdAddr, size: 64 } });
      return { fault: { type: EVT_F_CD_FETCH, sid, addr2: cdAddr, reason: `CD at ${hex(cdAddr)} could not be read` } };
    }
    const cf = cdFields(cdWords);
    if (trace) {
      trace.push({
        kind: 'descriptor-read',
        name: STEP_NAMES.cdFetch,
        summary: `CD at ${hex(cdAddr)}: V=${cf.valid ? 1 : 0} AA64=${cf.aa64 ? 1 : 0} ASID=${cf.asid} R=${cf.r ? 1 : 0} AFFD=${cf.affd ? 1 : 0} IPS=${cf.ips} ENDI=${cf.endi ? 1 : 0}; TTB0=${cf.epd[0] ? 'disabled' : `${hex(cf.ttb[0])} T0SZ=${cf.tsz[0]} TG0=${cf.tg[0]}`}; TTB1=${cf.epd[1] ? 'disabled' : `${hex(cf.ttb[1])} T1SZ=${cf.tsz[1]} TG1=${cf.tg[1]}`}`,
        fields: cdTraceFields(cdWords, cf),
        source: { kind: 'guest-memory', as: this.memory.name, addr: cdAddr, size: 64 },
      });
    }
    const cd = decodeCd(flags, sid, cf);
    if ('type' in cd) return { fault: cd };
    if (trace) for (const n of cd.notes) trace.push(step(n, { profileNote: n }));
    const cfg: StreamConfig = {
      ...base,
      kind: 'translate',
      s1: true,
      asid: cd.asid,
      vmid: d.vmid,
      tt: cd.tt,
      oas: cd.oas,
      recordS1: cd.record,
      affd: cd.affd,
      s2,
      cdAddr,
      cd: cdWords,
    };
    const [t0, t1] = cd.tt;
    const withS2 = (p: TtInfo | undefined) => (p === undefined ? undefined : s2 ? mergeProbes(p.probes, s2.probes) : p.probes);
    const map0 = this.iotlb.map(cd.asid, d.vmid, false);
    const probes0 = withS2(t0);
    return this.activate(r, {
      cfg,
      map0,
      map1: this.iotlb.map(cd.asid, d.vmid, true),
      s2map,
      probes0,
      probes1: withS2(t1),
      probesS2: s2?.probes,
      fastLimit: t0 ? Number(t0.hi) : 0,
      fastMap: t0 ? map0 : undefined,
      fastProbes: probes0,
      fastTt: t0,
      fastWalk: s2 === undefined,
    });
  }

  private activate(r: Smmuv3Region, a: ActiveConfig): ActiveConfig {
    if (!this.quiet) r.active = a;
    return a;
  }

  /** CFGI_*: drop the cached configs of streams in [start, end]. */
  invalidateConfigs(start: number, end: number): number {
    let n = 0;
    for (const r of this.streams.values()) {
      if (r.sid >= start && r.sid <= end && r.active !== undefined) {
        r.active = undefined;
        n++;
      }
    }
    return n;
  }

  // --- faults -------------------------------------------------------------------------------

  private ptwEvent(sid: number, addr: bigint, flag: number, type: number, stage: number, addr2: number, cls: number, why: string): SmmuEvent {
    return {
      type,
      sid,
      addr,
      addr2: BigInt(addr2),
      rnw: (flag & 1) === 1,
      s2: stage === 2,
      cls,
      reason: `stage ${stage}: ${why}`,
    };
  }

  private ptwFail(r: Smmuv3Region, cfg: StreamConfig, addr: bigint, flag: number, type: number, stage: number, addr2: number, cls: number, why: string, trace: Trace | undefined): IOMMUTLBEntry {
    const ev = this.ptwEvent(r.sid, addr, flag, type, stage, addr2, cls, why);
    const record = type === PTW_EVENT[PTW_WALK_EABT] || (stage === 1 ? cfg.recordS1 : cfg.s2?.record === true);
    return this.fail(r, addr, ev, record, trace);
  }

  /** SMMU_TRANS_ERROR: record (or not) and return perm NONE. */
  private fail(r: Smmuv3Region, addr: bigint, ev: SmmuEvent, record: boolean, trace: Trace | undefined): IOMMUTLBEntry {
    const who = ev.s2 !== undefined ? (ev.s2 ? 'STE.S2R=0' : 'CD.R=0') : '';
    let entry: EventLogEntry;
    if (this.quiet) {
      entry = this.events.preview(ev, record ? 'a peek records no event' : `${who} suppresses ${eventName(ev.type)}`);
      this.probeEvent = {
        ...eventRecord(entry),
        recorded: record,
        disposition: record ? `would be recorded (${this.regs.eventqEnabled ? 'EVENTQ' : 'but CR0.EVENTQEN is 0'}); a peek records nothing` : `would not be recorded: ${who} suppresses ${eventName(ev.type)}`,
      };
    } else {
      entry = record ? this.events.record(ev) : this.events.suppressed(ev, `${who} suppresses ${eventName(ev.type)}`);
      this.guestLog(`${r.name} translation failed for iova=${hex(addr)} (SMMU_EVT_${eventName(ev.type)})`);
    }
    if (trace) {
      const fields: Record<string, TraceFieldValue> = { event: eventName(ev.type), eventId: ev.type, sid: ev.sid, disposition: entry.disposition.kind };
      if (ev.addr !== undefined) fields.inputAddr = ev.addr;
      if (ev.addr2 !== undefined) fields.addr2 = ev.addr2;
      if (ev.s2 !== undefined) fields.s2 = ev.s2;
      if (ev.cls !== undefined) fields.class = className(ev.cls);
      if (ev.rnw !== undefined) fields.rnw = ev.rnw;
      entry.words.forEach((w, i) => (fields[`word ${i}`] = fmtRaw(w, 32)));
      if (!this.flags.eventClassArch && ev.type !== EVT_F_WALK_EABT && ev.cls !== undefined) {
        trace.push(step(`QEMU 7.2 writes this record with CLASS=0 and no IPA (only F_WALK_EABT carries them); the architecture's CLASS is ${className(ev.cls)}`, { profileNote: 'event-class' }));
      }
      trace.push({
        kind: 'fault',
        name: `event record ${eventName(ev.type)}`,
        summary: `${eventName(ev.type)} (0x${ev.type.toString(16)}): ${ev.reason}; ${describeDisposition(entry.disposition)}`,
        fields,
        source: entry.disposition.kind === 'written' ? { kind: 'guest-memory', as: this.memory.name, addr: entry.disposition.addr, size: 32 } : undefined,
      });
    }
    return this.abortEntry(addr);
  }

  private abortEntry(addr: bigint): IOMMUTLBEntry {
    return { targetAs: this.downstream, iova: addr, translatedAddr: addr, addrMask: HWADDR_MAX, perm: IOMMU_NONE };
  }

  private bypassEntry(addr: bigint, flag: IOMMUAccessFlags): IOMMUTLBEntry {
    return { targetAs: this.downstream, iova: addr, translatedAddr: addr, addrMask: 0xfffn, perm: flag };
  }

  private tlbStep(what: string, cfg: StreamConfig, e: TlbEntry, name: string) {
    return step(`${what}: ${hex(e.iova)} (${sizeName(Math.log2(e.size))}, level ${e.level}, ${sizeName(e.granule)} granule) -> ${hex(BigInt(e.out))} ${permName(e.perm)} [ASID ${cfg.asid}, VMID ${cfg.vmid}]`, {
      iotlb: what,
      iova: e.iova,
      output: BigInt(e.out),
      size: BigInt(e.size),
      level: e.level,
      perm: permName(e.perm),
      asid: cfg.asid,
      vmid: cfg.vmid,
    }, name);
  }

  private guestLog(m: string): void {
    this.log.push(m);
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
  }

  // --- notifiers ----------------------------------------------------------------------------

  /** smmuv3_notify_flag_changed: no MAP, no DEVIOTLB_UNMAP. */
  streamFlagsChanged(r: Smmuv3Region, old: IOMMUNotifierFlag, now: IOMMUNotifierFlag): EngineError | undefined {
    if (now & IOMMU_NOTIFIER_DEVIOTLB_UNMAP) return engineError('notifier-refused', 'SMMUv3 does not support dev-iotlb yet');
    if (now & IOMMU_NOTIFIER_MAP) {
      return engineError('notifier-refused', `device ${sidBdf(r.sid)} requires iommu MAP notifier which is not currently supported`);
    }
    if (old === IOMMU_NOTIFIER_NONE) this.withNotifiers.unshift(r);
    else if (now === IOMMU_NOTIFIER_NONE) this.withNotifiers = this.withNotifiers.filter((x) => x !== r);
    return undefined;
  }

  /** Streams with notifiers, as QEMU lists them (most recently gained first). */
  get streamsWithNotifiers(): readonly Smmuv3Region[] {
    return this.withNotifiers;
  }

  /** smmu_inv_notifiers_all. */
  unmapAllNotifiers(): number {
    let n = 0;
    for (const r of [...this.withNotifiers]) {
      for (const nt of [...r.notifiers]) {
        r.unmapNotifierRange(nt);
        n++;
      }
    }
    return n;
  }

  /** smmuv3_inv_notifiers_iova / smmuv3_notify_iova. */
  notifyIova(asid: number, vmid: number, iova: bigint, tg: number, bytes: bigint | undefined, stage: 1 | 2): number {
    let sent = 0;
    for (const r of [...this.withNotifiers]) {
      for (const n of [...r.notifiers]) {
        const a = this.activeConfig(r, undefined);
        if (isConfigFault(a) || 'ptwFault' in a) continue;
        const cfg = a.cfg;
        // Nested: the notified IOVA is the stage-1 input; stage-2 invalidations notify nobody.
        if (stage === 2 && cfg.s1 && cfg.s2) continue;
        let mask: bigint;
        if (!tg || bytes === undefined) {
          if (cfg.kind !== 'translate') continue;
          if (asid >= 0 && cfg.asid !== asid) continue;
          if (vmid >= 0 && cfg.vmid !== vmid) continue;
          let granule: number;
          if (cfg.s1) {
            const tt = this.selectTt(cfg, iova, undefined);
            if (tt === undefined) continue;
            granule = tt.granule;
          } else {
            granule = cfg.s2!.granule;
          }
          mask = maskOf(granule);
        } else {
          mask = bytes - 1n;
        }
        r.notifyOne(n, { type: IOMMU_NOTIFIER_UNMAP, entry: { targetAs: r.systemAs ?? this.downstream, iova, translatedAddr: 0n, addrMask: mask, perm: IOMMU_NONE } });
        sent++;
      }
    }
    return sent;
  }

  /** The walk replay's leaves (see Smmuv3Region.modelReplay). */
  walkStream(r: Smmuv3Region, sink: (entry: IOMMUTLBEntry) => void, quiet = false): number {
    if (!quiet) return this.walkStreamTables(r, sink);
    // A view's listing: nothing enters the config cache or the IOTLB.
    this.quiet = true;
    this.walker.noInsert = true;
    try {
      return this.walkStreamTables(r, sink);
    } finally {
      this.quiet = false;
      this.walker.noInsert = false;
    }
  }

  private walkStreamTables(r: Smmuv3Region, sink: (entry: IOMMUTLBEntry) => void): number {
    if (!this.regs.smmuEnabled) return 0;
    const a = this.activeConfig(r, undefined);
    if (isConfigFault(a) || 'ptwFault' in a) return 0;
    const cfg = a.cfg;
    if (cfg.kind !== 'translate') return 0;
    const w = this.walker;
    w.reads = 0;
    const emit = (lo: bigint) => (ia: number, size: number, out: number, perm: number) => {
      sink({ targetAs: this.downstream, iova: lo === 0n ? BigInt(ia) : lo + BigInt(ia), translatedAddr: BigInt(out), addrMask: maskOf(log2Pow2(size)), perm });
    };
    if (cfg.s1) {
      for (const tt of cfg.tt) {
        if (tt === undefined) continue;
        w.leavesS1(cfg, tt, 0, POW2[tt.inputBits]! - 1, emit(tt.sel === 1 ? tt.lo : 0n), a.s2map);
      }
    } else {
      const top = POW2[Math.min(cfg.oas, cfg.s2!.inputBits)]! - 1;
      w.leavesS2(cfg.s2!, 0, top, emit(0n), false);
    }
    return w.reads;
  }

  // --- views --------------------------------------------------------------------------------

  /** The decoded configuration of a stream, decoding it if needed (records and caches nothing). */
  streamConfig(sid: number): StreamConfig | SmmuEvent {
    const r = this.streams.get(sid) ?? new Smmuv3Region(this, sid, `${this.name}.sid-0x${sid.toString(16)}`, this.regionSize);
    this.quiet = true;
    let a: ReturnType<Smmuv3['activeConfig']>;
    try {
      a = this.activeConfig(r, undefined);
    } finally {
      this.quiet = false;
    }
    if (isConfigFault(a)) return a.fault;
    if ('ptwFault' in a) return a.ptwFault;
    return a.cfg;
  }

  get eventLog(): readonly EventLogEntry[] {
    return this.events.log;
  }

  /** The event log as every model reports its records. */
  readonly eventRecords: ModelEventLog = eventLogOf(() => this.events);

  readonly lastProbeEvent = (): ModelEventRecord | undefined => this.probeEvent;

  get commandLog(): readonly CommandLogEntry[] {
    return this.commands.log;
  }
}

function eventLogOf(q: () => EventQueue): ModelEventLog {
  return {
    get total(): number {
      return q().total;
    },
    since: (mark: number) => q().since(mark).map(eventRecord),
  };
}

/** An SMMUv3 event as the generic record scenarios and reports use. */
export function eventRecord(e: EventLogEntry): ModelEventRecord {
  const ev = e.event;
  const fields: Record<string, bigint | number | boolean | string> = { sid: ev.sid };
  if (ev.addr !== undefined) fields.inputAddr = ev.addr;
  if (ev.addr2 !== undefined) fields.addr2 = ev.addr2;
  if (ev.rnw !== undefined) fields.rnw = ev.rnw;
  if (ev.s2 !== undefined) fields.s2 = ev.s2;
  if (ev.cls !== undefined) fields.class = className(ev.cls);
  return { type: eventName(ev.type), code: ev.type, recorded: e.disposition.kind === 'written', disposition: describeDisposition(e.disposition), fields, words: e.words };
}

function step(summary: string, fields: Record<string, TraceFieldValue>, name?: string) {
  return { kind: 'model' as const, name, summary, fields };
}

function describeConfig(c: StreamConfig): string {
  if (c.kind !== 'translate') return c.kind;
  const parts: string[] = [];
  if (c.s1) {
    parts.push(`stage 1 ASID ${c.asid}`);
    c.tt.forEach((t, i) => t && parts.push(`TTB${i} ${hex(BigInt(t.ttb))} (${sizeName(t.granule)}, ${t.inputBits}-bit, start level ${t.startLevel})`));
  }
  if (c.s2) parts.push(`stage 2 VMID ${c.vmid} S2TTB ${hex(BigInt(c.s2.vttb))} (${sizeName(c.s2.granule)}, ${c.s2.inputBits}-bit, start level ${c.s2.startLevel})`);
  return parts.join(', ');
}

/**
 * An STE as the SMMUv3 specification names its fields (section 5.2): the eight raw 64-bit words,
 * then V and Config, then the fields the Config uses (stage 1: the CD pointer and table; stage 2:
 * the VMID and stage-2 translation table).
 */
function steTraceFields(words: readonly bigint[], f: SteFields): Record<string, TraceFieldValue> {
  const out: Record<string, TraceFieldValue> = {};
  words.forEach((w, i) => (out[`STE[${64 * i + 63}:${64 * i}]`] = fmtRaw(w)));
  out.V = f.valid ? 1 : 0;
  out.Config = `0b${f.config.toString(2).padStart(3, '0')} (${configName(f.config)})`;
  if (f.config & 4 && f.config & 1) {
    out.S1Fmt = f.s1Fmt;
    out.S1ContextPtr = f.s1ContextPtr;
    out.S1CDMax = f.s1CdMax;
    out.S1STALLD = f.s1StallD ? 1 : 0;
  }
  if (f.config & 4 && f.config & 2) {
    out.S2VMID = f.s2Vmid;
    out.S2T0SZ = f.s2T0sz;
    out.S2SL0 = f.s2Sl0;
    out.S2TG = f.s2Tg;
    out.S2PS = f.s2Ps;
    out.S2AA64 = f.s2Aa64 ? 1 : 0;
    out.S2ENDI = f.s2Endi ? 1 : 0;
    out.S2AFFD = f.s2Affd ? 1 : 0;
    out.S2S = f.s2S ? 1 : 0;
    out.S2R = f.s2R ? 1 : 0;
    out.S2TTB = f.s2Ttb;
  }
  return out;
}

/** A CD as the specification names its fields (section 5.4): all 64 bytes raw, then the decode. */
function cdTraceFields(words: readonly bigint[], f: CdFields): Record<string, TraceFieldValue> {
  const out: Record<string, TraceFieldValue> = {};
  words.forEach((w, i) => (out[`CD[${64 * i + 63}:${64 * i}]`] = fmtRaw(w)));
  const b = (x: boolean) => (x ? 1 : 0);
  Object.assign(out, {
    V: b(f.valid),
    AA64: b(f.aa64),
    ASID: f.asid,
    T0SZ: f.tsz[0],
    TG0: f.tg[0],
    EPD0: b(f.epd[0]),
    TTB0: f.ttb[0],
    HAD0: b(f.had[0]),
    T1SZ: f.tsz[1],
    TG1: f.tg[1],
    EPD1: b(f.epd[1]),
    TTB1: f.ttb[1],
    HAD1: b(f.had[1]),
    IPS: f.ips,
    TBI: f.tbi,
    AFFD: b(f.affd),
    HA: b(f.ha),
    HD: b(f.hd),
    ENDI: b(f.endi),
    S: b(f.s),
    R: b(f.r),
    A: b(f.a),
  });
  return out;
}
