/**
 * Context descriptors (smmu_get_cd, decode_cd): the stage-1 configuration of a stream, one CD
 * per stream (S1CDMax = 0; substreams are not supported, as in QEMU).
 *
 * CD fields (32-bit words): w0 T0SZ [5:0], TG0 [7:6], EPD0 [14], ENDI [15], T1SZ [21:16],
 * TG1 [23:22], EPD1 [30], V [31]; w1 IPS [2:0], AFFD [3], TBI [7:6], AA64 [9], HD [10], HA [11],
 * S [12], R [13], A [14], ASID [31:16]; w2/w3 TTB0 [51:4] with HAD0 [1]; w4/w5 TTB1, HAD1.
 * TG0 0/1/2 = 4K/64K/16K; TG1 1/2/3 = 16K/4K/64K (tg2granule).
 */
import { hex } from '../../hex';
import {
  EVT_C_BAD_CD,
  bits32,
  blockAllowed,
  levelShift,
  oasToBits,
  s1StartLevel,
  split64,
  tgCode,
  type ProfileFlags,
  type SmmuEvent,
  type TlbProbes,
  type TtInfo,
} from './types';

export const CD_SIZE = 64;

export interface CdFields {
  readonly valid: boolean;
  readonly aa64: boolean;
  readonly a: boolean;
  readonly s: boolean;
  readonly r: boolean;
  readonly ha: boolean;
  readonly hd: boolean;
  readonly affd: boolean;
  readonly endi: boolean;
  readonly ips: number;
  readonly tbi: number;
  readonly asid: number;
  readonly tsz: readonly [number, number];
  readonly tg: readonly [number, number];
  readonly epd: readonly [boolean, boolean];
  readonly ttb: readonly [bigint, bigint];
  readonly had: readonly [boolean, boolean];
}

export function cdFields(words: readonly bigint[]): CdFields {
  const w: number[] = [];
  for (const d of words) w.push(...split64(d));
  const ttb = (i: 0 | 1) => (BigInt(bits32(w[3 + 2 * i]!, 0, 20)) << 32n) | BigInt((w[2 + 2 * i]! >>> 0) - ((w[2 + 2 * i]! >>> 0) % 16));
  return {
    valid: bits32(w[0]!, 31, 1) === 1,
    aa64: bits32(w[1]!, 9, 1) === 1,
    a: bits32(w[1]!, 14, 1) === 1,
    s: bits32(w[1]!, 12, 1) === 1,
    r: bits32(w[1]!, 13, 1) === 1,
    ha: bits32(w[1]!, 11, 1) === 1,
    hd: bits32(w[1]!, 10, 1) === 1,
    affd: bits32(w[1]!, 3, 1) === 1,
    endi: bits32(w[0]!, 15, 1) === 1,
    ips: bits32(w[1]!, 0, 3),
    tbi: bits32(w[1]!, 6, 2),
    asid: bits32(w[1]!, 16, 16),
    tsz: [bits32(w[0]!, 0, 6), bits32(w[0]!, 16, 6)],
    tg: [bits32(w[0]!, 6, 2), bits32(w[0]!, 22, 2)],
    epd: [bits32(w[0]!, 14, 1) === 1, bits32(w[0]!, 30, 1) === 1],
    ttb: [ttb(0), ttb(1)],
    had: [bits32(w[2]!, 1, 1) === 1, bits32(w[4]!, 1, 1) === 1],
  };
}

/** tg2granule: log2 of the granule a TG0/TG1 value selects, 0 if none. */
export function tgToGranule(tg: number, sel: 0 | 1): number {
  if (sel === 0) return [12, 16, 14, 0][tg] ?? 0;
  return [0, 14, 12, 16][tg] ?? 0;
}

export function granuleToTg(granule: number, sel: 0 | 1): number {
  if (sel === 0) return granule === 12 ? 0 : granule === 16 ? 1 : 2;
  return granule === 14 ? 1 : granule === 12 ? 2 : 3;
}

/** IOTLB probes of one granule from level 3 up to `startLevel`, at levels that can hold leaves. */
export function probesFor(granule: number, startLevel: number, strictBlocks: boolean): TlbProbes {
  const sizes: number[] = [];
  const codes: number[] = [];
  for (let level = 3; level >= startLevel; level--) {
    if (level < 3 && strictBlocks && !blockAllowed(level, granule)) continue;
    sizes.push(2 ** levelShift(level, granule));
    codes.push(level * 4 + tgCode(granule));
  }
  return { sizes, codes };
}

