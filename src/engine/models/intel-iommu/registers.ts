/**
 * The VT-d register file as QEMU keeps it (hw/i386/intel_iommu.c, vtd_define_* and vtd_mem_*):
 * a byte array of register contents with per-bit write, write-1-to-clear and write-only (reads
 * as zero) masks. A guest write stores `(old & ~wmask) | (val & wmask)` and then clears the
 * w1c bits written as 1; a few offsets then run a handler (GCMD, CCMD, IOTLB, FSTS, FECTL,
 * IQT, IQA, ICS, IECTL, the FRCD's high half). Accesses are 4 or 8 bytes; others fail.
 */
import { MemTxResult, type MemTxAttrs } from '../../attrs';
import type { RegisterFile, RegisterInfo } from '../../device';
import type { AccessSize } from '../../guest-memory';
import {
  DMAR_CAP_REG,
  DMAR_CCMD_REG,
  DMAR_ECAP_REG,
  DMAR_FEADDR_REG,
  DMAR_FECTL_REG,
  DMAR_FEDATA_REG,
  DMAR_FEUADDR_REG,
  DMAR_FRCD_REG_OFFSET,
  DMAR_FSTS_REG,
  DMAR_GCMD_REG,
  DMAR_GSTS_REG,
  DMAR_ICS_REG,
  DMAR_IEADDR_REG,
  DMAR_IECTL_REG,
  DMAR_IEDATA_REG,
  DMAR_IEUADDR_REG,
  DMAR_IOTLB_REG,
  DMAR_IQA_REG,
  DMAR_IQH_REG,
  DMAR_IQT_REG,
  DMAR_IRTA_REG,
  DMAR_IVA_REG,
  DMAR_PMEN_REG,
  DMAR_REG_SIZE,
  DMAR_RTADDR_REG,
  DMAR_VER_REG,
  VTD_IQA_DW_MASK,
  VTD_IQA_QS,
} from './types';

/** What register writes make the device do. */
export interface VtdRegisterHooks {
  gcmd(): void;
  ccmd(): void;
  iotlb(): void;
  fsts(): void;
  fectl(): void;
  iqt(): void;
  iqa(): void;
  ics(): void;
  iectl(): void;
  frcdHigh(): void;
  /** The queue base as the device latched it (IQA reads it back, vtd_mem_read). */
  iqBase(): bigint;
  log(message: string): void;
}

const M32 = 0xffffffffn;

export class VtdRegisters implements RegisterFile {
  readonly registers: readonly RegisterInfo[];
  private readonly csr = new DataView(new ArrayBuffer(DMAR_REG_SIZE));
  private readonly wmask = new DataView(new ArrayBuffer(DMAR_REG_SIZE));
  private readonly w1cmask = new DataView(new ArrayBuffer(DMAR_REG_SIZE));
  private readonly womask = new DataView(new ArrayBuffer(DMAR_REG_SIZE));

  constructor(
    private readonly hooks: VtdRegisterHooks,
    private cap: bigint,
    private ecap: bigint,
  ) {
    this.registers = registerTable(cap, ecap);
    this.reset(cap, ecap);
  }

