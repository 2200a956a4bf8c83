/**
 * The SMMUv3 register file (page 0 of the 0x20000-byte MMIO block; page 1 aliases it, QEMU's
 * CONSTRAINED UNPREDICTABLE choice), as hw/arm/smmuv3.c's smmu_readl/smmu_writel and
 * smmu_readll/smmu_writell handle it: 32- and 64-bit accesses only, 64-bit registers also as two
 * 32-bit halves, unexpected accesses read as zero and are ignored (with QEMU's LOG_UNIMP text).
 *
 * GBPA follows the architecture's SMMUv3.2 rule, which is also exactly QEMU's subset: a write
 * without GBPA.UPDATE is ignored; a write with it takes effect at once (the model's update is
 * synchronous) and UPDATE reads back as 0. In the qemu-7.2 profile GBPA does not exist.
 */
import { MemTxResult, type MemTxAttrs } from '../../attrs';
import type { RegisterFile, RegisterInfo } from '../../device';
import type { AccessSize } from '../../guest-memory';
import { bitsToOasField, type ProfileFlags } from './types';

/** Size of the MMIO block (memory_region_init_io(..., 0x20000)). */
export const SMMUV3_MMIO_SIZE = 0x20000n;

export const A_IDR0 = 0x00;
export const A_IDR1 = 0x04;
export const A_IDR2 = 0x08;
export const A_IDR3 = 0x0c;
export const A_IDR4 = 0x10;
export const A_IDR5 = 0x14;
export const A_IIDR = 0x18;
export const A_AIDR = 0x1c;
export const A_CR0 = 0x20;
export const A_CR0ACK = 0x24;
export const A_CR1 = 0x28;
export const A_CR2 = 0x2c;
export const A_STATUSR = 0x40;
export const A_GBPA = 0x44;
export const A_IRQ_CTRL = 0x50;
export const A_IRQ_CTRL_ACK = 0x54;
export const A_GERROR = 0x60;
export const A_GERRORN = 0x64;
export const A_GERROR_IRQ_CFG0 = 0x68;
export const A_GERROR_IRQ_CFG1 = 0x70;
export const A_GERROR_IRQ_CFG2 = 0x74;
export const A_STRTAB_BASE = 0x80;
export const A_STRTAB_BASE_CFG = 0x88;
export const A_CMDQ_BASE = 0x90;
export const A_CMDQ_PROD = 0x98;
export const A_CMDQ_CONS = 0x9c;
export const A_EVENTQ_BASE = 0xa0;
export const A_EVENTQ_PROD = 0xa8;
export const A_EVENTQ_CONS = 0xac;
export const A_EVENTQ_IRQ_CFG0 = 0xb0;
export const A_EVENTQ_IRQ_CFG1 = 0xb8;
export const A_EVENTQ_IRQ_CFG2 = 0xbc;
export const A_IDREGS = 0xfd0;

export const CR0_SMMUEN = 1 << 0;
export const CR0_EVENTQEN = 1 << 2;
export const CR0_CMDQEN = 1 << 3;
/** Bits of CR0 that CR0ACK never reflects (SMMU_CR0_RESERVED). */
export const CR0_RESERVED = 0xfffffc20;

export const GBPA_ABORT = 1 << 20;
export const GBPA_UPDATE = 0x80000000;
/** SHCFG = 0b01, "use incoming" (SMMU_GBPA_RESET_VAL). */
export const GBPA_RESET = 0x1000;

export const IRQ_CTRL_GERROR_IRQEN = 1 << 0;
export const IRQ_CTRL_PRI_IRQEN = 1 << 1;
export const IRQ_CTRL_EVENTQ_IRQEN = 1 << 2;

export const GERROR_CMDQ_ERR = 1 << 0;
export const GERROR_EVENTQ_ABT_ERR = 1 << 2;
export const GERROR_PRIQ_ABT_ERR = 1 << 3;
export const GERROR_MSI_CMDQ_ABT_ERR = 1 << 4;

export const STRTAB_FMT_LINEAR = 0;
export const STRTAB_FMT_2LVL = 1;

export const CMDQ_CONS_ERR_SHIFT = 24;
export const CMDQ_CONS_ERR_MASK = 0x7f << 24;
/** EVENTQ_PROD.OVFLG and EVENTQ_CONS.OVACKFLG. */
export const EVENTQ_OVFLG = 0x80000000;

