/**
 * Constants and small types of the `intel-iommu` model: register offsets and bits, entry fields,
 * fault reasons and the QEMU profiles, from QEMU's hw/i386/intel_iommu_internal.h (values named
 * as there) and the VT-d architecture specification (chapter 9 for entries, 10 for registers).
 */

/**
 * `architecture`: current QEMU (2025 trees) where it implements VT-d, the specification where it
 * does not (5-level tables with aw-bits 57) or where the two differ: a PASID table entry with P=0
 * is PASID_ENTRY_P (0x59) whatever its other fields (QEMU checks PGTT first), FPD in a PASID
 * directory or table entry counts whatever its P, every fault of a request with PASID is
 * recorded with PP=1 and PV in 20 bits (QEMU: walk faults only, PV in 16 bits), and a request
 * without PASID with PP=0 (QEMU: a walk fault in scalable mode with PP=1, PV=the RID_PASID). `qemu-7.2`: Debian's QEMU 7.2 (its replay sends
 * UNMAPs of the whole range first; its sync of an address space with only UNMAP notifiers walks
 * the tables instead of unmapping the whole range; aw-bits defaults to 39; PASID-based IOTLB and
 * PASID-cache descriptors are accepted and ignored, the PASID-based device-TLB one is unknown; an
 * IOTLB page-selective invalidation also syncs PASID address spaces of the domain).
 */
export type VtdProfile = 'architecture' | 'qemu-7.2';
export const VTD_PROFILES: readonly VtdProfile[] = ['architecture', 'qemu-7.2'];

export const DMAR_VER_REG = 0x0;
export const DMAR_CAP_REG = 0x8;
export const DMAR_ECAP_REG = 0x10;
export const DMAR_GCMD_REG = 0x18;
export const DMAR_GSTS_REG = 0x1c;
export const DMAR_RTADDR_REG = 0x20;
export const DMAR_CCMD_REG = 0x28;
export const DMAR_FSTS_REG = 0x34;
export const DMAR_FECTL_REG = 0x38;
export const DMAR_FEDATA_REG = 0x3c;
export const DMAR_FEADDR_REG = 0x40;
export const DMAR_FEUADDR_REG = 0x44;
export const DMAR_PMEN_REG = 0x64;
export const DMAR_IQH_REG = 0x80;
export const DMAR_IQT_REG = 0x88;
export const DMAR_IQA_REG = 0x90;
export const DMAR_ICS_REG = 0x9c;
export const DMAR_IECTL_REG = 0xa0;
export const DMAR_IEDATA_REG = 0xa4;
export const DMAR_IEADDR_REG = 0xa8;
export const DMAR_IEUADDR_REG = 0xac;
export const DMAR_IRTA_REG = 0xb8;
export const DMAR_IOTLB_REG_OFFSET = 0xf0;
export const DMAR_IVA_REG = 0xf0;
export const DMAR_IOTLB_REG = 0xf8;
export const DMAR_FRCD_REG_OFFSET = 0x220;
/** QEMU has one fault recording register. */
export const DMAR_FRCD_REG_NR = 1;
/** The register block's size (QEMU's DMAR_REG_SIZE: the FRCD ends it). */
export const DMAR_REG_SIZE = 0x230;

export const VTD_GCMD_TE = 1 << 31;
export const VTD_GCMD_SRTP = 1 << 30;
export const VTD_GCMD_QIE = 1 << 26;
export const VTD_GCMD_IRE = 1 << 25;
export const VTD_GCMD_SIRTP = 1 << 24;
export const VTD_GSTS_TES = 1 << 31;
export const VTD_GSTS_RTPS = 1 << 30;
export const VTD_GSTS_QIES = 1 << 26;
export const VTD_GSTS_IRES = 1 << 25;
export const VTD_GSTS_IRTPS = 1 << 24;

