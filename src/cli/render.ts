/**
 * Text rendering of the reports: lines for a terminal, the same in golden files. Trees are drawn
 * with box-drawing characters, tables are aligned on their columns, and colour is a Style that
 * is the identity unless the caller enables it.
 */
import { formatRange, hex, type ModelStateNode } from '../engine';
import { formatSize } from '../views/format';
import type {
  AddressSpaceReport,
  Counts,
  DeviceReport,
  DiagnosticReport,
  IndexReport,
  Location,
  MappingsReport,
  RegionReport,
  RegistrationReport,
  ReplayReport,
  RunReport,
  TranslateReport,
  TreeReport,
} from './reports';

// ---- style

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
  cyan(s: string): string;
}

const id = (s: string) => s;
export const PLAIN: Style = { bold: id, dim: id, red: id, yellow: id, green: id, cyan: id };

const sgr = (open: number, close: number) => (s: string) => (s ? `\x1b[${open}m${s}\x1b[${close}m` : s);
export const ANSI: Style = { bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), yellow: sgr(33, 39), green: sgr(32, 39), cyan: sgr(36, 39) };

// ---- layout helpers

export interface TreeNode {
  readonly text: string;
  readonly children?: readonly TreeNode[];
}

/** Nodes as a box-drawn tree, children under their parent. */
export function drawTree(nodes: readonly TreeNode[], prefix = ''): string[] {
  const out: string[] = [];
  nodes.forEach((n, i) => {
    const last = i === nodes.length - 1;
    out.push(`${prefix}${last ? '└─ ' : '├─ '}${n.text}`);
    if (n.children?.length) out.push(...drawTree(n.children, prefix + (last ? '   ' : '│  ')));
  });
  return out;
}

/** Visible width, not counting colour escapes. */
function width(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/**
 * Rows aligned on their columns, two spaces apart. A column empty in every row takes no room;
 * an empty cell elsewhere is blank; the last column is not padded.
 */
export function columns(rows: ReadonlyArray<readonly string[]>, gap = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, width(c))));
  const used = widths.map((w, i) => (w > 0 ? i : -1)).filter((i) => i >= 0);
  return rows.map((r) =>
    used
      .map((i, k) => {
        const c = r[i] ?? '';
        return k === used.length - 1 ? c : c + ' '.repeat(widths[i]! - width(c));
      })
      .join(gap)
      .trimEnd(),
  );
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function formatLocation(loc: Location): string {
  return loc.kind === 'config'
    ? `${loc.file}:${loc.line}:${loc.column}`
    : `guest memory ${loc.as} ${hex(loc.addr)} (${plural(loc.size, 'byte')}${loc.value !== undefined ? ` = ${hex(loc.value)}` : ''})`;
}

function range(start: bigint, endIncl: bigint): string {
  return `${hex(start)}..${hex(endIncl)}`;
}

// ---- check

export function severityText(sev: DiagnosticReport['severity'], s: Style): string {
  return sev === 'error' ? s.red(s.bold('error')) : sev === 'warning' ? s.yellow(s.bold('warning')) : s.cyan(s.bold('note'));
}

/** gcc-style: `file:line:col: severity: message [code]`. */
export function renderDiagnostic(d: DiagnosticReport, s: Style = PLAIN): string {
  return `${s.bold(`${d.file}:${d.line}:${d.column}:`)} ${severityText(d.severity, s)}: ${d.message} ${s.dim(`[${d.code}]`)}`;
}

/** `2 files: 0 errors, 3 warnings` (notes only when there are some). */
export function renderCounts(files: number, c: Counts): string {
  return `${plural(files, 'file')}: ${plural(c.errors, 'error')}, ${plural(c.warnings, 'warning')}${c.notes ? `, ${plural(c.notes, 'note')}` : ''}`;
}

// ---- registrations

function statusText(status: RegistrationReport['status'], s: Style): string {
  return status === 'accepted' ? s.green(status) : status === 'refused' ? s.yellow(status) : s.red(status);
}