/** IDR1.CMDQS / EVENTQS: log2 of the largest queue (SMMU_CMDQS, SMMU_EVENTQS). */
export const SMMU_CMDQS = 19;
export const SMMU_EVENTQS = 19;
/** IDR1.SIDSIZE (SMMU_IDR1_SIDSIZE). */
export const SMMU_SIDSIZE = 16;

/** PIDR4-7, PIDR0-3, CIDR0-3: an Arm MMU-600 (smmuv3_idreg). */
const SMMUV3_IDREGS = [0x04, 0, 0, 0, 0x84, 0xb4, 0xf0, 0x10, 0x0d, 0xf0, 0x05, 0xb1] as const;

/** CMDQ_CONS.ERR codes (SMMUCmdError). */
export const CERROR_NONE = 0;
export const CERROR_ILL = 1;
export const CERROR_ABT = 2;
export const CERROR_ATC_INV_SYNC = 3;

export function cerrorName(e: number): string {
  return ['CERROR_NONE', 'CERROR_ILL', 'CERROR_ABT', 'CERROR_ATC_INV_SYNC'][e] ?? `CERROR_${e}`;
}

/** The ID registers the model reports for a profile (smmuv3_init_regs). */
export function idRegisters(p: ProfileFlags): readonly number[] {
  let idr0 = 0;
  if (p.stage2) idr0 |= 1 << 0; // S2P
  idr0 |= 1 << 1; // S1P
  idr0 |= 2 << 2; // TTF: AArch64 tables only
  idr0 |= 1 << 4; // COHACC
  idr0 |= 1 << 12; // ASID16
  if (p.stage2) idr0 |= 1 << 18; // VMID16
  idr0 |= 2 << 21; // TTENDIAN: little-endian only
  idr0 |= 1 << 24; // STALL_MODEL: stalls not supported
  idr0 |= 1 << 26; // TERM_MODEL: terminated transactions abort
  idr0 |= 1 << 27; // STLEVEL: 2-level stream tables
  const idr1 = SMMU_SIDSIZE | (SMMU_EVENTQS << 16) | (SMMU_CMDQS << 21);
  const idr3 = (1 << 2) | (1 << 10) | (p.idr3Bbml << 11); // HAD, RIL, BBML
  let idr5 = bitsToOasField(p.oasBits);
  idr5 |= 1 << 4; // GRAN4K
  idr5 |= 1 << 5; // GRAN16K
  idr5 |= 1 << 6; // GRAN64K
  return [idr0 >>> 0, idr1 >>> 0, 0, idr3, 0, idr5];
}

export interface SmmuQueue {
  /** The base is aligned to the queue's size (the architecture) rather than to 64 bytes (QEMU 7.2's Q_BASE). */
  readonly alignToSize: boolean;
  /** The BASE register as written (ADDR, LOG2SIZE, RA/WA bits). */
  base: bigint;
  prod: number;
  cons: number;
  /** LOG2SIZE capped at CMDQS/EVENTQS. */
  log2size: number;
  readonly entrySize: number;
  readonly maxLog2: number;
}

export function newQueue(entrySize: number, maxLog2: number, alignToSize = true): SmmuQueue {
  return { base: BigInt(maxLog2), prod: 0, cons: 0, log2size: maxLog2, entrySize, maxLog2, alignToSize };
}

function setQueueBase(q: SmmuQueue, base: bigint): void {
  q.base = base;
  const l = Number(base & 0x1fn);
  q.log2size = l > q.maxLog2 ? q.maxLog2 : l;
}

/**
 * Queue entry addresses: ADDR bits [51:5], aligned to the queue's size as the architecture
 * requires; QEMU 7.2 (Q_BASE) takes bits [51:6] and does not align further.
 */
export function queueBase(q: SmmuQueue): number {
  if (!q.alignToSize) return Number(q.base & 0x000fffffffffffc0n);
  const addr = Number(q.base & 0x000fffffffffffe0n);
  const bytes = q.entrySize * 2 ** q.log2size;
  return addr - (addr % Math.max(bytes, 32));
}

export function queueIndex(q: SmmuQueue, v: number): number {
  return (v >>> 0) % 2 ** q.log2size;
}

