/**
 * VMSAv8-64 table walks (smmu-common.c: smmu_ptw_64_s1, smmu_ptw_64_s2, smmu_ptw, combine_tlb)
 * for 4K, 16K and 64K granules at every start level: table, block and page descriptors, the
 * access flag, AP/APTable and S2AP permissions, output-size checks, concatenated stage-2 tables,
 * and nesting (stage-1 table addresses and the CD address are IPAs that stage 2 translates, those
 * stage-2 translations cached in the IOTLB under ASID -1 as QEMU does).
 *
 * Fault priority is the architecture's: Translation, Address size, Access flag, Permission
 * (QEMU checks AF, then permission, then output size, and only for the leaf).
 *
 * A walk's result is left in the Walker's fields (no object per walk); descriptors are read
 * once per level as two 32-bit halves and decoded with number arithmetic. Trace steps are built
 * only when a trace is passed.
 */
import { hex } from '../../hex';
import { IOMMU_NONE, IOMMU_RO, IOMMU_RW, IOMMU_WO, permName } from '../../iotlb';
import { fmtRaw } from '../../format';
import { STEP_NAMES, type Trace, type TraceFieldValue } from '../../trace';
import { TablePages, fastWalkS1 } from './fast-walk';
import type { GuestReader } from '../../guest-reader';
import { maskOf, tlbKey, type Iotlb, type TlbMap } from './iotlb';
import {
  CLASS_IN,
  CLASS_TT,
  PTW_ACCESS,
  PTW_ADDR_SIZE,
  PTW_OK,
  PTW_PERMISSION,
  PTW_TRANSLATION,
  PTW_WALK_EABT,
  POW2,
  blockAllowed,
  className,
  levelShift,
  pteAddress,
  tgCode,
  type ProfileFlags,
  type S2Info,
  type StreamConfig,
  type TtInfo,
} from './types';

export const PTW_NAMES = ['OK', 'F_WALK_EABT', 'F_TRANSLATION', 'F_ADDR_SIZE', 'F_ACCESS', 'F_PERMISSION'];

/** A leaf found by a range walk (replay): input base, size, output base, permissions. */
export type LeafSink = (ia: number, size: number, out: number, perm: number) => void;

export class Walker {
  // The last walk's outcome.
  fault = PTW_OK;
  faultStage = 1;
  /** Descriptor address (F_WALK_EABT) or IPA (stage-2 faults); 0 for other stage-1 faults. */
  faultAddr2 = 0;
  faultClass = CLASS_IN;
  faultWhy = '';
  /** Input base of the translated region (masked input address), its output base and log2 size. */
  inBase = 0;
  out = 0;
  shift = 0;
  level = 0;
  granule = 12;
  perm = 0;
  s1perm = IOMMU_RW;
  s2perm = IOMMU_RW;
  /** Descriptors read so far (replay reports it as its steps). */
  reads = 0;
  /** What the profile let through that the architecture faults, for the trace. */
  note: string | undefined;
  /** Output of translateS2Cached: the PA of the IPA. */
  s2Pa = 0;
  /** No IOTLB inserts (a side-effect-free peek). */
  noInsert = false;
  /** Set by an uncached peek: stage-2 table addresses are walked, not looked up. */
  noLookup = false;
  /** The fast walk's page cache (fast-walk.ts). */
  readonly pages = new TablePages();

  constructor(
    readonly reader: GuestReader,
    readonly flags: ProfileFlags,
    private readonly iotlb: Iotlb,
  ) {}

