/**
 * View models: what the CLI prints and the extension's trees show, as plain values built from a
 * loaded config and engine results. Neither side computes anything of its own; both render these.
 */
import {
  IOMMUMemoryRegion,
  IOMMU_NONE,
  DEFAULT_REPLAY_MAX_STEPS,
  formatNotifierFlags,
  engineError,
  fmtAddr,
  isEngineError,
  mappingRuns,
  memTxResultName,
  permName,
  permShort,
  ScenarioRunner,
  stepName,
  translateAccess,
  vfioTargetError,
  type AccessOp,
  type EngineError,
  type IOMMUNotifier,
  type IOMMUTLBEvent,
  type Landing,
  type MemTxAttrs,
  type Registration,
  type ReplayResult,
  type ScenarioResult,
  type SourceRef,
  type StepResult,
  type Trace,
} from '../engine';
import type { LoadedConfig } from '../config/load';
import type { Diagnostic, Range } from '../config/diagnostics';
import { fmtIndex, fmtText, formatAttrs, formatEntry, formatField, formatRangeIncl, formatSize } from './format';

export interface IndexView {
  readonly index: number;
  readonly name: string;
  /** Which attributes select it. */
  readonly selector: string;
  readonly registrations: readonly RegistrationView[];
}

export interface RegionView {
  /** The IOMMU (config name) and region (engine name; the same unless a model has several). */
  readonly iommu: string;
  readonly region: IOMMUMemoryRegion;
  readonly name: string;
  readonly model: string;
  readonly size: bigint;
  readonly minPageSize: bigint;
  readonly indexes: readonly IndexView[];
  readonly source?: string;
  /** Diagnostics of the config that fall inside this IOMMU's definition. */
  readonly problems: readonly Diagnostic[];
  /** What the model makes of this region (a VT-d device's context entry), if it says. */
  readonly details?: string;
  /** The IOMMU's registers and state, decoded by the model, if it offers them. */
  readonly deviceState?: ReadonlyArray<{ readonly name: string; readonly value: string }>;
}

export interface RegistrationView {
  readonly name: string;
  readonly owner: string;
  readonly kind: string;
  readonly region: string;
  readonly index: number;
  readonly indexName: string;
  readonly flags: string;
  readonly start: bigint;
  readonly end: bigint;
  readonly status: Registration['status'];
  /** The model's refusal text or the engine's error. */
  readonly message?: string;
  readonly warnings: readonly string[];
  readonly eventCount: number;
  readonly replay?: string;
  readonly source?: string;
  readonly registration: Registration;
}

export function registrationView(r: Registration): RegistrationView {
  return {
    name: r.name,
    owner: r.owner,
    kind: r.kind,
    region: r.region.name,
    index: r.iommuIdx,
    indexName: r.region.indexName(r.iommuIdx),
    flags: formatNotifierFlags(r.flags),
    start: r.start,
    end: r.end,
    status: r.status,
    message: r.error?.message,
    warnings: r.warnings,
    eventCount: r.received.length,
    replay: r.replayResult
      ? `${r.replayResult.kind} replay: ${r.replayResult.delivered} MAP(s) from ${r.replayResult.steps} translation(s)${r.replayResult.stopped ? ' (stopped early)' : ''}`
      : undefined,
    source: r.source,
    registration: r,
  };
}

export function registrationViews(cfg: LoadedConfig): RegistrationView[] {
  return cfg.machine.registrations.map(registrationView);
}

function inside(r: Range, outer: Range): boolean {
  const before = (a: Range['start'], b: Range['start']) => a.line < b.line || (a.line === b.line && a.character <= b.character);
  return before(outer.start, r.start) && before(r.end, outer.end);
}

