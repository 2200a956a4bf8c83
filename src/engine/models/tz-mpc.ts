/**
 * `tz-mpc`: Arm's AHB5 TrustZone Memory Protection Controller (CoreLink SIE-200), exactly as QEMU's
 * hw/misc/tz-mpc.c models it. The MPC sits in front of a downstream region and splits it into
 * blocks; one LUT bit per block (cfg_ns) says whether secure (0) or non-secure (1) transactions
 * may pass. The IOMMU region has two indexes, S and NS; translate() sends a transaction either to
 * the downstream address space or to a "blocked" MMIO region that reads as zero, latches what was
 * refused into INT_INFO1/2 and raises an interrupt.
 *
 * The file follows QEMU's order: registers and fields, state, translate, register access,
 * notification. Where QEMU's behaviour is surprising the comment quotes the line it comes from.
 */
import { MemTxResult, type MemTxAttrs } from '../attrs';
import { AddressSpace } from '../address-space';
import type { IommuDevice, RegisterFile, RegisterInfo } from '../device';
import { registerRegion } from '../device';
import { engineError, type EngineError } from '../errors';
import type { AccessSize } from '../guest-memory';
import { ctz, hex, isPowerOfTwo } from '../hex';
import { IOMMUMemoryRegion } from '../iommu';
import {
  IOMMU_NONE,
  IOMMU_NOTIFIER_MAP,
  IOMMU_NOTIFIER_UNMAP,
  IOMMU_RW,
  permName,
  type IOMMUAccessFlags,
  type IOMMUTLBEntry,
} from '../iotlb';
import { MmioRegion, type MemoryRegion } from '../memory';
import { STEP_NAMES, configSource, type Trace } from '../trace';
import { fmtAddr, fmtRaw } from '../format';

// ---------------------------------------------------------------------------------------------
// IOMMU indexes, registers and fields (QEMU's enum, REG32 and FIELD lines)
// ---------------------------------------------------------------------------------------------

/** `IOMMU_IDX_S`: secure transactions (and unspecified attributes, see attrsToIndex). */
export const TZ_MPC_IDX_S = 0;
/** `IOMMU_IDX_NS`: non-secure transactions. */
export const TZ_MPC_IDX_NS = 1;
const TZ_MPC_NUM_INDEXES = 2;

export const A_CTRL = 0x00;
export const A_BLK_MAX = 0x10;
export const A_BLK_CFG = 0x14;
export const A_BLK_IDX = 0x18;
export const A_BLK_LUT = 0x1c;
export const A_INT_STAT = 0x20;
export const A_INT_CLEAR = 0x24;
export const A_INT_EN = 0x28;
export const A_INT_INFO1 = 0x2c;
export const A_INT_INFO2 = 0x30;
export const A_INT_SET = 0x34;
/** The ID registers run from PIDR4 (0xfd0) to CIDR3 (0xffc); everything below is secure-only. */
export const A_PIDR4 = 0xfd0;
export const A_CIDR3 = 0xffc;

export const R_CTRL_SEC_RESP_MASK = 1 << 4;
export const R_CTRL_AUTOINC_MASK = 1 << 8;
export const R_CTRL_LOCKDOWN_MASK = 0x80000000;
export const R_INT_STAT_IRQ_MASK = 1;
export const R_INT_CLEAR_IRQ_MASK = 1;
export const R_INT_EN_IRQ_MASK = 1;
export const R_INT_SET_IRQ_MASK = 1;
export const R_INT_INFO2_HMASTER_MASK = 0xffff;
export const R_INT_INFO2_HNONSEC_MASK = 1 << 16;
export const R_INT_INFO2_CFG_NS_MASK = 1 << 17;

/** PIDR4-7, PIDR0-3, CIDR0-3 (tz_mpc_idregs[]). */
const TZ_MPC_IDREGS = [0x04, 0x00, 0x00, 0x00, 0x60, 0xb8, 0x1b, 0x00, 0x0d, 0xf0, 0x05, 0xb1] as const;
const ID_REG_NAMES = ['PIDR4', 'PIDR5', 'PIDR6', 'PIDR7', 'PIDR0', 'PIDR1', 'PIDR2', 'PIDR3', 'CIDR0', 'CIDR1', 'CIDR2', 'CIDR3'];

/** Size of the register block (memory_region_init_io(&s->regmr, ..., 0x1000)). */
export const TZ_MPC_REGS_SIZE = 0x1000n;

/** QEMU's block size is TARGET_PAGE_SIZE; 1 KiB on M-profile (mps2-an505). */
export const TZ_MPC_DEFAULT_BLOCK_SIZE = 1024n;

