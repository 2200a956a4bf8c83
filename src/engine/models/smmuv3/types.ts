/**
 * What the SMMUv3 model's parts share: the QEMU-version profile, event and fault codes, the
 * decoded stream configuration (QEMU's SMMUTransCfg) and small number helpers.
 *
 * Addresses inside the model are JavaScript numbers wherever they fit in 53 bits (output and
 * table addresses are at most 48 bits, an input address masked to its input size is at most 48
 * bits); the IOVA itself stays a bigint because TTB1 addresses use all 64 bits.
 */

// ---------------------------------------------------------------------------------------------
// Profiles
// ---------------------------------------------------------------------------------------------

/**
 * `architecture`: the SMMUv3 architecture (what the model follows by default).
 * `qemu-7.2`: Debian's QEMU 7.2 as measured (reference "Observed: where Debian's QEMU 7.2 SMMUv3
 * departs"), plus the QEMU-wide choices listed in ProfileFlags.
 */
export type Smmuv3Profile = 'architecture' | 'qemu-7.2';

export const SMMUV3_PROFILES: readonly Smmuv3Profile[] = ['architecture', 'qemu-7.2'];

export interface ProfileFlags {
  readonly profile: Smmuv3Profile;
  /** Stage 2 (and nesting) implemented. QEMU 7.2: "SMMUv3 does not support stage 2 yet" (C_BAD_STE). */
  readonly stage2: boolean;
  /**
   * IDR3.BBML. 0 here (the model reports SMMUv3.1 in AIDR, which has no BBML); QEMU 7.2's
   * smmuv3_init_regs sets BBML = 2 while AIDR still says SMMUv3.1 (IDR3 reads 0x1404).
   */
  readonly idr3Bbml: number;
  /** EVENTQ_IRQ_CFG0-2 read back what was written. QEMU 7.2's smmu_readl/smmu_readll do not decode them (RAZ; writes are kept). */
  readonly eventqIrqCfgReadable: boolean;
  /**
   * Pointer fields as wide as the architecture makes them: STE.S1ContextPtr [51:6], CD.TTBn
   * [51:4], L1STD.L2Ptr [51:6]. QEMU 7.2 (smmuv3-internal.h) takes STE_CTXPTR bits [47:6],
   * CD_TTB bits [50:4] and l1std_l2ptr bits [63:5].
   */
  readonly ptrFieldsArch: boolean;
  /** Queue bases aligned to the queue's size (the architecture); QEMU 7.2's Q_BASE masks with bits [51:6] only. */
  readonly queueBaseArch: boolean;
  /**
   * Translation fault records carry CLASS and the IPA (words 6-7) as the walk found them. QEMU 7.2's
   * smmuv3_translate fills only addr and rnw for F_TRANSLATION, F_ADDR_SIZE, F_ACCESS and
   * F_PERMISSION (CLASS reads 0, the IPA 0); only F_WALK_EABT gets CLASS=TT and its address.
   */
  readonly eventClassArch: boolean;
  /** IDR5.OAS in bits: 48 here, 44 in QEMU (SMMU_IDR5_OAS 4). */
  readonly oasBits: number;
  /** log2 of the IOMMU regions' size: 64 (QEMU >= 8.0, UINT64_MAX), 48 in 7.2 (SMMU_MAX_VA_BITS). */
  readonly regionBits: number;
  /** AF=0 without AFFD is F_ACCESS. QEMU 7.2 never checks the access flag. */
  readonly checkAf: boolean;
  /** GBPA exists. QEMU 7.2 has no GBPA (reads 0, writes ignored): a disabled SMMU always bypasses. */
  readonly gbpa: boolean;
  /** Block descriptors only where the granule allows them. QEMU takes type 0b01 as a block at any level < 3. */
  readonly strictBlockLevels: boolean;
  /** An L2 stream table holds 2^(Span-1) STEs (beyond: C_BAD_STREAMID). QEMU: 2^Span - 1 and C_BAD_STE. */
  readonly l2SpanArch: boolean;
  /** TTB1 when the top bits are all ones. QEMU 7.2 tests them for zero (select_tt before 8.0). */
  readonly ttb1Arch: boolean;
  /** Stage-1 output (and table) addresses beyond the IPA size are F_ADDR_SIZE. QEMU 7.2 has no such check. */
  readonly s1AddrSize: boolean;
  /** Next-level table addresses are size-checked too (the architecture); QEMU checks leaves only. */
  readonly tableAddrSize: boolean;
  /** APTable restrictions fold into the leaf's permissions; QEMU faults while descending and drops them. */
  readonly apTableArch: boolean;
  /** F_CD_FETCH carries FetchAddr in bits [255:192]; QEMU writes it into InputAddr (words 4-5). */
  readonly cdFetchAddrArch: boolean;
  /** STE.Config 0b001-0b011 are reserved (C_BAD_STE); QEMU treats every Config without bit 2 as abort. */
  readonly reservedConfigBad: boolean;
  /** STRTAB_BASE_CFG.FMT is read at every lookup; QEMU latches 2-level mode on the first FMT=1 write. */
  readonly fmtArch: boolean;
  /** Base alignment to the table size (the architecture); QEMU aligns the stream table to half its size. */
  readonly strtabAlignArch: boolean;
  /** A full event queue sets EVENTQ_PROD.OVFLG; QEMU raises GERROR.EVENTQ_ABT_ERR instead. */
  readonly eventqOverflowArch: boolean;
  /** A read hit in the IOTLB is permission-checked too; QEMU checks only writes on a hit. */
  readonly hitReadCheck: boolean;
}

