/**
 * The IOTLB (QEMU's s->iotlb hash table): entries keyed by (source ID, PASID, level, gfn), where
 * gfn is the input address's page number at the leaf's level; a lookup tries levels 1, 2 and 3
 * (vtd_lookup_iotlb stops below the PML4 level). It is flushed whole when it reaches 1024
 * entries (VTD_IOTLB_MAX_SIZE). Invalidations remove by domain ID or by page
 * (vtd_hash_remove_by_page); QEMU 7.2 keeps the page mask in a uint8_t, so its page-selective
 * invalidation compares only the low 8 bits of the page number (and so drops more than asked).
 *
 * Kept as one map per (source ID, PASID, level) keyed by the gfn as a number (page numbers of a
 * 64-bit address fit in 52 bits), so a hit costs a few number operations. The maps of one
 * (source ID, PASID) sit together in a VtdTlbSource, which a caller with many questions for one
 * address space may keep while `epoch` is unchanged (the table is never emptied, nor a source
 * added, without a new epoch).
 */
import { PCI_NO_PASID, U64, levelPageMask } from './types';

export interface VtdTlbEntry {
  readonly sid: number;
  readonly pasid: number;
  readonly level: number;
  readonly gfn: number;
  readonly domainId: number;
  readonly slpte: bigint;
  readonly perm: number;
  /** The level's page mask (vtd_slpt_level_page_mask). */
  readonly mask: bigint;
  /** ~mask: the entry's addr_mask. */
  readonly addrMask: bigint;
  /** The input page: the address & mask (the entry's iova, as translate() returns it). */
  readonly iova: bigint;
  /** The output page: slpte's address & mask. */
  readonly out: bigint;
  /** `out` as a number, -1 when it is 2^53 or more (the number path then declines). */
  readonly outN: number;
  /** log2 of the page size. */
  readonly shift: number;
}

const SPAN = [0, 1, 512, 262144, 134217728];
const TWO53N = 1n << 53n;

/** The entries of one (source ID, PASID): a map per level (1, 2, 3) keyed by gfn. */
export class VtdTlbSource {
  readonly l1 = new Map<number, VtdTlbEntry>();
  readonly l2 = new Map<number, VtdTlbEntry>();
  readonly l3 = new Map<number, VtdTlbEntry>();

  /** The entry holding 4 KiB page `page` (levels 1, 2, 3 in turn, as vtd_lookup_iotlb). */
  find(page: number): VtdTlbEntry | undefined {
    if (this.l1.size !== 0) {
      const e = this.l1.get(page);
      if (e !== undefined) return e;
    }
    // page - page % span without a double `%` (span is a power of two below 2^32).
    if (this.l2.size !== 0) {
      const e = this.l2.get(page - ((page >>> 0) & 511));
      if (e !== undefined) return e;
    }
    return this.l3.size === 0 ? undefined : this.l3.get(page - ((page >>> 0) & 262143));
  }

  level(level: number): Map<number, VtdTlbEntry> {
    return level === 1 ? this.l1 : level === 2 ? this.l2 : this.l3;
  }
}

export class VtdIotlb {
  /**
   * Entries by PASID (-1 for PCI_NO_PASID), then by source ID, then by level and gfn: keys that
   * stay small integers, so a hit is two Map lookups and one per level tried.
   */
  private readonly byPasid = new Map<number, Map<number, VtdTlbSource>>();
  private count = 0;
  /** Bumped when the table is emptied or gains a source (see VtdTlbSource). */
  epoch = 0;
  /** Bumped on every change of the table's contents (an insert, a removal, a flush). */
  version = 0;
  hits = 0;
  misses = 0;

  constructor(readonly maxSize: number) {}

  get size(): number {
    return this.count;
  }

  private *levelMaps(): IterableIterator<Map<number, VtdTlbEntry>> {
    for (const bySource of this.byPasid.values()) {
      for (const s of bySource.values()) {
        yield s.l1;
        yield s.l2;
        yield s.l3;
      }
    }
  }

  /** The entries of (sid, pasid), or undefined while it has none. */
  source(sid: number, pasid: number): VtdTlbSource | undefined {
    return this.byPasid.get(pasid === PCI_NO_PASID ? -1 : pasid)?.get(sid);
  }

  *entries(): IterableIterator<VtdTlbEntry> {
    for (const m of this.levelMaps()) yield* m.values();
  }

  lookup(sid: number, pasid: number, addr: bigint): VtdTlbEntry | undefined {
    return this.count === 0 ? undefined : this.lookupPage(sid, pasid, Number(addr >> 12n));
  }

  /** lookup by the input's 4 KiB page number. */
  lookupPage(sid: number, pasid: number, page: number): VtdTlbEntry | undefined {
    if (this.count === 0) return undefined;
    return this.byPasid.get(pasid === PCI_NO_PASID ? -1 : pasid)?.get(sid)?.find(page);
  }

  /** vtd_update_iotlb; returns true when the insert flushed a full table first. */
  insert(sid: number, domainId: number, addr: bigint, slpte: bigint, perm: number, level: number, out: bigint, pasid = PCI_NO_PASID): boolean {
    if (this.maxSize === 0) return false;
    let flushed = false;
    if (this.count >= this.maxSize) {
      this.clear();
      flushed = true;
    }
    const page = Number(addr >> 12n);
    const gfn = page - ((page >>> 0) & (SPAN[level]! - 1));
    const pk = pasid === PCI_NO_PASID ? -1 : pasid;
    let bySource = this.byPasid.get(pk);
    if (bySource === undefined) {
      bySource = new Map();
      this.byPasid.set(pk, bySource);
    }
    let src = bySource.get(sid);
    if (src === undefined) {
      src = new VtdTlbSource();
      bySource.set(sid, src);
      this.epoch++;
    }
    const m = src.level(level);
    const mask = levelPageMask(level);
    this.version++;
    if (!m.has(gfn)) this.count++;
    const o = out & mask;
    m.set(gfn, { sid, pasid, level, gfn, domainId, slpte, perm, mask, addrMask: U64 & ~mask, iova: addr & mask, out: o, outN: o < TWO53N ? Number(o) : -1, shift: 12 + 9 * (level - 1) });
    return flushed;
  }

  clear(): number {
    const n = this.count;
    this.byPasid.clear();
    this.count = 0;
    this.epoch++;
    this.version++;
    return n;
  }

  private removeIf(pred: (e: VtdTlbEntry) => boolean): number {
    let n = 0;
    for (const m of this.levelMaps()) {
      for (const [k, e] of m) {
        if (pred(e)) {
          m.delete(k);
          n++;
        }
      }
    }
    this.count -= n;
    if (n !== 0) this.version++;
    return n;
  }

  /** vtd_hash_remove_by_pasid: every entry of domain `did` and PASID `pasid`. */
  removePasid(did: number, pasid: number): number {
    return this.removeIf((e) => e.domainId === did && e.pasid === pasid);
  }

  removeDomain(did: number): number {
    return this.removeIf((e) => e.domainId === did);
  }

  /** vtd_hash_remove_by_page with mask = ~((1 << am) - 1), truncated to 8 bits when `byteMask`. */
  removePage(did: number, addr: bigint, am: number, byteMask: boolean): number {
    let mask = ~((1n << BigInt(am)) - 1n);
    if (byteMask) mask &= 0xffn;
    const gfn = (addr >> 12n) & mask;
    return this.removeIf((e) => e.domainId === did && ((BigInt(e.gfn) & mask) === gfn || BigInt(e.gfn) === (addr & e.mask) >> 12n));
  }
}
