/**
 * What the editor shows over a config: hovers on names and addresses, and CodeLens above devices,
 * IOMMUs and the scenario. Plain values (markdown lines, ranges, command ids) the extension only
 * converts.
 */
import type { Range } from '../config/diagnostics';
import { idToPath, type Path } from '../config/document';
import type { LoadedConfig } from '../config/load';
import { parseConfigNumber } from '../config/numbers';
import { IOMMUMemoryRegion, fmtAddr, fmtId, isEngineError, regionKindName, resolveIommu, type MemoryRegion, type MemTxAttrs } from '../engine';
import { fmtIndex, formatAttrs, formatRangeIncl, formatSize } from './format';
import { registrationView, translatePerIndex, translationView } from './views';

export interface HoverModel {
  readonly range: Range;
  /** Markdown, one paragraph or list item per line. */
  readonly lines: readonly string[];
}

const ADDRESS_KEYS = new Set(['at', 'addr', 'iova', 'offset']);

function samePath(a: Path, b: Path): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

export function hoverAt(cfg: LoadedConfig, offset: number): HoverModel | undefined {
  const doc = cfg.document;
  const at = doc.pathAt(offset);
  if (!at) return undefined;
  const { path, onKey } = at;
  if (onKey) {
    for (const [key, p] of cfg.definitions) {
      if (samePath(p, path)) {
        const [kind, name] = splitKey(key);
        return { range: doc.rangeOf(path, 'key'), lines: describeSymbol(cfg, kind, name) };
      }
    }
    return undefined;
  }
  // The document's own position tree and values: no second parse of a file the fast reader read.
  if (doc.kindAt(path) !== 'scalar') return undefined;
  const range = doc.rangeOf(path);
  const ref = cfg.references.find((r) => samePath(r.path, path));
  if (ref) return { range, lines: describeSymbol(cfg, ref.kind, ref.name) };
  const key = path[path.length - 1];
  if (typeof key !== 'string' || !ADDRESS_KEYS.has(key)) return undefined;
  const n = parseConfigNumber(doc.valueAt(path));
  if (!n.ok) return undefined;
  return { range, lines: describeAddress(cfg, path, n.value) };
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf(':');
  return [key.slice(0, i), key.slice(i + 1)];
}

function describeNumber(v: bigint, key: string | number | undefined): string {
  // An address is an address: its size form would read as a length.
  return key === 'size' ? `\`${fmtAddr(v)}\` = ${v} (${formatSize(v)})` : `\`${fmtAddr(v)}\` = ${v}`;
}

function describeAddress(cfg: LoadedConfig, path: Path, value: bigint): string[] {
  const lines = [describeNumber(value, path[path.length - 1])];
  // A key beside this one in its mapping (undefined when the parent is a list).
  const sibling = (k: string) => cfg.document.valueAt([...path.slice(0, -1), k]);
  const m = cfg.machine;
  // A scenario step or expectation from a device or address space: where the access lands.
  const from = sibling('from') ?? sibling('as');
  if (path[0] === 'scenario' && typeof from === 'string') {
    const op = sibling('op') === 'write' ? 'write' : 'read';
    const attrs = m.devices.get(from) ? undefined : ({ unspecified: true } as MemTxAttrs);
    const v = translationView(cfg, { from, addr: value, op, attrs });
    if (!isEngineError(v)) {
      lines.push(`**${op} from ${from}** {${v.attrs}}: ${v.ok ? `reaches ${v.headline}` : v.headline}`);
      if (v.landing.hops.length) lines.push(`through ${v.landing.hops.map((h) => `${h.iommu.name}[${h.iommu.indexName(h.iommuIdx)}]`).join(' -> ')}`);
    }
    return lines;
  }
  // An address-space entry: what is there, and for an IOMMU what each index does with it.
  if (path[0] === 'address-spaces' && path.length === 4 && path[3] === 'at') {
    const as = m.addressSpaces.get(String(path[1]));
    const r = as?.lookup(value);
    if (as && r) {
      lines.push(`in **${as.name}**: ${r.region.name} + ${fmtAddr(value - r.start + r.offsetInRegion)} (${regionKindName(r.region)})`);
      const iommu = resolveIommu(r.region);
      if (iommu) lines.push(...perIndex(iommu, value - r.start + r.offsetInRegion));
    }
    return lines;
  }
  // A table mapping or notifier range inside an IOMMU: each index's translation there.
  if (path[0] === 'iommus' && typeof path[1] === 'string') {
    const dev = m.iommus.get(path[1]);
    const region = dev ? regionAtPath(cfg, dev.regions(), path) : undefined;
    if (region && value < region.size) lines.push(...perIndex(region, value));
  }
  return lines;
}