export const VTD_CCMD_ICC = 1n << 63n;
export const VTD_CCMD_GLOBAL_INVL = 1n << 61n;
export const VTD_CCMD_DOMAIN_INVL = 2n << 61n;
export const VTD_CCMD_DEVICE_INVL = 3n << 61n;
export const VTD_CCMD_CIRG_MASK = 3n << 61n;
export const VTD_CCMD_GLOBAL_INVL_A = 1n << 59n;
export const VTD_CCMD_DEVICE_INVL_A = 3n << 59n;
export const VTD_CCMD_CAIG_MASK = 3n << 59n;

export const VTD_TLB_GLOBAL_FLUSH = 1n << 60n;
export const VTD_TLB_DSI_FLUSH = 2n << 60n;
export const VTD_TLB_PSI_FLUSH = 3n << 60n;
export const VTD_TLB_FLUSH_GRANU_MASK = 3n << 60n;
export const VTD_TLB_GLOBAL_FLUSH_A = 1n << 57n;
export const VTD_TLB_DSI_FLUSH_A = 2n << 57n;
export const VTD_TLB_PSI_FLUSH_A = 3n << 57n;
export const VTD_TLB_FLUSH_GRANU_MASK_A = 3n << 57n;
export const VTD_TLB_IVT = 1n << 63n;
export const VTD_IVA_IH = 1n << 6n;

export const VTD_RTADDR_SMT = 1n << 10n;
export const VTD_IQA_QS = 7n;
export const VTD_IQA_DW_MASK = 0x800n;
export const VTD_IQH_QH_MASK = 0x7fff0n;
export const VTD_ICS_IWC = 1;
export const VTD_IECTL_IM = 1 << 31;
export const VTD_IECTL_IP = 1 << 30;
export const VTD_FSTS_PFO = 1;
export const VTD_FSTS_PPF = 1 << 1;
export const VTD_FSTS_IQE = 1 << 4;
export const VTD_FSTS_FRI_MASK = 0xff00;
export const VTD_FECTL_IM = 1 << 31;
export const VTD_FECTL_IP = 1 << 30;
export const VTD_FRCD_F = 1n << 63n;
export const VTD_FRCD_T = 1n << 62n;

export const VTD_ECAP_QI = 1n << 1n;
export const VTD_ECAP_DT = 1n << 2n;
export const VTD_ECAP_IR = 1n << 3n;
export const VTD_ECAP_PT = 1n << 6n;
export const VTD_ECAP_SC = 1n << 7n;
/** IRO: the IOTLB registers' offset / 16, at bit 8. */
export const VTD_ECAP_IRO = BigInt(DMAR_IOTLB_REG_OFFSET) << 4n;
export const VTD_ECAP_SRS = 1n << 31n;
export const VTD_ECAP_PASID = 1n << 40n;
export const VTD_ECAP_SMTS = 1n << 43n;
export const VTD_ECAP_FLTS = 1n << 47n;
export const VTD_ECAP_SLTS = 1n << 46n;

export const VTD_CAP_ND = 6n; // ((16 - 4) / 2) & 7: 16-bit domain IDs
export const VTD_CAP_CM = 1n << 7n;
export const VTD_CAP_SAGAW_SHIFT = 8n;
export const VTD_CAP_SAGAW_39 = 2n << 8n;
export const VTD_CAP_SAGAW_48 = 4n << 8n;
export const VTD_CAP_SAGAW_57 = 8n << 8n;
export const VTD_CAP_FRO = BigInt(DMAR_FRCD_REG_OFFSET) << 20n;
export const VTD_CAP_NFR = BigInt(DMAR_FRCD_REG_NR - 1) << 40n;
export const VTD_CAP_SLLPS = (1n << 34n) | (1n << 35n);
export const VTD_CAP_PSI = 1n << 39n;
export const VTD_MAMV = 18;
export const VTD_CAP_MAMV = BigInt(VTD_MAMV) << 48n;
export const VTD_CAP_DRAIN = (1n << 54n) | (1n << 55n);
export const vtdCapMgaw = (aw: number) => (BigInt(aw - 1) & 0x3fn) << 16n;