  /** vtd_init's register definitions. */
  reset(cap = this.cap, ecap = this.ecap): void {
    this.cap = cap;
    this.ecap = ecap;
    for (const v of [this.csr, this.wmask, this.w1cmask, this.womask]) new Uint8Array(v.buffer).fill(0);
    this.defineLong(DMAR_VER_REG, 0x10n, 0n, 0n);
    this.defineQuad(DMAR_CAP_REG, cap, 0n, 0n);
    this.defineQuad(DMAR_ECAP_REG, ecap, 0n, 0n);
    this.defineLong(DMAR_GCMD_REG, 0n, 0xff800000n, 0n);
    this.womask.setUint32(DMAR_GCMD_REG, 0xff800000, true);
    this.defineLong(DMAR_GSTS_REG, 0n, 0n, 0n);
    this.defineQuad(DMAR_RTADDR_REG, 0n, 0xfffffffffffffc00n, 0n);
    this.defineQuad(DMAR_CCMD_REG, 0n, 0xe0000003ffffffffn, 0n);
    this.womask.setBigUint64(DMAR_CCMD_REG, 0x3ffff0000n, true);
    this.defineLong(DMAR_FSTS_REG, 0n, 0n, 0x11n);
    this.defineLong(DMAR_FECTL_REG, 0x80000000n, 0x80000000n, 0n);
    this.defineLong(DMAR_FEDATA_REG, 0n, 0xffffn, 0n);
    this.defineLong(DMAR_FEADDR_REG, 0n, 0xfffffffcn, 0n);
    this.defineLong(DMAR_FEUADDR_REG, 0n, 0n, 0n);
    this.defineLong(DMAR_PMEN_REG, 0n, 0n, 0n);
    this.defineQuad(DMAR_IQH_REG, 0n, 0n, 0n);
    this.defineQuad(DMAR_IQT_REG, 0n, 0x7fff0n, 0n);
    this.defineQuad(DMAR_IQA_REG, 0n, 0xfffffffffffff807n, 0n);
    this.defineLong(DMAR_ICS_REG, 0n, 0n, 1n);
    this.defineLong(DMAR_IECTL_REG, 0x80000000n, 0x80000000n, 0n);
    this.defineLong(DMAR_IEDATA_REG, 0n, 0xffffffffn, 0n);
    this.defineLong(DMAR_IEADDR_REG, 0n, 0xfffffffcn, 0n);
    this.defineLong(DMAR_IEUADDR_REG, 0n, 0n, 0n);
    this.defineQuad(DMAR_IOTLB_REG, 0n, 0xb003ffff00000000n, 0n);
    this.defineQuad(DMAR_IVA_REG, 0n, 0xfffffffffffff07fn, 0n);
    this.womask.setBigUint64(DMAR_IVA_REG, 0xfffffffffffff07fn, true);
    this.defineQuad(DMAR_FRCD_REG_OFFSET, 0n, 0n, 0n);
    this.defineQuad(DMAR_FRCD_REG_OFFSET + 8, 0n, 0n, 0x8000000000000000n);
    this.defineQuad(DMAR_IRTA_REG, 0n, 0xfffffffffffff80fn, 0n);
  }

  // --- QEMU's internal accessors (vtd_get_*_raw, vtd_set_*_raw, vtd_set_clear_mask_*) ---------

  getLong(addr: number): number {
    return this.csr.getUint32(addr, true);
  }

  getQuad(addr: number): bigint {
    return this.csr.getBigUint64(addr, true);
  }

  setQuadRaw(addr: number, v: bigint): void {
    this.csr.setBigUint64(addr, BigInt.asUintN(64, v), true);
  }

  setClearLong(addr: number, clear: number, mask: number): number {
    const v = ((this.getLong(addr) & ~clear) | mask) >>> 0;
    this.csr.setUint32(addr, v, true);
    return v;
  }

  setClearQuad(addr: number, clear: bigint, mask: bigint): bigint {
    const v = BigInt.asUintN(64, (this.getQuad(addr) & ~clear) | mask);
    this.csr.setBigUint64(addr, v, true);
    return v;
  }

  // --- the guest's view (vtd_mem_read / vtd_mem_write) --------------------------------------

  read(offset: bigint, size: AccessSize, _attrs: MemTxAttrs): { value: bigint; result: MemTxResult } {
    const addr = Number(offset);
    if ((size !== 4 && size !== 8) || offset < 0n || addr + size > DMAR_REG_SIZE) {
      if (size === 4 || size === 8) this.hooks.log(`vtd_mem_read: MMIO over range: addr=0x${addr.toString(16)} size=0x${size}`);
      return { value: size === 4 || size === 8 ? (1n << BigInt(size * 8)) - 1n : 0n, result: size === 4 || size === 8 ? MemTxResult.OK : MemTxResult.DECODE_ERROR };
    }
    let val: bigint;
    if (addr === DMAR_RTADDR_REG) val = this.getQuad(addr);
    else if (addr === DMAR_RTADDR_REG + 4) val = this.getQuad(DMAR_RTADDR_REG) >> 32n;
    else if (addr === DMAR_IQA_REG) val = this.hooks.iqBase() | (this.quadMasked(DMAR_IQA_REG) & (VTD_IQA_QS | VTD_IQA_DW_MASK));
    else if (addr === DMAR_IQA_REG + 4) val = this.hooks.iqBase() >> 32n;
    else val = size === 4 ? BigInt((this.getLong(addr) & ~this.womask.getUint32(addr, true)) >>> 0) : this.quadMasked(addr);
    if (size === 4) val &= M32;
    return { value: val, result: MemTxResult.OK };
  }

