/**
 * Legacy-mode root and context entries (VT-d 9.1, 9.3; QEMU's vtd_dev_to_context_entry): the
 * root table has 256 16-byte entries, one per bus; a present root entry points at a context
 * table of 256 16-byte entries, one per devfn. Checks in QEMU's order: root read, root present,
 * root reserved bits, context read, context present, context reserved bits, AW supported by
 * CAP.SAGAW, translation type supported.
 */
import { hex } from '../../hex';
import type { Trace } from '../../trace';
import type { GuestReader } from '../../guest-reader';
import {
  VTD_CONTEXT_ENTRY_AW,
  VTD_CONTEXT_ENTRY_FPD,
  VTD_CONTEXT_ENTRY_P,
  VTD_CONTEXT_ENTRY_RSVD_HI,
  VTD_CONTEXT_ENTRY_TT,
  VTD_CONTEXT_TT_DEV_IOTLB,
  VTD_CONTEXT_TT_MULTI_LEVEL,
  VTD_CONTEXT_TT_PASS_THROUGH,
  VTD_FR_CONTEXT_ENTRY_INV,
  VTD_FR_CONTEXT_ENTRY_P,
  VTD_FR_CONTEXT_ENTRY_RSVD,
  VTD_FR_CONTEXT_TABLE_INV,
  VTD_FR_ROOT_ENTRY_P,
  VTD_FR_ROOT_ENTRY_RSVD,
  VTD_FR_ROOT_TABLE_INV,
  VTD_ROOT_ENTRY_CTP,
  VTD_ROOT_ENTRY_P,
  bdfColon,
  hawMask,
} from './types';

/** A legacy context entry, decoded. */
export interface ContextEntry {
  readonly lo: bigint;
  readonly hi: bigint;
  readonly fpd: boolean;
  /** TT: 0 untranslated (multi-level), 1 + device IOTLB, 2 pass-through. */
  readonly tt: number;
  readonly slptptr: bigint;
  /** slptptr as a number for the number walks, -1 when it is 2^53 or more. */
  readonly slptN: number;
  /** AW field: the walk has 2 + AW levels over a 30 + 9 * AW bit address. */
  readonly aw: number;
  readonly did: number;
  /** Where it was read. */
  readonly addr: bigint;
  /**
   * Scalable mode: the PASID whose entry was used (the context's RID_PASID for a request without
   * PASID, or the PASID of a PASID address space), and that entry's FPD. The other fields then
   * come from that PASID entry (DID, AW, SLPTPTR, PGTT pass-through as T=2).
   */
  readonly rid2pasid?: number;
  readonly peFpd?: boolean;
  /**
   * Scalable mode, PASID entry PGTT=001b (first-stage only): `slptptr` then holds FSPTPTR and `aw`
   * the level count minus 2 (FLPM 0: 4 levels, AW 2, 48 bits; FLPM 1: 5 levels, AW 3, 57 bits).
   */
  readonly fs?: boolean;
}

/** What the context lookup needs of the device. */
export interface ContextEnv {
  readonly reader: GuestReader;
  /** RTADDR as latched by SRTP. */
  readonly root: bigint;
  /** aw-bits: the host address width that reserved-bit masks use. */
  readonly awBits: number;
  readonly cap: bigint;
  readonly dt: boolean;
  readonly pt: boolean;
  readonly memoryName: string;
  /** RTADDR.SMT latched with scalable mode offered: scalable root and context entries. */
  readonly scalable?: boolean;
  readonly ecap?: bigint;
  /**
   * QEMU 7.2's scalable mode: every PASID directory and table fault is VTD_FR_PASID_TABLE_INV
   * (0x58); PGTT first-stage and nested are accepted (and walked as second-stage tables from
   * SSPTPTR and AW), pass-through where ECAP.PT; the AW level is checked for every PGTT; a PASID
   * address space's context lookup checks the RID_PASID entry first (vtd_ce_rid2pasid_check).
   */
  readonly qemu72?: boolean;
  log(message: string): void;
}

/**
 * A fault: its reason and explanation, the context entry when one was read, `fpd` when the lookup
 * found FPD=1 past the context entry (a PASID directory or table entry, VT-d 9.5 and 9.6: evaluated
 * whatever their P), and `silent` where QEMU 7.2 goes on with an uninitialised PASID entry
 * (undefined behaviour) with FPD set: nothing is recorded and nothing is translated.
 */