/**
 * Engine limit on LUT words (QEMU's blk_max is a uint32_t and the LUT is g_new0'd). 2^20 words
 * cover 2^25 blocks: 32 GiB of downstream at the default 1 KiB block size.
 */
export const TZ_MPC_MAX_LUT_WORDS = 1 << 20;

const CTRL_WRITABLE = R_CTRL_SEC_RESP_MASK | R_CTRL_AUTOINC_MASK | R_CTRL_LOCKDOWN_MASK;
const CTRL_RESET = 0x00000100;

function extract32(value: number, start: number, length: number): number {
  return (value >>> start) & (0xffffffff >>> (32 - length));
}

function deposit32(value: number, start: number, length: number, fieldval: number): number {
  const mask = ((0xffffffff >>> (32 - length)) << start) >>> 0;
  return ((value & ~mask) | ((fieldval << start) & mask)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Options and validation
// ---------------------------------------------------------------------------------------------

export interface TzMpcOptions {
  readonly name: string;
  /** The memory the MPC guards (QEMU's `downstream` link); its size is the IOMMU region's size. */
  readonly downstream: MemoryRegion;
  /**
   * Block size in bytes (default 1 KiB). QEMU fixes it at the upstream region's min page size,
   * TARGET_PAGE_SIZE; a power of two of at least 32 bytes, as BLK_CFG reads ctz(bs) - 5.
   */
  readonly blockSize?: bigint;
  /** Initial CTRL.SEC_RESP: blocked accesses give a bus error instead of RAZ/WI. */
  readonly secResp?: boolean;
  /** Initial LUT words (word i holds blocks 32i..32i+31); missing words are 0. */
  readonly lut?: readonly bigint[];
  /** Config source id of each LUT word, for the trace of a translation. */
  readonly lutSourceIds?: readonly string[];
  /** Config source id of the device. */
  readonly source?: string;
  /** Called on every tz_mpc_irq_update (QEMU's qemu_set_irq on the "irq" GPIO). */
  readonly onIrq?: (level: boolean) => void;
}

export interface TzMpcLogEntry {
  /** `guest-error`: the model's LOG_GUEST_ERROR; `invalid-mem`: memory.c refused the access size or alignment. */
  readonly kind: 'guest-error' | 'invalid-mem';
  readonly message: string;
}

interface Geometry {
  readonly size: bigint;
  readonly blockSize: bigint;
  readonly blockShift: number;
  /** Blocks the downstream holds: size / blockSize. */
  readonly blocks: number;
  /** LUT words: DIV_ROUND_UP(size / blocksize, 32). */
  readonly blkMax: number;
}

function validate(opts: TzMpcOptions): Geometry | EngineError {
  const who = `tz-mpc ${opts.name}`;
  const size = opts.downstream.size;
  const bs = opts.blockSize ?? TZ_MPC_DEFAULT_BLOCK_SIZE;
  if (!isPowerOfTwo(bs)) {
    return engineError('tz-mpc-block-size', `${who}: block size ${hex(bs)} is not a power of two`);
  }
  if (bs < 32n) {
    return engineError('tz-mpc-block-size', `${who}: block size ${hex(bs)} is below 32 bytes; BLK_CFG reads ctz(block size) - 5`);
  }
  if (bs > 1n << 31n) {
    return engineError('tz-mpc-block-size', `${who}: block size ${hex(bs)} does not fit BLK_CFG (QEMU computes ctz32(blocksize) - 5)`);
  }
  if (size <= 0n) {
    // QEMU would create an MPC with blk_max 0, and the first BLK_IDX write divides by it.
    return engineError('tz-mpc-downstream-size', `${who}: downstream ${opts.downstream.name} has size 0; an MPC needs at least one block`);
  }
  if (size % bs !== 0n) {
    // tz_mpc_realize: "MPC 'downstream' size %" PRId64 " is not a multiple of %" HWADDR_PRIx " bytes"
    return engineError(
      'tz-mpc-downstream-size',
      // QEMU's text mixes decimal and unprefixed hex; the parenthesis says which is which.
      `${who}: MPC 'downstream' size ${size} is not a multiple of ${bs.toString(16)} bytes (size ${hex(size)}, block size ${hex(bs)})`,
    );
  }
  const blocksBig = size / bs;
  const blkMaxBig = (blocksBig + 31n) / 32n;
  if (blkMaxBig > BigInt(TZ_MPC_MAX_LUT_WORDS)) {
    return engineError(
      'tz-mpc-too-many-blocks',
      `${who}: ${blocksBig} blocks need ${blkMaxBig} LUT words; the engine allows ${TZ_MPC_MAX_LUT_WORDS} (use a bigger block size)`,
    );
  }
  const blkMax = Number(blkMaxBig);
  const lut = opts.lut ?? [];
  if (lut.length > blkMax) {
    return engineError('tz-mpc-lut-words', `${who}: ${lut.length} LUT words given, but the MPC has ${blkMax} (BLK_MAX + 1)`);
  }
  for (let i = 0; i < lut.length; i++) {
    const w = lut[i]!;
    if (w < 0n || w > 0xffffffffn) {
      return engineError('tz-mpc-lut-value', `${who}: LUT word ${i} (${hex(w)}) is not a 32-bit value`);
    }
  }
  if (opts.lutSourceIds !== undefined && opts.lutSourceIds.length > blkMax) {
    return engineError('tz-mpc-lut-words', `${who}: ${opts.lutSourceIds.length} LUT source ids given, but the MPC has ${blkMax} LUT words`);
  }
  return { size, blockSize: bs, blockShift: ctz(bs), blocks: Number(blocksBig), blkMax };
}

// ---------------------------------------------------------------------------------------------
// The IOMMU region (QEMU's TYPE_TZ_MPC_IOMMU_MEMORY_REGION, `upstream`)
// ---------------------------------------------------------------------------------------------

export class TzMpcIommuRegion extends IOMMUMemoryRegion {
  readonly model = 'tz-mpc';
  private readonly shift: bigint;
  private readonly mask: bigint;
  private readonly notMask: bigint;
  private readonly blocks: number;

  /** @internal Built by TzMpc; `lutWords` is the device's LUT array itself, never replaced. */
  constructor(
    name: string,
    geometry: Geometry,
    private readonly lutWords: Uint32Array,
    readonly downstreamAs: AddressSpace,
    readonly blockedAs: AddressSpace,
    private readonly lutSourceIds: readonly string[] | undefined,
  ) {
    super(name, geometry.size);
    this.shift = BigInt(geometry.blockShift);
    this.mask = geometry.blockSize - 1n;
    this.notMask = ~this.mask;
    this.blocks = geometry.blocks;
  }

  /**
   * tz_mpc_attrs_to_index: "We treat unspecified attributes like secure", so that rom_reset()'s
   * loads pass the from-reset all-secure configuration.
   */
  override attrsToIndex(attrs: MemTxAttrs): number {
    return attrs.unspecified || attrs.secure ? TZ_MPC_IDX_S : TZ_MPC_IDX_NS;
  }

  override numIndexes(): number {
    return TZ_MPC_NUM_INDEXES;
  }

  /** QEMU takes the block size *from* the min page size; here the block size is the option. */
  override minPageSize(): bigint {
    return this.mask + 1n;
  }

  override indexName(idx: number): string {
    return idx === TZ_MPC_IDX_S ? 'S' : idx === TZ_MPC_IDX_NS ? 'NS' : String(idx);
  }

  override indexSelector(idx: number): string {
    if (idx === TZ_MPC_IDX_S) return 'secure or unspecified attributes';
    if (idx === TZ_MPC_IDX_NS) return 'non-secure attributes';
    return `index ${idx}`;
  }

  /**
   * tz_mpc_cfg_ns: the LUT bit of the block holding `addr`. QEMU asserts the block is inside the
   * LUT; out-of-range addresses (only reachable by calling translate() directly) read as 0.
   */
  cfgNs(addr: bigint): boolean {
    const blk = Number(addr >> this.shift);
    if (!(blk >= 0 && blk < this.blocks)) return false;
    return ((this.lutWords[blk >>> 5]! >>> (blk & 31)) & 1) === 1;
  }

  /**
   * tz_mpc_translate: iova = translated = the block's base, mask = bs - 1, perm RW always; the
   * target is the downstream when `cfg_ns == (iommu_idx == IOMMU_IDX_NS)`, else the blocked-io
   * space. The hot path: one shift, a Number LUT lookup, one AND, one returned object.
   */
  translate(addr: bigint, flag: IOMMUAccessFlags, iommuIdx: number, trace?: Trace): IOMMUTLBEntry {
    const blk = Number(addr >> this.shift);
    const cfgNs = blk >= 0 && blk < this.blocks && ((this.lutWords[blk >>> 5]! >>> (blk & 31)) & 1) === 1;
    const ok = cfgNs === (iommuIdx === TZ_MPC_IDX_NS);
    const base = addr & this.notMask;
    if (trace) this.traceLookup(trace, addr, flag, iommuIdx, blk, cfgNs, ok, base);
    return {
      targetAs: ok ? this.downstreamAs : this.blockedAs,
      iova: base,
      translatedAddr: base,
      addrMask: this.mask,
      perm: IOMMU_RW,
    };
  }

  private traceLookup(trace: Trace, addr: bigint, flag: IOMMUAccessFlags, idx: number, blk: number, cfgNs: boolean, ok: boolean, base: bigint): void {
    const inRange = blk >= 0 && blk < this.blocks;
    const word = inRange ? blk >>> 5 : -1;
    const bit = inRange ? blk & 31 : -1;
    const idxName = this.indexName(idx);
    const target = ok ? this.downstreamAs : this.blockedAs;
    const side = cfgNs ? 'non-secure' : 'secure';
    const why = ok
      ? `cfg_ns=${cfgNs ? 1 : 0} lets only ${side} transactions pass, and index ${idxName} is ${side}`
      : `cfg_ns=${cfgNs ? 1 : 0} lets only ${side} transactions pass, and index ${idxName} is not`;
    const where = inRange ? `block ${blk} (${fmtAddr(base)}) is LUT word ${word} bit ${bit}` : `block ${blk} is outside the LUT (QEMU asserts), read as cfg_ns=0`;
    // Fields as the TZ MPC's TRM (CoreLink SIE-200) names them: BLK_IDX selects the BLK_LUT word.
    trace.push({
      kind: 'model',
      name: STEP_NAMES.lutLookup,
      summary: `${this.name}: ${where}; ${why}: ${ok ? 'passes to' : 'blocked, goes to'} ${target.name}`,
      fields: {
        addr,
        flag: permName(flag),
        block: blk,
        blockAddr: base,
        BLK_IDX: word,
        bit,
        BLK_LUT: fmtRaw(inRange ? this.lutWords[word]! : 0, 32),
        NS: cfgNs ? 1 : 0,
        index: idx,
        indexName: idxName,
        result: ok ? 'pass' : 'block',
        targetAs: target.name,
      },
      source: configSource((inRange ? this.lutSourceIds?.[word] : undefined) ?? this.source),
    });
  }

  /**
   * tz_mpc_iommu_notify: LUT word `lutidx` is about to change from `oldlut` to `newlut`. For each
   * changed bit, in ascending order: UNMAP to S, UNMAP to NS, MAP (RW) to S, MAP (RW) to NS.
   *
   * QEMU builds one IOMMUTLBEvent before the loop and only ever assigns target_as for the MAPs,
   * so the UNMAPs carry target_as NULL for the first changed bit and, for every later bit, the
   * NS target of the previous bit's MAP. The events here carry exactly those values.
   * The loop covers all 32 bits of the word, so when the block count is not a multiple of 32 the
   * high bits of the last word notify blocks past the end of the region (only notifiers whose
   * range reaches there receive them).
   */
  notifyLutChange(lutidx: number, oldlut: number, newlut: number): void {
    const bs = this.mask + 1n;
    const changed = (oldlut ^ newlut) >>> 0;
    if (changed === 0) return;
    let addr = BigInt(lutidx) * bs * 32n;
    let target: AddressSpace | null = null;
    for (let i = 0; i < 32; i++, addr += bs) {
      if (!((changed >>> i) & 1)) continue;
      const blockIsNs = ((newlut >>> i) & 1) === 1;
      const unmap = (): IOMMUTLBEntry => ({ targetAs: target, iova: addr, translatedAddr: addr, addrMask: this.mask, perm: IOMMU_NONE });
      this.notify(TZ_MPC_IDX_S, { type: IOMMU_NOTIFIER_UNMAP, entry: unmap() });
      this.notify(TZ_MPC_IDX_NS, { type: IOMMU_NOTIFIER_UNMAP, entry: unmap() });
      target = blockIsNs ? this.blockedAs : this.downstreamAs;
      this.notify(TZ_MPC_IDX_S, {
        type: IOMMU_NOTIFIER_MAP,
        entry: { targetAs: target, iova: addr, translatedAddr: addr, addrMask: this.mask, perm: IOMMU_RW },
      });
      target = blockIsNs ? this.downstreamAs : this.blockedAs;
      this.notify(TZ_MPC_IDX_NS, {
        type: IOMMU_NOTIFIER_MAP,
        entry: { targetAs: target, iova: addr, translatedAddr: addr, addrMask: this.mask, perm: IOMMU_RW },
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The device: state, blocked-io, registers
// ---------------------------------------------------------------------------------------------

const LOG_LIMIT = 256;

export class TzMpc implements IommuDevice {
  readonly model = 'tz-mpc';
  readonly name: string;
  readonly source?: string;
  /** The IOMMU region (QEMU's `upstream`, sysbus MMIO 1): place it where the downstream was. */
  readonly region: TzMpcIommuRegion;
  /** The register block (QEMU's `regmr`, sysbus MMIO 0), 0x1000 bytes. */
  readonly registerRegion: MmioRegion;
  readonly registers: RegisterFile;
  /** Set while a register is peeked: no AUTOINC, nothing logged. */
  private peeking = false;
  /** Where refused transactions go (QEMU's `blocked_io`, tz_mpc_mem_blocked_ops). */
  readonly blockedRegion: MmioRegion;
  readonly downstream: MemoryRegion;
  readonly downstreamAs: AddressSpace;
  readonly blockedAs: AddressSpace;
  /** QEMU's qemu_log_mask output for this device, oldest dropped past 256. */
  readonly log: TzMpcLogEntry[] = [];

  private readonly geometry: Geometry;
  private readonly initialLut: readonly bigint[];
  private readonly initialSecResp: boolean;
  private readonly onIrq?: (level: boolean) => void;

  // State (QEMU's TZMPC fields, all uint32_t)
  private ctrlReg = CTRL_RESET;
  private blkIdxReg = 0;
  private intStatReg = 0;
  private intEnReg = 1;
  private intInfo1Reg = 0;
  private intInfo2Reg = 0;
  private readonly lutWords: Uint32Array;

  static create(opts: TzMpcOptions): TzMpc | EngineError {
    const g = validate(opts);
    if ('error' in g) return g;
    return new TzMpc(opts, g);
  }

  private constructor(opts: TzMpcOptions, geometry: Geometry) {
    this.name = opts.name;
    this.source = opts.source;
    this.geometry = geometry;
    this.downstream = opts.downstream;
    this.initialLut = [...(opts.lut ?? [])];
    this.initialSecResp = opts.secResp ?? false;
    this.onIrq = opts.onIrq;
    this.lutWords = new Uint32Array(geometry.blkMax);

    // tz_mpc_realize: address_space_init(&s->downstream_as, ...) and the blocked-io region and
    // space, both the size of the downstream.
    this.downstreamAs = new AddressSpace(`${opts.name}-downstream`, opts.downstream);
    this.blockedRegion = new MmioRegion(`${opts.name}-blocked-io`, geometry.size, {
      read: (offset, size, attrs) => this.blockedRead(offset, size, attrs),
      write: (offset, size, _value, attrs) => this.blockedWrite(offset, size, attrs),
    });
    this.blockedRegion.source = opts.source;
    this.blockedAs = new AddressSpace(`${opts.name}-blocked-io`, this.blockedRegion);

    this.region = new TzMpcIommuRegion(opts.name, geometry, this.lutWords, this.downstreamAs, this.blockedAs, opts.lutSourceIds);
    this.region.source = opts.source;

    this.registers = {
      registers: this.registerInfos(),
      read: (offset, size, attrs) => this.regRead(offset, size, attrs),
      write: (offset, size, value, attrs) => this.regWrite(offset, size, value, attrs),
      peek: (offset, size, attrs) => {
        this.peeking = true;
        try {
          return this.regRead(offset, size, attrs);
        } finally {
          this.peeking = false;
        }
      },
      maxAccessSize: 4,
    };
    this.registerRegion = registerRegion(`${opts.name}-regs`, TZ_MPC_REGS_SIZE, this.registers);
    this.registerRegion.source = opts.source;

    this.reset();
  }

  regions(): readonly TzMpcIommuRegion[] {
    return [this.region];
  }

  internalRegions(): readonly MemoryRegion[] {
    return [this.blockedRegion];
  }

  regionFor(_requesterId: number | undefined): TzMpcIommuRegion {
    return this.region;
  }

  /**
   * tz_mpc_reset, then the config's initial values. QEMU resets the LUT to all zero (every block
   * secure); the options' LUT words and SEC_RESP are then applied as if secure software had
   * written them after reset, but without notifications. Like QEMU's reset, this notifies no
   * IOMMU notifier of the LUT change (their view of the mappings goes stale) and does not call
   * qemu_set_irq (int_stat is 0 after reset, so the level reads low).
   */
  reset(): void {
    this.ctrlReg = CTRL_RESET;
    this.blkIdxReg = 0;
    this.intStatReg = 0;
    this.intEnReg = 1;
    this.intInfo1Reg = 0;
    this.intInfo2Reg = 0;
    this.lutWords.fill(0);
    for (let i = 0; i < this.initialLut.length; i++) this.lutWords[i] = Number(this.initialLut[i]!);
    if (this.initialSecResp) this.ctrlReg |= R_CTRL_SEC_RESP_MASK;
  }

  // --- views --------------------------------------------------------------------------------

  get blockSize(): bigint {
    return this.geometry.blockSize;
  }
  /** LUT words (the BLK_MAX register reads blkMax - 1). */
  get blkMax(): number {
    return this.geometry.blkMax;
  }
  /** Blocks in the downstream region. */
  get blockCount(): number {
    return this.geometry.blocks;
  }
  get ctrl(): number {
    return this.ctrlReg;
  }
  get blkIdx(): number {
    return this.blkIdxReg;
  }
  get intStat(): number {
    return this.intStatReg;
  }
  get intEn(): number {
    return this.intEnReg;
  }
  get intInfo1(): number {
    return this.intInfo1Reg;
  }
  get intInfo2(): number {
    return this.intInfo2Reg;
  }
  get secResp(): boolean {
    return (this.ctrlReg & R_CTRL_SEC_RESP_MASK) !== 0;
  }
  get autoinc(): boolean {
    return (this.ctrlReg & R_CTRL_AUTOINC_MASK) !== 0;
  }
  get lockdown(): boolean {
    return (this.ctrlReg & R_CTRL_LOCKDOWN_MASK) !== 0;
  }
  /** The "irq" GPIO: int_stat && int_en, as tz_mpc_irq_update drives it. */
  get irqLevel(): boolean {
    return this.intStatReg !== 0 && this.intEnReg !== 0;
  }
  /** A copy of the LUT words. */
  get lut(): readonly bigint[] {
    return Array.from(this.lutWords, (w) => BigInt(w));
  }
  /** The cfg_ns bit of block `block` (true: only non-secure transactions pass). */
  blockIsNs(block: number): boolean {
    return (((this.lutWords[block >>> 5] ?? 0) >>> (block & 31)) & 1) === 1;
  }

  private guestError(message: string): void {
    this.pushLog({ kind: 'guest-error', message });
  }

  private pushLog(e: TzMpcLogEntry): void {
    if (this.peeking) return;
    this.log.push(e);
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
  }

  private irqUpdate(): void {
    this.onIrq?.(this.irqLevel);
  }

  private autoincIdx(accessSize: number): void {
    // tz_mpc_autoinc_idx: only a 32-bit BLK_LUT access advances BLK_IDX.
    if (accessSize === 4 && this.ctrlReg & R_CTRL_AUTOINC_MASK && !this.peeking) {
      this.blkIdxReg = (this.blkIdxReg + 1) % this.geometry.blkMax;
    }
  }

  /**
   * memory_region_access_valid for an ops table with `valid.min_access_size = 1`,
   * `valid.max_access_size = max` and no `valid.unaligned`: an invalid access never reaches the
   * device and gets MEMTX_DECODE_ERROR (reads return 0).
   */
  private accessValid(region: string, addr: bigint, size: AccessSize, max: number, isWrite: boolean): boolean {
    let reason: string | undefined;
    if (addr & BigInt(size - 1)) reason = 'unaligned';
    else if (size > max) reason = `invalid size (min:1 max:${max})`;
    if (reason === undefined) return true;
    this.pushLog({
      kind: 'invalid-mem',
      message: `Invalid ${isWrite ? 'write' : 'read'} at addr 0x${addr.toString(16).toUpperCase()}, size ${size}, region '${region}', reason: ${reason}`,
    });
    return false;
  }

  // --- blocked-io (tz_mpc_mem_blocked_read/write, tz_mpc_handle_block) --------------------------

  private blockedRead(addr: bigint, size: AccessSize, attrs: MemTxAttrs): { value: bigint; result: MemTxResult } {
    if (!this.accessValid(this.blockedRegion.name, addr, size, 8, false)) return { value: 0n, result: MemTxResult.DECODE_ERROR };
    return { value: 0n, result: this.handleBlock(addr, attrs) };
  }

  private blockedWrite(addr: bigint, size: AccessSize, attrs: MemTxAttrs): MemTxResult {
    if (!this.accessValid(this.blockedRegion.name, addr, size, 8, true)) return MemTxResult.DECODE_ERROR;
    return this.handleBlock(addr, attrs);
  }

  private handleBlock(addr: bigint, attrs: MemTxAttrs): MemTxResult {
    // Only the first blocked transfer is captured; later ones are still blocked but leave
    // INT_INFO1/2 alone until the guest clears INT_STAT.
    if (!this.intStatReg) {
      this.intInfo1Reg = Number(addr & 0xffffffffn);
      // HMASTER = attrs.requester_id & 0xffff. HNONSEC = ~attrs.secure: QEMU looks only at
      // `secure`, so unspecified attributes (which attrsToIndex treats as secure) latch
      // HNONSEC = 1. CFG_NS is the block's LUT bit now.
      let info2 = (attrs.requesterId ?? 0) & R_INT_INFO2_HMASTER_MASK;
      if (!attrs.secure) info2 |= R_INT_INFO2_HNONSEC_MASK;
      if (this.region.cfgNs(addr)) info2 |= R_INT_INFO2_CFG_NS_MASK;
      this.intInfo2Reg = info2;
      this.intStatReg |= R_INT_STAT_IRQ_MASK;
      this.irqUpdate();
    }
    // Bus error if SEC_RESP, otherwise RAZ/WI.
    return this.ctrlReg & R_CTRL_SEC_RESP_MASK ? MemTxResult.ERROR : MemTxResult.OK;
  }

  // --- registers (tz_mpc_reg_read/write) -------------------------------------------------------

  private regRead(addr: bigint, size: AccessSize, attrs: MemTxAttrs): { value: bigint; result: MemTxResult } {
    if (addr < 0n || addr + BigInt(size) > TZ_MPC_REGS_SIZE) return { value: 0n, result: MemTxResult.DECODE_ERROR };
    if (!this.accessValid(this.registerRegion.name, addr, size, 4, false)) return { value: 0n, result: MemTxResult.DECODE_ERROR };
    const offset = Number(addr) & ~3;

    // "NS accesses can only see the ID registers". The test is !attrs.secure, so unspecified
    // attributes count as non-secure here (unlike in attrsToIndex).
    if (!attrs.secure && offset < A_PIDR4) {
      this.guestError(`TZ MPC register read: NS access to offset 0x${offset.toString(16)}`);
      return { value: 0n, result: MemTxResult.OK };
    }

    let r: number;
    switch (offset) {
      case A_CTRL:
        r = this.ctrlReg;
        break;
      case A_BLK_MAX:
        r = this.geometry.blkMax - 1;
        break;
      case A_BLK_CFG:
        // Never "init in progress": blocksize == 1 << (BLK_CFG + 5).
        r = this.geometry.blockShift - 5;
        break;
      case A_BLK_IDX:
        r = this.blkIdxReg;
        break;
      case A_BLK_LUT:
        r = this.lutWords[this.blkIdxReg]!;
        this.autoincIdx(size);
        break;
      case A_INT_STAT:
        r = this.intStatReg;
        break;
      case A_INT_EN:
        r = this.intEnReg;
        break;
      case A_INT_INFO1:
        r = this.intInfo1Reg;
        break;
      case A_INT_INFO2:
        r = this.intInfo2Reg;
        break;
      case A_INT_CLEAR:
      case A_INT_SET:
        this.guestError(`TZ MPC register read: write-only offset 0x${offset.toString(16)}`);
        r = 0;
        break;
      default:
        if (offset >= A_PIDR4 && offset <= A_CIDR3) {
          r = TZ_MPC_IDREGS[(offset - A_PIDR4) / 4]!;
        } else {
          this.guestError(`TZ MPC register read: bad offset 0x${offset.toString(16)}`);
          r = 0;
        }
        break;
    }
    // No register is read-sensitive except BLK_LUT, whose autoinc already skipped size != 4:
    // a narrow read takes its bytes out of the word.
    if (size !== 4) r = extract32(r, Number(addr & 3n) * 8, size * 8);
    return { value: BigInt(r >>> 0), result: MemTxResult.OK };
  }

  private regWrite(addr: bigint, size: AccessSize, value: bigint, attrs: MemTxAttrs): MemTxResult {
    if (addr < 0n || addr + BigInt(size) > TZ_MPC_REGS_SIZE) return MemTxResult.DECODE_ERROR;
    if (!this.accessValid(this.registerRegion.name, addr, size, 4, true)) return MemTxResult.DECODE_ERROR;
    const offset = Number(addr) & ~3;

    if (!attrs.secure && offset < A_PIDR4) {
      this.guestError(`TZ MPC register write: NS access to offset 0x${offset.toString(16)}`);
      return MemTxResult.OK;
    }

    // memory.c hands the device only the access's bytes.
    let v = Number(BigInt.asUintN(size * 8, value));
    if (size !== 4) {
      // A byte or halfword write becomes a word write: into the current value for CTRL,
      // BLK_IDX and BLK_LUT, into zeroes for everything else.
      let oldval: number;
      switch (offset) {
        case A_CTRL:
          oldval = this.ctrlReg;
          break;
        case A_BLK_IDX:
          oldval = this.blkIdxReg;
          break;
        case A_BLK_LUT:
          oldval = this.lutWords[this.blkIdxReg]!;
          break;
        default:
          oldval = 0;
          break;
      }
      v = deposit32(oldval, Number(addr & 3n) * 8, size * 8, v);
    }

    if (this.ctrlReg & R_CTRL_LOCKDOWN_MASK && (offset === A_CTRL || offset === A_BLK_LUT || offset === A_INT_EN)) {
      // Lockdown makes these three read-only; only a reset leaves it.
      this.guestError(`TZ MPC register write to offset 0x${offset.toString(16)} while MPC is in lockdown mode`);
      return MemTxResult.OK;
    }

    switch (offset) {
      case A_CTRL:
        // No data gating: the other bits are RAZ/WI.
        this.ctrlReg = (v & CTRL_WRITABLE) >>> 0;
        break;
      case A_BLK_IDX:
        this.blkIdxReg = v % this.geometry.blkMax;
        break;
      case A_BLK_LUT:
        // Notifiers hear of the change before the LUT holds it (a notifier that translates
        // still sees the old mapping).
        this.region.notifyLutChange(this.blkIdxReg, this.lutWords[this.blkIdxReg]!, v);
        this.lutWords[this.blkIdxReg] = v;
        this.autoincIdx(size);
        break;
      case A_INT_CLEAR:
        if (v & R_INT_CLEAR_IRQ_MASK) {
          this.intStatReg = 0;
          this.irqUpdate();
        }
        break;
      case A_INT_EN:
        this.intEnReg = v & R_INT_EN_IRQ_MASK;
        this.irqUpdate();
        break;
      case A_INT_SET:
        if (v & R_INT_SET_IRQ_MASK) {
          this.intStatReg = R_INT_STAT_IRQ_MASK;
          this.irqUpdate();
        }
        break;
      default:
        // BLK_MAX, BLK_CFG, INT_STAT and INT_INFO1/2 have no write case in QEMU: "bad offset".
        if (offset >= A_PIDR4 && offset <= A_CIDR3) {
          this.guestError(`TZ MPC register write: read-only offset 0x${offset.toString(16)}`);
        } else {
          this.guestError(`TZ MPC register write: bad offset 0x${offset.toString(16)}`);
        }
        break;
    }
    return MemTxResult.OK;
  }

  private registerInfos(): RegisterInfo[] {
    const g = this.geometry;
    const r = (name: string, offset: number, access: RegisterInfo['access'], reset: number, description: string): RegisterInfo => ({
      name,
      offset,
      width: 4,
      access,
      reset: BigInt(reset),
      description,
    });
    const regs: RegisterInfo[] = [
      r('CTRL', A_CTRL, 'rw', CTRL_RESET, 'Control: SEC_RESP (4) bus error on blocked access, AUTOINC (8) BLK_IDX steps after a 32-bit BLK_LUT access, LOCKDOWN (31)'),
      r('BLK_MAX', A_BLK_MAX, 'ro', g.blkMax - 1, 'Highest BLK_IDX value: LUT words - 1'),
      r('BLK_CFG', A_BLK_CFG, 'ro', g.blockShift - 5, 'Block size: 1 << (BLK_CFG + 5) bytes'),
      r('BLK_IDX', A_BLK_IDX, 'rw', 0, 'LUT word that BLK_LUT accesses; writes store value % (BLK_MAX + 1)'),
      { ...r('BLK_LUT', A_BLK_LUT, 'rw', 0, 'LUT word BLK_IDX: bit n is cfg_ns of block 32*BLK_IDX + n (1 = non-secure only)'), readSideEffects: 'with CTRL.AUTOINC set, a 32-bit read advances BLK_IDX' },
      r('INT_STAT', A_INT_STAT, 'ro', 0, 'Bit 0: a blocked transaction was captured in INT_INFO1/2'),
      r('INT_CLEAR', A_INT_CLEAR, 'wo', 0, 'Write 1 to bit 0 to clear INT_STAT (and re-arm the capture)'),
      r('INT_EN', A_INT_EN, 'rw', 1, 'Bit 0: INT_STAT drives the irq line'),
      r('INT_INFO1', A_INT_INFO1, 'ro', 0, 'Address (offset in the MPC) of the first blocked transaction'),
      r('INT_INFO2', A_INT_INFO2, 'ro', 0, 'First blocked transaction: HMASTER (15:0), HNONSEC (16), CFG_NS (17)'),
      r('INT_SET', A_INT_SET, 'wo', 0, 'Write 1 to bit 0 to set INT_STAT'),
    ];
    for (let i = 0; i < TZ_MPC_IDREGS.length; i++) {
      regs.push(r(ID_REG_NAMES[i]!, A_PIDR4 + 4 * i, 'ro', TZ_MPC_IDREGS[i]!, `${ID_REG_NAMES[i]!.startsWith('P') ? 'Peripheral' : 'Component'} ID register (readable from non-secure)`));
    }
    return regs;
  }
}