  /**
   * The full translation of masked input `ia` for a stream (stage 1, stage 2 or nested). `iova`
   * is the unmasked input, for traces. `s2map` is the stream's stage-2 IOTLB map (nesting).
   */
  translate(cfg: StreamConfig, tt: TtInfo | undefined, ia: number, flag: number, trace: Trace | undefined, s2map: TlbMap | undefined): boolean {
    this.note = undefined;
    const s2 = cfg.s2;
    if (!cfg.s1) {
      if (s2 === undefined) return this.setFault(PTW_TRANSLATION, 1, 0, CLASS_IN, 'no stage enabled');
      if (!this.walkS2(s2, ia, flag, CLASS_IN, trace)) return false;
      this.s1perm = IOMMU_RW;
      this.s2perm = this.perm;
      return true;
    }
    if (tt === undefined) return this.setFault(PTW_TRANSLATION, 1, 0, CLASS_IN, 'translation table disabled (EPD)');
    if (trace === undefined && s2 === undefined) return this.translateS1(cfg, tt, ia, flag);
    if (!this.walkS1(cfg, tt, ia, flag, trace, s2map)) return false;
    if (s2 === undefined) {
      this.s1perm = this.perm;
      this.s2perm = IOMMU_RW;
      return true;
    }
    // Nested: the stage-1 output is an IPA.
    const s1Shift = this.shift;
    const s1Out = this.out;
    const s1Perm = this.perm;
    const s1Level = this.level;
    const s1Granule = this.granule;
    const inS1 = ia - this.inBase;
    const ipa = s1Out + inS1;
    if (trace) trace.push(step('model', `stage 1 gives IPA ${hex(BigInt(ipa))}; stage 2 translates it`, { ipa: BigInt(ipa) }, STEP_NAMES.stage2Of('output')));
    if (!this.walkS2(s2, ipa, flag, CLASS_IN, trace)) return false;
    const s2Shift = this.shift;
    const pa = this.out + (ipa - this.inBase);
    // combine_tlb: the smaller of the two sizes, with its granule and level.
    if (s1Shift < s2Shift) {
      this.shift = s1Shift;
      this.level = s1Level;
      this.granule = s1Granule;
    }
    const inOff = ia - Math.floor(ia / POW2[this.shift]!) * POW2[this.shift]!;
    this.inBase = ia - inOff;
    this.out = pa - inOff;
    this.s1perm = s1Perm;
    this.s2perm = this.perm;
    this.perm = s1Perm & this.perm;
    return true;
  }

  /**
   * translate() for a stream with stage 1 alone (`cfg.s2` undefined), untraced: the fast walk
   * (fast-walk.ts) first, walkS1 when it declines.
   */
  translateS1(cfg: StreamConfig, tt: TtInfo, ia: number, flag: number): boolean {
    this.note = undefined;
    if (!fastWalkS1(this, this.reader, this.flags, cfg, tt, ia, flag) && !this.walkS1(cfg, tt, ia, flag, undefined, undefined)) return false;
    this.s1perm = this.perm;
    this.s2perm = IOMMU_RW;
    return true;
  }