function eventsText(r: RegistrationReport): string {
  if (r.events === 0) return 'none';
  const rejected = r.rejected ? `, ${r.rejected === r.events ? 'all' : r.rejected} rejected by ${r.kind === 'vfio' ? 'vfio' : r.owner} (the first: ${r.rejectedReason})` : '';
  return `${r.events} received${rejected}`;
}

/** One registration as a block: name and status, then its details as aligned `key value` lines. */
export function renderRegistration(r: RegistrationReport, s: Style = PLAIN): string[] {
  const rows: string[][] = [
    ['owner', r.owner === 'explicit' ? `the config (${r.kind} registration)` : `${r.owner} (${r.kind})`],
    ['region', `${r.region}, index ${r.index}${r.indexName === String(r.index) ? '' : ` (${r.indexName})`}`],
    ['flags', r.flags],
    ['range', formatRange(r.start, r.end)],
  ];
  if (r.reason !== undefined) rows.push(['reason', r.reason]);
  rows.push(['events', eventsText(r)]);
  if (r.replay) rows.push(['replay', r.replay]);
  for (const w of r.warnings) rows.push([s.yellow('warning'), w]);
  if (r.source) rows.push(['source', formatLocation(r.source)]);
  return [`${s.bold(r.name)}: ${statusText(r.status, s)}`, ...columns(rows).map((l) => `  ${l}`)];
}

export function renderNotifiers(file: string, regs: readonly RegistrationReport[], s: Style = PLAIN): string[] {
  if (regs.length === 0) return [`${file}: no notifier registrations`];
  const accepted = regs.filter((r) => r.status === 'accepted').length;
  const out = [`${file}: ${plural(regs.length, 'notifier registration')}, ${accepted} accepted`];
  for (const r of regs) out.push('', ...renderRegistration(r, s));
  return out;
}

// ---- tree

function mappingNodes(m: MappingsReport, maxRuns: number): TreeNode[] {
  const rows = m.runs.map((r) => [range(r.iova, r.iova + r.size - 1n), '->', r.target, hex(r.translated), r.perm, formatSize(r.size)]);
  const nodes: TreeNode[] = columns(rows).map((text) => ({ text }));
  const stop = m.scanStoppedAt;
  if (m.more) {
    nodes.push({ text: `… ${plural(m.more, 'more run')}${stop !== undefined ? ` below ${hex(stop)}` : ''} (--max-runs ${maxRuns + m.more} shows them)` });
  }
  if (stop !== undefined) nodes.push({ text: `… not scanned from ${hex(stop)} on (translate answers for any address)` });
  return nodes;
}

function mappingsTitle(m: MappingsReport): string {
  const total = m.runs.length + m.more;
  if (m.scanStoppedAt !== undefined) return `mappings: ${plural(total, 'run')} below ${hex(m.scanStoppedAt)}`;
  return total ? `mappings: ${plural(total, 'run')}` : 'mappings: none';
}

function notifierNodes(regs: readonly RegistrationReport[], s: Style): TreeNode[] {
  const rows = regs.map((r) => {
    const status = r.status === 'accepted' ? s.green('accepted') : `${statusText(r.status, s)}${r.reason ? `: ${r.reason}` : ''}`;
    return [s.bold(r.name), r.flags, formatRange(r.start, r.end), `${status}${r.events ? `, ${plural(r.events, 'event')}` : ''}`];
  });
  return columns(rows).map((text) => ({ text }));
}

function indexNode(ix: IndexReport, maxRuns: number, s: Style): TreeNode {
  return {
    text: `${s.bold(`index ${ix.index} (${ix.name})`)}  selected by: ${ix.selector}`,
    children: [
      { text: mappingsTitle(ix.mappings), children: mappingNodes(ix.mappings, maxRuns) },
      { text: ix.notifiers.length ? `notifiers: ${ix.notifiers.length}` : 'notifiers: none', children: notifierNodes(ix.notifiers, s) },
    ],
  };
}

