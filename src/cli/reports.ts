/**
 * What each command reports, as plain values built from the views: no engine objects (they are
 * cyclic and would not survive JSON), bigints kept as bigints (toJson writes them as hex). The
 * same report is rendered as text (render.ts) or printed as JSON, so both always agree.
 */
import type { LoadedConfig } from '../config/load';
import type { Diagnostic, Range } from '../config/diagnostics';
import { formatAttrs, permName } from '../views/format';
import {
  mappingPageView,
  regionViews,
  registrationView,
  replaySlices,
  type ReplayEventView,
  scenarioView,
  translationView,
  type RegistrationView,
  type ScenarioStepView,
  type TraceLine,
  type TranslationQuery,
} from '../views/views';
import {
  isEngineError,
  memTxResultName,
  ScenarioRunner,
  type DmaPiece,
  type EngineError,
  type IOMMUMemoryRegion,
  type Landing,
  type ModelStateNode,
  type ModelEventRecord,
  type StepResult,
} from '../engine';

export interface ConfigLocation {
  readonly kind: 'config';
  readonly file: string;
  /** One-based, as compilers print. */
  readonly line: number;
  readonly column: number;
}

export interface GuestMemoryLocation {
  readonly kind: 'guest-memory';
  readonly as: string;
  readonly addr: bigint;
  readonly size: number;
  readonly value?: bigint;
}

export type Location = ConfigLocation | GuestMemoryLocation;

export function configLocation(file: string, range: Range): ConfigLocation {
  return { kind: 'config', file, line: range.start.line + 1, column: range.start.character + 1 };
}

function sourceOf(cfg: LoadedConfig, id: string | undefined): ConfigLocation | undefined {
  return id === undefined ? undefined : configLocation(cfg.file, cfg.rangeOf(id));
}

// ---- check

export interface DiagnosticReport {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly endLine: number;
  readonly endColumn: number;
  /** `note` is what the config layer calls `info`, named as compilers name it. */
  readonly severity: 'error' | 'warning' | 'note';
  readonly code: string;
  readonly message: string;
}

export function diagnosticReport(d: Diagnostic): DiagnosticReport {
  return {
    file: d.file,
    line: d.range.start.line + 1,
    column: d.range.start.character + 1,
    endLine: d.range.end.line + 1,
    endColumn: d.range.end.character + 1,
    severity: d.severity === 'info' ? 'note' : d.severity,
    code: d.code,
    message: d.message,
  };
}

export interface Counts {
  readonly errors: number;
  readonly warnings: number;
  readonly notes: number;
}

export interface FileCheckReport extends Counts {
  readonly file: string;
  readonly diagnostics: readonly DiagnosticReport[];
}

export function fileCheckReport(cfg: LoadedConfig): FileCheckReport {
  const diagnostics = cfg.diagnostics.map(diagnosticReport);
  return { file: cfg.file, ...countDiagnostics(diagnostics), diagnostics };
}

export function countDiagnostics(ds: readonly DiagnosticReport[]): Counts {
  return {
    errors: ds.filter((d) => d.severity === 'error').length,
    warnings: ds.filter((d) => d.severity === 'warning').length,
    notes: ds.filter((d) => d.severity === 'note').length,
  };
}

// ---- registrations (notifiers, and the tree's leaves)

/** A registration as --json and the text output give it: the view's fields, plain. */
export interface RegistrationReport
  extends Pick<RegistrationView, 'name' | 'owner' | 'kind' | 'region' | 'index' | 'indexName' | 'flags' | 'start' | 'end' | 'status' | 'warnings' | 'replay'> {
  /** Why a registration was refused or is invalid (the model's, or QEMU's, text). */
  readonly reason?: string;
  /** Events the registration received while the config was loaded (a replay's MAPs). */
  readonly events: number;
  /** Of those, the ones its owner rejected (vfio's wrong target AS), with the first reason. */
  readonly rejected: number;
  readonly rejectedReason?: string;
  readonly source?: ConfigLocation;
}

export function registrationReport(cfg: LoadedConfig, v: RegistrationView): RegistrationReport {
  const rejected = v.registration.received.filter((e) => e.error !== undefined);
  return {
    name: v.name,
    owner: v.owner,
    kind: v.kind,
    region: v.region,
    index: v.index,
    indexName: v.indexName,
    flags: v.flags,
    start: v.start,
    end: v.end,
    status: v.status,
    reason: v.message,
    warnings: v.warnings,
    events: v.eventCount,
    rejected: rejected.length,
    rejectedReason: rejected[0]?.error,
    replay: v.replay,
    source: sourceOf(cfg, v.source),
  };
}