  /** smmu_ptw_64_s1 (architecture order); on success out/shift/level/perm are the leaf's. */
  walkS1(cfg: StreamConfig, tt: TtInfo, ia: number, flag: number, trace: Trace | undefined, s2map: TlbMap | undefined): boolean {
    const g = tt.granule;
    const stride = g - 3;
    const nested = cfg.s2 !== undefined;
    const flags = this.flags;
    let level = tt.startLevel;
    let base = tt.base;
    let noWrite = false;
    if (nested) {
      // The TTB is an IPA too (QEMU translates it when it decodes the CD).
      if (!this.translateS2Cached(cfg.s2, s2map!, base, CLASS_TT, trace, 'TTB')) return false;
      base = this.s2Pa;
    }
    const strideSize = POW2[stride]!;
    const oasLimit = POW2[cfg.oas]!;
    for (;;) {
      const shift = levelShift(level, g);
      const size = POW2[shift]!;
      const q = Math.floor(ia / size);
      const idx = level === tt.startLevel ? q : q - Math.floor(q / strideSize) * strideSize;
      const daddr = base + idx * 8;
      this.reads++;
      if (!this.reader.read64(daddr)) {
        if (trace) trace.push(descStep(this.reader.as.name, 1, level, idx, daddr, undefined, 'read failed: nothing readable there', {}));
        return this.setFault(PTW_WALK_EABT, 1, daddr, CLASS_TT, `stage-1 level-${level} descriptor at ${hex(BigInt(daddr))} could not be read`);
      }
      const lo = this.reader.lo;
      const hi = this.reader.hi;
      if ((lo & 1) === 0) {
        if (trace) trace.push(descStep(this.reader.as.name, 1, level, idx, daddr, this.reader.word(), 'invalid (bit 0 clear)', { type: 'invalid' }));
        return this.setFault(PTW_TRANSLATION, 1, 0, CLASS_IN, `stage-1 level-${level} descriptor is invalid`);
      }
      const type = lo & 3;
      if (level < 3 && type === 3) {
        const next = pteAddress(lo, hi, g);
        const apTable = (hi >>> 29) & 3;
        if (trace) {
          trace.push(
            descStep(this.reader.as.name, 1, level, idx, daddr, this.reader.word(), `table -> ${hex(BigInt(next))}${apTable ? ` APTable=${apTable}${tt.had ? ' (ignored: HAD)' : ''}` : ''}`, {
              type: 'table',
              next: BigInt(next),
              apTable,
            }),
          );
        }
        if (!tt.had && apTable & 2) {
          if (flags.apTableArch) noWrite = true;
          else if (flag & IOMMU_WO) {
            return this.setFault(PTW_PERMISSION, 1, 0, CLASS_IN, `APTable[1] at level ${level} forbids writes (QEMU faults while descending)`);
          }
        }
        if (flags.tableAddrSize && next >= oasLimit) {
          return this.setFault(PTW_ADDR_SIZE, 1, 0, CLASS_IN, `next-level table address ${hex(BigInt(next))} is beyond the ${cfg.oas}-bit IPA size`);
        }
        if (nested) {
          if (!this.translateS2Cached(cfg.s2, s2map!, next, CLASS_TT, trace, `level-${level + 1} table`)) return false;
          base = this.s2Pa;
        } else {
          base = next;
        }
        level++;
        continue;
      }
      if (level === 3 && type !== 3) {
        if (trace) trace.push(descStep(this.reader.as.name, 1, level, idx, daddr, this.reader.word(), 'reserved (type 0b01 at level 3)', { type: 'reserved' }));
        return this.setFault(PTW_TRANSLATION, 1, 0, CLASS_IN, 'level-3 descriptor of type 0b01 is reserved');
      }
      // A page (level 3) or a block (type 0b01 above level 3).
      const isBlock = level < 3;
      const out = pteAddress(lo, hi, shift);
      const af = (lo >>> 10) & 1;
      const ap = (lo >>> 6) & 3;
      if (trace) {
        trace.push(
          descStep(this.reader.as.name, 1, level, idx, daddr, this.reader.word(), `${isBlock ? `block (${sizeName(shift)})` : 'page'} -> ${hex(BigInt(out))} AF=${af} AP=${ap}`, {
            type: isBlock ? 'block' : 'page',
            output: BigInt(out),
            size: BigInt(size),
            af,
            ap,
          }),
        );
      }
      if (isBlock && !blockAllowed(level, g)) {
        const why = `a block descriptor at level ${level} with the ${sizeName(g)} granule`;
        if (flags.strictBlockLevels) return this.setFault(PTW_TRANSLATION, 1, 0, CLASS_IN, `${why} is not allowed (no FEAT_LPA)`);
        this.addNote(`QEMU 7.2 would translate this; the architecture raises F_TRANSLATION (QEMU uses ${why} as a block)`);
      }
      if (out >= oasLimit) {
        const why = `output address ${hex(BigInt(out))} is beyond the ${cfg.oas}-bit IPA size`;
        if (flags.s1AddrSize) return this.setFault(PTW_ADDR_SIZE, 1, 0, CLASS_IN, why);
        this.addNote(`QEMU 7.2 would translate this; the architecture raises F_ADDR_SIZE (${why})`);
      }
      if (af === 0 && !cfg.affd) {
        if (flags.checkAf) return this.setFault(PTW_ACCESS, 1, 0, CLASS_IN, 'access flag is 0 (and CD.AFFD is 0)');
        this.addNote('QEMU 7.2 would translate this; the architecture raises F_ACCESS (QEMU 7.2 never checks the access flag)');
      }
      const ro = (ap & 2) !== 0 || noWrite;
      if (ro && flag & IOMMU_WO) {
        return this.setFault(PTW_PERMISSION, 1, 0, CLASS_IN, `write to a read-only ${isBlock ? 'block' : 'page'} (${(ap & 2) !== 0 ? 'AP[2]=1' : 'APTable[1]=1'})`);
      }
      this.inBase = q * size;
      this.out = out;
      this.shift = shift;
      this.level = level;
      this.granule = g;
      this.perm = ro ? IOMMU_RO : IOMMU_RW;
      return true;
    }
  }