const ARCH: ProfileFlags = {
  profile: 'architecture',
  stage2: true,
  idr3Bbml: 0,
  eventqIrqCfgReadable: true,
  ptrFieldsArch: true,
  queueBaseArch: true,
  eventClassArch: true,
  oasBits: 48,
  regionBits: 64,
  checkAf: true,
  gbpa: true,
  strictBlockLevels: true,
  l2SpanArch: true,
  ttb1Arch: true,
  s1AddrSize: true,
  tableAddrSize: true,
  apTableArch: true,
  cdFetchAddrArch: true,
  reservedConfigBad: true,
  fmtArch: true,
  strtabAlignArch: true,
  eventqOverflowArch: true,
  hitReadCheck: true,
};

const QEMU_7_2: ProfileFlags = {
  profile: 'qemu-7.2',
  stage2: false,
  idr3Bbml: 2,
  eventqIrqCfgReadable: false,
  ptrFieldsArch: false,
  queueBaseArch: false,
  eventClassArch: false,
  oasBits: 44,
  regionBits: 48,
  checkAf: false,
  gbpa: false,
  strictBlockLevels: false,
  l2SpanArch: false,
  ttb1Arch: false,
  s1AddrSize: false,
  tableAddrSize: false,
  apTableArch: false,
  cdFetchAddrArch: false,
  reservedConfigBad: false,
  fmtArch: false,
  strtabAlignArch: false,
  eventqOverflowArch: false,
  hitReadCheck: false,
};

export function profileFlags(p: Smmuv3Profile): ProfileFlags {
  return p === 'qemu-7.2' ? QEMU_7_2 : ARCH;
}

// ---------------------------------------------------------------------------------------------
// Events (smmuv3-internal.h SMMUEventType) and faults
// ---------------------------------------------------------------------------------------------

export const EVT_F_UUT = 0x01;
export const EVT_C_BAD_STREAMID = 0x02;
export const EVT_F_STE_FETCH = 0x03;
export const EVT_C_BAD_STE = 0x04;
export const EVT_F_STREAM_DISABLED = 0x06;
export const EVT_C_BAD_SUBSTREAMID = 0x08;
export const EVT_F_CD_FETCH = 0x09;
export const EVT_C_BAD_CD = 0x0a;
export const EVT_F_WALK_EABT = 0x0b;
export const EVT_F_TRANSLATION = 0x10;
export const EVT_F_ADDR_SIZE = 0x11;
export const EVT_F_ACCESS = 0x12;
export const EVT_F_PERMISSION = 0x13;
export const EVT_F_CFG_CONFLICT = 0x21;

const EVENT_NAMES: Readonly<Record<number, string>> = {
  [EVT_F_UUT]: 'F_UUT',
  [EVT_C_BAD_STREAMID]: 'C_BAD_STREAMID',
  [EVT_F_STE_FETCH]: 'F_STE_FETCH',
  [EVT_C_BAD_STE]: 'C_BAD_STE',
  [EVT_F_STREAM_DISABLED]: 'F_STREAM_DISABLED',
  [EVT_C_BAD_SUBSTREAMID]: 'C_BAD_SUBSTREAMID',
  [EVT_F_CD_FETCH]: 'F_CD_FETCH',
  [EVT_C_BAD_CD]: 'C_BAD_CD',
  [EVT_F_WALK_EABT]: 'F_WALK_EABT',
  [EVT_F_TRANSLATION]: 'F_TRANSLATION',
  [EVT_F_ADDR_SIZE]: 'F_ADDR_SIZE',
  [EVT_F_ACCESS]: 'F_ACCESS',
  [EVT_F_PERMISSION]: 'F_PERMISSION',
  [EVT_F_CFG_CONFLICT]: 'F_CFG_CONFLICT',
};