/** Invalidation descriptor types (the low 4 bits). */
export const VTD_INV_DESC_CC = 1;
export const VTD_INV_DESC_IOTLB = 2;
export const VTD_INV_DESC_DEVICE = 3;
export const VTD_INV_DESC_IEC = 4;
export const VTD_INV_DESC_WAIT = 5;
export const VTD_INV_DESC_PIOTLB = 6;
export const VTD_INV_DESC_PC = 7;
export const VTD_INV_DESC_DEV_PIOTLB = 8;
export const VTD_INV_DESC_NONE = 0;
export const VTD_INV_DESC_WAIT_SW = 1n << 5n;
export const VTD_INV_DESC_WAIT_IF = 1n << 4n;
export const VTD_INV_DESC_WAIT_RSVD_LO = 0xffffff80n;
export const VTD_INV_DESC_WAIT_RSVD_HI = 3n;
export const VTD_INV_DESC_CC_RSVD = 0xfffc00000000ffc0n;
export const VTD_INV_DESC_IOTLB_RSVD_LO = 0xffffffff0000ff00n;
export const VTD_INV_DESC_IOTLB_RSVD_HI = 0xf80n;
export const VTD_INV_DESC_DEVICE_IOTLB_RSVD_LO = 0xffff0000ffe0fff8n;
export const VTD_INV_DESC_DEVICE_IOTLB_RSVD_HI = 0xffen;
export const VTD_INV_DESC_IEC_RSVD = 0xffff000007fff1e0n;

/** Root and context entries (legacy mode, 128 bits each). */
export const VTD_ROOT_ENTRY_P = 1n;
export const VTD_ROOT_ENTRY_CTP = ~0xfffn & ((1n << 64n) - 1n);
export const VTD_CONTEXT_ENTRY_P = 1n;
export const VTD_CONTEXT_ENTRY_FPD = 2n;
export const VTD_CONTEXT_ENTRY_TT = 3n << 2n;
export const VTD_CONTEXT_TT_MULTI_LEVEL = 0n;
export const VTD_CONTEXT_TT_DEV_IOTLB = 1n << 2n;
export const VTD_CONTEXT_TT_PASS_THROUGH = 2n << 2n;
export const VTD_CONTEXT_ENTRY_AW = 7n;
export const VTD_CONTEXT_ENTRY_RSVD_HI = 0xffffffffff000080n;

/** Second-level paging entries. */
export const VTD_SL_R = 1n;
export const VTD_SL_W = 2n;
export const VTD_SL_PT_PAGE_SIZE_MASK = 1n << 7n;
export const VTD_SL_IGN_COM = 0xbff0000000000000n;
export const VTD_SL_TM = 1n << 62n;
export const VTD_SPTE_SNP = 0x800n;

export const VTD_PAGE_SHIFT = 12n;
export const VTD_PAGE_SIZE = 4096n;
export const VTD_INTERRUPT_ADDR_FIRST = 0xfee00000n;
export const VTD_INTERRUPT_ADDR_LAST = 0xfeefffffn;
/** The IOTLB's size before QEMU flushes it all (VTD_IOTLB_MAX_SIZE). */
export const VTD_IOTLB_MAX_SIZE = 1024;
/** PCI_NO_PASID. */
export const PCI_NO_PASID = 0xffffffff;

export const U64 = (1n << 64n) - 1n;
export const hawMask = (aw: number): bigint => (1n << BigInt(aw)) - 1n;
export const levelShift = (level: number): bigint => 12n + BigInt(level - 1) * 9n;
export const levelPageMask = (level: number): bigint => U64 & ~((1n << levelShift(level)) - 1n);
export const levelName = (level: number): string => ['', 'PTE', 'PDE', 'PDPE', 'PML4E', 'PML5E'][level] ?? `L${level}`;
export const pageSizeName = (level: number): string => ['', '4 KiB', '2 MiB', '1 GiB', '512 GiB', '256 TiB'][level] ?? `level ${level}`;