export type ContextFault = { readonly fault: number; readonly why: string; readonly ce?: ContextEntry; readonly fpd?: boolean; readonly silent?: boolean };
export type ContextResult = { readonly ce: ContextEntry } | ContextFault;

export const TT_NAMES = ['untranslated requests, multi-level', 'untranslated and translated requests, multi-level (device IOTLB)', 'pass-through', 'reserved'];

export function ceLevel(ce: ContextEntry): number {
  return 2 + ce.aw;
}

export function ceAgaw(ce: ContextEntry): number {
  return 30 + ce.aw * 9;
}

export function levelSupported(cap: bigint, level: number): boolean {
  return (cap & (0x1fn << 8n) & (1n << BigInt(level - 2 + 8))) !== 0n;
}

function read128(reader: GuestReader, addr: bigint): [bigint, bigint] | undefined {
  const lo = reader.readBig(addr, 8);
  const hi = lo === undefined ? undefined : reader.readBig(addr + 8n, 8);
  return lo === undefined || hi === undefined ? undefined : [lo, hi];
}

function numOrNeg(v: bigint): number {
  return v < 1n << 53n ? Number(v) : -1;
}

export function decodeContext(lo: bigint, hi: bigint, addr: bigint): ContextEntry {
  return {
    lo,
    hi,
    fpd: (lo & VTD_CONTEXT_ENTRY_FPD) !== 0n,
    tt: Number((lo & VTD_CONTEXT_ENTRY_TT) >> 2n),
    slptptr: lo & ~0xfffn,
    slptN: numOrNeg(lo & ~0xfffn),
    aw: Number(hi & VTD_CONTEXT_ENTRY_AW),
    did: Number((hi >> 8n) & 0xffffn),
    addr,
  };
}

/**
 * vtd_dev_to_context_entry, with the steps it took. `pasid`: in scalable mode, the PASID entry to
 * resolve (a PASID address space's); the context's RID_PASID when undefined.
 */
