/**
 * The extension's trees as plain node models: labels, descriptions, tooltips, icons, context
 * values, where in the config a node is defined, and children computed on demand. The extension
 * turns a NodeModel into a vscode.TreeItem and nothing more, so all of this is tested in Node.
 */
import type { LoadedConfig } from '../config/load';
import type { Range } from '../config/diagnostics';
import { IOMMUMemoryRegion, fmtAddr, regionKindName, type AddressSpace, type ModelStateNode } from '../engine';
import { fmtIndex, formatAttrs, formatRangeIncl, formatSize } from './format';
import { mappingPageView, regionViews, registrationView, type RegionView, type RegistrationView } from './views';

export interface NodeSource {
  readonly file: string;
  readonly range: Range;
}

export interface NodeModel {
  /** Stable across refreshes, so a view can find and reveal the node again. */
  readonly id: string;
  readonly label: string;
  readonly description?: string;
  readonly tooltip?: string;
  /** A codicon name, with an optional theme colour id. */
  readonly icon?: string;
  readonly iconColor?: string;
  /** For menus and `when` clauses: `iommuLens.<kind>` plus flags. */
  readonly contextValue: string;
  /** undefined: a leaf. */
  readonly collapsible?: 'collapsed' | 'expanded';
  readonly source?: NodeSource;
  readonly command?: { readonly command: string; readonly title: string; readonly arguments?: readonly unknown[] };
  /** A value to copy (Copy Value menu). */
  readonly copy?: string;
  /** For an initiator (a device or an address space): what its Translate action translates from. */
  readonly initiator?: { readonly config: string; readonly from: string };
  readonly children?: () => NodeModel[];
}

export interface TreeOptions {
  /** Runs of mappings shown per page. */
  readonly pageSize: number;
  /** How many pages of mappings each index has open (by the index node's id). */
  readonly pagesOpen: ReadonlyMap<string, number>;
}

function src(cfg: LoadedConfig, id: string | undefined): NodeSource | undefined {
  return id === undefined ? undefined : { file: cfg.file, range: cfg.rangeOf(id) };
}

function pathSource(cfg: LoadedConfig, key: string): NodeSource | undefined {
  const p = cfg.definitions.get(key);
  return p ? { file: cfg.file, range: cfg.document.rangeOf(p, 'key') } : undefined;
}

/** An index's row: its number, and its name when it has one (an unnamed index is said once). */
function indexLabel(index: number, name: string): string {
  return name === String(index) || name === '' ? String(index) : `${index}: ${name}`;
}

export function configNode(cfg: LoadedConfig, opts: TreeOptions, label: string): NodeModel {
  const errors = cfg.errorCount;
  const warnings = cfg.warningCount;
  const regions = regionViews(cfg);
  return {
    id: `cfg:${cfg.file}`,
    label,
    description: `${cfg.machine.name === cfg.file ? '' : cfg.machine.name}${errors ? `  ${errors} error(s)` : ''}${warnings ? `  ${warnings} warning(s)` : ''}`.trim(),
    tooltip: `${cfg.file}\n${regions.length} IOMMU region(s), ${cfg.machine.addressSpaces.size} address space(s), ${cfg.machine.devices.size} device(s), ${cfg.machine.registrations.length} notifier registration(s)\n${errors} error(s), ${warnings} warning(s)`,
    icon: errors ? 'error' : 'file-code',
    iconColor: errors ? 'problemsErrorIcon.foreground' : undefined,
    contextValue: 'iommuLens.config',
    collapsible: 'expanded',
    source: { file: cfg.file, range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } } },
    children: () => [
      ...regions.map((r) => regionNode(cfg, r, opts)),
      ...modelStateNodes(cfg),
      addressSpacesNode(cfg),
      devicesNode(cfg),
    ],
  };
}

/** What IOMMU models hold besides mappings (virtio-iommu's domains and endpoints), one node per IOMMU that offers it. */
export function modelStateNodes(cfg: LoadedConfig): NodeModel[] {
  const out: NodeModel[] = [];
  for (const dev of cfg.machine.iommus.values()) {
    if (!dev.describeState) continue;
    const id = `state:${cfg.file}:${dev.name}`;
    const node = (n: ModelStateNode, path: string): NodeModel => ({
      id: path,
      label: n.label,
      description: n.description,
      contextValue: 'iommuLens.modelState',
      collapsible: n.children?.length ? 'collapsed' : undefined,
      source: pathSource(cfg, `iommu:${dev.name}`),
      copy: n.description ? `${n.label} ${n.description}` : n.label,
      children: n.children?.length ? () => n.children!.map((c, i) => node(c, `${path}/${i}`)) : undefined,
    });
    out.push({
      id,
      label: dev.name,
      description: `${dev.model} state`,
      icon: 'shield',
      contextValue: 'iommuLens.modelState',
      collapsible: 'collapsed',
      source: pathSource(cfg, `iommu:${dev.name}`),
      children: () => dev.describeState!().map((n, i) => node(n, `${id}/${i}`)),
    });
  }
  return out;
}

