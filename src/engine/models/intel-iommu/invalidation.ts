/**
 * Invalidations (VT-d 6.5): the register-based interface (CCMD, IVA/IOTLB) and the queued one (the
 * invalidation queue at IQA, 128-bit descriptors between IQH and IQT), as QEMU processes them
 * (vtd_handle_ccmd_write, vtd_handle_iotlb_write, vtd_fetch_inv_desc, vtd_process_*_desc): the
 * descriptor kinds, their reserved-bit checks and their effects, which the device carries out:
 * context-cache, IOTLB, device-TLB, interrupt-entry-cache and wait descriptors, and in scalable
 * mode the PASID-based ones (PASID-based IOTLB, PASID cache, PASID-based device-TLB) with 256-bit
 * descriptors (IQA.DW). Also the encoding of commands a scenario issues, as a driver would write them.
 */
import type { ModelCommand } from '../../device';
import { engineError, type EngineError } from '../../errors';
import { hex } from '../../hex';
import type { GuestReader } from '../../guest-reader';
import type { VtdRegisters } from './registers';
import {
  DMAR_FSTS_REG,
  DMAR_GSTS_REG,
  DMAR_ICS_REG,
  DMAR_IEADDR_REG,
  DMAR_IECTL_REG,
  DMAR_IEDATA_REG,
  DMAR_IQA_REG,
  DMAR_IQH_REG,
  DMAR_IQT_REG,
  VTD_GSTS_QIES,
  VTD_ICS_IWC,
  VTD_IECTL_IM,
  VTD_IECTL_IP,
  VTD_INV_DESC_CC,
  VTD_INV_DESC_CC_RSVD,
  VTD_INV_DESC_DEVICE,
  VTD_INV_DESC_DEVICE_IOTLB_RSVD_HI,
  VTD_INV_DESC_DEVICE_IOTLB_RSVD_LO,
  VTD_INV_DESC_IEC,
  VTD_INV_DESC_IEC_RSVD,
  VTD_INV_DESC_IOTLB,
  VTD_INV_DESC_IOTLB_RSVD_HI,
  VTD_INV_DESC_IOTLB_RSVD_LO,
  VTD_INV_DESC_DEV_PIOTLB,
  VTD_INV_DESC_NONE,
  VTD_INV_DESC_PC,
  VTD_INV_DESC_PIOTLB,
  VTD_INV_DESC_WAIT,
  VTD_INV_DESC_WAIT_IF,
  VTD_INV_DESC_WAIT_RSVD_HI,
  VTD_INV_DESC_WAIT_RSVD_LO,
  VTD_INV_DESC_WAIT_SW,
  VTD_IQA_DW_MASK,
  VTD_IQA_QS,
  VTD_IQH_QH_MASK,
  VTD_MAMV,
  VTD_FSTS_IQE,
  hawMask,
} from './types';
import type { VtdInterrupt } from './faults';

/** What an invalidation does, carried out by the device; each returns what it did, in words. */
export interface VtdInvalidator {
  contextGlobal(): string;
  contextDevice(sid: number, fm: number): string;
  iotlbGlobal(): string;
  iotlbDomain(did: number): string;
  iotlbPage(did: number, addr: bigint, am: number, ih: boolean): string;
  deviceIotlb(sid: number, size: boolean, addr: bigint): string;
  /** PASID-based IOTLB invalidation, PASID-selective within a domain. */
  piotlbPasid(did: number, pasid: number): string;
  /** PASID-based IOTLB invalidation, page-selective within a PASID. */
  piotlbPage(did: number, pasid: number, addr: bigint, am: number, ih: boolean): string;
  /** PASID-based device-TLB invalidation: one PASID's address space, or (global) every PASID address space of the device. */
  deviceIotlbPasid(sid: number, pasid: number, global: boolean, size: boolean, addr: bigint): string;
  generateFaultEvent(preFsts: number): unknown;
}

/**
 * How a profile treats the PASID-based descriptors and the 256-bit queue: `qemu-7.2` (Debian's
 * QEMU 7.2: types 6 and 7 accepted and ignored, type 8 unknown, only the low 128 bits of a
 * descriptor checked) or `current` (current QEMU, which implements them as the architecture
 * describes: 256-bit descriptors, reserved bits of all four words checked).
 */
export interface QueueFlags {
  readonly current: boolean;
  /** ECAP.SMTS: IQA.DW (256-bit descriptors) is honoured only in scalable mode. */
  readonly smts: boolean;
}

