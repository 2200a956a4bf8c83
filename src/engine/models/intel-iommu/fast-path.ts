/**
 * VT-d's number fast path (src/engine/fast-path.ts): a device's translator with its context (and,
 * in scalable mode, its RID_PASID entry) resolved once, when it is made, answering as
 * IntelIommu.probeAs does for the same flag: with DMA remapping off the 4 KiB identity with RW;
 * the interrupt address range refused (requests without PASID; a PASID address space translates
 * it, and faults it when pass-through); the IOTLB (unless uncached; legacy mode looks it up before
 * the context entry, scalable mode after, as QEMU does); a context fault; pass-through; the
 * address-width check; then the second-level walk on numbers (slLeafNum), with iovaToSlpte, the
 * traced path's walk, finding the fault when the number walk declines. No fault is recorded, the
 * IOTLB and the context cache are left as they are, nothing is allocated.
 *
 * A failure answers as probe()'s entry does (translated 0, mask 0, perm NONE) with the VT-d fault
 * reason in `fault` (0 for the interrupt range, which QEMU never translates).
 * test/unit/intel-iommu-fast-path.test.ts holds this and probe() together on random tables.
 */
import type { AddressSpace } from '../../address-space';
import type { NumberEntry, NumberTranslator } from '../../fast-path';
import { IOMMU_NONE, IOMMU_RW, IOMMU_WO } from '../../iotlb';
import type { ContextEntry } from './context';
import type { VtdIotlb } from './iotlb';
import { VTD_FR_ADDR_BEYOND_MGAW, VTD_FR_FS_NON_CANONICAL, VTD_FR_INTERRUPT_ADDR, VTD_FR_SM_INTERRUPT_ADDR } from './types';
import { LEVEL_SIZE, iovaToFlpte, iovaToSlpte, type FsReservedMasks, type FsWriter, newNumLeaf, pageOffset, slLeafNum, type NumMasks, type WalkEnv } from './walker';

export interface VtdTranslatorPlan {
  readonly downstream: AddressSpace;
  /** GSTS.TES: off means the identity for every address. */
  readonly dmar: boolean;
  readonly sid: number;
  /** The IOTLB to try, or undefined (uncached). */
  readonly iotlb: VtdIotlb | undefined;
  /**
   * A request without PASID in scalable mode (RTADDR.SMT latched): the IOTLB after the context,
   * keyed by the context's RID_PASID; otherwise before it, keyed by `pasid`.
   */
  readonly rid2pasid: boolean;
  /** The region's PASID (PCI_NO_PASID for requests without one). */
  readonly pasid: number;
  /** The device's context entry (with its PASID entry resolved), or the fault its lookup met. */
  readonly ce: ContextEntry | undefined;
  readonly ctxFault: number;
  /** First-stage reserved masks, for a PASID entry with PGTT=001b. */
  readonly fsRsvd?: FsReservedMasks;
  /** The probe's dry A/D writer (dryFsWriter): whether an A/D update would land, nothing written. */
  readonly fsWriter?: FsWriter;
  readonly env: WalkEnv;
  readonly nm: NumMasks;
  /** CAP-level scalable mode offered: the interrupt-range fault's reason. */
  readonly smFaults: boolean;
}

const TWO53 = 2 ** 53;

export class VtdTranslator implements NumberTranslator {
  private readonly leaf = newNumLeaf();
  private readonly limit: number;
  private readonly pasid: number;

  constructor(private readonly p: VtdTranslatorPlan) {
    const ce = p.ce;
    this.limit = ce === undefined ? 0 : 2 ** Math.min(30 + 9 * ce.aw, p.env.awBits);
    this.pasid = p.rid2pasid ? (ce?.rid2pasid ?? p.pasid) : p.pasid;
  }