  write(offset: bigint, size: AccessSize, value: bigint, _attrs: MemTxAttrs): MemTxResult {
    const addr = Number(offset);
    if (size !== 4 && size !== 8) return MemTxResult.DECODE_ERROR;
    if (offset < 0n || addr + size > DMAR_REG_SIZE) {
      this.hooks.log(`vtd_mem_write: MMIO over range: addr=0x${addr.toString(16)} size=0x${size}`);
      return MemTxResult.OK;
    }
    const quad = size === 8;
    if (quad) this.setQuad(addr, value);
    else this.setLong(addr, value & M32);
    const h = this.hooks;
    switch (addr) {
      case DMAR_GCMD_REG:
        h.gcmd();
        break;
      case DMAR_CCMD_REG:
        if (quad) h.ccmd();
        break;
      case DMAR_CCMD_REG + 4:
        h.ccmd();
        break;
      case DMAR_IOTLB_REG:
        if (quad) h.iotlb();
        break;
      case DMAR_IOTLB_REG + 4:
        h.iotlb();
        break;
      case DMAR_FSTS_REG:
        h.fsts();
        break;
      case DMAR_FECTL_REG:
        h.fectl();
        break;
      case DMAR_IQT_REG:
        h.iqt();
        break;
      case DMAR_IQA_REG:
        h.iqa();
        break;
      case DMAR_ICS_REG:
        h.ics();
        break;
      case DMAR_IECTL_REG:
        h.iectl();
        break;
      case DMAR_FRCD_REG_OFFSET + 8:
        if (quad) h.frcdHigh();
        break;
      case DMAR_FRCD_REG_OFFSET + 12:
        h.frcdHigh();
        break;
      default:
        break;
    }
    return MemTxResult.OK;
  }

  private quadMasked(addr: number): bigint {
    return this.getQuad(addr) & ~this.womask.getBigUint64(addr, true);
  }

  private setLong(addr: number, val: bigint): void {
    const old = BigInt(this.csr.getUint32(addr, true));
    const w = BigInt(this.wmask.getUint32(addr, true));
    const c = BigInt(this.w1cmask.getUint32(addr, true));
    this.csr.setUint32(addr, Number(((old & ~w) | (val & w)) & ~(c & val) & M32), true);
  }

  private setQuad(addr: number, val: bigint): void {
    const v = BigInt.asUintN(64, val);
    const old = this.csr.getBigUint64(addr, true);
    const w = this.wmask.getBigUint64(addr, true);
    const c = this.w1cmask.getBigUint64(addr, true);
    this.csr.setBigUint64(addr, BigInt.asUintN(64, ((old & ~w) | (v & w)) & ~(c & v)), true);
  }

  private defineLong(addr: number, val: bigint, wmask: bigint, w1c: bigint): void {
    this.csr.setUint32(addr, Number(val), true);
    this.wmask.setUint32(addr, Number(wmask), true);
    this.w1cmask.setUint32(addr, Number(w1c), true);
  }

  private defineQuad(addr: number, val: bigint, wmask: bigint, w1c: bigint): void {
    this.csr.setBigUint64(addr, val, true);
    this.wmask.setBigUint64(addr, wmask, true);
    this.w1cmask.setBigUint64(addr, w1c, true);
  }
}

