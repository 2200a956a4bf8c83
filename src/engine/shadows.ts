/**
 * Shadow consistency: vfio keeps a map of what it was told (replay plus MAP/UNMAP), vhost an
 * IOTLB filled by the translations its device did and flushed by UNMAPs. Both go stale when the
 * guest changes what the IOMMU translates without the notifications that should follow (a PTE
 * rewritten with no TLBI): the bug class that costs device-model developers days. checkShadows
 * compares every shadow with a fresh translation of the addresses it holds: a walk of the
 * model's tables as they are now, past any IOTLB it keeps (which may be as stale as the shadow).
 * Through the model's number fast path when it has one (fast-path.ts): its configuration is
 * decoded once per registration and check, and a page costs a walk, no objects.
 */
import type { AddressSpace } from './address-space';
import { Registration, type ShadowEntry } from './consumers';
import { hex } from './hex';
import { newNumberEntry, numberProbe, type NumberEntry, type NumberTranslator } from './fast-path';
import { IOMMU_NONE, permName } from './iotlb';
import type { Machine } from './machine';

export type DivergenceKind = 'unmapped' | 'moved' | 'permission';

export interface Divergence {
  readonly notifier: string;
  readonly owner: string;
  readonly kind: DivergenceKind;
  readonly region: string;
  readonly iommuIdx: number;
  /** The range, in the owner's IOVA space (vfio's iova). */
  readonly iova: bigint;
  readonly size: bigint;
  /** What the shadow says for the range's first page. */
  readonly shadow: { readonly targetAs: string; readonly translated: bigint; readonly perm: string };
  /** What translation says now. */
  readonly now: { readonly targetAs: string; readonly translated: bigint; readonly perm: string };
  readonly message: string;
}

/** Pages checked per shadow entry at most: a huge block is sampled at this many evenly spaced pages. */
const MAX_PAGES_PER_ENTRY = 4096;

export function checkShadows(machine: Machine): Divergence[] {
  const out: Divergence[] = [];
  for (const r of machine.registrations) {
    if (r.status !== 'accepted' || !r.shadow) continue;
    const t = r.region.numberTranslator?.(r.iommuIdx, UNCACHED);
    const scratch = newNumberEntry();
    for (const e of r.shadow.values()) {
      const d = checkEntry(r, e, t, scratch);
      if (d.length) out.push(...d);
    }
  }
  return out;
}

function asName(as: AddressSpace | null): string {
  return as?.name ?? '-';
}

const UNCACHED = { uncached: true } as const;
const TWO53N = 1n << 53n;

function checkEntry(r: Registration, e: ShadowEntry, t: NumberTranslator | undefined, n: NumberEntry): Divergence[] {
  const region = r.region;
  const page = region.minPageSize();
  const pages = (e.size + page - 1n) / page;
  const stride = pages > BigInt(MAX_PAGES_PER_ENTRY) ? (pages / BigInt(MAX_PAGES_PER_ENTRY)) * page : page;
  const out: Divergence[] = [];
  let open: { kind: DivergenceKind; start: bigint; end: bigint; now: Divergence['now']; shadow: Divergence['shadow'] } | undefined;
  const close = () => {
    if (!open) return;
    const size = open.end - open.start;
    out.push({
      notifier: r.name,
      owner: r.owner,
      kind: open.kind,
      region: region.name,
      iommuIdx: r.iommuIdx,
      iova: open.start,
      size,
      shadow: open.shadow,
      now: open.now,
      message:
        `${r.name}: ${r.kind === 'vfio' ? 'vfio still maps' : 'the vhost IOTLB still holds'} ${hex(open.start)}..${hex(open.end - 1n)} -> ${open.shadow.targetAs} ${hex(open.shadow.translated)} ${open.shadow.perm}, ` +
        (open.kind === 'unmapped'
          ? `but ${region.name}'s tables no longer map it`
          : `but ${region.name}'s tables now map it to ${open.now.targetAs} ${hex(open.now.translated)} ${open.now.perm}`),
    });
    open = undefined;
  };
  for (let iova = e.iova; iova < e.iova + e.size; iova += stride) {
    const addr = iova - r.iommuOffset;
    const shadowOut = e.translated + (iova - e.iova);
    const shadow = { targetAs: asName(e.targetAs), translated: shadowOut, perm: permName(e.perm) };
    let kind: DivergenceKind | undefined;
    let now = shadow;
    if (addr < 0n || addr >= region.size) {
      kind = 'unmapped';
      now = { targetAs: '-', translated: 0n, perm: 'NONE' };
    } else if (numberProbe(region, t, addr, IOMMU_NONE, r.iommuIdx, UNCACHED, n)) {
      // The common case (nothing stale): compare as numbers and build no strings.
      const same = n.perm !== IOMMU_NONE && n.targetAs !== null && n.targetAs === e.targetAs && shadowOut < TWO53N && n.translated === Number(shadowOut) && (n.perm & 3) === (e.perm & 3);
      if (!same) {
        now = { targetAs: asName(n.targetAs), translated: BigInt(n.translated), perm: permName(n.perm) };
        if (n.perm === IOMMU_NONE || n.targetAs === null) kind = 'unmapped';
        else if (n.targetAs !== e.targetAs || now.translated !== shadowOut) kind = 'moved';
        else if ((n.perm & 3) !== (e.perm & 3)) kind = 'permission';
      }
    } else {
      const t = region.probe(addr, IOMMU_NONE, r.iommuIdx, undefined, { uncached: true });
      const out = (t.translatedAddr & ~t.addrMask) | (addr & t.addrMask);
      now = { targetAs: asName(t.targetAs), translated: out, perm: permName(t.perm) };
      if (t.perm === IOMMU_NONE || t.targetAs === null) kind = 'unmapped';
      else if (t.targetAs !== e.targetAs || out !== shadowOut) kind = 'moved';
      else if ((t.perm & 3) !== (e.perm & 3)) kind = 'permission';
    }
    if (kind && open && open.kind === kind && open.end === iova && (kind === 'unmapped' || open.now.translated + (iova - open.start) === now.translated)) {
      open.end = iova + stride;
      continue;
    }
    close();
    if (kind) open = { kind, start: iova, end: iova + stride > e.iova + e.size ? e.iova + e.size : iova + stride, now, shadow };
  }
  close();
  return out;
}

/** A stable key, so a divergence found after several steps is reported once, at the step that caused it. */
export function divergenceKey(d: Divergence): string {
  return `${d.notifier}|${d.kind}|${hex(d.iova)}|${hex(d.size)}|${d.now.targetAs}|${hex(d.now.translated)}`;
}