export function regionViews(cfg: LoadedConfig): RegionView[] {
  const out: RegionView[] = [];
  for (const [iommu, dev] of cfg.machine.iommus) {
    const defPath = cfg.definitions.get(`iommu:${iommu}`);
    const extent = defPath ? cfg.document.extentOf(defPath) : undefined;
    const whole = extent ? cfg.document.rangeOfOffsets(extent[0], extent[1]) : undefined;
    const problems = whole ? cfg.diagnostics.filter((d) => inside(d.range, whole)) : [];
    for (const region of cfg.machine.iommuRegions().filter((r) => dev.regions().includes(r))) {
      const regs = cfg.machine.registrations.filter((r) => r.region === region);
      out.push({
        iommu,
        region,
        name: region.name,
        model: region.model,
        size: region.size,
        minPageSize: region.minPageSize(),
        indexes: Array.from({ length: region.numIndexes() }, (_, i) => ({
          index: i,
          name: region.indexName(i),
          selector: region.indexSelector(i),
          registrations: regs.filter((r) => r.iommuIdx === i).map(registrationView),
        })),
        source: region.source ?? dev.regions()[0]?.source,
        problems,
        details: dev.describeRegion?.(region),
        deviceState: dev.inspect?.(),
      });
    }
  }
  return out;
}

export interface MappingRunView {
  readonly iova: bigint;
  readonly size: bigint;
  readonly target: string;
  readonly translated: bigint;
  readonly perm: string;
  readonly label: string;
}

export interface MappingPageView {
  readonly runs: readonly MappingRunView[];
  readonly next?: bigint;
}

/** One page of an index's mappings as coalesced runs. */
export function mappingPageView(region: IOMMUMemoryRegion, index: number, from: bigint | undefined, maxRuns: number): MappingPageView {
  const page = mappingRuns(region, index, { from, maxRuns });
  return {
    runs: page.runs.map((r) => ({
      iova: r.iova,
      size: r.size,
      target: r.targetAs.name,
      translated: r.translated,
      perm: permShort(r.perm),
      label: `${formatRangeIncl(r.iova, r.iova + r.size - 1n)} -> ${r.targetAs.name} ${fmtAddr(r.translated)} ${permShort(r.perm)} (${formatSize(r.size)})`,
    })),
    next: page.next,
  };
}

export interface TraceLine {
  readonly n: number;
  readonly kind: string;
  /** What views call the step (src/engine/trace.ts's names). */
  readonly name: string;
  readonly summary: string;
  readonly fields: ReadonlyArray<readonly [string, string]>;
  readonly source?: SourceRef;
  /** For config sources, where in the file. */
  readonly range?: Range;
}

export function traceLines(cfg: LoadedConfig | undefined, trace: Trace): TraceLine[] {
  return trace.map((s, i) => ({
    n: i + 1,
    kind: s.kind,
    name: stepName(s),
    summary: fmtText(s.summary),
    fields: Object.entries(s.fields).map(([k, v]) => [k, formatField(v, k)] as const),
    source: s.source,
    range: s.source?.kind === 'config' && cfg ? cfg.rangeOf(s.source.id) : undefined,
  }));
}

export interface TranslationView {
  readonly from: string;
  readonly addr: bigint;
  readonly op: AccessOp;
  readonly attrs: string;
  readonly ok: boolean;
  readonly result: string;
  /** Where it lands, in one line, or the fault. */
  readonly headline: string;
  readonly entry: string;
  readonly landing: Landing;
  readonly steps: readonly TraceLine[];
}

export interface TranslationQuery {
  readonly from: string;
  readonly addr: bigint;
  readonly op?: AccessOp;
  readonly attrs?: MemTxAttrs;
}

export function translationView(cfg: LoadedConfig, q: TranslationQuery): TranslationView | EngineError {
  const trace: Trace = [];
  const op = q.op ?? 'read';
  const init = cfg.machine.resolveInitiator(q.from, q.attrs);
  if (isEngineError(init)) return init;
  const landing = translateAccess({ as: init.as, addr: q.addr, op, attrs: init.attrs, trace, probe: true });
  const ok = landing.result === 0 && landing.region !== undefined;
  return {
    from: q.from,
    addr: q.addr,
    op,
    attrs: formatAttrs(init.attrs),
    ok,
    result: memTxResultName(landing.result),
    headline: ok
      ? `${landing.region.name} + ${fmtAddr(landing.offset)} (${landing.region.kind}, ${landing.as.name} ${fmtAddr(landing.addr)})`
      : `fault: ${fmtText(landing.fault?.message ?? memTxResultName(landing.result))}`,
    entry: formatEntry(landing.entry),
    landing,
    steps: traceLines(cfg, trace),
  };
}