export function regionNode(cfg: LoadedConfig, r: RegionView, opts: TreeOptions): NodeModel {
  const errors = r.problems.filter((d) => d.severity === 'error').length;
  const warnings = r.problems.filter((d) => d.severity === 'warning').length;
  const id = `region:${cfg.file}:${r.name}`;
  return {
    id,
    label: r.name,
    description: `${r.model}, ${formatSize(r.size)}, ${r.indexes.length} index${r.indexes.length === 1 ? '' : 'es'}`,
    tooltip: [
      `IOMMU region ${r.name} (${r.model})`,
      `size ${fmtAddr(r.size)} (${formatSize(r.size)}), min page ${formatSize(r.minPageSize)}`,
      ...(r.details ? [r.details] : []),
      ...r.indexes.map((ix) => `${fmtIndex(ix.index, ix.name)}: ${ix.selector}`),
      ...r.problems.map((d) => `${d.severity}: ${d.message}`),
    ].join('\n'),
    icon: errors ? 'error' : warnings ? 'warning' : 'shield',
    iconColor: errors ? 'problemsErrorIcon.foreground' : warnings ? 'problemsWarningIcon.foreground' : undefined,
    contextValue: 'iommuLens.region',
    collapsible: 'collapsed',
    source: pathSource(cfg, `iommu:${r.iommu}`) ?? src(cfg, r.source),
    copy: r.name,
    children: () => [
      ...r.indexes.map((ix) => indexNode(cfg, r, ix.index, opts)),
      ...(r.deviceState?.length
        ? [
            {
              id: `${id}:state`,
              label: 'registers and state',
              description: `${r.iommu} (${r.model})`,
              tooltip: `The registers and state of ${r.iommu}, as the model decodes them`,
              contextValue: 'iommuLens.detail',
              collapsible: 'collapsed' as const,
              children: () => r.deviceState!.map((x, i) => leaf(`${id}:state:${i}`, x.name, x.value)),
            },
          ]
        : []),
    ],
  };
}

export function indexNode(cfg: LoadedConfig, r: RegionView, index: number, opts: TreeOptions): NodeModel {
  const ix = r.indexes[index]!;
  const id = `index:${cfg.file}:${r.name}:${index}`;
  return {
    id,
    label: indexLabel(index, ix.name),
    description: ix.selector,
    tooltip: `Index ${index} (${ix.name}) of ${r.name}\nselected by: ${ix.selector}\n${ix.registrations.length} notifier(s)`,
    icon: 'symbol-enum-member',
    contextValue: 'iommuLens.index',
    collapsible: 'collapsed',
    source: pathSource(cfg, `iommu:${r.iommu}`),
    children: () => [mappingsNode(cfg, r, index, opts), ...ix.registrations.map((reg) => registrationNode(cfg, reg))],
  };
}

export function mappingsNode(cfg: LoadedConfig, r: RegionView, index: number, opts: TreeOptions): NodeModel {
  const id = `mappings:${cfg.file}:${r.name}:${index}`;
  return {
    id,
    label: 'Mappings',
    description: 'coalesced runs',
    tooltip: `What ${r.name} index ${index} translates, page by page (${formatSize(r.minPageSize)}), as runs of contiguous pages with one target and permission`,
    icon: 'list-flat',
    contextValue: 'iommuLens.mappings',
    collapsible: 'collapsed',
    children: () => mappingChildren(cfg, r.region, index, id, opts),
  };
}

function mappingChildren(cfg: LoadedConfig, region: IOMMUMemoryRegion, index: number, parentId: string, opts: TreeOptions): NodeModel[] {
  const pages = Math.max(1, opts.pagesOpen.get(parentId) ?? 1);
  const out: NodeModel[] = [];
  let from: bigint | undefined = 0n;
  for (let p = 0; p < pages && from !== undefined; p++) {
    const page = mappingPageView(region, index, from, opts.pageSize);
    for (const run of page.runs) {
      out.push({
        id: `${parentId}:${fmtAddr(run.iova)}`,
        label: formatRangeIncl(run.iova, run.iova + run.size - 1n),
        description: `-> ${run.target} ${fmtAddr(run.translated)} ${run.perm}`,
        tooltip: `${run.label}\nsize ${formatSize(run.size)}`,
        icon: run.perm === 'rw' ? 'arrow-swap' : 'arrow-right',
        contextValue: 'iommuLens.mapping',
        copy: run.label,
      });
    }
    from = page.next;
  }
  if (from !== undefined) {
    out.push({
      id: `${parentId}:more`,
      label: 'Show more...',
      description: `from ${fmtAddr(from)}`,
      icon: 'ellipsis',
      contextValue: 'iommuLens.more',
      command: { command: 'iommuLens.showMoreMappings', title: 'Show More', arguments: [parentId] },
    });
  }
  if (out.length === 0) out.push({ id: `${parentId}:none`, label: 'no mappings', icon: 'circle-slash', contextValue: 'iommuLens.empty' });
  return out;
}