export interface NotifiersReport {
  readonly file: string;
  readonly notifiers: readonly RegistrationReport[];
}

export function notifiersReport(cfg: LoadedConfig): NotifiersReport {
  return { file: cfg.file, notifiers: cfg.machine.registrations.map((r) => registrationReport(cfg, registrationView(r))) };
}

// ---- tree

export interface MappingRunReport {
  readonly iova: bigint;
  readonly size: bigint;
  readonly target: string;
  readonly translated: bigint;
  readonly perm: string;
}

export interface MappingsReport {
  /** The first runs, at most --max-runs of them. */
  readonly runs: readonly MappingRunReport[];
  /** Runs after those; a lower bound when `scanStoppedAt` is set. */
  readonly more: number;
  /** Where the scan stopped before the end of the region (the scan budget ran out). */
  readonly scanStoppedAt?: bigint;
}

export interface IndexReport {
  readonly index: number;
  readonly name: string;
  /** The attributes that select this index. */
  readonly selector: string;
  readonly mappings: MappingsReport;
  readonly notifiers: readonly RegistrationReport[];
}

export interface RegionReport {
  readonly iommu: string;
  readonly name: string;
  readonly model: string;
  readonly size: bigint;
  readonly minPageSize: bigint;
  readonly source?: ConfigLocation;
  readonly problems: readonly DiagnosticReport[];
  readonly indexes: readonly IndexReport[];
}

export interface FlatRangeReport {
  readonly start: bigint;
  /** Inclusive. */
  readonly end: bigint;
  readonly region: string;
  readonly kind: string;
  readonly offset: bigint;
}

export interface AddressSpaceReport {
  readonly name: string;
  readonly ranges: readonly FlatRangeReport[];
  readonly source?: ConfigLocation;
}

export interface DeviceReport {
  readonly name: string;
  readonly kind: string;
  /** The address space its accesses go to (for a device behind an IOMMU, that IOMMU's DMA space). */
  readonly as: string;
  readonly iommu?: string;
  readonly bdf?: string;
  readonly attrs: string;
  readonly source?: ConfigLocation;
}

export interface TreeReport {
  readonly file: string;
  readonly name: string;
  readonly regions: readonly RegionReport[];
  readonly addressSpaces: readonly AddressSpaceReport[];
  readonly devices: readonly DeviceReport[];
  /** What IOMMU models hold besides mappings (virtio-iommu's domains), for those that say; absent when none do. */
  readonly modelState?: ReadonlyArray<{ readonly iommu: string; readonly model: string; readonly nodes: readonly ModelStateNode[] }>;
}

/**
 * Pages of mappings the tree scans per index before it gives up counting. A page is at most
 * 65536 translations (mappingRuns' own limit), so this is about a million translations, or
 * 4 GiB of 4 KiB pages: the examples are scanned to the end, a 64-bit table is not.
 */
export const SCAN_PAGES = 16;

/**
 * The first `maxRuns` runs of an index and how many follow. Pages may split a run at a page
 * boundary; joining contiguous runs again is only presentation, the runs are the view's.
 */
export function indexMappings(region: IOMMUMemoryRegion, index: number, maxRuns: number): MappingsReport {
  const shown: MappingRunReport[] = [];
  let more = 0;
  let last: { -readonly [K in keyof MappingRunReport]: MappingRunReport[K] } | undefined;
  let from: bigint | undefined = 0n;
  let pages = 0;
  while (from !== undefined && pages < SCAN_PAGES) {
    // Ask for one run past what is still to be shown, so a full page says there are more.
    const want = shown.length < maxRuns ? maxRuns - shown.length + 1 : 1 << 20;
    const page = mappingPageView(region, index, from, want);
    pages++;
    for (const r of page.runs) {
      if (last && last.target === r.target && last.perm === r.perm && last.iova + last.size === r.iova && last.translated + last.size === r.translated) {
        last.size += r.size;
        continue;
      }
      last = { iova: r.iova, size: r.size, target: r.target, translated: r.translated, perm: r.perm };
      if (shown.length < maxRuns) shown.push(last);
      else more++;
    }
    from = page.next;
  }
  return { runs: shown, more, scanStoppedAt: from };
}

