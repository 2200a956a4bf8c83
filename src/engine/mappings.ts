/**
 * The mappings of one IOMMU index as coalesced runs: neighbouring pages that go to the same
 * address space, contiguously, with the same permission, form one run. Found by translating page
 * by page (the model's own answer, whatever the model), in pages a view can ask for one at a
 * time: a page of runs stops after `maxRuns` runs or `maxSteps` translations and says where to go
 * on from.
 */
import { IOMMU_NONE, type IOMMUAccessFlags } from './iotlb';
import type { AddressSpace } from './address-space';
import type { IOMMUMemoryRegion } from './iommu';
import { newNumberEntry } from './fast-path';

const TWO53N = 1n << 53n;

export interface MappingRun {
  readonly iova: bigint;
  readonly size: bigint;
  readonly targetAs: AddressSpace;
  readonly translated: bigint;
  readonly perm: IOMMUAccessFlags;
}

export interface MappingPage {
  readonly runs: readonly MappingRun[];
  /** Where the next page starts; undefined at the end of the region. */
  readonly next?: bigint;
  /** Translations made for this page. */
  readonly steps: number;
}

export interface MappingQuery {
  readonly from?: bigint;
  readonly maxRuns?: number;
  readonly maxSteps?: number;
}

export function mappingRuns(iommu: IOMMUMemoryRegion, iommuIdx: number, q: MappingQuery = {}): MappingPage {
  if (iommu.enumerateMappings) return enumeratedRuns(iommu, iommuIdx, q);
  const maxRuns = q.maxRuns ?? 100;
  const maxSteps = q.maxSteps ?? 1 << 16;
  const page = iommu.minPageSize();
  const runs: MappingRun[] = [];
  let cur: { iova: bigint; size: bigint; targetAs: AddressSpace; translated: bigint; perm: IOMMUAccessFlags } | undefined;
  let addr = q.from ?? 0n;
  addr -= addr % page;
  let steps = 0;
  // The number fast path answers as probe() does: a page it answers with perm NONE needs no
  // entry. It is asked only after a page without a mapping (dense stretches go to probe()).
  const fast = iommu.numberTranslator?.(iommuIdx);
  const scratch = newNumberEntry();
  let sparse = true;
  while (addr < iommu.size) {
    if (steps >= maxSteps) break;
    if (fast !== undefined && sparse && addr < TWO53N && fast.translate(Number(addr), IOMMU_NONE, scratch) && scratch.perm === IOMMU_NONE) {
      steps++;
      // As below for perm NONE: one page (cut at the region's end), and it ends the open run.
      const span = addr + page > iommu.size ? iommu.size - addr : page;
      if (cur) {
        runs.push(cur);
        cur = undefined;
        if (runs.length >= maxRuns) return { runs, next: addr + span < iommu.size ? addr + span : undefined, steps };
      }
      addr += span;
      continue;
    }
    const e = iommu.probe(addr, IOMMU_NONE, iommuIdx);
    sparse = e.perm === IOMMU_NONE;
    steps++;
    // A valid entry may cover more than one page (a block): step by what it covers from here. A
    // fault's mask says nothing about the next page (SMMUv3 answers all-ones), so step one page.
    const entryEnd = (e.iova | e.addrMask) + 1n;
    let span = e.perm !== IOMMU_NONE && entryEnd > addr ? entryEnd - addr : page;
    if (span < page) span = page;
    if (addr + span > iommu.size) span = iommu.size - addr;
    if (e.perm !== IOMMU_NONE && e.targetAs !== null) {
      const translated = (e.translatedAddr & ~e.addrMask) | (addr & e.addrMask);
      if (cur && cur.targetAs === e.targetAs && cur.perm === e.perm && cur.iova + cur.size === addr && cur.translated + cur.size === translated) {
        cur.size += span;
      } else {
        if (cur) {
          runs.push(cur);
          if (runs.length >= maxRuns) return { runs, next: addr, steps };
        }
        cur = { iova: addr, size: span, targetAs: e.targetAs, translated, perm: e.perm };
      }
    } else if (cur) {
      runs.push(cur);
      cur = undefined;
      if (runs.length >= maxRuns) return { runs, next: addr + span < iommu.size ? addr + span : undefined, steps };
    }
    addr += span;
  }
  if (cur) runs.push(cur);
  return { runs, next: addr < iommu.size ? addr : undefined, steps };
}

/** Runs from a model's own walk of its tables: what is mapped, in address order, coalesced. */
function enumeratedRuns(iommu: IOMMUMemoryRegion, iommuIdx: number, q: MappingQuery): MappingPage {
  const from = q.from ?? 0n;
  const maxRuns = q.maxRuns ?? 100;
  const leaves: Array<{ iova: bigint; size: bigint; targetAs: AddressSpace; translated: bigint; perm: IOMMUAccessFlags }> = [];
  let steps = 0;
  iommu.enumerateMappings!(iommuIdx, (e) => {
    steps++;
    if (e.perm === IOMMU_NONE || e.targetAs === null) return;
    const iova = e.iova & ~e.addrMask;
    const size = e.addrMask + 1n;
    if (iova + size <= from) return;
    leaves.push({ iova, size, targetAs: e.targetAs, translated: e.translatedAddr & ~e.addrMask, perm: e.perm });
  });
  leaves.sort((a, b) => (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0));
  const runs: MappingRun[] = [];
  let cur: (typeof leaves)[number] | undefined;
  for (const l of leaves) {
    if (cur && cur.targetAs === l.targetAs && cur.perm === l.perm && cur.iova + cur.size === l.iova && cur.translated + cur.size === l.translated) {
      cur.size += l.size;
      continue;
    }
    if (cur) {
      runs.push(cur);
      if (runs.length >= maxRuns) return { runs, next: l.iova, steps };
    }
    cur = { ...l };
  }
  if (cur) runs.push(cur);
  return { runs, steps };
}