const STATUS_ICON: Record<RegistrationView['status'], [string, string | undefined]> = {
  accepted: ['pass', 'testing.iconPassed'],
  refused: ['error', 'problemsErrorIcon.foreground'],
  invalid: ['error', 'problemsErrorIcon.foreground'],
};

/** What the last scenario run left for each notifier, by registration name. */
export interface RunState {
  readonly events: ReadonlyMap<string, readonly string[]>;
  readonly stale: ReadonlyMap<string, readonly string[]>;
}

export function registrationNode(cfg: LoadedConfig, r: RegistrationView, events?: readonly string[], stale?: readonly string[]): NodeModel {
  const [icon, color] = STATUS_ICON[r.status];
  const warn = r.status === 'accepted' && r.warnings.length > 0;
  const id = `reg:${cfg.file}:${r.name}`;
  const details: NodeModel[] = [
    leaf(`${id}:owner`, 'owner', `${r.owner} (${r.kind})`),
    leaf(`${id}:flags`, 'flags', r.flags),
    leaf(`${id}:range`, 'range', formatRangeIncl(r.start, r.end)),
    leaf(`${id}:index`, 'index', `${r.index} (${r.indexName})`),
    leaf(`${id}:status`, 'status', r.status + (r.message ? `: ${r.message}` : '')),
    ...(r.replay ? [leaf(`${id}:replay`, 'replay', r.replay)] : []),
    ...r.warnings.map((w, i) => ({ ...leaf(`${id}:warn${i}`, 'warning', w), icon: 'warning', iconColor: 'problemsWarningIcon.foreground' })),
  ];
  if (events) {
    details.push({
      id: `${id}:events`,
      label: 'events in last run',
      description: String(events.length),
      icon: 'history',
      contextValue: 'iommuLens.events',
      collapsible: events.length ? 'collapsed' : undefined,
      children: () => events.map((e, i) => leaf(`${id}:ev${i}`, `${i + 1}`, e)),
    });
  }
  if (stale?.length) {
    details.push({
      id: `${id}:stale`,
      label: 'stale shadow',
      description: `${stale.length} range(s) disagree with translation`,
      icon: 'warning',
      iconColor: 'problemsWarningIcon.foreground',
      contextValue: 'iommuLens.stale',
      collapsible: 'expanded',
      children: () => stale.map((m, i) => ({ ...leaf(`${id}:stale${i}`, `${i + 1}`, m), icon: 'warning', iconColor: 'problemsWarningIcon.foreground' })),
    });
  }
  const isStale = (stale?.length ?? 0) > 0;
  return {
    id,
    label: r.name,
    description: `${r.flags} ${formatRangeIncl(r.start, r.end)} ${r.status === 'accepted' ? (isStale ? 'stale shadow' : '') : r.status}`.trim(),
    tooltip: [
      `${r.kind} notifier ${r.name} (owner ${r.owner})`,
      `on ${r.region} ${fmtIndex(r.index, r.indexName)}, flags ${r.flags}, range ${formatRangeIncl(r.start, r.end)}`,
      `${r.status}${r.message ? `: ${r.message}` : ''}`,
      ...r.warnings,
      r.replay ?? '',
    ]
      .filter(Boolean)
      .join('\n'),
    icon: warn || isStale ? 'warning' : icon,
    iconColor: warn || isStale ? 'problemsWarningIcon.foreground' : color,
    contextValue: `iommuLens.notifier.${r.status}`,
    collapsible: 'collapsed',
    source: src(cfg, r.source),
    copy: r.name,
    children: () => details,
  };
}

function leaf(id: string, label: string, description: string): NodeModel {
  return { id, label, description, tooltip: `${label}: ${description}`, contextValue: 'iommuLens.detail', copy: description };
}

function addressSpacesNode(cfg: LoadedConfig): NodeModel {
  const spaces = [...cfg.machine.addressSpaces.values()];
  const id = `spaces:${cfg.file}`;
  return {
    id,
    label: 'Address spaces',
    description: String(spaces.length),
    icon: 'symbol-namespace',
    contextValue: 'iommuLens.group',
    collapsible: 'collapsed',
    children: () => spaces.map((as) => addressSpaceNode(cfg, as)),
  };
}