export function treeReport(cfg: LoadedConfig, maxRuns: number): TreeReport {
  const regions = regionViews(cfg).map(
    (r): RegionReport => ({
      iommu: r.iommu,
      name: r.name,
      model: r.model,
      size: r.size,
      minPageSize: r.minPageSize,
      source: sourceOf(cfg, r.source),
      problems: r.problems.map(diagnosticReport),
      indexes: r.indexes.map((ix) => ({
        index: ix.index,
        name: ix.name,
        selector: ix.selector,
        mappings: indexMappings(r.region, ix.index, maxRuns),
        notifiers: ix.registrations.map((v) => registrationReport(cfg, v)),
      })),
    }),
  );
  const addressSpaces = [...cfg.machine.addressSpaces.values()].map(
    (as): AddressSpaceReport => ({
      name: as.name,
      ranges: as.flatView().map((f) => ({ start: f.start, end: f.end - 1n, region: f.region.name, kind: f.region.kind, offset: f.offsetInRegion })),
      source: sourceOf(cfg, as.source),
    }),
  );
  const devices = [...cfg.machine.devices.values()].map(
    (d): DeviceReport => ({
      name: d.name,
      kind: d.kind,
      as: d.as.name,
      iommu: d.iommu?.name,
      bdf: d.bdf,
      attrs: formatAttrs(d.attrs),
      source: sourceOf(cfg, d.source),
    }),
  );
  const modelState = [...cfg.machine.iommus.values()].flatMap((d) => (d.describeState ? [{ iommu: d.name, model: d.model, nodes: d.describeState() }] : []));
  return { file: cfg.file, name: cfg.machine.name, regions, addressSpaces, devices, ...(modelState.length ? { modelState } : {}) };
}

// ---- translate

export interface TraceStepReport {
  readonly n: number;
  readonly kind: string;
  /** The step's name as views show it (STE fetch, stage-1 level-2 descriptor...). */
  readonly name: string;
  readonly summary: string;
  readonly fields: Readonly<Record<string, string>>;
  readonly source?: Location;
}

export interface TranslateReport {
  readonly from: string;
  readonly addr: bigint;
  readonly op: string;
  readonly attrs: string;
  readonly ok: boolean;
  readonly result: string;
  /** Where it lands, in one line, or the fault. */
  readonly headline: string;
  readonly landing?: { readonly region: string; readonly kind: string; readonly offset: bigint; readonly as: string; readonly addr: bigint };
  readonly fault?: { readonly reason: string; readonly message: string };
  /** The composed IOTLB entry of the whole path. */
  readonly entry: { readonly iova: bigint; readonly translatedAddr: bigint; readonly addrMask: bigint; readonly perm: string; readonly targetAs: string | null };
  readonly entryText: string;
  /** The IOMMU regions the access went through, in order, with the index each used. */
  readonly hops: ReadonlyArray<{ readonly iommu: string; readonly index: number; readonly indexName: string; readonly addr: bigint }>;
  /** Only when asked for (--steps). */
  readonly steps?: readonly TraceStepReport[];
  /**
   * The event or fault record the IOMMU would make if this were an access and not a query (a
   * translate is a peek and records nothing); absent when the translation makes none.
   */
  readonly event?: ProbeEventReport;
  /** With a size: the pieces QEMU's DMA helpers would split the access into, each translated. */
  readonly pieces?: readonly PieceReport[];
}

export interface ProbeEventReport {
  readonly iommu: string;
  readonly type: string;
  readonly code: number;
  /** Whether an access would write it where the guest reads it (CD.R / STE.S2R allow it). */
  readonly wouldRecord: boolean;
  readonly disposition: string;
  readonly fields: Readonly<Record<string, bigint | number | boolean | string>>;
}

export interface PieceReport {
  readonly addr: bigint;
  readonly size: number;
  readonly result: string;
  readonly value?: bigint;
  readonly landing?: { readonly region: string; readonly kind: string; readonly offset: bigint; readonly as: string; readonly addr: bigint };
  readonly fault?: { readonly reason: string; readonly message: string };
}

function landingReport(l: Landing) {
  return l.region ? { region: l.region.name, kind: l.region.kind, offset: l.offset, as: l.as.name, addr: l.addr } : undefined;
}

function pieceReport(p: DmaPiece): PieceReport {
  return {
    addr: p.addr,
    size: p.len,
    result: memTxResultName(p.result),
    value: p.value,
    landing: landingReport(p.landing),
    fault: p.landing.fault ? { reason: p.landing.fault.reason, message: p.landing.fault.message } : undefined,
  };
}