/** VTDFaultReason: the fault reasons a legacy-mode translation can record. */
export const VTD_FR_ROOT_ENTRY_P = 1;
export const VTD_FR_CONTEXT_ENTRY_P = 2;
export const VTD_FR_CONTEXT_ENTRY_INV = 3;
export const VTD_FR_ADDR_BEYOND_MGAW = 4;
export const VTD_FR_WRITE = 5;
export const VTD_FR_READ = 6;
export const VTD_FR_PAGING_ENTRY_INV = 7;
export const VTD_FR_ROOT_TABLE_INV = 8;
export const VTD_FR_CONTEXT_TABLE_INV = 9;
export const VTD_FR_ROOT_ENTRY_RSVD = 0xa;
export const VTD_FR_CONTEXT_ENTRY_RSVD = 0xb;
export const VTD_FR_PAGING_ENTRY_RSVD = 0xc;
export const VTD_FR_CONTEXT_ENTRY_TT = 0xd;
export const VTD_FR_INTERRUPT_ADDR = 0xe;
/** Scalable mode (current QEMU's numbering). */
export const VTD_FR_PASID_DIR_ACCESS_ERR = 0x50;
export const VTD_FR_PASID_DIR_ENTRY_P = 0x51;
export const VTD_FR_PASID_TABLE_ACCESS_ERR = 0x58;
export const VTD_FR_PASID_ENTRY_P = 0x59;
export const VTD_FR_PASID_TABLE_ENTRY_INV = 0x5b;
export const VTD_FR_SM_INTERRUPT_ADDR = 0x87;
/** First-stage translation (current QEMU's numbering, VT-d 7.1.3 SFS conditions). */
export const VTD_FR_FS_PAGING_ENTRY_INV = 0x70;
export const VTD_FR_FS_PAGING_ENTRY_P = 0x71;
export const VTD_FR_FS_PAGING_ENTRY_RSVD = 0x72;
export const VTD_FR_PASID_ENTRY_FSPTPTR_INV = 0x73;
export const VTD_FR_FS_NON_CANONICAL = 0x80;
export const VTD_FR_FS_PAGING_ENTRY_US = 0x81;
export const VTD_FR_SM_WRITE = 0x85;
export const VTD_FR_FS_BIT_UPDATE_FAILED = 0x91;

/** First-stage paging entries (VT-d 9.9). */
export const VTD_FL_P = 1n;
export const VTD_FL_RW = 2n;
export const VTD_FL_US = 4n;
export const VTD_FL_A = 0x20n;
export const VTD_FL_D = 0x40n;
export const VTD_FL_XD = 1n << 63n;
/** Bits 63:52 of a first-stage entry are ignored by the reserved-bit check (XD included: no request asks to execute). */
export const VTD_FS_UPPER_IGNORED = 0xfff0000000000000n;
/** CAP.FS1GP (bit 56): first-stage 1 GiB pages; CAP.FL5LP (bit 62): first-stage 5-level paging. */
export const VTD_CAP_FS1GP = 1n << 56n;
export const VTD_CAP_FL5LP = 1n << 62n;

export const FAULT_NAMES: Readonly<Record<number, string>> = {
  1: 'ROOT_ENTRY_P',
  2: 'CONTEXT_ENTRY_P',
  3: 'CONTEXT_ENTRY_INV',
  4: 'ADDR_BEYOND_MGAW',
  5: 'WRITE',
  6: 'READ',
  7: 'PAGING_ENTRY_INV',
  8: 'ROOT_TABLE_INV',
  9: 'CONTEXT_TABLE_INV',
  0xa: 'ROOT_ENTRY_RSVD',
  0xb: 'CONTEXT_ENTRY_RSVD',
  0xc: 'PAGING_ENTRY_RSVD',
  0xd: 'CONTEXT_ENTRY_TT',
  0xe: 'INTERRUPT_ADDR',
  0x50: 'PASID_DIR_ACCESS_ERR',
  0x51: 'PASID_DIR_ENTRY_P',
  0x58: 'PASID_TABLE_ACCESS_ERR',
  0x59: 'PASID_ENTRY_P',
  0x5b: 'PASID_TABLE_ENTRY_INV',
  0x87: 'SM_INTERRUPT_ADDR',
  0x70: 'FS_PAGING_ENTRY_INV',
  0x71: 'FS_PAGING_ENTRY_P',
  0x72: 'FS_PAGING_ENTRY_RSVD',
  0x73: 'PASID_ENTRY_FSPTPTR_INV',
  0x80: 'FS_NON_CANONICAL',
  0x81: 'FS_PAGING_ENTRY_US',
  0x85: 'SM_WRITE',
  0x91: 'FS_BIT_UPDATE_FAILED',
};