export function devToContextEntry(env: ContextEnv, sid: number, trace?: Trace, pasid?: number): ContextResult {
  if (env.scalable) return smDevToContextEntry(env, sid, trace, pasid);
  const bus = (sid >> 8) & 0xff;
  const devfn = sid & 0xff;
  const reAddr = env.root + BigInt(bus) * 16n;
  const re = read128(env.reader, reAddr);
  if (re === undefined) return { fault: VTD_FR_ROOT_TABLE_INV, why: `root entry ${bus} at ${hex(reAddr)} cannot be read in ${env.memoryName}` };
  const [rlo, rhi] = re;
  const present = (rlo & VTD_ROOT_ENTRY_P) !== 0n;
  if (trace) {
    trace.push({
      kind: 'descriptor-read',
      summary: `root entry [bus ${bus}] at ${hex(reAddr)}: P=${present ? 1 : 0}, CTP=${hex(rlo & VTD_ROOT_ENTRY_CTP)}`,
      fields: { index: bus, addr: reAddr, lo: rlo, hi: rhi, P: present ? 1 : 0, CTP: rlo & VTD_ROOT_ENTRY_CTP },
      source: { kind: 'guest-memory', as: env.memoryName, addr: reAddr, size: 16, value: rlo },
    });
  }
  if (!present) return { fault: VTD_FR_ROOT_ENTRY_P, why: `root entry ${bus} is not present` };
  const rootRsvd = 0xffen | (~hawMask(env.awBits) & ((1n << 64n) - 1n));
  if (rhi !== 0n || (rlo & rootRsvd) !== 0n) {
    env.log(`vtd_root_entry_rsvd_bits_check: invalid root entry: hi=0x${rhi.toString(16)}, lo=0x${rlo.toString(16)}`);
    return { fault: VTD_FR_ROOT_ENTRY_RSVD, why: `root entry ${bus} has reserved bits set (hi=${hex(rhi)}, lo=${hex(rlo)})` };
  }
  const ceAddr = (rlo & VTD_ROOT_ENTRY_CTP) + BigInt(devfn) * 16n;
  const c = read128(env.reader, ceAddr);
  if (c === undefined) return { fault: VTD_FR_CONTEXT_TABLE_INV, why: `context entry at ${hex(ceAddr)} cannot be read in ${env.memoryName}` };
  const ce = decodeContext(c[0], c[1], ceAddr);
  const cp = (ce.lo & VTD_CONTEXT_ENTRY_P) !== 0n;
  if (trace) {
    trace.push({
      kind: 'descriptor-read',
      summary:
        `context entry [${bdfColon(sid)}, devfn ${hex(devfn)}] at ${hex(ceAddr)}: P=${cp ? 1 : 0}` +
        (cp ? `, FPD=${ce.fpd ? 1 : 0}, T=${ce.tt} (${TT_NAMES[ce.tt]}), SLPTPTR=${hex(ce.slptptr)}, AW=${ce.aw} (${ceAgaw(ce)}-bit AGAW, ${ceLevel(ce)}-level), DID=${ce.did}` : ''),
      fields: { devfn, addr: ceAddr, lo: ce.lo, hi: ce.hi, P: cp ? 1 : 0, FPD: ce.fpd ? 1 : 0, T: ce.tt, SLPTPTR: ce.slptptr, AW: ce.aw, DID: ce.did },
      source: { kind: 'guest-memory', as: env.memoryName, addr: ceAddr, size: 16, value: ce.lo },
    });
  }
  if (!cp) return { fault: VTD_FR_CONTEXT_ENTRY_P, why: `context entry of ${bdfColon(sid)} is not present`, ce };
  const rsvdLo = 0xff0n | (~hawMask(env.awBits) & ((1n << 64n) - 1n));
  if ((ce.hi & VTD_CONTEXT_ENTRY_RSVD_HI) !== 0n || (ce.lo & rsvdLo) !== 0n) {
    env.log(`vtd_context_entry_rsvd_bits_check: invalid context entry: hi=${ce.hi.toString(16)}, lo=${ce.lo.toString(16)} (reserved nonzero)`);
    return { fault: VTD_FR_CONTEXT_ENTRY_RSVD, why: `context entry of ${bdfColon(sid)} has reserved bits set`, ce };
  }
  if (!levelSupported(env.cap, ceLevel(ce))) {
    env.log(`vtd_dev_to_context_entry: invalid context entry: hi=${ce.hi.toString(16)}, lo=${ce.lo.toString(16)} (level ${ceLevel(ce)} not supported)`);
    return { fault: VTD_FR_CONTEXT_ENTRY_INV, why: `AW=${ce.aw} asks for ${ceLevel(ce)}-level tables, which CAP.SAGAW does not offer`, ce };
  }
  const tt = BigInt(ce.tt) << 2n;
  if (tt === VTD_CONTEXT_TT_MULTI_LEVEL) return { ce };
  if (tt === VTD_CONTEXT_TT_DEV_IOTLB) {
    if (env.dt) return { ce };
    env.log('vtd_ce_type_check: DT specified but not supported');
    return { fault: VTD_FR_CONTEXT_ENTRY_INV, why: 'T=1 (device IOTLB) but ECAP.DT is 0 (device-iotlb=off)', ce };
  }
  if (tt === VTD_CONTEXT_TT_PASS_THROUGH) {
    if (env.pt) return { ce };
    env.log('vtd_ce_type_check: PT specified but not supported');
    return { fault: VTD_FR_CONTEXT_ENTRY_INV, why: 'T=2 (pass-through) but ECAP.PT is 0 (pt=off)', ce };
  }
  env.log(`vtd_ce_type_check: unknown ce type: ${ce.tt}`);
  return { fault: VTD_FR_CONTEXT_ENTRY_INV, why: `T=${ce.tt} is reserved`, ce };
}

const PGTT_NAMES = ['reserved', 'first-stage', 'second-stage', 'nested', 'pass-through', 'reserved', 'reserved', 'reserved'];

/**
 * Scalable mode (VT-d 9.2, 9.4, 9.5; QEMU's vtd_dev_to_context_entry with root_scalable and
 * vtd_ce_get_rid2pasid_entry): the root entry's lower half serves devfn 0..127 and its upper half
 * 128..255, context entries are 256 bits, and a request without PASID uses the PASID table entry
 * of the context entry's RID_PASID: directory entry (pasid >> 6), then table entry (pasid & 63),
 * read, PGTT checked against ECAP (first-stage needs FLTS, second-stage SLTS and a SAGAW level,
 * nested never, pass-through PT), then present.
 */
