/**
 * The stream table: finding a stream's STE (smmu_find_ste, linear or 2-level) and decoding it
 * (decode_ste, decode_ste_s2_cfg).
 *
 * STE fields used (bit positions in 32-bit words, as smmuv3-internal.h): w0 V [0], Config [3:1],
 * S1Fmt [5:4], S1ContextPtr [31:6] + w1 [19:0]; w1 S1CDMax [31:27]; w2 S1STALLD [27];
 * w4 S2VMID [15:0]; w5 S2T0SZ [5:0], S2SL0 [7:6], S2TG [15:14], S2PS [18:16], S2AA64 [19],
 * S2ENDI [20], S2AFFD [21], S2S [25], S2R [26]; w6/w7 S2TTB [51:4].
 */
import { hex } from '../../hex';
import { STEP_NAMES, type Trace } from '../../trace';
import type { GuestReader } from '../../guest-reader';
import { SMMU_SIDSIZE, type Smmuv3Registers } from './registers';
import {
  EVT_C_BAD_STE,
  EVT_C_BAD_STREAMID,
  EVT_F_STE_FETCH,
  TWO32,
  bits32,
  levelShift,
  oasToBits,
  s2StartLevel,
  split64,
  type ProfileFlags,
  type SmmuEvent,
  type S2Info,
} from './types';

export const STE_SIZE = 64;

/** STE.Config values. */
export const STE_CFG_ABORT = 0b000;
export const STE_CFG_BYPASS = 0b100;
export const STE_CFG_S1 = 0b101;
export const STE_CFG_S2 = 0b110;
export const STE_CFG_NESTED = 0b111;

export interface FoundSte {
  readonly addr: bigint;
  /** The 8 64-bit words. */
  readonly words: readonly bigint[];
}

function words32(words: readonly bigint[]): number[] {
  const w: number[] = [];
  for (const d of words) w.push(...split64(d));
  return w;
}