export function eventName(type: number): string {
  return EVENT_NAMES[type] ?? `EVENT_0x${type.toString(16)}`;
}

/** Event record CLASS: what stage 2 was translating (or, for a stage-1 walk abort, TT). */
export const CLASS_CD = 0;
export const CLASS_TT = 1;
export const CLASS_IN = 2;

export function className(c: number): string {
  return c === CLASS_CD ? 'CD' : c === CLASS_TT ? 'TT' : c === CLASS_IN ? 'IN' : String(c);
}

/** Page-table walk outcomes (SMMUPTWEventType); 0 is success. */
export const PTW_OK = 0;
export const PTW_WALK_EABT = 1;
export const PTW_TRANSLATION = 2;
export const PTW_ADDR_SIZE = 3;
export const PTW_ACCESS = 4;
export const PTW_PERMISSION = 5;

export const PTW_EVENT: readonly number[] = [0, EVT_F_WALK_EABT, EVT_F_TRANSLATION, EVT_F_ADDR_SIZE, EVT_F_ACCESS, EVT_F_PERMISSION];

/** One event as the model builds it (QEMU's SMMUEventInfo), before it is encoded. */
export interface SmmuEvent {
  readonly type: number;
  readonly sid: number;
  /** InputAddr (words 4-5). */
  readonly addr?: bigint;
  /** FetchAddr or IPA (words 6-7). */
  readonly addr2?: bigint;
  readonly rnw?: boolean;
  readonly s2?: boolean;
  readonly cls?: number;
  readonly ssid?: number;
  readonly ssv?: boolean;
  /** Why, in words (not part of the record). */
  readonly reason: string;
}

/** What became of an event: written to the queue (at `index`), or why not. */
export type EventDisposition =
  | { readonly kind: 'written'; readonly index: number; readonly addr: bigint }
  | { readonly kind: 'suppressed'; readonly why: string }
  | { readonly kind: 'eventq-disabled' }
  | { readonly kind: 'overflow' }
  | { readonly kind: 'queue-full' }
  | { readonly kind: 'abort'; readonly why: string };

export interface EventLogEntry {
  readonly event: SmmuEvent;
  readonly disposition: EventDisposition;
  /** The 8 words as written (or as they would have been). */
  readonly words: readonly number[];
}

// ---------------------------------------------------------------------------------------------
// Decoded configuration (QEMU's SMMUTransCfg)
// ---------------------------------------------------------------------------------------------

/** Where an IOTLB lookup for one translation table probes: leaf sizes finest first. */
export interface TlbProbes {
  readonly sizes: readonly number[];
  /** level << 2 | tg, the key's low bits. */
  readonly codes: readonly number[];
}

/** One stage-1 translation table (TTB0 or TTB1) of a CD. */
export interface TtInfo {
  readonly sel: 0 | 1;
  readonly tsz: number;
  readonly inputBits: number;
  /** log2 of the granule: 12, 14 or 16. */
  readonly granule: number;
  readonly startLevel: number;
  /** TTB as the CD holds it (bits [51:4]). */
  readonly ttb: number;
  /** First table's address: TTB with the index bits of the first table cleared. */
  readonly base: number;
  readonly had: boolean;
  /** Input addresses it covers: [lo, hi) (TTB1: from 2^64 - 2^inputBits). */
  readonly lo: bigint;
  readonly hi: bigint;
  readonly probes: TlbProbes;
}

export interface S2Info {
  readonly tsz: number;
  readonly inputBits: number;
  readonly granule: number;
  readonly sl0: number;
  readonly startLevel: number;
  /** S2TTB (bits [51:4]). */
  readonly vttb: number;
  readonly affd: boolean;
  readonly record: boolean;
  /** Effective output size in bits (S2PS capped at the OAS). */
  readonly effPs: number;
  readonly vmid: number;
  readonly probes: TlbProbes;
}

export type StreamKind = 'abort' | 'bypass' | 'translate';