function smDevToContextEntry(env: ContextEnv, sid: number, trace?: Trace, pasid?: number): ContextResult {
  const bus = (sid >> 8) & 0xff;
  const devfn = sid & 0xff;
  const upper = devfn > 127;
  const reAddr = env.root + BigInt(bus) * 16n;
  const re = read128(env.reader, reAddr);
  if (re === undefined) return { fault: VTD_FR_ROOT_TABLE_INV, why: `root entry ${bus} at ${hex(reAddr)} cannot be read in ${env.memoryName}` };
  const half = upper ? re[1] : re[0];
  const present = (half & 1n) !== 0n;
  if (trace) {
    trace.push({
      kind: 'descriptor-read',
      summary: `scalable root entry [bus ${bus}] at ${hex(reAddr)}: ${upper ? 'UP' : 'LP'}=${present ? 1 : 0}, ${upper ? 'UCTP' : 'LCTP'}=${hex(half & VTD_ROOT_ENTRY_CTP)} (devfn ${upper ? '128..255' : '0..127'})`,
      fields: { index: bus, addr: reAddr, lo: re[0], hi: re[1], LP: Number(re[0] & 1n), LCTP: re[0] & VTD_ROOT_ENTRY_CTP, UP: Number(re[1] & 1n), UCTP: re[1] & VTD_ROOT_ENTRY_CTP },
      source: { kind: 'guest-memory', as: env.memoryName, addr: reAddr, size: 16, value: re[0] },
    });
  }
  if (!present) return { fault: VTD_FR_ROOT_ENTRY_P, why: `the ${upper ? 'upper' : 'lower'} half of root entry ${bus} is not present` };
  const rsvd = 0xffen | (~hawMask(env.awBits) & ((1n << 64n) - 1n));
  if ((re[0] & rsvd) !== 0n || (re[1] & rsvd) !== 0n) {
    env.log(`vtd_root_entry_rsvd_bits_check: invalid root entry: hi=0x${re[1].toString(16)}, lo=0x${re[0].toString(16)}`);
    return { fault: VTD_FR_ROOT_ENTRY_RSVD, why: `root entry ${bus} has reserved bits set` };
  }
  const ceAddr = (half & VTD_ROOT_ENTRY_CTP) + BigInt(devfn & 0x7f) * 32n;
  const v = env.reader.readWords(ceAddr, 4);
  if (v === undefined) return { fault: VTD_FR_CONTEXT_TABLE_INV, why: `scalable context entry at ${hex(ceAddr)} cannot be read in ${env.memoryName}` };
  const [v0, v1, v2, v3] = v as [bigint, bigint, bigint, bigint];
  const rid2pasid = Number(v1 & 0xfffffn);
  const base = decodeContext(v0, v1, ceAddr);
  if (trace) {
    trace.push({
      kind: 'descriptor-read',
      summary: `scalable context entry [${bdfColon(sid)}] at ${hex(ceAddr)}: P=${Number(v0 & 1n)}, FPD=${Number((v0 >> 1n) & 1n)}, DTE=${Number((v0 >> 2n) & 1n)}, PASIDE=${Number((v0 >> 3n) & 1n)}, PDTS=${Number((v0 >> 9n) & 7n)}, PASIDDIRPTR=${hex(v0 & ~0xfffn)}, RID_PASID=${rid2pasid}`,
      fields: { devfn, addr: ceAddr, val0: v0, val1: v1, val2: v2, val3: v3, P: Number(v0 & 1n), FPD: Number((v0 >> 1n) & 1n), PASIDDIRPTR: v0 & ~0xfffn, RID_PASID: rid2pasid },
      source: { kind: 'guest-memory', as: env.memoryName, addr: ceAddr, size: 32, value: v0 },
    });
  }
  if ((v0 & 1n) === 0n) return { fault: VTD_FR_CONTEXT_ENTRY_P, why: `context entry of ${bdfColon(sid)} is not present`, ce: base };
  if ((v0 & (0x1e0n | (~hawMask(env.awBits) & ((1n << 64n) - 1n)))) !== 0n || (v1 & 0xffffffffffe00000n) !== 0n || v2 !== 0n || v3 !== 0n) {
    env.log(`vtd_context_entry_rsvd_bits_check: invalid context entry: val[3]=${v3.toString(16)}, val[2]=${v2.toString(16)}, val[1]=${v1.toString(16)}, val[0]=${v0.toString(16)} (reserved nonzero)`);
    return { fault: VTD_FR_CONTEXT_ENTRY_RSVD, why: `scalable context entry of ${bdfColon(sid)} has reserved bits set`, ce: base };
  }
  if (env.qemu72 === true && pasid !== undefined && pasid !== rid2pasid) {
    // vtd_dev_to_context_entry ends with vtd_ce_rid2pasid_check: the RID_PASID entry must be valid
    // even for a request with another PASID.
    const rid = pasidEntry(env, v0 & ~0xfffn, rid2pasid, (v0 & 2n) !== 0n, trace);
    if ('fault' in rid) return { fault: rid.fault, why: `${rid.why} (QEMU 7.2 checks the context's RID_PASID entry ${rid2pasid} before PASID ${pasid}'s)`, ce: base };
  }
  return smResolve(env, v0, v1, ceAddr, trace, pasid);
}