/** smmu_find_ste: the STE of `sid`, or the event its lookup raises. */
export function findSte(regs: Smmuv3Registers, flags: ProfileFlags, mem: GuestReader, sid: number, trace: Trace | undefined): FoundSte | SmmuEvent {
  const log2size = regs.log2size;
  const limit = Math.min(log2size, SMMU_SIDSIZE);
  if (sid >= 2 ** limit) {
    return { type: EVT_C_BAD_STREAMID, sid, reason: `SID ${hex(sid)} is beyond the stream table (2^${limit} entries: STRTAB_BASE_CFG.LOG2SIZE=${log2size}, IDR1.SIDSIZE=${SMMU_SIDSIZE})` };
  }
  const rawBase = Number(regs.strtabBase & 0x000fffffffffffc0n);
  let steAddr: number;
  if (regs.twoLevel) {
    const split = regs.split;
    // The L1 table has 2^(LOG2SIZE - SPLIT) 8-byte descriptors; its base is aligned to its size.
    const l1Shift = flags.strtabAlignArch ? Math.max(6, log2size - split + 3) : Math.max(5, log2size - split - 1 + 3);
    const l1Base = rawBase - (rawBase % 2 ** l1Shift);
    const l1Index = Math.floor(sid / 2 ** split);
    const l2Index = sid % 2 ** split;
    const l1Addr = l1Base + l1Index * 8;
    if (!mem.read64(l1Addr)) {
      if (trace) trace.push(l1Step(mem, l1Addr, undefined, 'read failed'));
      return { type: EVT_F_STE_FETCH, sid, addr2: BigInt(l1Addr), reason: `L1 stream table descriptor at ${hex(BigInt(l1Addr))} could not be read` };
    }
    const span = mem.lo & 0x1f;
    const l2Ptr = (mem.hi & 0xfffff) * TWO32 + ((mem.lo >>> 0) - ((mem.lo >>> 0) % 64));
    // QEMU 7.2's l1std_l2ptr: all of word 1 and word 0 without bits [4:0].
    const l2PtrQemu = (BigInt(mem.hi >>> 0) << 32n) | BigInt((mem.lo >>> 0) - ((mem.lo >>> 0) % 32));
    if (trace) {
      trace.push(
        l1Step(mem, l1Addr, mem.word(), `L1STD[${hex(l1Index)}]: Span=${span} L2Ptr=${hex(BigInt(l2Ptr))}`, { l1Index, span, l2Ptr: BigInt(l2Ptr), split }),
      );
    }
    if (span === 0) return { type: EVT_C_BAD_STREAMID, sid, reason: `L1STD[${hex(l1Index)}] has Span=0 (no L2 table)` };
    if (flags.l2SpanArch) {
      const entries = 2 ** (span - 1);
      if (l2Index >= entries) {
        return { type: EVT_C_BAD_STREAMID, sid, reason: `L2 index ${hex(l2Index)} is beyond the L2 table's 2^(Span-1) = ${entries} STEs` };
      }
    } else if (l2Index > 2 ** span - 1) {
      return { type: EVT_C_BAD_STE, sid, reason: `l2_ste_offset=${l2Index} > max_l2_ste=${2 ** span - 1} (QEMU allows 2^Span - 1)` };
    } else if (l2Index >= 2 ** (span - 1)) {
      // Reference observation 3: QEMU reads STEs past the L2 table the architecture allows.
      if (trace) trace.push({ kind: 'model', name: STEP_NAMES.profileNote, summary: `QEMU 7.2 would use this STE: L2 index ${hex(l2Index)} is beyond 2^(Span-1) = ${2 ** (span - 1)}; the architecture raises C_BAD_STREAMID`, fields: { l2Index, span } });
    }
    if (!flags.ptrFieldsArch && l2PtrQemu !== BigInt(l2Ptr)) {
      if (trace) trace.push({ kind: 'model', summary: `QEMU 7.2 reads L2Ptr as ${hex(l2PtrQemu)} (l1std_l2ptr takes bits [63:5]); the architecture's L2Ptr is ${hex(BigInt(l2Ptr))}`, fields: { profileNote: 'l2ptr' } });
      return steAt(mem, sid, BigInt.asUintN(64, l2PtrQemu + BigInt(l2Index * STE_SIZE)), trace);
    }
    steAddr = l2Ptr + l2Index * STE_SIZE;
  } else {
    const shift = flags.strtabAlignArch ? log2size + 6 : log2size + 5;
    const base = rawBase - (rawBase % 2 ** shift);
    steAddr = base + sid * STE_SIZE;
  }
  return steAt(mem, sid, BigInt(steAddr), trace);
}

function steAt(mem: GuestReader, sid: number, addr: bigint, trace: Trace | undefined): FoundSte | SmmuEvent {
  const words = mem.readWords(addr, 8);
  if (words === undefined) {
    if (trace) trace.push({ kind: 'descriptor-read', summary: `STE for SID ${hex(sid)} at ${hex(addr)}: read failed`, fields: { sid, address: addr }, source: { kind: 'guest-memory', as: mem.as.name, addr, size: STE_SIZE } });
    return { type: EVT_F_STE_FETCH, sid, addr2: addr, reason: `STE at ${hex(addr)} could not be read` };
  }
  return { addr, words };
}

function l1Step(mem: GuestReader, addr: number, value: bigint | undefined, what: string, fields: Record<string, number | bigint> = {}) {
  const a = BigInt(addr);
  return {
    kind: 'descriptor-read' as const,
    name: STEP_NAMES.streamTableL1,
    summary: `stream table L1 descriptor at ${hex(a)}${value === undefined ? '' : ` = ${hex(value, 16)}`}: ${what}`,
    fields: { address: a, ...(value === undefined ? {} : { value }), ...fields },
    source: { kind: 'guest-memory' as const, as: mem.as.name, addr: a, size: 8, value },
  };
}