/**
 * The region a position inside an IOMMU's definition belongs to: the one whose config source
 * (an SMMUv3 stream's entry, say) holds the position, the longest such; else the device's only
 * or first region.
 */
function regionAtPath(cfg: LoadedConfig, regions: readonly IOMMUMemoryRegion[], path: Path): IOMMUMemoryRegion | undefined {
  let best: IOMMUMemoryRegion | undefined;
  let bestLen = -1;
  for (const r of regions) {
    if (r.source === undefined) continue;
    const p = idToPath(r.source);
    if (p.length > bestLen && p.length <= path.length && p.every((seg, i) => String(seg) === String(path[i]))) {
      best = r;
      bestLen = p.length;
    }
  }
  return best ?? regions[0];
}

function perIndex(region: IOMMUMemoryRegion, offset: bigint): string[] {
  return [`**${region.name}** at ${fmtAddr(offset)}:`, ...translatePerIndex(region, offset).map((t) => `- ${fmtIndex(t.index, t.name)}: ${t.text}`)];
}

function describeSymbol(cfg: LoadedConfig, kind: string, name: string): string[] {
  const m = cfg.machine;
  switch (kind) {
    case 'region': {
      if (!m.regions.has(name) && m.iommus.has(name)) return describeSymbol(cfg, 'iommu', name);
      const r = m.regions.get(name);
      if (!r) return [`region **${name}** (not built: see the problems in this file)`];
      return [`${regionKindName(r)} region **${name}**, ${formatSize(r.size)} (${fmtAddr(r.size)} bytes)`, ...placements(cfg, r)];
    }
    case 'iommu': {
      const d = m.iommus.get(name);
      if (!d) return [`IOMMU **${name}** (not built: see the problems in this file)`];
      const all = d.regions();
      const r = all[0];
      const regs = m.registrations.filter((x) => all.includes(x.region));
      return [
        `${d.model} IOMMU **${name}**${r ? `, ${formatSize(r.size)}, min page ${formatSize(r.minPageSize())}` : ''}${all.length > 1 ? `, ${all.length} regions` : ''}`,
        ...(r ? placements(cfg, r) : []),
        ...all.flatMap((x) =>
          Array.from({ length: x.numIndexes() }, (_, i) => `- ${all.length > 1 ? `**${x.name}** ` : ''}${fmtIndex(i, x.indexName(i))}: ${x.indexSelector(i)}`),
        ),
        `${regs.length} notifier registration(s)${regs.some((x) => x.status !== 'accepted') ? `, ${regs.filter((x) => x.status !== 'accepted').length} refused` : ''}`,
      ];
    }
    case 'address-space': {
      const as = m.addressSpaces.get(name);
      if (!as) return [`address space **${name}**`];
      const view = as.flatView();
      return [
        `address space **${name}**${m.systemAs === as ? ' (system memory)' : ''}`,
        ...view.slice(0, 8).map((r) => `- ${formatRangeIncl(r.start, r.end - 1n)}: ${r.region.name}${r.offsetInRegion ? ` + ${fmtAddr(r.offsetInRegion)}` : ''}`),
        ...(view.length > 8 ? [`- ... ${view.length - 8} more`] : []),
      ];
    }
    case 'device': {
      const d = m.devices.get(name);
      if (!d) return [`device **${name}**`];
      const regs = m.registrations.filter((r) => r.owner === name).map(registrationView);
      return [
        `${d.kind} **${name}**${d.bdf ? ` (${d.bdf}, requester ID ${fmtId(d.requesterId ?? 0)})` : ''}`,
        `accesses ${d.as.name} with {${formatAttrs(d.attrs)}}`,
        ...regs.map((r) => `- ${r.name}: ${r.flags} on ${r.region}[${r.indexName}] ${r.status}${r.message ? `: ${r.message}` : ''}`),
      ];
    }
    case 'notifier': {
      const r = m.registrations.find((x) => x.name === name);
      if (!r) return [`notifier **${name}**`];
      const v = registrationView(r);
      return [`notifier **${name}**: ${v.flags} on ${v.region} ${fmtIndex(v.index, v.indexName)}, ${formatRangeIncl(v.start, v.end)}`, `${v.status}${v.message ? `: ${v.message}` : ''}`, ...v.warnings];
    }
  }
  return [`${kind} **${name}**`];
}