  /** smmu_ptw_64_s2 (architecture order): `ipa` through the stream's stage 2. */
  walkS2(s2: S2Info, ipa: number, flag: number, cls: number, trace: Trace | undefined): boolean {
    const g = s2.granule;
    const stride = g - 3;
    if (ipa >= POW2[s2.inputBits]!) {
      return this.setFault(PTW_TRANSLATION, 2, ipa, cls, `IPA ${hex(BigInt(ipa))} is beyond the ${s2.inputBits}-bit stage-2 input size (S2T0SZ=${s2.tsz})`);
    }
    let level = s2.startLevel;
    const firstBits = s2.inputBits - levelShift(level, g);
    let base = s2.vttb - (s2.vttb % POW2[firstBits + 3]!);
    const strideSize = POW2[stride]!;
    const psLimit = POW2[s2.effPs]!;
    for (;;) {
      const shift = levelShift(level, g);
      const size = POW2[shift]!;
      const q = Math.floor(ipa / size);
      // The start level indexes across the concatenated tables.
      const idx = level === s2.startLevel ? q : q - Math.floor(q / strideSize) * strideSize;
      const daddr = base + idx * 8;
      this.reads++;
      if (!this.reader.read64(daddr)) {
        if (trace) trace.push(descStep(this.reader.as.name, 2, level, idx, daddr, undefined, 'read failed: nothing readable there', {}));
        return this.setFault(PTW_WALK_EABT, 2, daddr, cls, `stage-2 level-${level} descriptor at ${hex(BigInt(daddr))} could not be read`);
      }
      const lo = this.reader.lo;
      const hi = this.reader.hi;
      if ((lo & 1) === 0) {
        if (trace) trace.push(descStep(this.reader.as.name, 2, level, idx, daddr, this.reader.word(), 'invalid (bit 0 clear)', { type: 'invalid' }));
        return this.setFault(PTW_TRANSLATION, 2, ipa, cls, `stage-2 level-${level} descriptor is invalid`);
      }
      const type = lo & 3;
      if (level < 3 && type === 3) {
        const next = pteAddress(lo, hi, g);
        if (trace) trace.push(descStep(this.reader.as.name, 2, level, idx, daddr, this.reader.word(), `table -> ${hex(BigInt(next))}`, { type: 'table', next: BigInt(next) }));
        if (this.flags.tableAddrSize && next >= psLimit) {
          return this.setFault(PTW_ADDR_SIZE, 2, ipa, cls, `next-level table address ${hex(BigInt(next))} is beyond the ${s2.effPs}-bit output size`);
        }
        base = next;
        level++;
        continue;
      }
      if (level === 3 && type !== 3) {
        if (trace) trace.push(descStep(this.reader.as.name, 2, level, idx, daddr, this.reader.word(), 'reserved (type 0b01 at level 3)', { type: 'reserved' }));
        return this.setFault(PTW_TRANSLATION, 2, ipa, cls, 'level-3 descriptor of type 0b01 is reserved');
      }
      const isBlock = level < 3;
      const out = pteAddress(lo, hi, shift);
      const af = (lo >>> 10) & 1;
      const s2ap = (lo >>> 6) & 3;
      if (trace) {
        trace.push(
          descStep(this.reader.as.name, 2, level, idx, daddr, this.reader.word(), `${isBlock ? `block (${sizeName(shift)})` : 'page'} -> ${hex(BigInt(out))} AF=${af} S2AP=${permName(s2ap)}`, {
            type: isBlock ? 'block' : 'page',
            output: BigInt(out),
            size: BigInt(size),
            af,
            s2ap,
          }),
        );
      }
      if (isBlock && !blockAllowed(level, g)) {
        const why = `a block descriptor at level ${level} with the ${sizeName(g)} granule`;
        if (this.flags.strictBlockLevels) return this.setFault(PTW_TRANSLATION, 2, ipa, cls, `${why} is not allowed (no FEAT_LPA)`);
        this.addNote(`QEMU 7.2 would translate this; the architecture raises F_TRANSLATION (QEMU uses ${why} as a block)`);
      }
      if (out >= psLimit) {
        return this.setFault(PTW_ADDR_SIZE, 2, ipa, cls, `output address ${hex(BigInt(out))} is beyond the ${s2.effPs}-bit output size (S2PS)`);
      }
      if (af === 0 && !s2.affd) {
        if (this.flags.checkAf) return this.setFault(PTW_ACCESS, 2, ipa, cls, 'access flag is 0 (and STE.S2AFFD is 0)');
        this.addNote('QEMU 7.2 would translate this; the architecture raises F_ACCESS (QEMU 7.2 never checks the access flag)');
      }
      if ((s2ap & flag) !== flag) {
        return this.setFault(PTW_PERMISSION, 2, ipa, cls, `S2AP=${permName(s2ap)} does not allow ${permName(flag)}`);
      }
      this.inBase = q * size;
      this.out = out;
      this.shift = shift;
      this.level = level;
      this.granule = g;
      this.perm = s2ap;
      return true;
    }
  }

