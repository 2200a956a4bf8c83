/**
 * Fault recording (VT-d 7.2.1 primary fault logging; QEMU's vtd_report_dmar_fault): QEMU has one
 * fault recording register (CAP.NFR = 0). A fault is dropped while FSTS.PFO is set, dropped when
 * a pending record (F=1) has the same source ID ("compression of faults"), sets PFO when the next
 * record is still pending, and otherwise is written to FRCD (FI = the page address; SID, FR, T =
 * 1 for a read; PP and PV) with F set. The first pending fault sets FSTS.PPF and FRI and raises
 * the fault event (an MSI to FEADDR/FEDATA unless FECTL.IM masks it, in which case FECTL.IP stays
 * set). A fault is not recorded when its reason is "qualified" and FPD=1 in the context entry (or,
 * in scalable mode, in the PASID directory or table entry that processed the request).
 */
import { hex } from '../../hex';
import type { VtdRegisters } from './registers';
import {
  DMAR_FECTL_REG,
  DMAR_FEADDR_REG,
  DMAR_FEDATA_REG,
  DMAR_FRCD_REG_NR,
  DMAR_FRCD_REG_OFFSET,
  DMAR_FSTS_REG,
  VTD_FECTL_IM,
  VTD_FECTL_IP,
  VTD_FRCD_F,
  VTD_FRCD_T,
  VTD_FSTS_FRI_MASK,
  VTD_FSTS_IQE,
  VTD_FSTS_PFO,
  VTD_FSTS_PPF,
  faultName,
} from './types';

export type FaultDisposition =
  | { readonly kind: 'recorded'; readonly index: number; readonly hi: bigint; readonly lo: bigint; readonly interrupt: 'sent' | 'masked' | 'pending' }
  | { readonly kind: 'dropped'; readonly reason: 'pfo' | 'compressed' | 'overflow' | 'fpd' | 'probe' };

export interface FaultLogEntry {
  readonly sid: number;
  readonly addr: bigint;
  readonly reason: number;
  readonly isWrite: boolean;
  readonly disposition: FaultDisposition;
  /** QEMU's error_report_once text for the disposition, if it prints one. */
  readonly message?: string;
}

export interface VtdInterrupt {
  readonly kind: 'fault' | 'completion';
  readonly addr: number;
  readonly data: number;
}

/** FRCD_REG's high half: F clear, T, PV [59:40] (QEMU's profile passes it in 16 bits), FR, PP (31), SID. */
export function frcdHi(sid: number, reason: number, isWrite: boolean, isPasid: boolean, pasid: number): bigint {
  let hi = BigInt(sid & 0xffff) | (BigInt(reason & 0xff) << 32n) | (BigInt(pasid & 0xfffff) << 40n) | (BigInt(isPasid ? 1 : 0) << 31n);
  if (!isWrite) hi |= VTD_FRCD_T;
  return hi;
}

export class FaultRecorder {
  nextFrcd = 0;
  readonly log: FaultLogEntry[] = [];

  constructor(
    private readonly regs: VtdRegisters,
    private readonly interrupt: (irq: VtdInterrupt) => void,
    private readonly guestLog: (m: string) => void,
  ) {}

  private frcdSet(index: number): boolean {
    return (this.regs.getQuad(DMAR_FRCD_REG_OFFSET + index * 16 + 8) & VTD_FRCD_F) !== 0n;
  }

  /** vtd_update_fsts_ppf. */
  updatePpf(): void {
    let ppf = 0;
    for (let i = 0; i < DMAR_FRCD_REG_NR; i++) if (this.frcdSet(i)) ppf = VTD_FSTS_PPF;
    this.regs.setClearLong(DMAR_FSTS_REG, VTD_FSTS_PPF, ppf);
  }

  /** vtd_generate_fault_event, given FSTS before the update. */
  generateFaultEvent(preFsts: number): 'sent' | 'masked' | 'pending' {
    if (preFsts & (VTD_FSTS_PPF | VTD_FSTS_PFO | VTD_FSTS_IQE)) {
      this.guestLog('There are previous interrupt conditions to be serviced by software, fault event is not generated');
      return 'pending';
    }
    this.regs.setClearLong(DMAR_FECTL_REG, 0, VTD_FECTL_IP);
    if (this.regs.getLong(DMAR_FECTL_REG) & VTD_FECTL_IM) {
      this.guestLog('Interrupt Mask set, irq is not generated');
      return 'masked';
    }
    this.interrupt({ kind: 'fault', addr: this.regs.getLong(DMAR_FEADDR_REG), data: this.regs.getLong(DMAR_FEDATA_REG) });
    this.regs.setClearLong(DMAR_FECTL_REG, VTD_FECTL_IP, 0);
    return 'sent';
  }

