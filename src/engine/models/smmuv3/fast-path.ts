/**
 * The SMMUv3's number fast path (src/engine/fast-path.ts): a stream's translator with its
 * configuration decoded once, when it is made, answering as Smmuv3.peek (probe) does for the
 * same flag: from the IOTLB and then a walk, or (uncached) from a walk of the tables as they are
 * now. No event is recorded or previewed, nothing enters the IOTLB, no trace, no allocation.
 * The walk is the Walker's own (the traced path's code without a trace), so the two cannot
 * drift apart; test/unit/smmuv3-fast-path.test.ts holds them together on random tables.
 */
import type { AddressSpace } from '../../address-space';
import { type NumberEntry, type NumberTranslator, setNumberEntry } from '../../fast-path';
import { IOMMU_NONE, IOMMU_RW, IOMMU_WO } from '../../iotlb';
import type { Iotlb, TlbMap } from './iotlb';
import type { ActiveConfig } from './region';
import { EVT_F_ADDR_SIZE, EVT_F_PERMISSION, EVT_F_TRANSLATION, POW2, PTW_EVENT, TWO32, type ProfileFlags, type TlbProbes, type TtInfo } from './types';
import type { Walker } from './walker';

/** What every address of the stream gets before any table is looked at. */
/** A fault for every address: perm NONE, all-ones mask (`fault` says which event, 0 for none). */
export const MODE_FAIL = 0;
/** The identity with the requested permission and a 4 KiB mask. */
export const MODE_BYPASS = 1;
/** The IOTLB (unless uncached), then a walk. */
export const MODE_TRANSLATE = 2;

export class StreamTranslator implements NumberTranslator {
  private readonly t0: TtInfo | undefined;
  private readonly t1: TtInfo | undefined;
  /** TTB0's input limit (exclusive) as a number; 0 when TTB0 is disabled. */
  private readonly t0Hi: number;
  /** QEMU 7.2's TTB1 selection for inputs below 2^inputBits (see Smmuv3.selectTt). */
  private readonly t1Low: number;
  private readonly s2Limit: number;
  /**
   * The common case first: inputs below `hotLimit` (TTB0's, or stage 2's alone; 0 for a stream
   * that does not translate) look in `hotMap` with `hotProbes` (undefined when uncached or
   * the IOTLB is off) and then walk.
   */
  private readonly hotLimit: number;
  private readonly hotMap: TlbMap | undefined;
  private readonly hotProbes: TlbProbes | undefined;
  /** The access bits an IOTLB hit must allow (QEMU 7.2 checks only writes on a hit). */
  private readonly hitNeed: number;
  /** Stage 1 without stage 2: a walk goes straight to the fast walker. */
  private readonly s1Only: boolean;
  /** s1Only with no IOTLB to look in first: an input below hotLimit is walked at once (walkHalves). */
  private readonly direct: boolean;

  constructor(
    private readonly mode: number,
    private readonly fault: number,
    private readonly a: ActiveConfig | undefined,
    private readonly walker: Walker,
    private readonly iotlb: Iotlb,
    private readonly flags: ProfileFlags,
    private readonly downstream: AddressSpace,
    private readonly uncached: boolean,
  ) {
    const cfg = a?.cfg;
    this.t0 = cfg?.s1 ? cfg.tt[0] : undefined;
    this.t1 = cfg?.s1 ? cfg.tt[1] : undefined;
    this.t0Hi = this.t0 ? Number(this.t0.hi) : 0;
    this.t1Low = this.t1 && !flags.ttb1Arch ? POW2[this.t1.inputBits]! : 0;
    this.s2Limit = cfg && !cfg.s1 ? POW2[cfg.oas]! : 0;
    const cached = mode === MODE_TRANSLATE && !uncached && iotlb.enabled && a !== undefined;
    this.hotMap = cached ? (cfg!.s1 ? a.map0 : a.s2map) : undefined;
    this.hotProbes = cached ? (cfg!.s1 ? a.probes0 : a.probesS2) : undefined;
    if (cached && (this.hotMap === undefined || this.hotProbes === undefined)) this.hotMap = undefined;
    this.hotLimit = mode !== MODE_TRANSLATE || cfg === undefined ? 0 : cfg.s1 ? this.t0Hi : this.s2Limit;
    this.hitNeed = flags.hitReadCheck ? IOMMU_RW : IOMMU_WO;
    this.s1Only = cfg !== undefined && cfg.s1 && cfg.s2 === undefined;
    this.direct = this.s1Only && this.hotMap === undefined && this.t0 !== undefined && this.hotLimit > 0;
  }

