/**
 * The translation-path panel's content: one access as columns left to right (initiator, the
 * address-space lookups, each IOMMU hop with every structure it read, the landing region or the
 * fault), built from the trace steps alone so that it works for every model. Plain values: the
 * extension posts this to the webview as it is.
 */
import type { PathBox, PathColumn, PathModel } from '../common/path-messages';
import { idToPath, type Path } from '../config/document';
import type { LoadedConfig } from '../config/load';
import { parseConfigNumber } from '../config/numbers';
import { fmtAddr } from '../engine';
import type { TraceLine, TranslationView } from './views';

/** Fields that hold raw values as read (shown as the box's raw value, not as a decoded field). */
const RAW_FIELD = /^(STE\[|CD\[|descriptor$|BLK_LUT$|word \d)/;

export function pathModel(cfg: LoadedConfig, t: TranslationView, current = -1): PathModel {
  const columns: PathColumn[] = [{ kind: 'initiator', title: t.from, subtitle: `${t.op} ${fmtAddr(t.addr)} {${t.attrs}}`, boxes: [] }];
  let hop: { title: string; subtitle?: string; boxes: PathBox[]; hopIndex: number } | undefined;
  let hops = 0;
  const closeHop = () => {
    if (hop) columns.push({ kind: 'hop', title: hop.title, subtitle: hop.subtitle, boxes: hop.boxes });
    hop = undefined;
  };
  t.steps.forEach((s, i) => {
    const box = boxOf(cfg, s, i);
    switch (s.kind) {
      case 'as-lookup':
        closeHop();
        columns.push({ kind: 'lookup', title: field(s, 'as') ?? 'address space', subtitle: field(s, 'addr'), boxes: [box] });
        return;
      case 'attrs-to-index':
        closeHop();
        hop = { title: field(s, 'iommu') ?? 'IOMMU', subtitle: `${field(s, 'model') ?? ''} index ${field(s, 'index') ?? ''}`.trim(), boxes: [box], hopIndex: hops++ };
        return;
      case 'hop':
        if (hop) {
          hop.boxes.push(box);
          closeHop();
        } else columns.push({ kind: 'lookup', title: box.name, boxes: [box] });
        return;
      case 'land':
        closeHop();
        columns.push({ kind: 'landing', title: field(s, 'region') ?? 'landing', subtitle: `offset ${field(s, 'offset') ?? ''}`, boxes: [box] });
        return;
      case 'fault':
        // A model's fault (an SMMU event record) belongs to its hop; the access's end is its own column.
        if (hop && !s.fields.some(([k]) => k === 'reason')) {
          hop.boxes.push({ ...box, fault: true });
          return;
        }
        closeHop();
        columns.push({ kind: 'fault', title: 'fault', subtitle: field(s, 'result'), boxes: [{ ...box, fault: true }] });
        return;
      default:
        if (hop) hop.boxes.push(withMapEntry(cfg, t, hop.hopIndex, box));
        else columns.push({ kind: 'lookup', title: box.name, boxes: [box] });
    }
  });
  closeHop();
  return {
    config: cfg.file,
    title: `${t.from} ${t.op} ${fmtAddr(t.addr)}`,
    headline: t.headline,
    entry: t.entry,
    ok: t.ok,
    columns,
    current,
  };
}

function field(s: TraceLine, key: string): string | undefined {
  return s.fields.find(([k]) => k === key)?.[1];
}

function boxOf(cfg: LoadedConfig, s: TraceLine, step: number): PathBox {
  const raw = s.fields.filter(([k]) => RAW_FIELD.test(k)).map(([k, v]) => (k === 'descriptor' || k === 'BLK_LUT' ? v : `${k} ${v}`));
  const src = s.source;
  return {
    step,
    name: s.name,
    summary: s.summary,
    raw,
    fields: s.fields.filter(([k]) => !RAW_FIELD.test(k)),
    source:
      src?.kind === 'guest-memory'
        ? { kind: 'guest-memory', as: src.as, addr: fmtAddr(src.addr), size: src.size }
        : src?.kind === 'config'
          ? { kind: 'config', line: (s.range ?? cfg.rangeOf(src.id)).start.line }
          : undefined,
  };
}

/**
 * Page-table descriptors a table builder wrote came from a `map:` entry of the IOMMU's config
 * (an SMMUv3 stream's `stage1.map`, say): the entry under the hop region's config node whose
 * [iova, iova + size) holds the hop's input address.
 */
function withMapEntry(cfg: LoadedConfig, t: TranslationView, hopIndex: number, box: PathBox): PathBox {
  if (box.source?.kind !== 'guest-memory' || !/descriptor/.test(box.name)) return box;
  const h = t.landing.hops[hopIndex];
  if (!h?.iommu.source) return box;
  const base = idToPath(h.iommu.source);
  const found = findMapEntry(base, cfg.document.toJS(), h.addr);
  if (!found) return box;
  const range = cfg.document.rangeOf(found);
  return { ...box, mapEntry: { line: range.start.line, text: cfg.document.textAt(range).replace(/\s+/g, ' ').slice(0, 120) } };
}

function findMapEntry(base: Path, root: unknown, addr: bigint): Path | undefined {
  let node: unknown = root;
  for (const seg of base) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[seg];
  }
  const search = (v: unknown, path: Path, depth: number): Path | undefined => {
    if (v === null || typeof v !== 'object' || depth > 4) return undefined;
    if (Array.isArray(v)) return undefined;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (k === 'map' && Array.isArray(x)) {
        for (let i = 0; i < x.length; i++) {
          const e = x[i] as Record<string, unknown> | null;
          if (!e || typeof e !== 'object') continue;
          const iova = parseConfigNumber(e.iova);
          const size = parseConfigNumber(e.size);
          if (iova.ok && size.ok && addr >= iova.value && addr < iova.value + size.value) return [...path, k, i];
        }
      } else {
        const p = search(x, [...path, k], depth + 1);
        if (p) return p;
      }
    }
    return undefined;
  };
  return search(node, base, 0);
}