export function queueWrap(q: SmmuQueue, v: number): number {
  return Math.floor((v >>> 0) / 2 ** q.log2size) & 1;
}

/** prod and cons differ only in the wrap bit. */
export function queueFull(q: SmmuQueue): boolean {
  const m = 2 ** (q.log2size + 1);
  return ((q.prod >>> 0) % m) !== ((q.cons >>> 0) % m) && queueIndex(q, q.prod) === queueIndex(q, q.cons);
}

export function queueEmpty(q: SmmuQueue): boolean {
  const m = 2 ** (q.log2size + 1);
  return (q.prod >>> 0) % m === (q.cons >>> 0) % m;
}

/** The next index with wrap bit, keeping the bits above (CMDQ_CONS.ERR, EVENTQ_PROD.OVFLG). */
export function queueIncr(q: SmmuQueue, v: number): number {
  const m = 2 ** (q.log2size + 1);
  const low = (v >>> 0) % m;
  const high = (v >>> 0) - low;
  return (high + ((low + 1) % m)) >>> 0;
}

/** What register writes set off; the device implements them. */
export interface RegisterHooks {
  /** CR0, CMDQ_PROD and GERRORN writes: QEMU calls smmuv3_cmdq_consume. */
  consumeCommands(): void;
  /** QEMU's qemu_log_mask texts (LOG_UNIMP / LOG_GUEST_ERROR). */
  log(message: string): void;
}

/** The register state (QEMU's SMMUv3State fields) and its MMIO read/write. */
export class Smmuv3Registers implements RegisterFile {
  readonly registers: readonly RegisterInfo[];
  readonly idr: readonly number[];
  cr0 = 0;
  cr0ack = 0;
  cr1 = 0;
  cr2 = 0;
  statusr = 0;
  gbpa = GBPA_RESET;
  irqCtrl = 0;
  gerror = 0;
  gerrorn = 0;
  gerrorIrqCfg0 = 0n;
  gerrorIrqCfg1 = 0;
  gerrorIrqCfg2 = 0;
  strtabBase = 0n;
  strtabBaseCfg = 0;
  /** QEMU's features & SMMU_FEATURE_2LVL_STE and sid_split, latched by STRTAB_BASE_CFG writes. */
  latched2lvl = false;
  latchedSplit = 0;
  readonly cmdq: SmmuQueue;
  readonly eventq: SmmuQueue;
  eventqIrqCfg0 = 0n;
  eventqIrqCfg1 = 0;
  eventqIrqCfg2 = 0;
  readonly aidr = 1;
  readonly iidr = 0;
  /** smmu_mem_ops.valid.max_access_size. */
  readonly maxAccessSize = 8;

  constructor(
    readonly flags: ProfileFlags,
    private readonly hooks: RegisterHooks,
  ) {
    this.cmdq = newQueue(16, SMMU_CMDQS, flags.queueBaseArch);
    this.eventq = newQueue(32, SMMU_EVENTQS, flags.queueBaseArch);
    this.idr = idRegisters(flags);
    this.registers = registerInfos(this.idr, flags);
  }

  /** smmuv3_init_regs (smmu_reset_hold). */
  reset(): void {
    this.cr0 = 0;
    this.cr0ack = 0;
    this.cr1 = 0;
    this.cr2 = 0;
    this.statusr = 0;
    this.gbpa = GBPA_RESET;
    this.irqCtrl = 0;
    this.gerror = 0;
    this.gerrorn = 0;
    this.gerrorIrqCfg0 = 0n;
    this.gerrorIrqCfg1 = 0;
    this.gerrorIrqCfg2 = 0;
    this.strtabBase = 0n;
    this.strtabBaseCfg = 0;
    this.latched2lvl = false;
    this.latchedSplit = 0;
    for (const q of [this.cmdq, this.eventq]) {
      setQueueBase(q, BigInt(q.maxLog2));
      q.prod = 0;
      q.cons = 0;
    }
    this.eventqIrqCfg0 = 0n;
    this.eventqIrqCfg1 = 0;
    this.eventqIrqCfg2 = 0;
  }