export interface InvLogEntry {
  readonly via: 'register' | 'queue';
  /** The descriptor or register write, decoded. */
  readonly what: string;
  readonly effect: string;
  /** 0, or 1 when it failed (an invalidation queue error, an ignored register write). */
  readonly error: number;
  readonly lo?: bigint;
  readonly hi?: bigint;
}

const LOG_LIMIT = 1024;

export class InvalidationQueue {
  enabled = false;
  base = 0n;
  size = 0;
  head = 0;
  tail = 0;
  lastDescType = VTD_INV_DESC_NONE;
  /** 256-bit descriptors (IQA.DW with scalable mode offered; vtd_update_iq_dw). */
  dw = false;
  readonly log: InvLogEntry[] = [];

  constructor(
    private readonly regs: VtdRegisters,
    private readonly reader: GuestReader,
    private readonly awBits: number,
    private readonly inv: VtdInvalidator,
    private readonly interrupt: (irq: VtdInterrupt) => void,
    private readonly guestLog: (m: string) => void,
    private readonly flags: QueueFlags = { current: true, smts: false },
  ) {}

  /** vtd_update_iq_dw, on every IQA write. */
  updateDw(): void {
    this.dw = this.flags.smts && (this.regs.getQuad(DMAR_IQA_REG) & VTD_IQA_DW_MASK) !== 0n;
  }

  /** Bytes per descriptor. */
  get stride(): number {
    return this.dw ? 32 : 16;
  }

  reset(): void {
    this.enabled = false;
    this.base = 0n;
    this.size = 0;
    this.head = 0;
    this.tail = 0;
    this.lastDescType = VTD_INV_DESC_NONE;
    this.dw = false;
  }

  push(e: InvLogEntry): void {
    this.log.push(e);
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
  }

  /** vtd_handle_gcmd_qie. */
  gcmdQie(en: boolean): void {
    if (en) {
      const iqa = this.regs.getQuad(DMAR_IQA_REG);
      this.base = iqa & (hawMask(this.awBits) ^ 0xfffn);
      this.size = 1 << (Number(iqa & VTD_IQA_QS) + 8 - (this.dw ? 1 : 0));
      this.enabled = true;
      this.regs.setClearLong(DMAR_GSTS_REG, 0, VTD_GSTS_QIES);
      if (this.tail !== 0 && !(this.regs.getLong(DMAR_FSTS_REG) & VTD_FSTS_IQE)) this.fetch();
    } else if (this.enabled && this.tail === this.head && this.lastDescType === VTD_INV_DESC_WAIT) {
      this.regs.setQuadRaw(DMAR_IQH_REG, 0n);
      this.head = 0;
      this.enabled = false;
      this.regs.setClearLong(DMAR_GSTS_REG, VTD_GSTS_QIES, 0);
    } else {
      this.guestLog(`vtd_handle_gcmd_qie: detected improper state when disable QI (head=0x${this.head.toString(16)}, tail=0x${this.tail.toString(16)}, last_type=${this.lastDescType})`);
    }
  }

  /** vtd_handle_iqt_write. */
  iqtWrite(): void {
    const val = this.regs.getQuad(DMAR_IQT_REG);
    if (this.dw && (val & 0x10n) !== 0n) {
      this.guestLog(`vtd_handle_iqt_write: RSV bit is set: val=0x${val.toString(16)}`);
      if (!this.flags.current) {
        // QEMU 7.2 logs it and ignores the write: the tail stays where it was, no queue error.
        this.push({ via: 'register', what: `IQT ${hex(val)}`, effect: 'bit 4 is reserved with 256-bit descriptors: QEMU 7.2 ignores the write (the tail is unchanged, no FSTS.IQE; the architecture reports an invalidation queue error)', error: 0 });
        return;
      }
      this.queueError();
      this.push({ via: 'register', what: `IQT ${hex(val)}`, effect: 'bit 4 is reserved with 256-bit descriptors: invalidation queue error (FSTS.IQE)', error: 1 });
      return;
    }
    this.tail = this.dw ? Number((val >> 5n) & 0x3fffn) : Number((val >> 4n) & 0x7fffn);
    if (this.enabled && !(this.regs.getLong(DMAR_FSTS_REG) & VTD_FSTS_IQE)) this.fetch();
  }