function regionNode(r: RegionReport, maxRuns: number, s: Style): TreeNode {
  const name = r.iommu === r.name ? r.name : `${r.iommu}/${r.name}`;
  const what = `${r.model}, ${formatSize(r.size)}, pages of ${formatSize(r.minPageSize)}, ${plural(r.indexes.length, 'index', 'indexes')}`;
  const problems: TreeNode[] = r.problems.map((d) => ({ text: `${severityText(d.severity, s)}: ${d.message} [${d.code}] (${d.line}:${d.column})` }));
  return {
    text: `${s.bold(s.cyan(name))}  ${what}${r.source ? s.dim(`  ${formatLocation(r.source)}`) : ''}`,
    children: [...problems, ...r.indexes.map((ix) => indexNode(ix, maxRuns, s))],
  };
}

function addressSpaceNode(as: AddressSpaceReport): TreeNode {
  const rows = as.ranges.map((f) => [range(f.start, f.end), f.region, `(${f.kind})`, f.offset ? `+ ${hex(f.offset)}` : '']);
  return { text: as.ranges.length ? as.name : `${as.name}  (empty)`, children: columns(rows).map((text) => ({ text })) };
}

function deviceRows(ds: readonly DeviceReport[]): string[] {
  return columns(
    ds.map((d) => [d.name, d.kind, d.iommu ? `behind ${d.iommu}` : `in ${d.as}`, d.bdf ? `bdf ${d.bdf}` : '', `attrs ${d.attrs}`]),
  );
}

export function renderTree(t: TreeReport, maxRuns: number, s: Style = PLAIN): string[] {
  const out = [`${s.bold(t.file)}${t.name !== t.file ? `: ${t.name}` : ''}`, ''];
  out.push(s.bold('IOMMU regions'));
  if (t.regions.length) out.push(...drawTree(t.regions.map((r) => regionNode(r, maxRuns, s))));
  else out.push('   (none)');
  if (t.modelState?.length) {
    out.push('', s.bold('Model state'));
    const node = (n: ModelStateNode): TreeNode => ({ text: n.description ? `${n.label}  ${n.description}` : n.label, children: n.children?.map(node) });
    out.push(...drawTree(t.modelState.map((m) => ({ text: `${m.iommu} (${m.model})`, children: m.nodes.map(node) }))));
  }
  out.push('', s.bold('Address spaces'));
  if (t.addressSpaces.length) out.push(...drawTree(t.addressSpaces.map(addressSpaceNode)));
  else out.push('   (none)');
  out.push('', s.bold('Devices'));
  if (t.devices.length) out.push(...drawTree(deviceRows(t.devices).map((text) => ({ text }))));
  else out.push('   (none)');
  return out;
}

// ---- translate

export function renderTranslate(t: TranslateReport, s: Style = PLAIN): string[] {
  const rows: string[][] = [];
  if (t.ok && t.landing) {
    rows.push(['lands', `${s.green(`${t.landing.region} + ${hex(t.landing.offset)}`)} (${t.landing.kind}, ${t.landing.as} ${hex(t.landing.addr)})`]);
  } else {
    rows.push(['fault', s.red(t.fault?.message ?? t.headline)]);
  }
  rows.push(['result', t.result]);
  if (t.hops.length) rows.push(['via', t.hops.map((h) => `${h.iommu} index ${h.index} (${h.indexName}) at ${hex(h.addr)}`).join(', then ')]);
  rows.push(['entry', t.entryText]);
  if (t.event) rows.push(['event', `${t.event.iommu} ${t.event.type}: ${t.event.disposition}`]);
  if (t.pieces) {
    for (const p of t.pieces) {
      const where = p.landing ? `${p.landing.region} + ${hex(p.landing.offset)}` : `fault: ${p.fault?.message ?? p.result}`;
      rows.push(['piece', `${hex(p.addr)} ${p.size} byte(s) -> ${where}`]);
    }
  }
  const out = [`${s.bold(`${t.from} ${t.op} ${hex(t.addr)}`)}, attrs ${t.attrs}`, ...columns(rows).map((l) => `  ${l}`)];
  if (t.steps) {
    out.push('', s.bold('Steps'));
    const nw = String(t.steps.length).length;
    for (const st of t.steps) {
      out.push(`${String(st.n).padStart(nw + 2)}. ${st.summary}`);
      const rows = Object.entries(st.fields).map(([k, v]) => [k, v]);
      if (st.source) rows.push([s.dim('source'), s.dim(formatLocation(st.source))]);
      out.push(...columns(rows).map((l) => `${' '.repeat(nw + 6)}${l}`));
    }
  }
  return out;
}