  get smmuEnabled(): boolean {
    return (this.cr0 & CR0_SMMUEN) !== 0;
  }
  get cmdqEnabled(): boolean {
    return (this.cr0 & CR0_CMDQEN) !== 0;
  }
  get eventqEnabled(): boolean {
    return (this.cr0 & CR0_EVENTQEN) !== 0;
  }
  /** GBPA.ABORT as the translation sees it (always clear without GBPA). */
  get gbpaAbort(): boolean {
    return this.flags.gbpa && (this.gbpa & GBPA_ABORT) !== 0;
  }
  /** Global errors not yet acknowledged through GERRORN. */
  get gerrorPending(): number {
    return (this.gerror ^ this.gerrorn) >>> 0;
  }
  /** STRTAB_BASE_CFG.FMT as lookups use it. */
  get twoLevel(): boolean {
    return this.flags.fmtArch ? ((this.strtabBaseCfg >>> 16) & 3) === STRTAB_FMT_2LVL : this.latched2lvl;
  }
  get split(): number {
    return this.flags.fmtArch ? (this.strtabBaseCfg >>> 6) & 0x1f : this.latchedSplit;
  }
  get log2size(): number {
    return this.strtabBaseCfg & 0x3f;
  }

  read(offset: bigint, size: AccessSize, _attrs: MemTxAttrs): { value: bigint; result: MemTxResult } {
    if (!this.accessValid(offset, size)) return { value: 0n, result: MemTxResult.DECODE_ERROR };
    const off = Number(offset) & ~0x10000;
    if (size === 8) return { value: this.readll(off), result: MemTxResult.OK };
    return { value: BigInt(this.readl(off) >>> 0), result: MemTxResult.OK };
  }

  write(offset: bigint, size: AccessSize, value: bigint, _attrs: MemTxAttrs): MemTxResult {
    if (!this.accessValid(offset, size)) return MemTxResult.DECODE_ERROR;
    const off = Number(offset) & ~0x10000;
    if (size === 8) this.writell(off, BigInt.asUintN(64, value));
    else this.writel(off, Number(BigInt.asUintN(32, value)));
    return MemTxResult.OK;
  }

  /** smmu_mem_ops.valid: 4- and 8-byte, aligned accesses inside the block; others never reach the device. */
  private accessValid(offset: bigint, size: AccessSize): boolean {
    if (size !== 4 && size !== 8) return false;
    if (offset < 0n || offset + BigInt(size) > SMMUV3_MMIO_SIZE) return false;
    return (offset & BigInt(size - 1)) === 0n;
  }

  private readll(off: number): bigint {
    switch (off) {
      case A_GERROR_IRQ_CFG0:
        return this.gerrorIrqCfg0;
      case A_STRTAB_BASE:
        return this.strtabBase;
      case A_CMDQ_BASE:
        return this.cmdq.base;
      case A_EVENTQ_BASE:
        return this.eventq.base;
      case A_EVENTQ_IRQ_CFG0:
        if (!this.flags.eventqIrqCfgReadable) break;
        return this.eventqIrqCfg0;
    }
    this.hooks.log(`smmu_readll Unexpected 64-bit access to 0x${off.toString(16)} (RAZ)`);
    return 0n;
  }