  /** vtd_fetch_inv_desc. */
  fetch(): void {
    if (this.tail >= this.size) {
      this.guestLog(`vtd_fetch_inv_desc: detected invalid QI tail (tail=0x${this.tail.toString(16)}, size=0x${this.size.toString(16)})`);
      this.queueError();
      return;
    }
    while (this.head !== this.tail) {
      if (!this.processOne()) {
        this.queueError();
        break;
      }
      this.regs.setQuadRaw(DMAR_IQH_REG, (BigInt(this.head) << (this.dw ? 5n : 4n)) & VTD_IQH_QH_MASK);
    }
  }

  /** vtd_handle_inv_queue_error. */
  private queueError(): void {
    const fsts = this.regs.getLong(DMAR_FSTS_REG);
    this.regs.setClearLong(DMAR_FSTS_REG, 0, VTD_FSTS_IQE);
    this.inv.generateFaultEvent(fsts);
  }

  private processOne(): boolean {
    const at = this.base + BigInt(this.head * this.stride);
    const words = this.reader.readWords(at, this.dw ? 4 : 2);
    const [lo, hi, v2, v3] = words ?? [];
    if (lo === undefined || hi === undefined) {
      this.guestLog('Read INV DESC failed.');
      this.lastDescType = VTD_INV_DESC_NONE;
      this.push({ via: 'queue', what: `descriptor at ${hex(at)}`, effect: 'cannot be read: invalidation queue error (FSTS.IQE)', error: 1 });
      return false;
    }
    const type = Number(lo & 0xfn);
    this.lastDescType = type;
    const r = processDescriptor(lo, hi, this.inv, (m) => this.guestLog(m), {
      wait: (l, h) => this.waitDesc(l, h),
      dw: this.dw,
      v2: v2 ?? 0n,
      v3: v3 ?? 0n,
      current: this.flags.current,
      smts: this.flags.smts,
    });
    this.push({ via: 'queue', what: r.what, effect: r.ok ? r.effect : `${r.effect}: invalidation queue error (FSTS.IQE)`, error: r.ok ? 0 : 1, lo, hi });
    if (!r.ok) return false;
    this.head++;
    if (this.head === this.size) this.head = 0;
    return true;
  }

  /** vtd_process_wait_desc. */
  private waitDesc(lo: bigint, hi: bigint): { ok: boolean; effect: string } {
    const parts: string[] = [];
    if (lo & VTD_INV_DESC_WAIT_SW) {
      const data = (lo >> 32n) & 0xffffffffn;
      if (lo & VTD_INV_DESC_WAIT_IF) parts.push('IF with SW (QEMU asserts !IF when SW is set; the architecture does both)');
      const r = this.reader.write(hi, 4, data);
      if (!r) return { ok: false, effect: `status write of ${hex(data)} to ${hex(hi)} failed` };
      parts.push(`status ${hex(data)} written to ${hex(hi)}`);
      if (lo & VTD_INV_DESC_WAIT_IF) parts.push(this.completion());
      return { ok: true, effect: parts.join('; ') };
    }
    if (lo & VTD_INV_DESC_WAIT_IF) return { ok: true, effect: this.completion() };
    this.guestLog(`vtd_process_wait_desc: invalid wait desc: hi=${hi.toString(16)}, lo=${lo.toString(16)} (unknown type)`);
    return { ok: false, effect: 'wait descriptor with neither SW nor IF' };
  }

  /** vtd_generate_completion_event. */
  private completion(): string {
    if (this.regs.getLong(DMAR_ICS_REG) & VTD_ICS_IWC) return 'ICS.IWC already set: no completion event';
    this.regs.setClearLong(DMAR_ICS_REG, 0, VTD_ICS_IWC);
    this.regs.setClearLong(DMAR_IECTL_REG, 0, VTD_IECTL_IP);
    if (this.regs.getLong(DMAR_IECTL_REG) & VTD_IECTL_IM) return 'ICS.IWC set; IECTL.IM masks the completion event (IP set)';
    this.interrupt({ kind: 'completion', addr: this.regs.getLong(DMAR_IEADDR_REG), data: this.regs.getLong(DMAR_IEDATA_REG) });
    this.regs.setClearLong(DMAR_IECTL_REG, VTD_IECTL_IP, 0);
    return 'ICS.IWC set; completion event sent';
  }
}