function addressSpaceNode(cfg: LoadedConfig, as: AddressSpace): NodeModel {
  const id = `as:${cfg.file}:${as.name}`;
  const view = as.flatView();
  return {
    id,
    label: as.name,
    description: `${view.length} range(s)${cfg.machine.systemAs === as ? ', system memory' : ''}`,
    tooltip: `Address space ${as.name}: its flat view as QEMU renders it`,
    icon: 'symbol-namespace',
    contextValue: 'iommuLens.addressSpace',
    collapsible: 'collapsed',
    source: pathSource(cfg, `address-space:${as.name}`),
    copy: as.name,
    initiator: { config: cfg.file, from: as.name },
    children: () =>
      view.map((r, i) => ({
        id: `${id}:${i}`,
        label: formatRangeIncl(r.start, r.end - 1n),
        description: `${r.region.name}${r.offsetInRegion ? ` + ${fmtAddr(r.offsetInRegion)}` : ''} (${regionKindName(r.region)})`,
        icon: r.region instanceof IOMMUMemoryRegion ? 'shield' : r.region.kind === 'ram' ? 'database' : 'plug',
        contextValue: `iommuLens.range.${r.region.kind}`,
        source: src(cfg, r.source),
        copy: fmtAddr(r.start),
      })),
  };
}

function devicesNode(cfg: LoadedConfig): NodeModel {
  const devices = [...cfg.machine.devices.values()];
  return {
    id: `devices:${cfg.file}`,
    label: 'Devices',
    description: String(devices.length),
    icon: 'chip',
    contextValue: 'iommuLens.group',
    collapsible: 'collapsed',
    children: () =>
      devices.map((d) => ({
        id: `device:${cfg.file}:${d.name}`,
        label: d.name,
        description: `${d.kind}${d.bdf ? ` ${d.bdf}` : ''} -> ${d.as.name} {${formatAttrs(d.attrs)}}`,
        tooltip: `${d.kind} ${d.name}\naddress space: ${d.as.name}\nattributes: ${formatAttrs(d.attrs)}${d.iommu ? `\nbehind IOMMU ${d.iommu.name}` : ''}`,
        icon: d.kind === 'vfio-pci' || d.kind === 'vhost' ? 'plug' : 'chip',
        contextValue: 'iommuLens.device',
        source: pathSource(cfg, `device:${d.name}`),
        copy: d.name,
        initiator: { config: cfg.file, from: d.name },
      })),
  };
}

/** The Notifiers view: region > index > registration, with the events of the last scenario run. */
export function notifierTree(cfg: LoadedConfig, lastRun?: RunState): NodeModel[] {
  const byRegion = new Map<IOMMUMemoryRegion, Map<number, RegistrationView[]>>();
  for (const r of cfg.machine.registrations) {
    const v = registrationView(r);
    let m = byRegion.get(r.region);
    if (!m) byRegion.set(r.region, (m = new Map<number, RegistrationView[]>()));
    let l = m.get(r.iommuIdx);
    if (!l) m.set(r.iommuIdx, (l = []));
    l.push(v);
  }
  return [...byRegion].map(([region, byIndex]) => {
    const all = [...byIndex.values()].flat();
    const refused = all.filter((r) => r.status !== 'accepted').length;
    return {
      id: `nreg:${cfg.file}:${region.name}`,
      label: region.name,
      description: `${all.length} registration(s)${refused ? `, ${refused} refused` : ''}`,
      icon: refused ? 'error' : 'shield',
      iconColor: refused ? 'problemsErrorIcon.foreground' : undefined,
      contextValue: 'iommuLens.region',
      collapsible: 'expanded',
      children: () =>
        [...byIndex]
          .sort(([a], [b]) => a - b)
          .map(([idx, regs]) => ({
            id: `nidx:${cfg.file}:${region.name}:${idx}`,
            label: indexLabel(idx, region.indexName(idx)),
            description: region.indexSelector(idx),
            icon: 'symbol-enum-member',
            contextValue: 'iommuLens.index',
            collapsible: 'expanded',
            children: () => regs.map((r) => registrationNode(cfg, r, lastRun?.events.get(r.name), lastRun?.stale.get(r.name))),
          })),
    } satisfies NodeModel;
  });
}

/** Finds a node by id, walking from the roots (for reveal). */
export function findNode(roots: readonly NodeModel[], id: string, maxDepth = 6): NodeModel[] | undefined {
  for (const r of roots) {
    if (r.id === id) return [r];
    // Mapping pages are computed by translating; never walk them to find something else.
    if (r.contextValue === 'iommuLens.mappings' && !id.startsWith(`${r.id}:`)) continue;
    if (maxDepth > 0 && r.children) {
      const sub = findNode(r.children(), id, maxDepth - 1);
      if (sub) return [r, ...sub];
    }
  }
  return undefined;
}
