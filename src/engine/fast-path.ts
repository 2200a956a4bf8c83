/**
 * The number fast path: an optional part of the IOMMU region contract for the engine's own
 * callers (shadow checks, replays, views) that ask many questions of one region in a row.
 *
 * A model that offers it implements `IOMMUMemoryRegion.numberTranslator(iommuIdx, opts)`, which
 * returns a NumberTranslator bound to the machine's state at that moment (a model may decode its
 * configuration once, there). Its translate() answers exactly what probe() answers for the same
 * address, flag and options, without effects on the machine, with number addresses and without
 * allocating: results go into a caller-owned NumberEntry. It may decline an address (false):
 * the caller then asks probe(). Callers use a translator within one synchronous operation and
 * drop it; the machine may change after.
 *
 * A model adopts it by adding the method; `numberProbe` below is the helper callers use, so a
 * model without it (or an address it declines) costs one object per question, as before.
 */
import type { AddressSpace } from './address-space';
import type { IOMMUMemoryRegion, ProbeOptions } from './iommu';
import { IOMMU_NONE, type IOMMUAccessFlags } from './iotlb';

/** A translation as numbers. */
export interface NumberEntry {
  targetAs: AddressSpace | null;
  /** Where the input byte lands: the entry's translatedAddr with the input's offset in its page. */
  translated: number;
  /** log2 of the page or block the answer holds for (addrMask = 2^shift - 1); 64 for an all-ones mask. */
  shift: number;
  perm: IOMMUAccessFlags;
  /** The model's fault code when perm is NONE because of a fault (SMMUv3: the event type), else 0. */
  fault: number;
}

export interface NumberTranslator {
  /**
   * Optional: true when the model's translate() for this index has no effects on the machine
   * and answers as probe() does, so that a caller that would call translate() (the default
   * replay loop) may skip the addresses this translator answers with perm NONE.
   */
  readonly answersTranslate?: boolean;
  /**
   * probe(addr, flag, iommuIdx, undefined, opts) as numbers into `out`. `addr` is an offset in the
   * region below 2^53. False: no answer here (out is unchanged); ask probe().
   */
  translate(addr: number, flag: IOMMUAccessFlags, out: NumberEntry): boolean;
}

export function newNumberEntry(): NumberEntry {
  return { targetAs: null, translated: 0, shift: 0, perm: IOMMU_NONE, fault: 0 };
}

/** Fills `out` with one answer (the number translators' one way of writing it). */
export function setNumberEntry(out: NumberEntry, targetAs: AddressSpace | null, translated: number, shift: number, perm: IOMMUAccessFlags, fault: number): true {
  out.targetAs = targetAs;
  out.translated = translated;
  out.shift = shift;
  out.perm = perm;
  out.fault = fault;
  return true;
}

const TWO53N = 1n << 53n;

/**
 * A probe for callers with many questions: through the model's translator when it has one and
 * takes the address, else through probe() (the entry's translated address of the byte `addr`,
 * its mask as a shift when it is 2^n - 1). False when the answer does not fit numbers (an output
 * at or above 2^53, or a mask that is not 2^n - 1): the caller then uses probe() itself.
 */
export function numberProbe(region: IOMMUMemoryRegion, t: NumberTranslator | undefined, addr: bigint, flag: IOMMUAccessFlags, iommuIdx: number, opts: ProbeOptions, out: NumberEntry): boolean {
  if (t !== undefined && addr < TWO53N && t.translate(Number(addr), flag, out)) return true;
  const e = region.probe(addr, flag, iommuIdx, undefined, opts);
  const m = e.addrMask;
  if ((m & (m + 1n)) !== 0n) return false;
  const translated = (e.translatedAddr & ~m) | (addr & m);
  if (translated >= TWO53N) return false;
  return setNumberEntry(out, e.targetAs, Number(translated), m.toString(2).length - (m === 0n ? 1 : 0), e.perm, 0);
}