const G_NAMES = ['reserved', 'global', 'domain', 'device'];
const IOTLB_G_NAMES = ['reserved', 'global', 'domain', 'page'];

function rsvd(lo: bigint, hi: bigint, mlo: bigint, mhi: bigint, fn: string, kind: string, log: (m: string) => void): boolean {
  if ((lo & mlo) !== 0n || (hi & mhi) !== 0n) {
    log(`${fn}: invalid ${kind} desc: hi=${hi.toString(16)}, lo=${lo.toString(16)} (reserved nonzero)`);
    return false;
  }
  return true;
}

/** vtd_process_inv_desc's switch, for a 128-bit descriptor. */
export function processDescriptor(
  lo: bigint,
  hi: bigint,
  inv: VtdInvalidator,
  log: (m: string) => void,
  extra: { wait(lo: bigint, hi: bigint): { ok: boolean; effect: string }; dw?: boolean; v2?: bigint; v3?: bigint; current?: boolean; smts?: boolean },
): { ok: boolean; what: string; effect: string } {
  const type = Number(lo & 0xfn);
  const g = Number((lo >> 4n) & 3n);
  const dw = extra.dw === true;
  const v2 = extra.v2 ?? 0n;
  const v3 = extra.v3 ?? 0n;
  const current = extra.current !== false;
  /**
   * Current QEMU's vtd_inv_desc_reserved_check for the PASID-based descriptors: in a 256-bit
   * queue all four words are checked (the upper two are all reserved); in a 128-bit queue a
   * 256-bit descriptor is an error.
   */
  const check256 = (m0: bigint, m1: bigint, fn: string, kind: string): string | undefined => {
    if (dw) {
      if ((lo & m0) !== 0n || (hi & m1) !== 0n || v2 !== 0n || v3 !== 0n) {
        log(`${fn}: invalid ${kind} desc val[3]: 0x${v3.toString(16)} val[2]: 0x${v2.toString(16)} val[1]=0x${hi.toString(16)} val[0]=0x${lo.toString(16)} (reserved nonzero)`);
        return 'reserved bits set';
      }
      return undefined;
    }
    log(`${fn}: 256-bit ${kind} desc in 128-bit invalidation queue`);
    return 'a 256-bit descriptor in a 128-bit invalidation queue (IQA.DW=0)';
  };
  const old72 = 'QEMU 7.2 accepts it and does nothing (vtd_process_inv_desc: "TODO ... just return true is enough so far")';
  switch (type) {
    case VTD_INV_DESC_CC: {
      const what = `context-cache invalidation (${G_NAMES[g]})`;
      if (!rsvd(lo, hi, VTD_INV_DESC_CC_RSVD, ~0n, 'vtd_process_context_cache_desc', 'cc inv', log)) return { ok: false, what, effect: 'reserved bits set' };
      if (g === 1 || g === 2) return { ok: true, what: g === 2 ? `${what}, DID ${Number((lo >> 16n) & 0xffffn)}` : what, effect: inv.contextGlobal() };
      if (g === 3) {
        const sid = Number((lo >> 32n) & 0xffffn);
        const fm = Number((lo >> 48n) & 3n);
        return { ok: true, what: `${what}, SID ${hex(sid)}, FM ${fm}`, effect: inv.contextDevice(sid, fm) };
      }
      log(`vtd_process_context_cache_desc: invalid cc inv desc: hi=${hi.toString(16)}, lo=${lo.toString(16)} (invalid type)`);
      return { ok: false, what, effect: 'invalid granularity' };
    }
    case VTD_INV_DESC_IOTLB: {
      const what = `IOTLB invalidation (${IOTLB_G_NAMES[g]})`;
      if (!rsvd(lo, hi, VTD_INV_DESC_IOTLB_RSVD_LO, VTD_INV_DESC_IOTLB_RSVD_HI, 'vtd_process_iotlb_desc', 'iotlb inv', log)) return { ok: false, what, effect: 'reserved bits set' };
      const did = Number((lo >> 16n) & 0xffffn);
      if (g === 1) return { ok: true, what, effect: inv.iotlbGlobal() };
      if (g === 2) return { ok: true, what: `${what}, DID ${did}`, effect: inv.iotlbDomain(did) };
      if (g === 3) {
        const addr = hi & ~0xfffn;
        const am = Number(hi & 0x3fn);
        const ih = (hi & 0x40n) !== 0n;
        const w = `${what}, DID ${did}, ADDR ${hex(addr)}, AM ${am}${ih ? ', IH' : ''}`;
        if (am > VTD_MAMV) {
          log(`vtd_process_iotlb_desc: invalid iotlb inv desc: hi=0x${hi.toString(16)}, lo=0x${lo.toString(16)} (am=${am} > VTD_MAMV=${VTD_MAMV})`);
          return { ok: false, what: w, effect: `AM ${am} is beyond CAP.MAMV ${VTD_MAMV}` };
        }
        return { ok: true, what: w, effect: inv.iotlbPage(did, addr, am, ih) };
      }
      log(`vtd_process_iotlb_desc: invalid iotlb inv desc: hi=0x${hi.toString(16)}, lo=0x${lo.toString(16)} (type mismatch: 0x${(lo & 0x30n).toString(16)})`);
      return { ok: false, what, effect: 'invalid granularity' };
    }
    case VTD_INV_DESC_DEVICE: {
      const sid = Number((lo >> 32n) & 0xffffn);
      const size = (hi & 1n) !== 0n;
      const addr = hi & 0xfffffffffffff000n;
      const what = `device-IOTLB invalidation, SID ${hex(sid)}, ADDR ${hex(addr)}, S ${size ? 1 : 0}`;
      if (!rsvd(lo, hi, VTD_INV_DESC_DEVICE_IOTLB_RSVD_LO, VTD_INV_DESC_DEVICE_IOTLB_RSVD_HI, 'vtd_process_device_iotlb_desc', 'dev-iotlb inv', log)) return { ok: false, what, effect: 'reserved bits set' };
      return { ok: true, what, effect: inv.deviceIotlb(sid, size, addr) };
    }
    case VTD_INV_DESC_IEC: {
      const what = `interrupt-entry-cache invalidation (${lo & 0x10n ? 'index' : 'global'})`;
      if (!rsvd(lo, hi, VTD_INV_DESC_IEC_RSVD, ~0n, 'vtd_process_inv_iec_desc', 'iec inv', log)) return { ok: false, what, effect: 'reserved bits set' };
      return { ok: true, what, effect: 'interrupt remapping is not modelled: no IOMMU notification' };
    }
    case VTD_INV_DESC_WAIT: {
      const what = `invalidation wait${lo & VTD_INV_DESC_WAIT_SW ? ', SW' : ''}${lo & VTD_INV_DESC_WAIT_IF ? ', IF' : ''}`;
      if (!rsvd(lo, hi, VTD_INV_DESC_WAIT_RSVD_LO, VTD_INV_DESC_WAIT_RSVD_HI, 'vtd_process_wait_desc', 'wait', log)) return { ok: false, what, effect: 'reserved bits set' };
      const r = extra.wait(lo, hi);
      return { ok: r.ok, what, effect: r.effect };
    }
    case VTD_INV_DESC_PIOTLB: {
      const did = Number((lo >> 16n) & 0xffffn);
      const pasid = Number((lo >> 32n) & 0xfffffn);
      const pg = (lo >> 4n) & 3n;
      const what = `PASID-based IOTLB invalidation (${pg === 2n ? 'PASID-selective within domain' : pg === 3n ? 'page-selective within PASID' : `G ${pg}`}), DID ${did}, PASID ${pasid}${pg === 3n ? `, ADDR ${hex(hi & ~0xfffn)}, AM ${Number(hi & 0x3fn)}${hi & 0x40n ? ', IH' : ''}` : ''}`;
      if (!current) return { ok: true, what, effect: old72 };
      const bad = check256(0xfff000000000f1c0n, 0xf80n, 'vtd_process_piotlb_desc', 'piotlb inv');
      if (bad) return { ok: false, what, effect: bad };
      if (pg === 2n) return { ok: true, what, effect: inv.piotlbPasid(did, pasid) };
      if (pg === 3n) return { ok: true, what, effect: inv.piotlbPage(did, pasid, hi & ~0xfffn, Number(hi & 0x3fn), (hi & 0x40n) !== 0n) };
      log(`vtd_process_piotlb_desc: invalid piotlb inv desc: hi=0x${hi.toString(16)}, lo=0x${lo.toString(16)} (type mismatch: 0x${(lo & 0x30n).toString(16)})`);
      return { ok: false, what, effect: 'invalid granularity' };
    }
    case VTD_INV_DESC_PC: {
      const what = `PASID-cache invalidation (${['domain-selective', 'PASID-selective within domain', 'reserved', 'global'][g]}), DID ${Number((lo >> 16n) & 0xffffn)}, PASID ${Number((lo >> 32n) & 0xfffffn)}`;
      if (!current) return { ok: true, what, effect: old72 };
      // Current QEMU accepts it whenever scalable mode is offered, without checks, and keeps no
      // PASID cache to drop: it reads PASID entries on every translation, as the model does.
      if (extra.smts === true) return { ok: true, what, effect: 'no PASID cache: PASID entries are read on every translation (as QEMU does), nothing to drop' };
      log(`vtd_process_inv_desc: invalid inv desc: hi=${hi.toString(16)}, lo=${lo.toString(16)} (unknown type)`);
      return { ok: false, what, effect: 'PASID-cache invalidation without scalable mode: unknown descriptor type' };
    }
    case VTD_INV_DESC_DEV_PIOTLB: {
      const sid = Number((lo >> 16n) & 0xffffn);
      const pasid = Number((lo >> 32n) & 0xfffffn);
      const global = (hi & 1n) !== 0n;
      const size = (hi & 0x800n) !== 0n;
      const addr = hi & ~0xfffn;
      const what = `PASID-based device-TLB invalidation, SID ${hex(sid)}, ${global ? 'all PASIDs (G)' : `PASID ${pasid}`}, ADDR ${hex(addr)}, S ${size ? 1 : 0}`;
      if (current) {
        const bad = check256(0xfff000000000f000n, 0x7fen, 'vtd_process_device_piotlb_desc', 'device piotlb inv');
        if (bad) return { ok: false, what, effect: bad };
        return { ok: true, what, effect: inv.deviceIotlbPasid(sid, pasid, global, size, addr) };
      }
      log(`vtd_process_inv_desc: invalid inv desc: hi=${hi.toString(16)}, lo=${lo.toString(16)} (unknown type)`);
      return { ok: false, what, effect: 'unknown descriptor type in QEMU 7.2 (it has no PASID-based device-TLB invalidation)' };
    }
    default:
      log(`vtd_process_inv_desc: invalid inv desc: hi=${hi.toString(16)}, lo=${lo.toString(16)} (unknown type)`);
      return { ok: false, what: `descriptor type ${type}`, effect: 'unknown descriptor type' };
  }
}