  private readl(off: number): number {
    if (off >= A_IDREGS && off <= A_IDREGS + 0x2f) return SMMUV3_IDREGS[(off - A_IDREGS) >> 2]!;
    if (off >= A_IDR0 && off <= A_IDR5) return this.idr[(off - A_IDR0) >> 2]!;
    const lo = (v: bigint) => Number(v & 0xffffffffn);
    const hi = (v: bigint) => Number((v >> 32n) & 0xffffffffn);
    switch (off) {
      case A_IIDR:
        return this.iidr;
      case A_AIDR:
        return this.aidr;
      case A_CR0:
        return this.cr0;
      case A_CR0ACK:
        return this.cr0ack;
      case A_CR1:
        return this.cr1;
      case A_CR2:
        return this.cr2;
      case A_STATUSR:
        return this.statusr;
      case A_GBPA:
        if (!this.flags.gbpa) break;
        return this.gbpa;
      case A_IRQ_CTRL:
      case A_IRQ_CTRL_ACK:
        return this.irqCtrl;
      case A_GERROR:
        return this.gerror;
      case A_GERRORN:
        return this.gerrorn;
      case A_GERROR_IRQ_CFG0:
        return lo(this.gerrorIrqCfg0);
      case A_GERROR_IRQ_CFG0 + 4:
        return hi(this.gerrorIrqCfg0);
      case A_GERROR_IRQ_CFG1:
        return this.gerrorIrqCfg1;
      case A_GERROR_IRQ_CFG2:
        return this.gerrorIrqCfg2;
      case A_STRTAB_BASE:
        return lo(this.strtabBase);
      case A_STRTAB_BASE + 4:
        return hi(this.strtabBase);
      case A_STRTAB_BASE_CFG:
        return this.strtabBaseCfg;
      case A_CMDQ_BASE:
        return lo(this.cmdq.base);
      case A_CMDQ_BASE + 4:
        return hi(this.cmdq.base);
      case A_CMDQ_PROD:
        return this.cmdq.prod;
      case A_CMDQ_CONS:
        return this.cmdq.cons;
      case A_EVENTQ_BASE:
        return lo(this.eventq.base);
      case A_EVENTQ_BASE + 4:
        return hi(this.eventq.base);
      case A_EVENTQ_PROD:
        return this.eventq.prod;
      case A_EVENTQ_CONS:
        return this.eventq.cons;
    }
    if (this.flags.eventqIrqCfgReadable) {
      switch (off) {
        case A_EVENTQ_IRQ_CFG0:
          return lo(this.eventqIrqCfg0);
        case A_EVENTQ_IRQ_CFG0 + 4:
          return hi(this.eventqIrqCfg0);
        case A_EVENTQ_IRQ_CFG1:
          return this.eventqIrqCfg1;
        case A_EVENTQ_IRQ_CFG2:
          return this.eventqIrqCfg2;
      }
    }
    this.hooks.log(`smmu_readl unhandled 32-bit access at 0x${off.toString(16)} (RAZ)`);
    return 0;
  }

  private writell(off: number, v: bigint): void {
    switch (off) {
      case A_GERROR_IRQ_CFG0:
        this.gerrorIrqCfg0 = v;
        return;
      case A_STRTAB_BASE:
        this.strtabBase = v;
        return;
      case A_CMDQ_BASE:
        setQueueBase(this.cmdq, v);
        return;
      case A_EVENTQ_BASE:
        setQueueBase(this.eventq, v);
        return;
      case A_EVENTQ_IRQ_CFG0:
        this.eventqIrqCfg0 = v;
        return;
      default:
        this.hooks.log(`smmu_writell Unexpected 64-bit access to 0x${off.toString(16)} (WI)`);
    }
  }