/** The record the last hop's IOMMU would have made (its lastProbeEvent), for a faulting peek. */
function probeEvent(cfg: LoadedConfig, l: Landing): ProbeEventReport | undefined {
  const hop = l.hops.at(-1);
  if (!hop || l.result === 0) return undefined;
  for (const d of cfg.machine.iommus.values()) {
    if (!d.lastProbeEvent || !d.regions().includes(hop.iommu)) continue;
    const e: ModelEventRecord | undefined = d.lastProbeEvent();
    if (e) return { iommu: d.name, type: e.type, code: e.code, wouldRecord: e.recorded, disposition: e.disposition, fields: e.fields };
  }
  return undefined;
}

function stepReport(cfg: LoadedConfig, s: TraceLine): TraceStepReport {
  let source: Location | undefined;
  if (s.source?.kind === 'config') source = configLocation(cfg.file, s.range ?? cfg.rangeOf(s.source.id));
  else if (s.source?.kind === 'guest-memory') {
    source = { kind: 'guest-memory', as: s.source.as, addr: s.source.addr, size: s.source.size, value: s.source.value };
  }
  return { n: s.n, kind: s.kind, name: s.name, summary: s.summary, fields: Object.fromEntries(s.fields), source };
}

export function translateReport(cfg: LoadedConfig, q: TranslationQuery, withSteps: boolean, size?: number): TranslateReport | EngineError {
  const v = translationView(cfg, q);
  if (isEngineError(v)) return v;
  const l = v.landing;
  const event = probeEvent(cfg, l);
  let pieces: PieceReport[] | undefined;
  if (size !== undefined) {
    const d = cfg.machine.dma({ from: q.from, addr: q.addr, op: q.op ?? 'read', attrs: q.attrs, len: size, probe: true });
    if (isEngineError(d)) return d;
    pieces = d.pieces.map(pieceReport);
  }
  return {
    from: v.from,
    addr: v.addr,
    op: v.op,
    attrs: v.attrs,
    ok: v.ok,
    result: v.result,
    headline: v.headline,
    landing: l.region ? { region: l.region.name, kind: l.region.kind, offset: l.offset, as: l.as.name, addr: l.addr } : undefined,
    fault: l.fault ? { reason: l.fault.reason, message: l.fault.message } : undefined,
    entry: { iova: l.entry.iova, translatedAddr: l.entry.translatedAddr, addrMask: l.entry.addrMask, perm: permName(l.entry.perm), targetAs: l.entry.targetAs?.name ?? null },
    entryText: v.entry,
    hops: l.hops.map((h) => ({ iommu: h.iommu.name, index: h.iommuIdx, indexName: h.iommu.indexName(h.iommuIdx), addr: h.addr })),
    steps: withSteps ? v.steps.map((s) => stepReport(cfg, s)) : undefined,
    event,
    pieces,
  };
}

// ---- replay

/** One replayed event as the views give it (`error`: what the owner makes of it; vfio refuses a target outside system memory). */
export type ReplayEventReport = ReplayEventView;

export interface ReplayReport {
  readonly notifier: string;
  readonly region: string;
  readonly index: number;
  readonly summary: string;
  readonly qemuReplay: string;
  readonly total: number;
  /** The first --limit events. */
  readonly events: readonly ReplayEventReport[];
  readonly more: number;
  /** Distinct owner errors over all events, with how many events each. */
  readonly errors: ReadonlyArray<{ readonly message: string; readonly count: number }>;
}

/** A progress line for long work (main.ts shows it on a terminal's stderr); undefined: the work is over. */
export type Progress = (text: string | undefined) => void;

export function replayReport(cfg: LoadedConfig, notifier: string, limit: number, progress?: Progress): ReplayReport | EngineError {
  const slices = replaySlices(cfg, notifier);
  let r = slices.next();
  for (; !r.done; r = slices.next()) progress?.(`replay ${notifier}: ${r.value.steps} of ${r.value.total} translations`);
  progress?.(undefined);
  const v = r.value;
  if (isEngineError(v)) return v;
  const errors = new Map<string, number>();
  for (const e of v.events) if (e.error !== undefined) errors.set(e.error, (errors.get(e.error) ?? 0) + 1);
  return {
    notifier: v.notifier,
    region: v.region,
    index: v.index,
    summary: v.summary,
    qemuReplay: v.qemuReplay,
    total: v.events.length,
    events: v.events.slice(0, limit),
    more: Math.max(0, v.events.length - limit),
    errors: [...errors].map(([message, count]) => ({ message, count })),
  };
}

// ---- run