function num(c: ModelCommand, k: string, dflt?: bigint): bigint | undefined {
  const v = c[k];
  if (v === undefined) return dflt;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^(0x[0-9a-f_]+|\d[\d_]*)$/i.test(v.trim())) return BigInt(v.trim().replace(/_/g, ''));
  if (typeof v === 'boolean') return v ? 1n : 0n;
  return undefined;
}

/** The commands a scenario names, with the fields they take. */
export const VTD_COMMANDS: Readonly<Record<string, string>> = {
  CC_GLOBAL: 'context-cache global invalidation',
  CC_DOMAIN: 'context-cache domain-selective invalidation (did)',
  CC_DEVICE: 'context-cache device-selective invalidation (sid, fm, did)',
  IOTLB_GLOBAL: 'IOTLB global invalidation',
  IOTLB_DOMAIN: 'IOTLB domain-selective invalidation (did)',
  IOTLB_PAGE: 'IOTLB page-selective invalidation (did, addr, am, ih)',
  DEV_IOTLB: 'device-IOTLB invalidation (sid, addr, s)',
  IEC: 'interrupt-entry-cache invalidation',
  WAIT: 'invalidation wait (status-addr and status-data for a status write, if for an interrupt)',
  PIOTLB_PASID: 'PASID-based IOTLB invalidation, PASID-selective within a domain (did, pasid)',
  PIOTLB_PAGE: 'PASID-based IOTLB invalidation, page-selective within a PASID (did, pasid, addr, am, ih)',
  PASID_CACHE: 'PASID-cache invalidation (g: 0 domain, 1 PASID, 3 global; did, pasid)',
  DEV_PIOTLB: 'PASID-based device-TLB invalidation (sid, pasid, addr, s, global)',
};