/**
 * A present scalable context entry with the PASID entry of its RID_PASID (or of `pasid`): QEMU
 * reads the PASID entry again for every translation (it has no PASID cache), so a cached context
 * entry (`cached`) is resolved again each time. In the qemu-7.2 profile a cached context, or a
 * PASID address space's, takes 7.2's path (pasidEntryQemu72): vtd_ce_get_pasid_fpd's checks, then
 * the walk from whatever entry was read.
 */
export function smResolve(env: ContextEnv, v0: bigint, v1: bigint, ceAddr: bigint, trace?: Trace, pasid?: number, cached = false): ContextResult {
  const rid2pasid = pasid ?? Number(v1 & 0xfffffn);
  const base = decodeContext(v0, v1, ceAddr);
  const ctxFpd = (v0 & 2n) !== 0n;
  const pe = env.qemu72 === true && (cached || pasid !== undefined) ? pasidEntryQemu72(env, v0 & ~0xfffn, rid2pasid, ctxFpd, trace) : pasidEntry(env, v0 & ~0xfffn, rid2pasid, ctxFpd, trace);
  if ('fault' in pe) return { fault: pe.fault, why: pe.why, ce: base, fpd: pe.fpd, ...(pe.silent === true ? { silent: true } : {}) };
  const pgtt = Number((pe.val0 >> 6n) & 7n);
  const fs = pgtt === 1 && env.qemu72 !== true;
  if (trace && env.qemu72 === true && (pgtt === 1 || pgtt === 3)) {
    trace.push({
      kind: 'model',
      summary: `QEMU 7.2: PGTT=${pgtt} (${PGTT_NAMES[pgtt]}) passes vtd_pe_type_check and is walked as second-stage tables from SSPTPTR=${hex(pe.val0 & ~0xfffn)} with AW=${Number((pe.val0 >> 2n) & 7n)}; the architecture ${pgtt === 1 ? 'walks the first-stage tables at FSPTPTR (with ECAP.FLTS) or faults PASID_TABLE_ENTRY_INV (0x5b) without it' : 'faults PASID_TABLE_ENTRY_INV (0x5b): nested translation is not offered'}`,
      fields: { pgtt, qemu72: true },
    });
  }
  const ptr = fs ? pe.val2 & ~0xfffn : pe.val0 & ~0xfffn;
  return {
    ce: {
      lo: v0,
      hi: v1,
      fpd: (v0 & 2n) !== 0n,
      tt: pgtt === 4 && pe.pt !== false ? 2 : 0,
      slptptr: ptr,
      slptN: numOrNeg(ptr),
      aw: fs ? 2 + Number((pe.val2 >> 2n) & 3n) : Number((pe.val0 >> 2n) & 7n),
      ...(fs ? { fs: true } : {}),
      did: Number(pe.val1 & 0xffffn),
      addr: ceAddr,
      rid2pasid,
      peFpd: pe.fpd,
    },
  };
}

interface PasidEntryValue {
  readonly val0: bigint;
  readonly val1: bigint;
  readonly val2: bigint;
  /** FPD=1 in the context, PASID directory or PASID table entry. */
  readonly fpd: boolean;
  /** False where QEMU 7.2 walks an entry that is not a valid present pass-through one (never pass-through then). */
  readonly pt?: boolean;
}

type PasidEntryFault = { readonly fault: number; readonly why: string; readonly fpd: boolean; readonly silent?: boolean };