  /**
   * A stage-2 translation of a table or CD address (QEMU's translate_table_addr_ipa and the CD
   * fetch in smmu_get_cd): through the IOTLB under ASID -1, read permission. A failure is a
   * stage-2 fault whose IPA is the address and whose class is TT (or CD).
   */
  translateS2Cached(s2: S2Info, s2map: TlbMap, ipa: number, cls: number, trace: Trace | undefined, what: string): boolean {
    if (this.iotlb.enabled && !this.noLookup) {
      const e = this.iotlb.lookup(s2map, ipa, s2.probes);
      if (e !== undefined && (!this.flags.hitReadCheck || e.perm & IOMMU_RO)) {
        this.s2Pa = e.out + (ipa - e.ia);
        if (trace) trace.push(step('model', `${what} IPA ${hex(BigInt(ipa))}: stage-2 IOTLB hit -> ${hex(BigInt(this.s2Pa))}`, { ipa: BigInt(ipa), pa: BigInt(this.s2Pa), iotlb: 'hit' }, STEP_NAMES.stage2Of(what)));
        return true;
      }
    }
    if (trace) trace.push(step('model', `${what} IPA ${hex(BigInt(ipa))}: stage-2 walk (class ${className(cls)})`, { ipa: BigInt(ipa) }, STEP_NAMES.stage2Of(what)));
    if (!this.walkS2(s2, ipa, IOMMU_RO, cls, trace)) {
      // translate_table_addr_ipa reports the table's IPA, whatever the stage-2 fault.
      this.faultAddr2 = ipa;
      this.faultClass = cls;
      return false;
    }
    this.s2Pa = this.out + (ipa - this.inBase);
    if (this.iotlb.enabled && !this.noInsert) {
      const size = POW2[this.shift]!;
      this.iotlb.insert(s2map, {
        iova: BigInt(this.inBase),
        ia: this.inBase,
        size,
        mask: maskOf(this.shift),
        out: this.out,
        outBig: BigInt(this.out),
        shift: this.shift,
        perm: this.perm,
        s1perm: IOMMU_RW,
        s2perm: this.perm,
        level: this.level,
        granule: this.granule,
        key: tlbKey(this.inBase, size, this.level, tgCode(this.granule)),
      });
    }
    return true;
  }

  // --- range walks for the walk replay ------------------------------------------------------

  /**
   * Every leaf of a stage-1 table overlapping masked inputs [lo, hi] that a translate(NONE) would
   * return, in input order, with its permissions (for nesting: through stage 2, split where
   * stage 2 maps in smaller pieces). Subtrees that cannot be read are skipped.
   */
  leavesS1(cfg: StreamConfig, tt: TtInfo, lo: number, hi: number, sink: LeafSink, s2map: TlbMap | undefined): void {
    let base = tt.base;
    if (cfg.s2 !== undefined) {
      if (!this.translateS2Cached(cfg.s2, s2map!, base, CLASS_TT, undefined, 'TTB')) return;
      base = this.s2Pa;
    }
    const leaf: LeafSink =
      cfg.s2 === undefined
        ? sink
        : (ia, size, ipa, perm) => {
            this.leavesS2(cfg.s2!, ipa, ipa + size - 1, (ipa2, size2, out2, perm2) => {
              const p = perm & perm2;
              if (p !== IOMMU_NONE) sink(ia + (ipa2 - ipa), size2, out2, p);
            });
          };
    this.rangeS1(cfg, tt, tt.startLevel, base, 0, lo, hi, false, leaf, s2map);
  }