export interface RunStepReport {
  readonly n: number;
  readonly kind: string;
  readonly summary: string;
  readonly ok: boolean;
  readonly failures: readonly string[];
  readonly error?: string;
  readonly notifications: readonly string[];
  readonly divergences: readonly string[];
  readonly source?: ConfigLocation;
  /** The step's outcome as fields (JSON only; the text shows the summary). */
  readonly outcome: StepOutcomeReport;
}

export interface StepOutcomeReport {
  readonly result?: string;
  readonly value?: bigint;
  readonly landing?: PieceReport['landing'];
  readonly fault?: { readonly reason: string; readonly message: string };
  /** An access split into pieces, each with its own result (one piece for most accesses). */
  readonly pieces?: ReadonlyArray<{
    readonly addr: bigint;
    readonly size: number;
    readonly result: string;
    readonly value?: bigint;
    readonly region?: string;
    readonly offset?: bigint;
    readonly fault?: { readonly reason: string; readonly message: string };
  }>;
  /** Event or fault records the IOMMUs made during the step. */
  readonly events: ReadonlyArray<ModelEventRecord & { readonly iommu: string }>;
  readonly notifications: ReadonlyArray<{
    readonly notifier: string;
    readonly owner: string;
    readonly region: string;
    readonly index: number;
    readonly type: string;
    readonly iova: bigint;
    readonly mask: bigint;
    readonly translated: bigint;
    readonly perm: string;
    readonly target: string | null;
    readonly outcome: string;
    readonly message?: string;
    readonly consumerError?: string;
  }>;
  readonly divergences: ReadonlyArray<{
    readonly notifier: string;
    readonly owner: string;
    readonly kind: string;
    readonly iova: bigint;
    readonly size: bigint;
    readonly shadow: { readonly targetAs: string; readonly translated: bigint; readonly perm: string };
    readonly now: { readonly targetAs: string; readonly translated: bigint; readonly perm: string };
    readonly causeStep: number;
  }>;
}

function stepOutcome(r: StepResult): StepOutcomeReport {
  return {
    result: r.result === undefined ? undefined : memTxResultName(r.result),
    value: r.value,
    landing: r.landing ? landingReport(r.landing) : undefined,
    fault: r.landing?.fault ? { reason: r.landing.fault.reason, message: r.landing.fault.message } : undefined,
    pieces: r.pieces?.map((p) => ({ ...p, result: memTxResultName(p.result) })),
    events: r.events ?? [],
    notifications: r.notifications.map((n) => ({
      notifier: n.notifier,
      owner: n.owner,
      region: n.region,
      index: n.iommuIdx,
      type: n.type,
      iova: n.entry.iova,
      mask: n.entry.addrMask,
      translated: n.entry.translatedAddr,
      perm: permName(n.entry.perm),
      target: n.entry.targetAs?.name ?? null,
      outcome: n.outcome,
      message: n.message,
      consumerError: n.consumerError,
    })),
    divergences: (r.divergences ?? []).map((d) => ({ notifier: d.notifier, owner: d.owner, kind: d.kind, iova: d.iova, size: d.size, shadow: d.shadow, now: d.now, causeStep: d.causeStep + 1 })),
  };
}

export interface RunReport {
  readonly file: string;
  readonly steps: readonly RunStepReport[];
  readonly total: number;
  readonly failed: number;
  /** Present when the run checked shadows. */
  readonly divergences?: number;
}

function runStepReport(cfg: LoadedConfig, s: ScenarioStepView, r: StepResult): RunStepReport {
  return {
    n: s.n,
    kind: s.kind,
    summary: s.summary,
    ok: s.ok,
    failures: s.failures,
    error: s.error,
    notifications: s.notifications,
    divergences: s.divergences,
    source: s.range ? configLocation(cfg.file, s.range) : undefined,
    outcome: stepOutcome(r),
  };
}

/** Runs the scenario on the config's machine (which it changes); with checkShadows, also vfio's and vhost's shadows after each step. */
export function runReport(cfg: LoadedConfig, opts: { checkShadows?: boolean; progress?: Progress } = {}): RunReport {
  const runner = new ScenarioRunner(cfg.machine, cfg.scenario, { checkShadows: opts.checkShadows });
  while (runner.next()) opts.progress?.(`run ${cfg.file}: step ${runner.position} of ${cfg.scenario.length}`);
  opts.progress?.(undefined);
  const result = runner.result();
  const steps = scenarioView(cfg, result).map((s, i) => runStepReport(cfg, s, result.steps[i]!));
  return {
    file: cfg.file,
    steps,
    total: steps.length,
    failed: steps.filter((s) => !s.ok).length,
    divergences: opts.checkShadows ? result.divergences.length : undefined,
  };
}