/** The spec's words for each reason (VT-d 7.1.3, table "Unrecoverable fault conditions"). */
export const FAULT_WORDS: Readonly<Record<number, string>> = {
  1: 'the root entry is not present (P=0)',
  2: 'the context entry is not present (P=0)',
  3: 'invalid programming of the context entry (unsupported AW or TT, or the table behind it cannot be read)',
  4: 'the input address is above 2^X-1, X the smaller of MGAW and the context entry AGAW',
  5: 'no write permission',
  6: 'no read permission',
  7: 'a second-level paging entry cannot be read',
  8: 'the root entry cannot be read',
  9: 'the context entry cannot be read',
  0xa: 'non-zero reserved field in a present root entry',
  0xb: 'non-zero reserved field in a present context entry',
  0xc: 'non-zero reserved field in a second-level paging entry',
  0xd: 'blocked by the context entry Translation Type',
  0xe: 'the output address is in the interrupt address range 0xfee00000..0xfeefffff',
  0x50: 'the PASID directory entry cannot be read',
  0x51: 'the PASID directory entry is not present (P=0)',
  0x58: 'the PASID table entry cannot be read',
  0x59: 'the PASID table entry is not present (P=0)',
  0x5b: 'invalid programming of the PASID table entry (PGTT or AW)',
  0x87: 'the output address is in the interrupt address range (scalable mode)',
  0x70: 'a first-stage paging entry (below the top level) cannot be read',
  0x71: 'a first-stage paging entry is not present (P=0)',
  0x72: 'non-zero reserved field in a present first-stage paging entry',
  0x73: 'the first-stage table the PASID entry points at (FSPTPTR) cannot be read',
  0x80: 'the input address is not canonical for the first-stage paging mode',
  0x81: 'a user-mode request reached a first-stage entry with U/S=0',
  0x85: 'a write reached a first-stage entry with R/W=0',
  0x91: 'the A/D bit update of a first-stage entry failed',
};

/**
 * Qualified faults are not recorded when the context entry has FPD set (vtd_qualified_faults):
 * everything but the root-table faults.
 */
export const QUALIFIED_FAULTS: ReadonlySet<number> = new Set([2, 3, 4, 5, 6, 7, 0xc, 0xd, 0xe, 0x51, 0x59, 0x5b, 0x70, 0x71, 0x72, 0x73, 0x80, 0x81, 0x85, 0x87, 0x91]);

export function faultName(fr: number): string {
  return FAULT_NAMES[fr] ?? `0x${fr.toString(16)}`;
}

/** QEMU's `%02x.%02x.%x` of notify_flag_changed: bus.slot.func. */
export function bdfDots(sid: number): string {
  return `${h2((sid >> 8) & 0xff)}.${h2((sid >> 3) & 0x1f)}.${(sid & 7).toString(16)}`;
}

/** `bus:slot.func`, as configs write BDFs. */
export function bdfColon(sid: number): string {
  return `${h2((sid >> 8) & 0xff)}:${h2((sid >> 3) & 0x1f)}.${(sid & 7).toString(16)}`;
}

function h2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** Little helpers for bigint bit tests. */
export const bit = (v: bigint, b: bigint): boolean => (v & b) !== 0n;