/** Where a region appears in the address spaces' flat views. */
function placements(cfg: LoadedConfig, r: MemoryRegion): string[] {
  const placed: string[] = [];
  for (const as of cfg.machine.addressSpaces.values()) {
    for (const fr of as.flatView()) if (fr.region === r || resolveIommu(fr.region) === r) placed.push(`${as.name} ${formatRangeIncl(fr.start, fr.end - 1n)}`);
  }
  return placed.length ? [`placed at: ${placed.join('; ')}`] : [];
}

export interface CodeLensModel {
  readonly range: Range;
  readonly title: string;
  readonly command: string;
  readonly arguments: readonly unknown[];
  readonly tooltip?: string;
}

export function codeLenses(cfg: LoadedConfig): CodeLensModel[] {
  const out: CodeLensModel[] = [];
  const doc = cfg.document;
  for (const [key, path] of cfg.definitions) {
    const [kind, name] = splitKey(key);
    const range = doc.rangeOf(path, 'key');
    if (kind === 'device' && cfg.machine.devices.has(name)) {
      out.push({ range, title: 'Translate...', command: 'iommuLens.translate', arguments: [{ config: cfg.file, from: name }], tooltip: `Translate an address from ${name}` });
      const n = cfg.machine.registrations.filter((r) => r.owner === name).length;
      if (n) out.push({ range, title: `${n} notifier${n === 1 ? '' : 's'}`, command: 'iommuLens.inspectNotifiers', arguments: [{ config: cfg.file, owner: name }] });
    } else if (kind === 'iommu' && cfg.machine.iommus.has(name)) {
      const regions = cfg.machine.iommus.get(name)!.regions();
      const regs = cfg.machine.registrations.filter((r) => regions.includes(r.region));
      const refused = regs.filter((r) => r.status !== 'accepted').length;
      out.push({
        range,
        title: `${regs.length} notifier${regs.length === 1 ? '' : 's'}${refused ? ` (${refused} refused)` : ''}`,
        command: 'iommuLens.inspectNotifiers',
        arguments: [{ config: cfg.file, iommu: name }],
      });
      out.push({ range, title: 'Show in Regions', command: 'iommuLens.revealRegion', arguments: [{ config: cfg.file, region: regions[0]?.name ?? name }] });
    } else if (kind === 'address-space' && cfg.machine.addressSpaces.has(name)) {
      out.push({ range, title: 'Translate...', command: 'iommuLens.translate', arguments: [{ config: cfg.file, from: name }] });
    }
  }
  const scen = doc.valueAt(['scenario']);
  if (scen !== undefined && scen !== null && cfg.scenario.length) {
    const range = doc.rangeOf(['scenario'], 'key');
    out.push({ range, title: `Run Scenario (${cfg.scenario.length} steps)`, command: 'iommuLens.runScenario', arguments: [{ config: cfg.file }] });
    out.push({ range, title: 'Step Scenario', command: 'iommuLens.stepScenario', arguments: [{ config: cfg.file }] });
  }
  return out.sort((a, b) => a.range.start.line - b.range.start.line);
}