  report(sid: number, addr: bigint, reason: number, isWrite: boolean, isPasid: boolean, pasid: number): FaultLogEntry {
    const fsts = this.regs.getLong(DMAR_FSTS_REG);
    const done = (disposition: FaultDisposition, message?: string): FaultLogEntry => {
      if (message) this.guestLog(message);
      const e = { sid, addr, reason, isWrite, disposition, message };
      this.log.push(e);
      if (this.log.length > 256) this.log.splice(0, this.log.length - 256);
      return e;
    };
    if (fsts & VTD_FSTS_PFO) return done({ kind: 'dropped', reason: 'pfo' }, 'New fault is not recorded due to Primary Fault Overflow');
    for (let i = 0; i < DMAR_FRCD_REG_NR; i++) {
      const hi = this.regs.getQuad(DMAR_FRCD_REG_OFFSET + i * 16 + 8);
      if ((hi & VTD_FRCD_F) !== 0n && (hi & 0xffffn) === BigInt(sid)) {
        return done({ kind: 'dropped', reason: 'compressed' }, 'New fault is not recorded due to compression of faults');
      }
    }
    const index = this.nextFrcd;
    if (this.frcdSet(index)) {
      this.regs.setClearLong(DMAR_FSTS_REG, 0, VTD_FSTS_PFO);
      return done({ kind: 'dropped', reason: 'overflow' }, 'Next Fault Recording Reg is used, new fault is not recorded, set PFO field');
    }
    const lo = addr & ~0xfffn;
    const hi = frcdHi(sid, reason, isWrite, isPasid, pasid);
    const at = DMAR_FRCD_REG_OFFSET + index * 16;
    this.regs.setQuadRaw(at, lo);
    this.regs.setQuadRaw(at + 8, hi);
    let interrupt: 'sent' | 'masked' | 'pending';
    let message: string | undefined;
    if (fsts & VTD_FSTS_PPF) {
      message = 'There are pending faults already, fault event is not generated';
      this.regs.setClearQuad(at + 8, 0n, VTD_FRCD_F);
      this.updatePpf();
      interrupt = 'pending';
    } else {
      this.regs.setClearLong(DMAR_FSTS_REG, VTD_FSTS_FRI_MASK, (index << 8) & VTD_FSTS_FRI_MASK);
      this.regs.setClearQuad(at + 8, 0n, VTD_FRCD_F);
      this.updatePpf();
      interrupt = this.generateFaultEvent(fsts);
    }
    this.nextFrcd = (index + 1) % DMAR_FRCD_REG_NR;
    return done({ kind: 'recorded', index, hi: hi | VTD_FRCD_F, lo, interrupt }, message);
  }

  suppressed(sid: number, addr: bigint, reason: number, isWrite: boolean, why: 'fpd' | 'probe'): FaultLogEntry {
    const e: FaultLogEntry = { sid, addr, reason, isWrite, disposition: { kind: 'dropped', reason: why } };
    if (why === 'fpd') {
      this.log.push(e);
      if (this.log.length > 256) this.log.splice(0, this.log.length - 256);
    }
    return e;
  }
}

export function describeDisposition(d: FaultDisposition): string {
  if (d.kind === 'recorded') {
    const irq = d.interrupt === 'sent' ? 'fault event sent' : d.interrupt === 'masked' ? 'FECTL.IM masks the fault event (IP set)' : 'no fault event (one is pending)';
    return `recorded in FRCD${d.index}: hi=${hex(d.hi, 16)} lo=${hex(d.lo, 16)}; ${irq}`;
  }
  switch (d.reason) {
    case 'pfo':
      return 'not recorded: FSTS.PFO is set (primary fault overflow)';
    case 'compressed':
      return 'not recorded: a pending fault record has the same source ID (compression of faults)';
    case 'overflow':
      return 'not recorded: the next fault recording register is in use; FSTS.PFO set';
    case 'fpd':
      return 'not recorded: FPD=1 (in the context entry, or in scalable mode the PASID directory or table entry) and the fault is qualified';
    default:
      return 'not recorded: a probe records nothing';
  }
}

export function faultSummary(reason: number): string {
  return `${faultName(reason)} (0x${reason.toString(16)})`;
}