  private rangeS1(cfg: StreamConfig, tt: TtInfo, level: number, base: number, regionBase: number, lo: number, hi: number, noWrite: boolean, sink: LeafSink, s2map: TlbMap | undefined): void {
    const g = tt.granule;
    const shift = levelShift(level, g);
    const size = POW2[shift]!;
    const first = Math.floor((Math.max(lo, regionBase) - regionBase) / size);
    const span = level === tt.startLevel ? POW2[tt.inputBits - shift]! : POW2[g - 3]!;
    const last = Math.min(span - 1, Math.floor((hi - regionBase) / size));
    for (let idx = first; idx <= last; idx++) {
      const ia = regionBase + idx * size;
      this.reads++;
      if (!this.reader.read64(base + idx * 8)) continue;
      const dlo = this.reader.lo;
      const dhi = this.reader.hi;
      if ((dlo & 1) === 0) continue;
      const type = dlo & 3;
      if (level < 3 && type === 3) {
        const apTable = (dhi >>> 29) & 3;
        const nw = noWrite || (!tt.had && (apTable & 2) !== 0 && this.flags.apTableArch);
        let next = pteAddress(dlo, dhi, g);
        if (this.flags.tableAddrSize && next >= POW2[cfg.oas]!) continue;
        if (cfg.s2 !== undefined) {
          if (!this.translateS2Cached(cfg.s2, s2map!, next, CLASS_TT, undefined, 'table')) continue;
          next = this.s2Pa;
        }
        this.rangeS1(cfg, tt, level + 1, next, ia, lo, hi, nw, sink, s2map);
        continue;
      }
      if (level === 3 && type !== 3) continue;
      if (level < 3 && this.flags.strictBlockLevels && !blockAllowed(level, g)) continue;
      const out = pteAddress(dlo, dhi, shift);
      if (this.flags.s1AddrSize && out >= POW2[cfg.oas]!) continue;
      if (this.flags.checkAf && ((dlo >>> 10) & 1) === 0 && !cfg.affd) continue;
      const ro = ((dlo >>> 6) & 2) !== 0 || noWrite;
      sink(ia, size, out, ro ? IOMMU_RO : IOMMU_RW);
    }
  }

  /** Every stage-2 leaf overlapping IPAs [lo, hi]; with `clip`, cut to [lo, hi] (a stage-1 leaf's IPAs). */
  leavesS2(s2: S2Info, lo: number, hi: number, sink: LeafSink, clip = true): void {
    const g = s2.granule;
    const level = s2.startLevel;
    const firstBits = s2.inputBits - levelShift(level, g);
    const base = s2.vttb - (s2.vttb % POW2[firstBits + 3]!);
    const top = POW2[s2.inputBits]! - 1;
    if (lo > top) return;
    this.rangeS2(s2, level, base, 0, lo, Math.min(hi, top), sink, clip);
  }

  private rangeS2(s2: S2Info, level: number, base: number, regionBase: number, lo: number, hi: number, sink: LeafSink, clip: boolean): void {
    const g = s2.granule;
    const shift = levelShift(level, g);
    const size = POW2[shift]!;
    const first = Math.floor((Math.max(lo, regionBase) - regionBase) / size);
    const span = level === s2.startLevel ? POW2[s2.inputBits - shift]! : POW2[g - 3]!;
    const last = Math.min(span - 1, Math.floor((hi - regionBase) / size));
    for (let idx = first; idx <= last; idx++) {
      const ia = regionBase + idx * size;
      this.reads++;
      if (!this.reader.read64(base + idx * 8)) continue;
      const dlo = this.reader.lo;
      const dhi = this.reader.hi;
      if ((dlo & 1) === 0) continue;
      const type = dlo & 3;
      if (level < 3 && type === 3) {
        const next = pteAddress(dlo, dhi, g);
        if (this.flags.tableAddrSize && next >= POW2[s2.effPs]!) continue;
        this.rangeS2(s2, level + 1, next, ia, lo, hi, sink, clip);
        continue;
      }
      if (level === 3 && type !== 3) continue;
      if (level < 3 && this.flags.strictBlockLevels && !blockAllowed(level, g)) continue;
      const out = pteAddress(dlo, dhi, shift);
      if (out >= POW2[s2.effPs]!) continue;
      if (this.flags.checkAf && ((dlo >>> 10) & 1) === 0 && !s2.affd) continue;
      const perm = (dlo >>> 6) & 3;
      if (perm === IOMMU_NONE) continue;
      if (!clip) {
        sink(ia, size, out, perm);
        continue;
      }
      // Cut to the asked range (a stage-1 page inside a stage-2 block).
      const s = Math.max(ia, lo);
      const e = Math.min(ia + size - 1, hi);
      sink(s, e - s + 1, out + (s - ia), perm);
    }
  }