export interface PerIndexTranslation {
  readonly index: number;
  readonly name: string;
  readonly text: string;
}

/** For hovers: what an offset in an IOMMU region translates to under each index (flag NONE: full permissions). */
export function translatePerIndex(region: IOMMUMemoryRegion, offset: bigint): PerIndexTranslation[] {
  if (offset < 0n || offset >= region.size) return [];
  return Array.from({ length: region.numIndexes() }, (_, i) => {
    const e = region.probe(offset, IOMMU_NONE, i);
    const out = (e.translatedAddr & ~e.addrMask) | (offset & e.addrMask);
    const text = e.perm === IOMMU_NONE || e.targetAs === null ? 'no mapping (perm NONE)' : `${e.targetAs.name} ${fmtAddr(out)} ${permName(e.perm)}`;
    return { index: i, name: region.indexName(i), text };
  });
}

export interface ReplayEventView {
  readonly n: number;
  readonly type: string;
  readonly iova: bigint;
  readonly mask: bigint;
  readonly translated: bigint;
  readonly perm: string;
  readonly target: string;
  readonly error?: string;
}

export interface ReplayView {
  readonly notifier: string;
  readonly region: string;
  readonly index: number;
  readonly summary: string;
  /** What QEMU itself would run. */
  readonly qemuReplay: string;
  readonly events: readonly ReplayEventView[];
}

/**
 * The events a replay delivers to a registration, run on a fresh copy of the registration so the
 * machine's own notifiers are not disturbed.
 */
export function replayView(cfg: LoadedConfig, name: string): ReplayView | EngineError {
  const it = replaySlices(cfg, name);
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
  }
}

/** How far a replay has got: translations made, of how many it makes at most (the region's pages, or the cap when that is smaller). */
export interface ReplayProgress {
  readonly steps: number;
  readonly total: number;
}

/**
 * replayView in slices of about `sliceSteps` translations, yielding its progress between them,
 * so a caller can report it, stay responsive, or stop (by not asking for more). A default loop
 * stops after `maxSteps` translations (QEMU's has no cap; the engine's keeps a huge region from
 * running for hours unasked).
 */
export function* replaySlices(
  cfg: LoadedConfig,
  name: string,
  sliceSteps = 1 << 16,
  maxSteps = DEFAULT_REPLAY_MAX_STEPS,
): Generator<ReplayProgress, ReplayView | EngineError, void> {
  const r = cfg.machine.registrations.find((x) => x.name === name);
  if (!r) {
    const names = cfg.machine.registrations.map((x) => x.name);
    return engineError('unknown-notifier', `no notifier named "${name}"${names.length ? ` (have: ${names.join(', ')})` : ''}`);
  }
  if (r.status !== 'accepted') {
    return engineError('notifier-refused', `${name} is not registered (${r.status}: ${r.error?.message ?? ''}); there is nothing to replay`);
  }
  // A stand-in with the registration's index, flags and range receives the replay, so the
  // real notifier's history and shadow stay as the machine had them.
  const received: IOMMUTLBEvent[] = [];
  const probe: IOMMUNotifier = {
    name: `${r.name} (replay)`,
    owner: r.owner,
    flags: r.flags,
    start: r.start,
    end: r.end,
    iommuIdx: r.iommuIdx,
    notify: (_n, ev) => received.push(ev),
  };
  const total = Math.min(maxSteps, Number((r.region.size + r.region.minPageSize() - 1n) / r.region.minPageSize()));
  let steps = 0;
  let delivered = 0;
  let start: bigint | undefined;
  let result: ReplayResult;
  for (;;) {
    const slice = r.region.replay(probe, { start, maxSteps: maxSteps - steps, progress: (n) => n < sliceSteps, probe: true });
    steps += slice.steps;
    delivered += slice.delivered;
    if (slice.resumeAt === undefined) {
      result = { ...slice, steps, delivered };
      break;
    }
    start = slice.resumeAt;
    yield { steps, total };
  }
  const events = received.map((e, i) => ({
    n: i + 1,
    type: formatNotifierFlags(e.type),
    iova: e.entry.iova,
    mask: e.entry.addrMask,
    translated: e.entry.translatedAddr,
    perm: permName(e.entry.perm),
    target: e.entry.targetAs?.name ?? '-',
    error: r.kind === 'vfio' ? vfioTargetError(e.entry, cfg.machine.systemAs) : undefined,
  }));
  return {
    notifier: name,
    region: r.region.name,
    index: r.iommuIdx,
    summary: `${result.kind} replay of ${r.region.name} ${fmtIndex(r.iommuIdx, r.region.indexName(r.iommuIdx))}: ${result.delivered} MAP event(s) from ${result.steps} translation(s)${result.stopped ? `; ${result.stopped.message}` : ''}`,
    qemuReplay: r.region.qemuHasOwnReplay
      ? `QEMU runs ${r.region.model}'s own replay`
      : `QEMU runs the default replay: translate(addr, IOMMU_NONE, ${r.iommuIdx}) for addr = 0 .. ${fmtAddr(r.region.size)} step ${fmtAddr(r.region.minPageSize())}${r.region.modelReplay ? '; the engine walks the tables for the same events' : ''}`,
    events,
  };
}