/** STE fields decoded for traces and views. */
export interface SteFields {
  readonly valid: boolean;
  readonly config: number;
  readonly s1Fmt: number;
  readonly s1ContextPtr: bigint;
  readonly s1CdMax: number;
  readonly s1StallD: boolean;
  readonly s2Vmid: number;
  readonly s2T0sz: number;
  readonly s2Sl0: number;
  readonly s2Tg: number;
  readonly s2Ps: number;
  readonly s2Aa64: boolean;
  readonly s2Endi: boolean;
  readonly s2Affd: boolean;
  readonly s2S: boolean;
  readonly s2R: boolean;
  readonly s2Ttb: bigint;
}

export function steFields(words: readonly bigint[]): SteFields {
  const w = words32(words);
  return {
    valid: (w[0]! & 1) === 1,
    config: bits32(w[0]!, 1, 3),
    s1Fmt: bits32(w[0]!, 4, 2),
    s1ContextPtr: (BigInt(bits32(w[1]!, 0, 20)) << 32n) | BigInt((w[0]! >>> 0) - ((w[0]! >>> 0) % 64)),
    s1CdMax: bits32(w[1]!, 27, 5),
    s1StallD: bits32(w[2]!, 27, 1) === 1,
    s2Vmid: bits32(w[4]!, 0, 16),
    s2T0sz: bits32(w[5]!, 0, 6),
    s2Sl0: bits32(w[5]!, 6, 2),
    s2Tg: bits32(w[5]!, 14, 2),
    s2Ps: bits32(w[5]!, 16, 3),
    s2Aa64: bits32(w[5]!, 19, 1) === 1,
    s2Endi: bits32(w[5]!, 20, 1) === 1,
    s2Affd: bits32(w[5]!, 21, 1) === 1,
    s2S: bits32(w[5]!, 25, 1) === 1,
    s2R: bits32(w[5]!, 26, 1) === 1,
    s2Ttb: (BigInt(bits32(w[7]!, 0, 20)) << 32n) | BigInt((w[6]! >>> 0) - ((w[6]! >>> 0) % 16)),
  };
}

export function configName(c: number): string {
  switch (c) {
    case STE_CFG_ABORT:
      return 'abort';
    case STE_CFG_BYPASS:
      return 'bypass';
    case STE_CFG_S1:
      return 'stage 1';
    case STE_CFG_S2:
      return 'stage 2';
    case STE_CFG_NESTED:
      return 'nested (stage 1 + 2)';
    default:
      return `reserved (0b${c.toString(2).padStart(3, '0')})`;
  }
}

/** What decode_ste makes of an STE. */
export interface DecodedSte {
  readonly kind: 'abort' | 'bypass' | 'translate';
  readonly s1: boolean;
  readonly s2: boolean;
  readonly vmid: number;
  readonly ctxPtr: bigint;
  /** The stage-2 fields as S2Info holds them, before the VMID and the IOTLB probes are added. */
  readonly s2cfg?: Omit<S2Info, 'vmid' | 'probes'>;
  readonly notes: readonly string[];
}

const bad = (sid: number, reason: string): SmmuEvent => ({ type: EVT_C_BAD_STE, sid, reason });

