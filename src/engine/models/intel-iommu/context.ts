/**
 * Legacy-mode root and context entries (VT-d 9.1, 9.3; QEMU's vtd_dev_to_context_entry): the
 * root table has 256 16-byte entries, one per bus; a present root entry points at a context
 * table of 256 16-byte entries, one per devfn. Checks in QEMU's order: root read, root present,
 * root reserved bits, context read, context present, context reserved bits, AW supported by
 * CAP.SAGAW, translation type supported.
 */
import { hex } from '../../hex';
import type { Trace } from '../../trace';
import type { GuestReader } from '../smmuv3/guest-reader';
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
  /** AW field: the walk has 2 + AW levels over a 30 + 9 * AW bit address. */
  readonly aw: number;
  readonly did: number;
  /** Where it was read. */
  readonly addr: bigint;
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
  log(message: string): void;
}

export type ContextResult = { readonly ce: ContextEntry } | { readonly fault: number; readonly why: string; readonly ce?: ContextEntry };

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

export function decodeContext(lo: bigint, hi: bigint, addr: bigint): ContextEntry {
  return {
    lo,
    hi,
    fpd: (lo & VTD_CONTEXT_ENTRY_FPD) !== 0n,
    tt: Number((lo & VTD_CONTEXT_ENTRY_TT) >> 2n),
    slptptr: lo & ~0xfffn,
    aw: Number(hi & VTD_CONTEXT_ENTRY_AW),
    did: Number((hi >> 8n) & 0xffffn),
    addr,
  };
}

/** vtd_dev_to_context_entry, with the steps it took. */
export function devToContextEntry(env: ContextEnv, sid: number, trace?: Trace): ContextResult {
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
