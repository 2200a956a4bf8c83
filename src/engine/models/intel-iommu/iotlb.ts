/**
 * The IOTLB (QEMU's s->iotlb hash table): entries keyed by (source ID, PASID, level, gfn), where
 * gfn is the input address's page number at the leaf's level; a lookup tries levels 1, 2 and 3
 * (vtd_lookup_iotlb stops below the PML4 level). It is flushed whole when it reaches 1024
 * entries (VTD_IOTLB_MAX_SIZE). Invalidations remove by domain ID or by page
 * (vtd_hash_remove_by_page); QEMU 7.2 keeps the page mask in a uint8_t, so its page-selective
 * invalidation compares only the low 8 bits of the page number (and so drops more than asked).
 */
import { PCI_NO_PASID, VTD_PAGE_SHIFT, levelPageMask } from './types';

export interface VtdTlbEntry {
  readonly sid: number;
  readonly pasid: number;
  readonly level: number;
  readonly gfn: bigint;
  readonly domainId: number;
  readonly slpte: bigint;
  readonly perm: number;
  /** The level's page mask (vtd_slpt_level_page_mask). */
  readonly mask: bigint;
}

function key(sid: number, pasid: number, level: number, gfn: bigint): string {
  return `${sid}/${pasid}/${level}/${gfn}`;
}

export class VtdIotlb {
  private readonly map = new Map<string, VtdTlbEntry>();
  hits = 0;
  misses = 0;

  constructor(readonly maxSize: number) {}

  get size(): number {
    return this.map.size;
  }

  entries(): IterableIterator<VtdTlbEntry> {
    return this.map.values();
  }

  lookup(sid: number, pasid: number, addr: bigint): VtdTlbEntry | undefined {
    for (let level = 1; level < 4; level++) {
      const e = this.map.get(key(sid, pasid, level, (addr & levelPageMask(level)) >> VTD_PAGE_SHIFT));
      if (e !== undefined) return e;
    }
    return undefined;
  }

  /** vtd_update_iotlb; returns true when the insert flushed a full table first. */
  insert(sid: number, domainId: number, addr: bigint, slpte: bigint, perm: number, level: number, pasid = PCI_NO_PASID): boolean {
    if (this.maxSize === 0) return false;
    let flushed = false;
    if (this.map.size >= this.maxSize) {
      this.map.clear();
      flushed = true;
    }
    const gfn = (addr & levelPageMask(level)) >> VTD_PAGE_SHIFT;
    this.map.set(key(sid, pasid, level, gfn), { sid, pasid, level, gfn, domainId, slpte, perm, mask: levelPageMask(level) });
    return flushed;
  }

  clear(): number {
    const n = this.map.size;
    this.map.clear();
    return n;
  }

  removeDomain(did: number): number {
    let n = 0;
    for (const [k, e] of this.map) {
      if (e.domainId === did) {
        this.map.delete(k);
        n++;
      }
    }
    return n;
  }

  /** vtd_hash_remove_by_page with mask = ~((1 << am) - 1), truncated to 8 bits when `byteMask`. */
  removePage(did: number, addr: bigint, am: number, byteMask: boolean): number {
    let mask = ~((1n << BigInt(am)) - 1n);
    if (byteMask) mask &= 0xffn;
    const gfn = (addr >> VTD_PAGE_SHIFT) & mask;
    let n = 0;
    for (const [k, e] of this.map) {
      const gfnTlb = (addr & e.mask) >> VTD_PAGE_SHIFT;
      if (e.domainId === did && ((e.gfn & mask) === gfn || e.gfn === gfnTlb)) {
        this.map.delete(k);
        n++;
      }
    }
    return n;
  }
}