function traceDir(env: ContextEnv, trace: Trace | undefined, pasid: number, dAddr: bigint, pdire: bigint): void {
  if (!trace) return;
  trace.push({
    kind: 'descriptor-read',
    summary: `PASID directory entry [${pasid >> 6}] at ${hex(dAddr)}: P=${Number(pdire & 1n)}, FPD=${Number((pdire >> 1n) & 1n)}, SMPTBLPTR=${hex(pdire & ~0xfffn)}`,
    fields: { index: pasid >> 6, addr: dAddr, raw: pdire, P: Number(pdire & 1n), FPD: Number((pdire >> 1n) & 1n), SMPTBLPTR: pdire & ~0xfffn },
    source: { kind: 'guest-memory', as: env.memoryName, addr: dAddr, size: 8, value: pdire },
  });
}

function tracePe(env: ContextEnv, trace: Trace | undefined, pasid: number, pAddr: bigint, val0: bigint, val1: bigint, val2: bigint): void {
  if (!trace) return;
  const pgtt = Number((val0 >> 6n) & 7n);
  const aw = Number((val0 >> 2n) & 7n);
  const flpm = Number((val2 >> 2n) & 3n);
  const fsText = pgtt === 1 ? `, FSPTPTR=${hex(val2 & ~0xfffn)}, FLPM=${flpm} (${4 + flpm}-level), SRE=${Number((val2 >> 0n) & 1n)}, WPE=${Number((val2 >> 4n) & 1n)}, EAFE=${Number((val2 >> 7n) & 1n)}` : '';
  trace.push({
    kind: 'descriptor-read',
    summary: `PASID table entry [PASID ${pasid}] at ${hex(pAddr)}: P=${Number(val0 & 1n)}, FPD=${Number((val0 >> 1n) & 1n)}, AW=${aw}, PGTT=${pgtt} (${PGTT_NAMES[pgtt]}), SSPTPTR=${hex(val0 & ~0xfffn)}, DID=${Number(val1 & 0xffffn)}${fsText}`,
    fields: { pasid, addr: pAddr, val0, val1, val2, P: Number(val0 & 1n), FPD: Number((val0 >> 1n) & 1n), AW: aw, PGTT: pgtt, SSPTPTR: val0 & ~0xfffn, DID: Number(val1 & 0xffffn), FSPTPTR: val2 & ~0xfffn, FLPM: flpm },
    source: { kind: 'guest-memory', as: env.memoryName, addr: pAddr, size: 64, value: val0 },
  });
}

/** QEMU 7.2's vtd_pe_type_check and its AW level check (vtd_get_pe_in_pasid_leaf_table), for every PGTT. */
function qemu72EntryProblem(env: ContextEnv, val0: bigint): string | undefined {
  const pgtt = Number((val0 >> 6n) & 7n);
  const aw = Number((val0 >> 2n) & 7n);
  const ok72 = pgtt === 1 || pgtt === 2 || pgtt === 3 || (pgtt === 4 && ((env.ecap ?? 0n) & (1n << 6n)) !== 0n);
  if (!ok72) return `PGTT=${pgtt} (${PGTT_NAMES[pgtt]}) fails vtd_pe_type_check${pgtt === 4 ? ' (pt=off)' : ''}`;
  if (!levelSupported(env.cap, 2 + aw)) return `AW=${aw} asks for ${2 + aw}-level tables, which CAP.SAGAW does not offer (QEMU 7.2 checks it for every PGTT)`;
  return undefined;
}

/** QEMU 7.2 records VTD_FR_PASID_TABLE_INV (0x58) where the architecture has its own reason. */
function as72(arch: number, why: string, fpd: boolean): PasidEntryFault {
  return arch !== 0x58 ? { fault: 0x58, why: `${why} [QEMU 7.2: VTD_FR_PASID_TABLE_INV (0x58); the architecture records 0x${arch.toString(16)}]`, fpd } : { fault: 0x58, why, fpd };
}

/**
 * vtd_get_pe_from_pasid_table: the directory entry, then the table entry, checked. The
 * architecture (VT-d 9.5, 9.6 and 7.1.3): a directory entry that cannot be read is
 * PASID_DIR_ACCESS_ERR (0x50), one with P=0 PASID_DIR_ENTRY_P (0x51); a table entry that cannot be
 * read PASID_TABLE_ACCESS_ERR (0x58), one with P=0 PASID_ENTRY_P (0x59) whatever its other fields
 * (hardware ignores them when P=0), a present one with a PGTT or AW the IOMMU does not offer
 * PASID_TABLE_ENTRY_INV (0x5b). FPD in the context, directory and table entries is evaluated
 * whatever their P (`fpd`: any of them up to the fault). QEMU 7.2 (the full check of its
 * vtd_ce_rid2pasid_check and vtd_dev_pt_enabled): 0x58 for all of them, the type and AW checks
 * before P.
 */
