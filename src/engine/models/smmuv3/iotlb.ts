/**
 * The SMMU's IOTLB (smmu-common.c): translations cached by (ASID, VMID, input page, granule,
 * level), looked up at every level from the finest up so that block entries hit, and removed
 * only by TLBI commands (or by QEMU's flush-everything when SMMU_IOTLB_MAX_SIZE entries are
 * reached). A table change without a TLBI keeps hitting the old entry, as on QEMU.
 *
 * Entries live in one map per (ASID, VMID, TTB1?) tag, keyed by a number built from the input
 * page index (input addresses masked to the input size, at most 48 bits), the level and the
 * granule code; a stream's decoded config keeps direct references to its maps, so a hit costs
 * one division and one Map lookup. The maps are cleared in place, never replaced.
 */
import type { TlbProbes } from './types';

export interface TlbEntry {
  /** Input address of the first byte (full 64-bit IOVA or IPA), for invalidation and views. */
  readonly iova: bigint;
  /** The same, masked to the input size: the key's base. */
  readonly ia: number;
  readonly size: number;
  readonly mask: bigint;
  /** Output address of the first byte, as a number and as a bigint (for translate()'s entry). */
  readonly out: number;
  readonly outBig: bigint;
  /** log2 of size. */
  readonly shift: number;
  /** Permissions of the translation (stage 1 AND stage 2). */
  readonly perm: number;
  readonly s1perm: number;
  readonly s2perm: number;
  readonly level: number;
  readonly granule: number;
  readonly key: number;
}

export class TlbMap {
  readonly entries = new Map<number, TlbEntry>();
  /** Bit `code` set when an entry with that level/granule code may be present: misses skip the rest. */
  present = 0;
  constructor(
    readonly asid: number,
    readonly vmid: number,
    readonly ttb1: boolean,
  ) {}
}

/** QEMU's SMMU_IOTLB_MAX_SIZE: on reaching it, an insert first empties the whole IOTLB. */
export const SMMU_IOTLB_MAX_SIZE = 256;

const MASKS: bigint[] = Array.from({ length: 65 }, (_, i) => (1n << BigInt(i)) - 1n);

export function maskOf(shift: number): bigint {
  return MASKS[shift]!;
}

export function tlbKey(ia: number, size: number, level: number, tg: number): number {
  return Math.floor(ia / size) * 64 + level * 4 + tg;
}

export class Iotlb {
  private readonly maps = new Map<string, TlbMap>();
  private n = 0;
  hits = 0;
  misses = 0;
  /** Flush-alls caused by the size limit. */
  overflows = 0;

  constructor(readonly limit: number) {}

  get enabled(): boolean {
    return this.limit > 0;
  }

  get size(): number {
    return this.n;
  }

  /** The map for a tag, created on first use. */
  map(asid: number, vmid: number, ttb1: boolean): TlbMap {
    const k = `${asid}/${vmid}/${ttb1 ? 1 : 0}`;
    let m = this.maps.get(k);
    if (m === undefined) {
      m = new TlbMap(asid, vmid, ttb1);
      this.maps.set(k, m);
    }
    return m;
  }

  lookup(m: TlbMap, ia: number, probes: TlbProbes): TlbEntry | undefined {
    const sizes = probes.sizes;
    const codes = probes.codes;
    const present = m.present;
    for (let i = 0; i < sizes.length; i++) {
      const code = codes[i]!;
      if ((present & (1 << code)) === 0) continue;
      // A key that fits a small integer is passed as one (no boxed number per lookup).
      const k = Math.floor(ia / sizes[i]!) * 64 + code;
      const e = m.entries.get(k <= 0x3fffffff ? k | 0 : k);
      if (e !== undefined) {
        this.hits++;
        return e;
      }
    }
    this.misses++;
    return undefined;
  }

  insert(m: TlbMap, e: TlbEntry): void {
    if (this.limit <= 0) return;
    if (this.n >= this.limit) {
      this.invAll();
      this.overflows++;
    }
    const had = m.entries.has(e.key);
    m.entries.set(e.key, e);
    m.present |= 1 << (e.level * 4 + (e.granule - 10) / 2);
    if (!had) this.n++;
  }

  invAll(): number {
    const before = this.n;
    for (const m of this.maps.values()) {
      m.entries.clear();
      m.present = 0;
    }
    this.n = 0;
    return before;
  }

  /** smmu_iotlb_inv_asid_vmid: every entry of the (ASID, VMID) pair. */
  invAsidVmid(asid: number, vmid: number): number {
    return this.removeMaps((m) => m.asid === asid && m.vmid === vmid);
  }

  /** smmu_iotlb_inv_vmid: stage-1 and stage-2 entries of the VMID. */
  invVmid(vmid: number): number {
    return this.removeMaps((m) => m.vmid === vmid);
  }

  /** smmu_iotlb_inv_vmid_s1: stage-1 entries (ASID >= 0) of the VMID. */
  invVmidS1(vmid: number): number {
    return this.removeMaps((m) => m.vmid === vmid && m.asid >= 0);
  }

  /**
   * smmu_iotlb_inv_iova: entries of the ASID/VMID (negative: any) that contain `iova`, or that lie
   * in [iova, iova + rangeMask] (smmu_hash_remove_by_asid_vmid_iova).
   */
  invIova(asid: number, vmid: number, iova: bigint, rangeMask: bigint): number {
    return this.removeEntries(
      (m) => (asid < 0 || m.asid === asid) && (vmid < 0 || m.vmid === vmid),
      (e) => (iova & ~e.mask) === e.iova || (e.iova & ~rangeMask) === iova,
    );
  }

  /** smmu_iotlb_inv_ipa: stage-2 entries (ASID -1) of the VMID for an IPA range. */
  invIpa(vmid: number, ipa: bigint, rangeMask: bigint): number {
    return this.removeEntries(
      (m) => m.asid < 0 && m.vmid === vmid,
      (e) => (ipa & ~e.mask) === e.iova || (e.iova & ~rangeMask) === ipa,
    );
  }

  /** Every entry, for views: tag and entry. */
  *all(): Generator<{ readonly asid: number; readonly vmid: number; readonly entry: TlbEntry }> {
    for (const m of this.maps.values()) for (const e of m.entries.values()) yield { asid: m.asid, vmid: m.vmid, entry: e };
  }

  private removeMaps(pred: (m: TlbMap) => boolean): number {
    let removed = 0;
    for (const m of this.maps.values()) {
      if (!pred(m)) continue;
      removed += m.entries.size;
      m.entries.clear();
      m.present = 0;
    }
    this.n -= removed;
    return removed;
  }

  private removeEntries(mapPred: (m: TlbMap) => boolean, pred: (e: TlbEntry) => boolean): number {
    let removed = 0;
    for (const m of this.maps.values()) {
      if (!mapPred(m)) continue;
      for (const [k, e] of m.entries) {
        if (pred(e)) {
          m.entries.delete(k);
          removed++;
        }
      }
    }
    this.n -= removed;
    return removed;
  }
}