export interface ScenarioStepView {
  readonly n: number;
  readonly kind: string;
  readonly summary: string;
  readonly ok: boolean;
  readonly failures: readonly string[];
  readonly error?: string;
  readonly notifications: readonly string[];
  /** Shadows (vfio's map, vhost's IOTLB) that stopped agreeing with translation at this step. */
  readonly divergences: readonly string[];
  readonly range?: Range;
}

export function scenarioView(cfg: LoadedConfig, result: ScenarioResult): ScenarioStepView[] {
  return result.steps.map((s) => stepView(cfg, s));
}

export function stepView(cfg: LoadedConfig, s: StepResult): ScenarioStepView {
  return {
    n: s.index + 1,
    kind: s.step.kind,
    summary: fmtText(s.summary),
    ok: s.failures.length === 0 && !s.error,
    failures: s.failures.map(fmtText),
    error: s.error === undefined ? undefined : fmtText(s.error.message),
    notifications: s.notifications.map(
      (n) =>
        `${n.notifier} <- ${n.type} ${formatEntry(n.entry)}${n.outcome === 'delivered' ? '' : ` [${n.outcome}${n.message ? `: ${n.message}` : ''}]`}${n.consumerError ? ` ! ${n.consumerError}` : ''}`,
    ),
    divergences: (s.divergences ?? []).map((d) => `${fmtText(d.message)} (since step ${d.causeStep + 1})`),
    range: s.step.source ? cfg.rangeOf(s.step.source) : undefined,
  };
}


/**
 * A scenario run from the config's initial state, whole or one step at a time: Run Scenario and
 * Step Scenario (and the CLI's `run --check-shadows`) use the same runner with the same shadow
 * checks, so a stepped run reports the same stale shadows at the same steps.
 */
export class ScenarioSession {
  readonly runner: ScenarioRunner;

  /** `cfg` must be a fresh load: running changes its machine. */
  constructor(readonly config: LoadedConfig) {
    this.runner = new ScenarioRunner(config.machine, config.scenario, { checkShadows: true });
  }

  get file(): string {
    return this.config.file;
  }

  get done(): boolean {
    return this.runner.done;
  }

  /** The next step's view, or undefined at the end. */
  next(): ScenarioStepView | undefined {
    const r = this.runner.next();
    return r ? stepView(this.config, r) : undefined;
  }

  /** Every step left, and the whole run's result. */
  runAll(): { steps: ScenarioStepView[]; result: ScenarioResult } {
    const result = this.runner.runAll();
    return { steps: result.steps.map((s) => stepView(this.config, s)), result };
  }
}