function pasidEntry(env: ContextEnv, dir: bigint, pasid: number, ctxFpd: boolean, trace?: Trace): PasidEntryValue | PasidEntryFault {
  const dAddr = dir + BigInt((pasid >> 6) & 0x3fff) * 8n;
  const pdire = env.reader.readBig(dAddr, 8);
  const old = env.qemu72 === true;
  const f = (arch: number, why: string, fpd: boolean): PasidEntryFault => (old ? as72(arch, why, fpd) : { fault: arch, why, fpd });
  if (pdire === undefined) return f(0x50, `PASID directory entry at ${hex(dAddr)} cannot be read`, ctxFpd);
  traceDir(env, trace, pasid, dAddr, pdire);
  let fpd = ctxFpd || (pdire & 2n) !== 0n;
  if ((pdire & 1n) === 0n) return f(0x51, `PASID directory entry ${pasid >> 6} is not present`, fpd);
  const pAddr = (pdire & ~0xfffn) + BigInt(pasid & 0x3f) * 64n;
  const pe = env.reader.readWords(pAddr, 8);
  if (pe === undefined) return { fault: 0x58, why: `PASID table entry at ${hex(pAddr)} cannot be read`, fpd };
  const [val0, val1, val2] = pe as [bigint, bigint, bigint];
  const pgtt = Number((val0 >> 6n) & 7n);
  const aw = Number((val0 >> 2n) & 7n);
  const flpm = Number((val2 >> 2n) & 3n);
  tracePe(env, trace, pasid, pAddr, val0, val1, val2);
  fpd = fpd || (val0 & 2n) !== 0n;
  if (old) {
    // QEMU 7.2 vtd_get_pe_in_pasid_leaf_table: vtd_pe_type_check, then the AW level for every PGTT; then present.
    const problem = qemu72EntryProblem(env, val0);
    if (problem !== undefined) return f(0x5b, problem, fpd);
    if ((val0 & 1n) === 0n) return f(0x59, `PASID table entry ${pasid} is not present`, fpd);
    return { val0, val1, val2, fpd };
  }
  if ((val0 & 1n) === 0n) return { fault: 0x59, why: `PASID table entry ${pasid} is not present (P=0: its other fields are ignored)`, fpd };
  const ecap = env.ecap ?? 0n;
  const typeOk = pgtt === 1 ? (ecap & (1n << 47n)) !== 0n : pgtt === 2 ? (ecap & (1n << 46n)) !== 0n : pgtt === 4 ? (ecap & (1n << 6n)) !== 0n : false;
  if (!typeOk) return { fault: 0x5b, why: `PGTT=${pgtt} (${PGTT_NAMES[pgtt]}) is not offered by ECAP${pgtt === 3 ? ' (QEMU does not support nested yet)' : pgtt === 1 ? ' (first-stage needs ECAP.FLTS: flts on)' : ''}`, fpd };
  if (pgtt === 2 && !levelSupported(env.cap, 2 + aw)) return { fault: 0x5b, why: `AW=${aw} asks for ${2 + aw}-level tables, which CAP.SAGAW does not offer`, fpd };
  // vtd_is_fl_level_supported: QEMU walks 4-level first-stage tables only; the architecture also
  // has 5-level ones (FLPM=1) where CAP.FL5LP says so.
  if (pgtt === 1 && !(flpm === 0 || (flpm === 1 && (env.cap & (1n << 62n)) !== 0n))) {
    return { fault: 0x5b, why: `FLPM=${flpm} asks for ${4 + flpm}-level first-stage tables, which ${flpm === 1 ? 'CAP.FL5LP does not offer' : 'is reserved'}`, fpd };
  }
  return { val0, val1, val2, fpd };
}

/**
 * QEMU 7.2's path for a PASID address space, and for any request on a cached context entry
 * (vtd_do_iommu_translate: vtd_ce_get_pasid_fpd, then vtd_dev_pt_enabled and vtd_iova_to_slpte,
 * whose vtd_ce_get_rid2pasid_entry results are not checked). Unless the context entry has FPD=1:
 * the directory entry is read (0x58 if it cannot be), its FPD=1 ends the checks, else P=0 is 0x58;
 * the table entry is read and type- and AW-checked (0x58), its FPD taken; P is not looked at. Then
 * the walk uses the table entry as read: a present valid pass-through entry passes through, any
 * other (P=0 among them) is walked as second-stage tables from SSPTPTR with AW. Where no table
 * entry was read (the directory entry unreadable or not present behind an FPD) QEMU walks an
 * uninitialised one: undefined behaviour, modelled as no translation and nothing recorded (FPD is
 * set on that path, and every walk fault is qualified).
 */