export interface StreamConfig {
  readonly sid: number;
  readonly kind: StreamKind;
  readonly s1: boolean;
  /** -1 without stage 1 (QEMU's "don't care"). */
  readonly asid: number;
  /** S2VMID (read even when stage 2 is off, as QEMU does when stage 2 is supported); -1 without stage-2 support. */
  readonly vmid: number;
  /** TTB0 and TTB1; undefined when disabled by EPD0/EPD1 (or no stage 1). */
  readonly tt: readonly [TtInfo | undefined, TtInfo | undefined];
  /** Stage-1 output size (the CD's IPS capped at the OAS); with stage 1 bypassed, the IAS (= OAS). */
  readonly oas: number;
  readonly recordS1: boolean;
  readonly affd: boolean;
  readonly s2?: S2Info;
  /** Where the STE and CD were read from, and their 64-bit words (for traces and views). */
  readonly steAddr: bigint;
  readonly ste: readonly bigint[];
  readonly cdAddr?: bigint;
  readonly cd?: readonly bigint[];
}

/** A config decoding failure: the event to record. */
export interface ConfigFault {
  readonly fault: SmmuEvent;
}

export function isConfigFault<T extends object>(v: T | ConfigFault): v is ConfigFault {
  return (v as ConfigFault).fault !== undefined;
}

// ---------------------------------------------------------------------------------------------
// VMSAv8-64 helpers (smmu-internal.h)
// ---------------------------------------------------------------------------------------------

export const TWO32 = 4294967296;
export const TWO53N = 1n << 53n;

/** level_shift(): log2 of the region one descriptor at `level` maps. */
export function levelShift(level: number, granule: number): number {
  return granule + (3 - level) * (granule - 3);
}

/** Stage-1 start level from the input size (QEMU: 4 - (inputsize - 4) / stride). */
export function s1StartLevel(inputBits: number, granule: number): number {
  return 4 - Math.floor((inputBits - 4) / (granule - 3));
}

/** Stage-2 start level from S2SL0 (get_start_level; FEAT_LPA2/TTST not implemented). */
export function s2StartLevel(sl0: number, granule: number): number {
  return granule === 12 ? 2 - sl0 : 3 - sl0;
}

/** IOTLB tg code of a granule (QEMU stores (granule_sz - 10) / 2). */
export function tgCode(granule: number): number {
  return (granule - 10) / 2;
}

/** Levels at which the architecture allows block descriptors (no FEAT_LPA/LPA2). */
export function blockAllowed(level: number, granule: number): boolean {
  if (granule === 12) return level === 1 || level === 2;
  return level === 2;
}

/** 2^n for n in 0..64, so that the walks never call Math.pow. */
export const POW2: readonly number[] = Array.from({ length: 65 }, (_, i) => 2 ** i);

/** log2 of a power of two below 2^64, in integer operations (Math.log2 is a library call). */
export function log2Pow2(n: number): number {
  return n < 4294967296 ? 31 - Math.clz32(n) : 63 - Math.clz32(n / 4294967296);
}

/** Output address of a descriptor: bits [47:shift] (QEMU's PTE_ADDRESS), from its two 32-bit halves. */
export function pteAddress(lo: number, hi: number, shift: number): number {
  const h = hi & 0xffff;
  if (shift >= 32) {
    const s = shift - 32;
    return ((h >>> s) << s) * TWO32;
  }
  return h * TWO32 + (((lo >>> shift) << shift) >>> 0);
}

export function oasToBits(field: number): number {
  return [32, 36, 40, 42, 44, 48, 52][field] ?? -1;
}

export function bitsToOasField(bits: number): number {
  const i = [32, 36, 40, 42, 44, 48, 52].indexOf(bits);
  return i < 0 ? 5 : i;
}

/** `0x10` style, for names and messages. */
export function hexn(v: number | bigint): string {
  return '0x' + v.toString(16);
}

/** The two 32-bit halves of a 64-bit word. */
export function split64(v: bigint): [number, number] {
  return [Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn)];
}

/** Bits [start+len-1:start] of a 32-bit word. */
export function bits32(w: number, start: number, len: number): number {
  return (w >>> start) % 2 ** len;
}

/** PCI bus:dev.fn of a stream ID, as QEMU's MAP refusal prints it ("%02x.%02x.%x"). */
export function sidBdf(sid: number): string {
  const bus = (sid >> 8) & 0xff;
  const dev = (sid >> 3) & 0x1f;
  const fn = sid & 7;
  return `${bus.toString(16).padStart(2, '0')}.${dev.toString(16).padStart(2, '0')}.${fn.toString(16)}`;
}