// ---- replay

export function renderReplay(r: ReplayReport, limit: number, s: Style = PLAIN): string[] {
  const out = [`${s.bold(r.notifier)}: ${r.summary}`, r.qemuReplay];
  if (r.total === 0) return [...out, '', 'no events'];
  const rows = [['#', 'type', 'iova', 'mask', 'translated', 'perm', 'target', '']];
  const nw = String(r.events.length).length;
  for (const e of r.events) rows.push([String(e.n).padStart(nw), e.type, hex(e.iova), hex(e.mask), hex(e.translated), e.perm, e.target, e.error ? s.red('rejected') : '']);
  out.push('', ...columns(rows).map((l, i) => (i === 0 ? s.dim(l) : l)));
  if (r.more) out.push(`… ${plural(r.more, 'more event')} (--limit ${limit + r.more} shows all)`);
  if (r.errors.length) out.push('');
  for (const e of r.errors) out.push(`${s.red('rejected')}: ${e.count} of ${plural(r.total, 'event')}: ${e.message}`);
  return out;
}

// ---- run

export function renderRun(r: RunReport, s: Style = PLAIN): string[] {
  if (r.total === 0) return [`${r.file}: no scenario`, scenarioLine(r, s)];
  const out = [`${s.bold(r.file)}: scenario of ${plural(r.total, 'step')}`, ''];
  const nw = String(r.total).length;
  const lw = Math.max(...r.steps.map((st) => (st.source ? String(st.source.line).length : 1)));
  // Details go two columns right of the summaries: `  n  line L  summary`.
  const indent = ' '.repeat(nw + 2 + 2 + 5 + lw + 2 + 2);
  for (const st of r.steps) {
    const line = st.source ? `line ${String(st.source.line).padEnd(lw)}` : `     ${'-'.padEnd(lw)}`;
    // A failed step is marked, so that it shows without colour too.
    const summary = st.ok ? st.summary : `${s.red('✗')} ${s.red(st.summary)}`;
    out.push(`${String(st.n).padStart(nw + 2)}  ${s.dim(line)}  ${summary}`);
    if (st.error !== undefined && st.error !== st.summary) out.push(`${indent}${s.red('✗ error')}: ${st.error}`);
    for (const f of st.failures) out.push(`${indent}${s.red('✗')} ${f}`);
    for (const n of st.notifications) out.push(`${indent}${s.dim('notify')} ${n}`);
    for (const d of st.divergences) out.push(`${indent}${s.red('✗ stale shadow')}: ${d}`);
  }
  out.push('', scenarioLine(r, s));
  return out;
}

/** Deliberately not of the form `N passed, N failed`: CI reads that form as a test result. */
export function scenarioLine(r: RunReport, s: Style = PLAIN): string {
  const text = `scenario: ${plural(r.total, 'step')}, ${r.failed} failed${r.divergences !== undefined ? `, ${plural(r.divergences, 'stale shadow')}` : ''}`;
  return r.failed || r.divergences ? s.red(s.bold(text)) : s.green(text);
}

export function heading(text: string, s: Style = PLAIN): string {
  return s.bold(`=== ${text} ===`);
}