function pasidEntryQemu72(env: ContextEnv, dir: bigint, pasid: number, ctxFpd: boolean, trace?: Trace): PasidEntryValue | PasidEntryFault {
  const dAddr = dir + BigInt((pasid >> 6) & 0x3fff) * 8n;
  const pdire = env.reader.readBig(dAddr, 8);
  const ub = (arch: number, what: string): PasidEntryFault => ({
    fault: arch,
    why: `${what}; QEMU 7.2 (${ctxFpd ? 'the context entry has FPD=1, so vtd_ce_get_pasid_fpd is not called' : "the directory entry's FPD=1 ends vtd_ce_get_pasid_fpd"}) then walks an uninitialised PASID entry (undefined behaviour): the model translates nothing and records nothing [the architecture: 0x${arch.toString(16)}, not recorded under FPD=1]`,
    fpd: true,
    silent: true,
  });
  if (pdire !== undefined) traceDir(env, trace, pasid, dAddr, pdire);
  const dirFpd = pdire !== undefined && (pdire & 2n) !== 0n;
  const checked = !ctxFpd && !dirFpd;
  if (!ctxFpd) {
    if (pdire === undefined) return as72(0x50, `PASID directory entry at ${hex(dAddr)} cannot be read`, false);
    if (!dirFpd && (pdire & 1n) === 0n) return as72(0x51, `PASID directory entry ${pasid >> 6} is not present`, false);
  }
  if (pdire === undefined) return ub(0x50, `PASID directory entry at ${hex(dAddr)} cannot be read`);
  if ((pdire & 1n) === 0n) return ub(0x51, `PASID directory entry ${pasid >> 6} is not present`);
  const pAddr = (pdire & ~0xfffn) + BigInt(pasid & 0x3f) * 64n;
  const pe = env.reader.readWords(pAddr, 8);
  if (pe === undefined) return checked ? { fault: 0x58, why: `PASID table entry at ${hex(pAddr)} cannot be read`, fpd: false } : ub(0x58, `PASID table entry at ${hex(pAddr)} cannot be read`);
  const [val0, val1, val2] = pe as [bigint, bigint, bigint];
  tracePe(env, trace, pasid, pAddr, val0, val1, val2);
  const problem = qemu72EntryProblem(env, val0);
  if (checked && problem !== undefined) return as72(0x5b, problem, false);
  const fpd = !checked || (val0 & 2n) !== 0n;
  const present = (val0 & 1n) !== 0n;
  if (present && problem === undefined) return { val0, val1, val2, fpd };
  const aw = Number((val0 >> 2n) & 7n);
  const arch = present ? 0x5b : 0x59;
  const what = present ? `PASID table entry ${pasid} is invalid (${problem!})` : `PASID table entry ${pasid} is not present (P=0)`;
  // vtd_spte_rsvd has 5 entries: a walk from level 5 or more reads past it (undefined behaviour).
  if (2 + aw > 4) return ub(arch, `${what}, with AW=${aw} (${2 + aw} levels)`);
  if (trace) {
    trace.push({
      kind: 'model',
      summary: `QEMU 7.2: ${what}, but vtd_ce_get_pasid_fpd does not look at ${present ? 'it again' : 'P'} and vtd_iova_to_slpte walks the entry as read: second-stage tables from SSPTPTR=${hex(val0 & ~0xfffn)} with AW=${aw}, DID ${Number(val1 & 0xffffn)}${fpd ? ', faults not recorded (FPD)' : ''}; the architecture faults 0x${arch.toString(16)} (${arch === 0x59 ? 'PASID_ENTRY_P' : 'PASID_TABLE_ENTRY_INV'})`,
      fields: { qemu72: true, P: present ? 1 : 0, archFault: arch },
    });
  }
  // Walked as second-stage whatever its PGTT: clear PGTT so smResolve neither passes it through nor walks first-stage.
  return { val0: val0 & ~(7n << 6n), val1, val2, fpd, pt: false };
}