  private writel(off: number, v: number): void {
    const dep = (old: bigint, high: boolean) =>
      high ? (old & 0xffffffffn) | (BigInt(v >>> 0) << 32n) : (old & ~0xffffffffn) | BigInt(v >>> 0);
    switch (off) {
      case A_CR0:
        this.cr0 = v >>> 0;
        this.cr0ack = (v & ~CR0_RESERVED) >>> 0;
        // In case the command queue has been enabled.
        this.hooks.consumeCommands();
        return;
      case A_CR1:
        this.cr1 = v >>> 0;
        return;
      case A_CR2:
        this.cr2 = v >>> 0;
        return;
      case A_IRQ_CTRL:
        this.irqCtrl = v >>> 0;
        return;
      case A_GERRORN: {
        const pending = this.gerrorPending;
        const toggled = (this.gerrorn ^ v) >>> 0;
        if (toggled & ~pending) this.hooks.log(`guest toggles non pending errors = 0x${((toggled & ~pending) >>> 0).toString(16)}`);
        this.gerrorn = v >>> 0;
        // Acknowledging CMDQ_ERR lets commands run again.
        this.hooks.consumeCommands();
        return;
      }
      case A_GERROR_IRQ_CFG0:
      case A_GERROR_IRQ_CFG0 + 4:
        this.gerrorIrqCfg0 = dep(this.gerrorIrqCfg0, off !== A_GERROR_IRQ_CFG0);
        return;
      case A_GERROR_IRQ_CFG1:
        this.gerrorIrqCfg1 = v >>> 0;
        return;
      case A_GERROR_IRQ_CFG2:
        this.gerrorIrqCfg2 = v >>> 0;
        return;
      case A_GBPA:
        if (!this.flags.gbpa) break;
        // Without UPDATE the write is ignored (the only behaviour SMMUv3.2 permits); the update
        // completes at once, so UPDATE reads back as 0.
        if (v & GBPA_UPDATE) this.gbpa = (v & ~GBPA_UPDATE) >>> 0;
        return;
      case A_STRTAB_BASE:
      case A_STRTAB_BASE + 4:
        this.strtabBase = dep(this.strtabBase, off !== A_STRTAB_BASE);
        return;
      case A_STRTAB_BASE_CFG:
        this.strtabBaseCfg = v >>> 0;
        if (((v >>> 16) & 3) === STRTAB_FMT_2LVL) {
          this.latchedSplit = (v >>> 6) & 0x1f;
          this.latched2lvl = true;
        }
        return;
      case A_CMDQ_BASE:
        setQueueBase(this.cmdq, dep(this.cmdq.base, false));
        return;
      case A_CMDQ_BASE + 4:
        this.cmdq.base = dep(this.cmdq.base, true);
        return;
      case A_CMDQ_PROD:
        this.cmdq.prod = v >>> 0;
        this.hooks.consumeCommands();
        return;
      case A_CMDQ_CONS:
        this.cmdq.cons = v >>> 0;
        return;
      case A_EVENTQ_BASE:
        setQueueBase(this.eventq, dep(this.eventq.base, false));
        return;
      case A_EVENTQ_BASE + 4:
        this.eventq.base = dep(this.eventq.base, true);
        return;
      case A_EVENTQ_PROD:
        this.eventq.prod = v >>> 0;
        return;
      case A_EVENTQ_CONS:
        this.eventq.cons = v >>> 0;
        return;
      case A_EVENTQ_IRQ_CFG0:
      case A_EVENTQ_IRQ_CFG0 + 4:
        this.eventqIrqCfg0 = dep(this.eventqIrqCfg0, off !== A_EVENTQ_IRQ_CFG0);
        return;
      case A_EVENTQ_IRQ_CFG1:
        this.eventqIrqCfg1 = v >>> 0;
        return;
      case A_EVENTQ_IRQ_CFG2:
        this.eventqIrqCfg2 = v >>> 0;
        return;
    }
    this.hooks.log(`smmu_writel Unexpected 32-bit access to 0x${off.toString(16)} (WI)`);
  }
}