  translate(addr: number, flag: number, out: NumberEntry): boolean {
    const p = this.p;
    if (!p.dmar) return this.identity(addr, out);
    const irq = addr >= 0xfee00000 && addr <= 0xfeefffff;
    if (irq && p.pasid === 0xffffffff) return this.failed(0, out);
    if (p.iotlb !== undefined && !p.rid2pasid) {
      const hit = this.hit(p.iotlb, addr, out);
      if (hit !== undefined) return hit;
    }
    const ce = p.ce;
    if (ce === undefined) return this.failed(p.ctxFault, out);
    if (ce.tt === 2) return irq ? this.failed(VTD_FR_SM_INTERRUPT_ADDR, out) : this.identity(addr, out);
    if (p.iotlb !== undefined && p.rid2pasid) {
      const hit = this.hit(p.iotlb, addr, out);
      if (hit !== undefined) return hit;
    }
    if (addr >= this.limit) return this.failed(ce.fs === true ? VTD_FR_FS_NON_CANONICAL : VTD_FR_ADDR_BEYOND_MGAW, out);
    const isWrite = (flag & IOMMU_WO) !== 0;
    const L = this.leaf;
    let xlat: number;
    let size: number;
    let perm: number;
    let shift: number;
    if (ce.fs === true) {
      // First stage: the walk with the probe's dry A/D writer (this translator answers as probe() does).
      const leaf = iovaToFlpte(p.env, p.fsRsvd!, ce, BigInt(addr), isWrite, undefined, p.fsWriter);
      if ('fault' in leaf) return this.failed(leaf.fault, out);
      const x = leaf.slpte & ~0xfffn & ((1n << BigInt(p.env.awBits)) - 1n);
      if (x >= BigInt(TWO53)) return false;
      xlat = Number(x);
      size = LEVEL_SIZE[leaf.level]!;
      shift = 3 + 9 * leaf.level;
      perm = (leaf.reads ? 1 : 0) | (leaf.writes ? 2 : 0);
    } else if (ce.slptN >= 0 && slLeafNum(p.env.reader, p.nm, ce.slptN, 2 + ce.aw, addr, isWrite, L)) {
      xlat = L.xlat;
      size = L.size;
      perm = L.perm;
      shift = 3 + 9 * L.level;
    } else {
      const leaf = iovaToSlpte(p.env, ce, BigInt(addr), isWrite);
      if ('fault' in leaf) return this.failed(leaf.fault, out);
      const x = leaf.slpte & ~0xfffn & ((1n << BigInt(p.env.awBits)) - 1n);
      if (x >= BigInt(TWO53)) return false;
      xlat = Number(x);
      size = LEVEL_SIZE[leaf.level]!;
      shift = 3 + 9 * leaf.level;
      perm = (leaf.reads ? 1 : 0) | (leaf.writes ? 2 : 0);
    }
    if (xlat <= 0xfeefffff && xlat + size > 0xfee00000) return this.failed(p.smFaults ? VTD_FR_SM_INTERRUPT_ADDR : VTD_FR_INTERRUPT_ADDR, out);
    const base = xlat - pageOffset(xlat, size);
    if (base + size > TWO53) return false;
    out.targetAs = p.downstream;
    out.translated = base + pageOffset(addr, size);
    out.shift = shift;
    out.perm = perm;
    out.fault = 0;
    return true;
  }

  private hit(iotlb: VtdIotlb, addr: number, out: NumberEntry): boolean | undefined {
    const e = iotlb.lookupPage(this.p.sid, this.pasid, Math.floor(addr / 4096));
    if (e === undefined) return undefined;
    if (e.outN < 0) return false;
    out.targetAs = this.p.downstream;
    out.translated = e.outN + (addr - e.gfn * 4096);
    out.shift = e.shift;
    out.perm = e.perm;
    out.fault = 0;
    return true;
  }

  private identity(addr: number, out: NumberEntry): true {
    out.targetAs = this.p.downstream;
    out.translated = addr;
    out.shift = 12;
    out.perm = IOMMU_RW;
    out.fault = 0;
    return true;
  }

  private failed(fault: number, out: NumberEntry): true {
    out.targetAs = this.p.downstream;
    out.translated = 0;
    out.shift = 0;
    out.perm = IOMMU_NONE;
    out.fault = fault;
    return true;
  }
}