/** Both probe lists, finest first (nested translations cache the smaller of the two stages). */
export function mergeProbes(a: TlbProbes, b: TlbProbes): TlbProbes {
  const all = new Map<number, number>();
  for (const p of [a, b]) p.codes.forEach((c, i) => all.set(c, p.sizes[i]!));
  const sorted = [...all.entries()].sort((x, y) => x[1] - y[1]);
  return { sizes: sorted.map((e) => e[1]), codes: sorted.map((e) => e[0]) };
}

export interface DecodedCd {
  readonly asid: number;
  readonly oas: number;
  readonly record: boolean;
  readonly affd: boolean;
  readonly tt: readonly [TtInfo | undefined, TtInfo | undefined];
  /** Where the profile read a field differently from the architecture, for the trace. */
  readonly notes: readonly string[];
}

/**
 * decode_cd with QEMU's checks (which are the architecture's for this feature set). Both TTB0 and
 * TTB1 are checked unless their EPD bit is set, as QEMU 7.2 does: a bad TT1 makes the whole CD
 * bad, TTB0 accesses included. Every granule (4K, 16K, 64K) is accepted, as in QEMU 7.2 (IDR5
 * GRAN4K, GRAN16K, GRAN64K); older QEMU trees refused 16K here.
 */
export function decodeCd(flags: ProfileFlags, sid: number, f: CdFields): DecodedCd | SmmuEvent {
  const bad = (reason: string): SmmuEvent => ({ type: EVT_C_BAD_CD, sid, reason });
  if (!f.valid) return bad('invalid CD (V=0)');
  if (!f.aa64) return bad('CD.AA64=0: only AArch64 tables are supported');
  if (!f.a) return bad('CD.A=0 is not allowed with IDR0.TERM_MODEL=1');
  if (f.s) return bad('CD.S=1: stalls are not supported (IDR0.STALL_MODEL=1)');
  if (f.ha || f.hd) return bad('CD.HA/HD set: hardware access/dirty flag updates are not supported (HTTU=0)');
  const ipsBits = oasToBits(f.ips);
  const oas = ipsBits < 0 ? flags.oasBits : Math.min(ipsBits, flags.oasBits);
  const tt: [TtInfo | undefined, TtInfo | undefined] = [undefined, undefined];
  const notes: string[] = [];
  for (const sel of [0, 1] as const) {
    if (f.epd[sel]) continue;
    const tsz = f.tsz[sel];
    if (tsz < 16 || tsz > 39) return bad(`T${sel}SZ=${tsz} is outside 16..39`);
    const granule = tgToGranule(f.tg[sel], sel);
    if (granule === 0) return bad(`TG${sel}=${f.tg[sel]} selects no granule`);
    if (f.endi) return bad('CD.ENDI=1: big-endian tables are not supported (IDR0.TTENDIAN)');
    let ttb = f.ttb[sel];
    if (!flags.ptrFieldsArch && ttb >> 51n !== 0n) {
      // QEMU 7.2's CD_TTB extracts 19 bits of the high word: TTB bit 51 is dropped.
      const q = ttb & ((1n << 51n) - 1n);
      notes.push(`QEMU 7.2 reads TTB${sel} as ${hex(q)} (CD_TTB takes bits [50:4]); the architecture's TTB${sel} is ${hex(ttb)}`);
      ttb = q;
    }
    if (ttb >> BigInt(oas) !== 0n) return bad(`TTB${sel} ${hex(ttb)} is beyond the ${oas}-bit IPA size`);
    const inputBits = 64 - tsz;
    const startLevel = s1StartLevel(inputBits, granule);
    const firstBits = inputBits - levelShift(startLevel, granule);
    const ttbNum = Number(ttb);
    const align = 2 ** (firstBits + 3);
    const lo = sel === 0 ? 0n : (1n << 64n) - (1n << BigInt(inputBits));
    const hi = sel === 0 ? 1n << BigInt(inputBits) : 1n << 64n;
    tt[sel] = {
      sel,
      tsz,
      inputBits,
      granule,
      startLevel,
      ttb: ttbNum,
      base: ttbNum - (ttbNum % align),
      had: f.had[sel],
      lo,
      hi,
      probes: probesFor(granule, startLevel, flags.strictBlockLevels),
    };
  }
  return { asid: f.asid, oas, record: f.r, affd: f.affd, tt, notes };
}