/** A command as the two 64-bit words of its queued descriptor. */
export function encodeDescriptor(c: ModelCommand): { lo: bigint; hi: bigint } | EngineError {
  const op = String(c.op).toUpperCase().replace(/-/g, '_');
  const bad = (f: string) => engineError('vtd-command', `${op}: "${f}" is missing or not a number`);
  const did = num(c, 'did', 0n);
  const sid = num(c, 'sid', 0n);
  if (did === undefined) return bad('did');
  if (sid === undefined) return bad('sid');
  switch (op) {
    case 'CC_GLOBAL':
      return { lo: 0x11n, hi: 0n };
    case 'CC_DOMAIN':
      return { lo: 0x21n | ((did & 0xffffn) << 16n), hi: 0n };
    case 'CC_DEVICE': {
      const fm = num(c, 'fm', 0n);
      if (fm === undefined) return bad('fm');
      return { lo: 0x31n | ((did & 0xffffn) << 16n) | ((sid & 0xffffn) << 32n) | ((fm & 3n) << 48n), hi: 0n };
    }
    case 'IOTLB_GLOBAL':
      return { lo: 0x12n | 0xc0n, hi: 0n };
    case 'IOTLB_DOMAIN':
      return { lo: 0x22n | 0xc0n | ((did & 0xffffn) << 16n), hi: 0n };
    case 'IOTLB_PAGE': {
      const addr = num(c, 'addr');
      const am = num(c, 'am', 0n);
      const ih = num(c, 'ih', 0n);
      if (addr === undefined) return bad('addr');
      if (am === undefined || am > 0x3fn) return bad('am');
      return { lo: 0x32n | 0xc0n | ((did & 0xffffn) << 16n), hi: (addr & ~0xfffn) | (ih ? 0x40n : 0n) | am };
    }
    case 'DEV_IOTLB': {
      const addr = num(c, 'addr', 0n);
      const s = num(c, 's', 0n);
      if (addr === undefined) return bad('addr');
      return { lo: 0x3n | ((sid & 0xffffn) << 32n), hi: (addr & ~0xfffn) | (s ? 1n : 0n) };
    }
    case 'IEC':
      return { lo: 0x4n, hi: 0n };
    case 'WAIT': {
      const sa = num(c, 'status-addr');
      const sd = num(c, 'status-data', 1n);
      const ifl = num(c, 'if', 0n);
      if (sd === undefined) return bad('status-data');
      let lo = 0x5n | (ifl ? VTD_INV_DESC_WAIT_IF : 0n);
      if (sa !== undefined) lo |= VTD_INV_DESC_WAIT_SW | ((sd & 0xffffffffn) << 32n);
      return { lo, hi: sa ?? 0n };
    }
    case 'PIOTLB_PASID':
    case 'PIOTLB_PAGE': {
      const pasid = num(c, 'pasid', 0n);
      if (pasid === undefined || pasid > 0xfffffn) return bad('pasid');
      const lo = 0x6n | (op === 'PIOTLB_PASID' ? 0x20n : 0x30n) | ((did & 0xffffn) << 16n) | (pasid << 32n);
      if (op === 'PIOTLB_PASID') return { lo, hi: 0n };
      const addr = num(c, 'addr');
      const am = num(c, 'am', 0n);
      const ih = num(c, 'ih', 0n);
      if (addr === undefined) return bad('addr');
      if (am === undefined || am > 0x3fn) return bad('am');
      return { lo, hi: (addr & ~0xfffn) | (ih ? 0x40n : 0n) | am };
    }
    case 'PASID_CACHE': {
      const pasid = num(c, 'pasid', 0n);
      const g = num(c, 'g', 0n);
      if (pasid === undefined || pasid > 0xfffffn) return bad('pasid');
      if (g === undefined || g > 3n) return bad('g');
      return { lo: 0x7n | (g << 4n) | ((did & 0xffffn) << 16n) | (pasid << 32n), hi: 0n };
    }
    case 'DEV_PIOTLB': {
      const pasid = num(c, 'pasid', 0n);
      const addr = num(c, 'addr', 0n);
      const s = num(c, 's', 0n);
      const g = num(c, 'global', 0n);
      if (pasid === undefined || pasid > 0xfffffn) return bad('pasid');
      if (addr === undefined) return bad('addr');
      return { lo: 0x8n | ((sid & 0xffffn) << 16n) | (pasid << 32n), hi: (addr & ~0xfffn) | (s ? 0x800n : 0n) | (g ? 1n : 0n) };
    }
    default:
      return engineError('vtd-command', `unknown intel-iommu command ${String(c.op)} (have: ${Object.keys(VTD_COMMANDS).join(', ')})`);
  }
}