  translate(addr: number, flag: number, out: NumberEntry): boolean {
    // Small enough to be inlined where it is called: an uncached stage-1 walk goes on with the
    // input as int32 halves, which a call passes unboxed (a number at or above 2^31 would be boxed
    // on the heap for each call).
    if (addr < this.hotLimit && this.direct) return this.walkHalves((addr / TWO32) | 0, addr | 0, flag, out);
    return this.cachedOrGeneral(addr, flag, out);
  }

  /** walk() of TTB0's input with halves `hi` and `lo`, stage 1 alone. */
  private walkHalves(hi: number, lo: number, flag: number, out: NumberEntry): boolean {
    const addr = hi * TWO32 + (lo >>> 0);
    const w = this.walker;
    if (!w.translateS1(this.a!.cfg, this.t0!, addr, flag)) return this.failed(addr, PTW_EVENT[w.fault]!, out);
    return setNumberEntry(out, this.downstream, w.out + (addr - w.inBase), w.shift, w.perm, 0);
  }

  private cachedOrGeneral(addr: number, flag: number, out: NumberEntry): boolean {
    if (addr < this.hotLimit) {
      const e = this.hotMap === undefined ? undefined : this.iotlb.lookup(this.hotMap, addr, this.hotProbes!);
      if (e !== undefined) {
        const need = flag & this.hitNeed;
        if ((e.perm & need) !== need) return this.failed(addr, EVT_F_PERMISSION, out);
        return this.hit(e, addr, out);
      }
      return this.walk(addr, flag, this.t0, out);
    }
    return this.general(addr, flag, out);
  }

  /** An IOTLB hit whose permissions passed: the entry's output for `addr`. */
  private hit(e: { readonly out: number; readonly ia: number; readonly shift: number; readonly perm: number }, addr: number, out: NumberEntry): true {
    return setNumberEntry(out, this.downstream, e.out + (addr - e.ia), e.shift, e.perm, 0);
  }

  private general(addr: number, flag: number, out: NumberEntry): boolean {
    if (this.mode === MODE_FAIL) return this.failed(addr, this.fault, out);
    if (this.mode === MODE_BYPASS) {
      return setNumberEntry(out, this.downstream, addr, 12, flag, 0);
    }
    const a = this.a!;
    const cfg = a.cfg;
    let tt: TtInfo | undefined;
    let map = a.s2map;
    let probes = a.probesS2;
    if (cfg.s1) {
      if (addr < this.t0Hi) {
        tt = this.t0;
        map = a.map0;
        probes = a.probes0;
      } else if (addr < this.t1Low) {
        tt = this.t1;
        map = a.map1;
        probes = a.probes1;
      } else if (this.t1 !== undefined && this.flags.ttb1Arch) {
        // TTB1's inputs start at 2^64 - 2^inputBits: beyond numbers (probe() answers those).
        return false;
      } else {
        return this.failed(addr, EVT_F_TRANSLATION, out);
      }
    } else if (addr >= this.s2Limit) {
      return this.failed(addr, EVT_F_ADDR_SIZE, out);
    }
    const iotlb = this.iotlb;
    if (!this.uncached && iotlb.enabled && map !== undefined && probes !== undefined) {
      const e = iotlb.lookup(map, addr, probes);
      if (e !== undefined) {
        const need = this.flags.hitReadCheck ? flag : flag & IOMMU_WO;
        if ((e.perm & need) !== need) return this.failed(addr, EVT_F_PERMISSION, out);
        return this.hit(e, addr, out);
      }
    }
    return this.walk(addr, flag, tt, out);
  }

  /** A walk of the tables now (stage 2 alone when `tt` is undefined), as peek() makes it. */
  private walk(addr: number, flag: number, tt: TtInfo | undefined, out: NumberEntry): boolean {
    const a = this.a!;
    const cfg = a.cfg;
    const w = this.walker;
    if (this.s1Only && tt !== undefined) {
      // Stage 1 alone (the IOTLB flags below only matter to stage 2).
      if (!w.translateS1(cfg, tt, addr, flag)) return this.failed(addr, PTW_EVENT[w.fault]!, out);
      return setNumberEntry(out, this.downstream, w.out + (addr - w.inBase), w.shift, w.perm, 0);
    }
    const noInsert = w.noInsert;
    const noLookup = w.noLookup;
    w.noInsert = true;
    w.noLookup = this.uncached;
    let ok: boolean;
    try {
      ok = w.translate(cfg, tt, addr, flag, undefined, a.s2map);
    } finally {
      w.noInsert = noInsert;
      w.noLookup = noLookup;
    }
    if (!ok) return this.failed(addr, PTW_EVENT[w.fault]!, out);
    return setNumberEntry(out, this.downstream, w.out + (addr - w.inBase), w.shift, w.perm, 0);
  }

  private failed(addr: number, fault: number, out: NumberEntry): true {
    return setNumberEntry(out, this.downstream, addr, 64, IOMMU_NONE, fault);
  }
}