function registerInfos(idr: readonly number[], flags: ProfileFlags): RegisterInfo[] {
  const r = (name: string, offset: number, width: 4 | 8, access: RegisterInfo['access'], reset: number | bigint, description: string): RegisterInfo => ({
    name,
    offset,
    width,
    access,
    reset: BigInt(reset),
    description,
  });
  // QEMU 7.2's smmu_readl/smmu_readll do not decode EVENTQ_IRQ_CFG0-2.
  const raz = flags.eventqIrqCfgReadable ? '' : '; reads as zero in QEMU 7.2, writes are kept';
  const out: RegisterInfo[] = [
    r('IDR0', A_IDR0, 4, 'ro', idr[0]!, `Features: ${flags.stage2 ? 'S1P, S2P, VMID16' : 'S1P'}, AArch64 tables, COHACC, ASID16, little-endian tables, no stalls, TERM_MODEL, 2-level stream tables`),
    r('IDR1', A_IDR1, 4, 'ro', idr[1]!, 'SIDSIZE 16, EVENTQS 19, CMDQS 19'),
    r('IDR2', A_IDR2, 4, 'ro', idr[2]!, 'No VATOS'),
    r('IDR3', A_IDR3, 4, 'ro', idr[3]!, `HAD (hierarchical attribute disable), RIL (range invalidation)${flags.idr3Bbml ? `, BBML ${flags.idr3Bbml} (QEMU 7.2)` : ''}`),
    r('IDR4', A_IDR4, 4, 'ro', idr[4]!, 'Implementation defined (0)'),
    r('IDR5', A_IDR5, 4, 'ro', idr[5]!, `OAS ${flags.oasBits} bits, granules 4K, 16K, 64K`),
    r('IIDR', A_IIDR, 4, 'ro', 0, 'Implementation ID'),
    r('AIDR', A_AIDR, 4, 'ro', 1, 'Architecture version: SMMUv3.1'),
    r('CR0', A_CR0, 4, 'rw', 0, 'SMMUEN (0), EVENTQEN (2), CMDQEN (3); a write runs the command queue'),
    r('CR0ACK', A_CR0ACK, 4, 'ro', 0, 'CR0 as acknowledged (CR0 without reserved bits)'),
    r('CR1', A_CR1, 4, 'rw', 0, 'Table and queue memory attributes'),
    r('CR2', A_CR2, 4, 'rw', 0, 'E2H, RECINVSID, PTM'),
    r('STATUSR', A_STATUSR, 4, 'ro', 0, 'Dormant status'),
  ];
  if (flags.gbpa) out.push(r('GBPA', A_GBPA, 4, 'rw', GBPA_RESET, 'Global bypass attributes: ABORT (20) aborts transactions while SMMUEN=0; a write takes effect only with UPDATE (31)'));
  out.push(
    r('IRQ_CTRL', A_IRQ_CTRL, 4, 'rw', 0, 'GERROR_IRQEN (0), PRI_IRQEN (1), EVENTQ_IRQEN (2)'),
    r('IRQ_CTRL_ACK', A_IRQ_CTRL_ACK, 4, 'ro', 0, 'IRQ_CTRL as acknowledged'),
    r('GERROR', A_GERROR, 4, 'ro', 0, 'Global errors: CMDQ_ERR (0), EVENTQ_ABT_ERR (2), ...; active while different from GERRORN'),
    r('GERRORN', A_GERRORN, 4, 'rw', 0, 'Acknowledges GERROR bits by toggling them; a write runs the command queue'),
    r('GERROR_IRQ_CFG0', A_GERROR_IRQ_CFG0, 8, 'rw', 0n, 'GERROR MSI address'),
    r('GERROR_IRQ_CFG1', A_GERROR_IRQ_CFG1, 4, 'rw', 0, 'GERROR MSI data'),
    r('GERROR_IRQ_CFG2', A_GERROR_IRQ_CFG2, 4, 'rw', 0, 'GERROR MSI attributes'),
    r('STRTAB_BASE', A_STRTAB_BASE, 8, 'rw', 0n, 'Stream table base address (bits [51:6]), RA (62)'),
    r('STRTAB_BASE_CFG', A_STRTAB_BASE_CFG, 4, 'rw', 0, 'LOG2SIZE [5:0], SPLIT [10:6], FMT [17:16] (0 linear, 1 2-level)'),
    r('CMDQ_BASE', A_CMDQ_BASE, 8, 'rw', BigInt(SMMU_CMDQS), 'Command queue base address (bits [51:5]), LOG2SIZE [4:0]'),
    r('CMDQ_PROD', A_CMDQ_PROD, 4, 'rw', 0, 'Command queue producer index (with wrap bit); a write runs the queue'),
    r('CMDQ_CONS', A_CMDQ_CONS, 4, 'rw', 0, 'Command queue consumer index, ERR [30:24]'),
    r('EVENTQ_BASE', A_EVENTQ_BASE, 8, 'rw', BigInt(SMMU_EVENTQS), 'Event queue base address (bits [51:5]), LOG2SIZE [4:0]'),
    r('EVENTQ_PROD', A_EVENTQ_PROD, 4, 'rw', 0, 'Event queue producer index, OVFLG (31)'),
    r('EVENTQ_CONS', A_EVENTQ_CONS, 4, 'rw', 0, 'Event queue consumer index, OVACKFLG (31)'),
    r('EVENTQ_IRQ_CFG0', A_EVENTQ_IRQ_CFG0, 8, 'rw', 0n, `Event queue MSI address${raz}`),
    r('EVENTQ_IRQ_CFG1', A_EVENTQ_IRQ_CFG1, 4, 'rw', 0, `Event queue MSI data${raz}`),
    r('EVENTQ_IRQ_CFG2', A_EVENTQ_IRQ_CFG2, 4, 'rw', 0, `Event queue MSI attributes${raz}`),
  );
  const idNames = ['PIDR4', 'PIDR5', 'PIDR6', 'PIDR7', 'PIDR0', 'PIDR1', 'PIDR2', 'PIDR3', 'CIDR0', 'CIDR1', 'CIDR2', 'CIDR3'];
  idNames.forEach((n, i) => out.push(r(n, A_IDREGS + 4 * i, 4, 'ro', SMMUV3_IDREGS[i]!, `${n.startsWith('P') ? 'Peripheral' : 'Component'} ID register (Arm MMU-600)`)));
  return out;
}
