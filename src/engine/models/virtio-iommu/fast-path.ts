/**
 * virtio-iommu's number fast path (src/engine/fast-path.ts): an endpoint's translator, bound to
 * its state when it is made (bypass, domain, reserved regions; the domain's mappings as numbers,
 * DomainMappings.numbers), answering as VirtioIommu.translateEndpoint does for probe(): no fault
 * is reported, and a query (IOMMU_NONE) gets the mapping's permissions. It declines what it
 * cannot answer exactly in numbers: outputs at or above 2^53, addresses from 2^53 - 2, and,
 * under QEMU 7.2's lookup of [addr, addr + 1], an address just below a mapping (the GTree's
 * shape decides there; probe() answers). test/unit/virtio-iommu-fast-path.test.ts holds it to
 * probe() on random domains. A fault's code (NumberEntry.fault) is its reason + 1
 * (VIRTIO_IOMMU_FAULT_R_UNKNOWN is 0).
 */
import type { AddressSpace } from '../../address-space';
import { type NumberEntry, type NumberTranslator, setNumberEntry } from '../../fast-path';
import { IOMMU_NONE, IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../iotlb';
import type { DomainMappings, NumberMappings } from './interval-map';
import { mapPerm } from './notify';
import { VIRTIO_IOMMU_FAULT_R_DOMAIN, VIRTIO_IOMMU_FAULT_R_MAPPING, VIRTIO_IOMMU_FAULT_R_UNKNOWN, VIRTIO_IOMMU_MAP_F_READ, VIRTIO_IOMMU_MAP_F_WRITE, type ReservedRegion } from './types';

/** What the endpoint's state makes of every address before the mappings are looked at. */
export const EP_BYPASS = 0;
export const EP_UNKNOWN = 1;
export const EP_NO_DOMAIN = 2;
export const EP_DOMAIN = 3;

const TWO53N = 1n << 53n;
/** Addresses from here are declined (addr + 1 must stay exact and below 2^53). */
const ADDR_LIMIT = 2 ** 53 - 2;

export class EndpointTranslator implements NumberTranslator {
  /** Reserved regions below 2^53 as numbers: [low, high] (high Infinity past 2^53) and whether MSI. */
  private readonly rLow: number[] = [];
  private readonly rHigh: number[] = [];
  private readonly rMsi: boolean[] = [];
  private readonly nums: NumberMappings | undefined;
  /** log2 of the page, and the page mask when it fits 31 bits (else -1). */
  private readonly shift: number;
  private readonly pageMask: number;
  private readonly page: number;

  constructor(
    private readonly state: number,
    private readonly mappings: DomainMappings | undefined,
    reserved: readonly ReservedRegion[],
    private readonly memory: AddressSpace,
    page: bigint,
    private readonly exactLookup: boolean,
  ) {
    for (const rr of reserved) {
      if (rr.low >= TWO53N) continue;
      this.rLow.push(Number(rr.low));
      this.rHigh.push(rr.high < TWO53N ? Number(rr.high) : Infinity);
      this.rMsi.push(rr.type === 'msi');
    }
    this.nums = mappings?.numbers();
    this.shift = page.toString(2).length - 1;
    this.page = Number(page);
    this.pageMask = page <= 0x8000_0000n ? Number(page - 1n) : -1;
  }

  translate(addr: number, flag: number, out: NumberEntry): boolean {
    if (addr >= ADDR_LIMIT) return false;
    const query = flag === IOMMU_NONE;
    if (this.state === EP_BYPASS) return this.identity(addr, query ? IOMMU_RW : flag, out);
    if (this.state === EP_UNKNOWN) return this.fault(addr, VIRTIO_IOMMU_FAULT_R_UNKNOWN, out);
    const rLow = this.rLow;
    for (let i = 0; i < rLow.length; i++) {
      if (addr < rLow[i]! || addr > this.rHigh[i]!) continue;
      return this.rMsi[i] ? this.identity(addr, query ? IOMMU_RW : flag, out) : this.fault(addr, VIRTIO_IOMMU_FAULT_R_MAPPING, out);
    }
    if (this.state === EP_NO_DOMAIN) return this.fault(addr, VIRTIO_IOMMU_FAULT_R_DOMAIN, out);
    const nums = this.nums!;
    // A change since the translator was made: probe() answers.
    if (nums.version !== this.mappings!.version) return false;
    // The first mapping starting above addr, then the one before it, which may hold addr.
    const lows = nums.lows;
    let lo = 0;
    let hi = lows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (lows[mid]! <= addr) lo = mid + 1;
      else hi = mid;
    }
    // QEMU 7.2 looks up [addr, addr + 1]: a mapping starting at addr + 1 may be met first.
    if (!this.exactLookup && lo < lows.length && lows[lo] === addr + 1) return false;
    const i = lo - 1;
    if (i < 0 || addr > nums.highs[i]!) return this.fault(addr, VIRTIO_IOMMU_FAULT_R_MAPPING, out);
    const flags = nums.flags[i]!;
    if (((flag & IOMMU_RO) !== 0 && (flags & VIRTIO_IOMMU_MAP_F_READ) === 0) || ((flag & IOMMU_WO) !== 0 && (flags & VIRTIO_IOMMU_MAP_F_WRITE) === 0)) {
      return this.fault(addr, VIRTIO_IOMMU_FAULT_R_MAPPING, out);
    }
    // NaN (phys from 2^53) and outputs from 2^53 are declined; below, the sum is exact.
    const t = addr - lows[i]! + nums.phys[i]!;
    if (!(t < 2 ** 53)) return false;
    out.targetAs = this.memory;
    // The entry's translated address with the input's offset in its page (numberProbe's rule).
    out.translated = this.pageMask >= 0 ? t - ((t >>> 0) & this.pageMask) + ((addr >>> 0) & this.pageMask) : t - (t % this.page) + (addr % this.page);
    out.shift = this.shift;
    out.perm = query ? mapPerm(flags) : flag;
    out.fault = 0;
    return true;
  }

  private identity(addr: number, perm: number, out: NumberEntry): true {
    return setNumberEntry(out, this.memory, addr, this.shift, perm, 0);
  }

  private fault(addr: number, reason: number, out: NumberEntry): true {
    out.targetAs = this.memory;
    out.translated = addr;
    out.shift = this.shift;
    out.perm = IOMMU_NONE;
    // R_UNKNOWN is 0, which NumberEntry keeps for "no fault".
    out.fault = reason + 1;
    return true;
  }
}