function registerTable(cap: bigint, ecap: bigint): RegisterInfo[] {
  const r = (name: string, offset: number, width: 4 | 8, access: RegisterInfo['access'], reset: bigint, description: string): RegisterInfo => ({
    name,
    offset,
    width,
    access,
    reset,
    description,
  });
  return [
    r('VER', DMAR_VER_REG, 4, 'ro', 0x10n, 'Version: 1.0 (major 1, minor 0), as QEMU reports'),
    r('CAP', DMAR_CAP_REG, 8, 'ro', cap, 'Capability: ND, CM (caching mode), SAGAW, MGAW, FRO, SLLPS, PSI, NFR, MAMV, DRD/DWD'),
    r('ECAP', DMAR_ECAP_REG, 8, 'ro', ecap, 'Extended capability: QI, DT, IR, PT, SC, IRO, SRS, PASID, SMTS, SLTS, FLTS'),
    r('GCMD', DMAR_GCMD_REG, 4, 'wo', 0n, 'Global command: TE (31), SRTP (30), QIE (26), IRE (25), SIRTP (24)'),
    r('GSTS', DMAR_GSTS_REG, 4, 'ro', 0n, 'Global status: TES (31), RTPS (30), QIES (26), IRES (25), IRTPS (24)'),
    r('RTADDR', DMAR_RTADDR_REG, 8, 'rw', 0n, 'Root table address [63:12], TTM/SMT (10)'),
    r('CCMD', DMAR_CCMD_REG, 8, 'rw', 0n, 'Context command: ICC (63), CIRG [62:61], CAIG [60:59], FM [33:32], SID [31:16], DID [15:0]'),
    r('FSTS', DMAR_FSTS_REG, 4, 'rw', 0n, 'Fault status: FRI [15:8], IQE (4), PPF (1), PFO (0); IQE and PFO are write-1-to-clear'),
    r('FECTL', DMAR_FECTL_REG, 4, 'rw', 0x80000000n, 'Fault event control: IM (31), IP (30)'),
    r('FEDATA', DMAR_FEDATA_REG, 4, 'rw', 0n, 'Fault event interrupt data'),
    r('FEADDR', DMAR_FEADDR_REG, 4, 'rw', 0n, 'Fault event interrupt address'),
    r('FEUADDR', DMAR_FEUADDR_REG, 4, 'rw', 0n, 'Fault event upper address (RsvdZ without EIM)'),
    r('PMEN', DMAR_PMEN_REG, 4, 'rw', 0n, 'Protected memory enable (read-only zero: no PLMR/PHMR)'),
    r('IQH', DMAR_IQH_REG, 8, 'ro', 0n, 'Invalidation queue head [18:4]'),
    r('IQT', DMAR_IQT_REG, 8, 'rw', 0n, 'Invalidation queue tail [18:4]'),
    r('IQA', DMAR_IQA_REG, 8, 'rw', 0n, 'Invalidation queue address [63:12], DW (11), QS [2:0]'),
    r('ICS', DMAR_ICS_REG, 4, 'rw', 0n, 'Invalidation completion status: IWC (0), write-1-to-clear'),
    r('IECTL', DMAR_IECTL_REG, 4, 'rw', 0x80000000n, 'Invalidation event control: IM (31), IP (30)'),
    r('IEDATA', DMAR_IEDATA_REG, 4, 'rw', 0n, 'Invalidation event data'),
    r('IEADDR', DMAR_IEADDR_REG, 4, 'rw', 0n, 'Invalidation event address'),
    r('IEUADDR', DMAR_IEUADDR_REG, 4, 'rw', 0n, 'Invalidation event upper address'),
    r('IRTA', DMAR_IRTA_REG, 8, 'rw', 0n, 'Interrupt remapping table address (interrupt remapping is not modelled)'),
    r('IVA', DMAR_IVA_REG, 8, 'wo', 0n, 'Invalidate address: ADDR [63:12], IH (6), AM [5:0]'),
    r('IOTLB', DMAR_IOTLB_REG, 8, 'rw', 0n, 'IOTLB invalidate: IVT (63), IIRG [61:60], IAIG [58:57], DR (49), DW (48), DID [47:32]'),
    r('FRCD_LO', DMAR_FRCD_REG_OFFSET, 8, 'ro', 0n, 'Fault recording register 0, low: FI (fault info, the page address) [63:12]'),
    r('FRCD_HI', DMAR_FRCD_REG_OFFSET + 8, 8, 'rw', 0n, 'Fault recording register 0, high: F (63, write 1 to clear), T (62: 1 read, 0 write), PV [59:40] (the PASID when PP), FR [39:32], PP (31: the request had a PASID), SID [15:0]'),
  ];
}