/** decode_ste (and decode_ste_s2_cfg) with the architecture's checks. */
export function decodeSte(flags: ProfileFlags, sid: number, f: SteFields): DecodedSte | SmmuEvent {
  const notes: string[] = [];
  if (!f.valid) return bad(sid, 'invalid STE (V=0)');
  const config = f.config;
  if ((config & 0b100) === 0) {
    if (config !== STE_CFG_ABORT) {
      if (flags.reservedConfigBad) return bad(sid, `STE.Config ${configName(config)} is reserved`);
      notes.push(`QEMU treats the reserved STE.Config 0b${config.toString(2).padStart(3, '0')} as abort; the architecture raises C_BAD_STE`);
    }
    return { kind: 'abort', s1: false, s2: false, vmid: -1, ctxPtr: 0n, notes };
  }
  if (config === STE_CFG_BYPASS) return { kind: 'bypass', s1: false, s2: false, vmid: -1, ctxPtr: 0n, notes };
  const s1 = (config & 1) !== 0;
  const s2 = (config & 2) !== 0;
  if (s2 && !flags.stage2) return bad(sid, 'SMMUv3 does not support stage 2 yet (QEMU 7.2)');
  const vmid = flags.stage2 ? f.s2Vmid : -1;
  let s2cfg: DecodedSte['s2cfg'];
  if (s2) {
    if (!f.s2Aa64) return bad(sid, 'STE.S2AA64=0: AArch32 stage-2 tables are not supported (IDR0.TTF; QEMU asserts)');
    const granule = [12, 16, 14][f.s2Tg];
    if (granule === undefined) return bad(sid, `SMMUv3 bad STE S2TG: ${f.s2Tg}`);
    if (f.s2Sl0 === 3) return bad(sid, 'SMMUv3 S2SL0 = 0x3 has no meaning!');
    const oasField = Math.min(f.s2Ps, [32, 36, 40, 42, 44, 48].indexOf(flags.oasBits));
    const effPs = oasToBits(oasField);
    const ttb = f.s2Ttb;
    if (ttb >> BigInt(effPs) !== 0n) return bad(sid, `SMMUv3 S2TTB too large ${hex(ttb)}, effective PS ${effPs} bits`);
    const tsz = f.s2T0sz;
    const minTsz = granule === 16 ? 64 - flags.oasBits : Math.max(64 - flags.oasBits, 16);
    if (tsz > 39 || tsz < minTsz) return bad(sid, `SMMUv3 bad STE S2T0SZ = ${tsz} (valid ${minTsz}..39)`);
    const inputBits = 64 - tsz;
    const startLevel = s2StartLevel(f.s2Sl0, granule);
    // Bits the first level resolves: at least one (the architecture), at most 4 beyond a table's
    // stride, i.e. up to 16 concatenated tables (QEMU's s2_pgtable_config_valid checks only that).
    const firstBits = inputBits - levelShift(startLevel, granule);
    if (firstBits > granule - 3 + 4) return bad(sid, `SMMUv3 STE stage 2 config not valid: S2SL0=${f.s2Sl0} with S2T0SZ=${tsz} needs ${2 ** (firstBits - (granule - 3))} concatenated tables (at most 16)`);
    if (firstBits < 1) return bad(sid, `S2SL0=${f.s2Sl0} (start level ${startLevel}) is inconsistent with S2T0SZ=${tsz}: the level resolves no input bits`);
    if (f.s2Endi) return bad(sid, 'SMMUv3 STE_S2ENDI only supports LE!');
    if (f.s2S) return bad(sid, 'SMMUv3 Stall not implemented!');
    s2cfg = { tsz, inputBits, granule, sl0: f.s2Sl0, startLevel, vttb: Number(ttb), affd: f.s2Affd, record: f.s2R, effPs };
  }
  if (s1) {
    if (f.s1CdMax !== 0) return bad(sid, 'SMMUv3 does not support multiple context descriptors yet (S1CDMax != 0, IDR1.SSIDSIZE = 0)');
    if (f.s1StallD) return bad(sid, 'SMMUv3 S1 stalling fault model not allowed yet (S1STALLD=1)');
  }
  let ctxPtr = f.s1ContextPtr;
  if (s1 && !flags.ptrFieldsArch && ctxPtr >> 48n !== 0n) {
    // QEMU 7.2's STE_CTXPTR extracts 16 bits of word 1: bits [51:48] are dropped.
    const q = ctxPtr & ((1n << 48n) - 1n);
    notes.push(`QEMU 7.2 reads S1ContextPtr as ${hex(q)} (STE_CTXPTR takes bits [47:6]); the architecture's is ${hex(ctxPtr)}`);
    ctxPtr = q;
  }
  return { kind: 'translate', s1, s2, vmid, ctxPtr, s2cfg, notes };
}