  private setFault(type: number, stage: number, addr2: number, cls: number, why: string): false {
    this.fault = type;
    this.faultStage = stage;
    this.faultAddr2 = addr2;
    this.faultClass = cls;
    this.faultWhy = why;
    return false;
  }

  private addNote(n: string): void {
    this.note = this.note === undefined ? n : `${this.note}; ${n}`;
  }
}

export function sizeName(shift: number): string {
  if (shift >= 40) return `${2 ** (shift - 40)} TiB`;
  if (shift >= 30) return `${2 ** (shift - 30)} GiB`;
  if (shift >= 20) return `${2 ** (shift - 20)} MiB`;
  if (shift >= 10) return `${2 ** (shift - 10)} KiB`;
  return `${2 ** shift} B`;
}

function step(kind: 'model', summary: string, fields: Record<string, TraceFieldValue>, name?: string) {
  return { kind, name, summary, fields };
}

function descStep(as: string, stage: number, level: number, idx: number, daddr: number, value: bigint | undefined, what: string, fields: Record<string, TraceFieldValue>) {
  const addr = BigInt(daddr);
  const { type, size } = fields;
  return {
    kind: 'descriptor-read' as const,
    name: STEP_NAMES.descriptor(stage, level),
    summary: `S${stage} L${level}[${hex(idx)}] at ${hex(addr)}${value === undefined ? '' : ` = ${hex(value, 16)}`}: ${what}`,
    fields: {
      stage,
      level,
      index: idx,
      address: addr,
      ...(value === undefined ? {} : { descriptor: fmtRaw(value) }),
      ...(type === undefined ? {} : { type }),
      ...(size === undefined ? {} : { size }),
      ...(value === undefined || typeof type !== 'string' ? {} : descriptorFields(stage, type, value)),
    },
    source: { kind: 'guest-memory' as const, as, addr, size: 8, value },
  };
}

/**
 * A VMSAv8-64 descriptor's fields as the Arm ARM names them (D8.3, stage 1 and stage 2
 * block/page and table descriptors), each beside the raw value in the step.
 */
export function descriptorFields(stage: number, type: string, d: bigint): Record<string, TraceFieldValue> {
  const bit = (n: number) => Number((d >> BigInt(n)) & 1n);
  const bits = (hi: number, lo: number) => Number((d >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
  const oa = d & 0x0000_ffff_ffff_f000n;
  if (type === 'table') {
    return { 'next-level table address': oa, PXNTable: bit(59), 'UXNTable/XNTable': bit(60), APTable: bits(62, 61), NSTable: bit(63) };
  }
  if (type !== 'block' && type !== 'page') return {};
  if (stage === 1) {
    return {
      'output address': oa,
      AttrIndx: bits(4, 2),
      NS: bit(5),
      'AP[2:1]': `0b${bits(7, 6).toString(2).padStart(2, '0')}`,
      SH: bits(9, 8),
      AF: bit(10),
      nG: bit(11),
      DBM: bit(51),
      Contiguous: bit(52),
      PXN: bit(53),
      'UXN/XN': bit(54),
    };
  }
  return {
    'output address': oa,
    MemAttr: bits(5, 2),
    'S2AP': `0b${bits(7, 6).toString(2).padStart(2, '0')}`,
    SH: bits(9, 8),
    AF: bit(10),
    DBM: bit(51),
    Contiguous: bit(52),
    XN: bits(54, 53),
  };
}
