/**
 * Scenarios: ordered steps run on a Machine (register writes, accesses, guest-memory writes,
 * table mappings, expectations). Each step's result says what it did, every notification
 * decision it caused, and the expectations that failed; the config layer maps `source` ids back
 * to the step's position.
 */
import { MEMTXATTRS_UNSPECIFIED, formatAttrs, memTxResultName, type MemTxAttrs, type MemTxResult } from './attrs';
import { addressSpaceForRegion } from './address-space';
import { findRegister, type ModelCommand } from './device';
import { engineError, isEngineError, type EngineError } from './errors';
import type { AccessSize } from './guest-memory';
import { hex } from './hex';
import type { NotifyOutcome, NotifyRecord } from './iommu';
import { formatNotifierFlags, permName, type IOMMUAccessFlags, type IOMMUTLBEntry } from './iotlb';
import type { Machine } from './machine';
import { TableIommu } from './models/table';
import { checkShadows, divergenceKey, type Divergence } from './shadows';
import type { AccessOp, Landing } from './translate';

interface StepBase {
  /** Config source id of the step. */
  readonly source?: string;
}

export interface WriteRegStep extends StepBase {
  readonly kind: 'write-reg';
  readonly iommu: string;
  readonly reg: string | number;
  readonly value: bigint;
  readonly size?: AccessSize;
  readonly attrs?: MemTxAttrs;
}
export interface ReadRegStep extends StepBase {
  readonly kind: 'read-reg';
  readonly iommu: string;
  readonly reg: string | number;
  readonly size?: AccessSize;
  readonly attrs?: MemTxAttrs;
}
export interface AccessStep extends StepBase {
  readonly kind: 'access';
  readonly from: string;
  readonly addr: bigint;
  readonly op: AccessOp;
  readonly size: AccessSize;
  readonly value?: bigint;
  readonly attrs?: MemTxAttrs;
}
export interface WriteMemStep extends StepBase {
  readonly kind: 'write-mem';
  readonly as: string;
  readonly addr: bigint;
  readonly size: AccessSize;
  readonly value: bigint;
}
export interface ReadMemStep extends StepBase {
  readonly kind: 'read-mem';
  readonly as: string;
  readonly addr: bigint;
  readonly size: AccessSize;
}
export interface MapStep extends StepBase {
  readonly kind: 'map';
  readonly iommu: string;
  readonly index: number | string;
  readonly iova: bigint;
  readonly size: bigint;
  /** Target address space (or a region name, which the config resolves to its own space). */
  readonly targetAs: string;
  readonly target: bigint;
  readonly perm: IOMMUAccessFlags;
}
export interface UnmapStep extends StepBase {
  readonly kind: 'unmap';
  readonly iommu: string;
  readonly index: number | string;
  readonly iova: bigint;
  readonly size: bigint;
}
export interface ExpectStep extends StepBase {
  readonly kind: 'expect';
  /** An access expectation: from, addr, op (and attrs). */
  readonly from?: string;
  readonly addr?: bigint;
  readonly op?: AccessOp;
  readonly attrs?: MemTxAttrs;
  readonly size?: AccessSize;
  readonly reaches?: { readonly region: string; readonly offset?: bigint };
  readonly faults?: boolean;
  /** For a read, the value read; for a register expectation, the register's value. */
  readonly value?: bigint;
  /** A register expectation: iommu and reg. */
  readonly iommu?: string;
  readonly reg?: string | number;
}

export interface CommandStep extends StepBase {
  readonly kind: 'command';
  readonly iommu: string;
  readonly command: ModelCommand;
  /** The status the command must end with (the model's name for it): any other fails the step. */
  readonly expectStatus?: string;
}

export type ScenarioStep = WriteRegStep | ReadRegStep | AccessStep | WriteMemStep | ReadMemStep | MapStep | UnmapStep | ExpectStep | CommandStep;

/** A notification decision, as plain values for views. */
export interface StepNotification {
  readonly notifier: string;
  readonly owner: string;
  readonly region: string;
  readonly iommuIdx: number;
  readonly type: string;
  readonly entry: IOMMUTLBEntry;
  readonly outcome: NotifyOutcome;
  readonly message?: string;
  readonly consumerError?: string;
}

export interface StepResult {
  readonly index: number;
  readonly step: ScenarioStep;
  /** What the step did, in one line. */
  readonly summary: string;
  readonly failures: readonly string[];
  readonly notifications: readonly StepNotification[];
  readonly error?: EngineError;
  readonly value?: bigint;
  readonly result?: MemTxResult;
  readonly landing?: Landing;
  /**
   * Stale shadows found at this step (when the run checks shadows): a device's access, or the end
   * of the scenario, found a shadow that disagrees with the tables. Each names the step after
   * which it first appeared: the step that caused it.
   */
  readonly divergences?: readonly StepDivergence[];
}

export interface ScenarioResult {
  readonly steps: readonly StepResult[];
  readonly failed: number;
  /** Every divergence found (with checkShadows). */
  readonly divergences: readonly StepDivergence[];
}

export interface StepDivergence extends Divergence {
  /** Index of the step after which the shadow first disagreed. */
  readonly causeStep: number;
}

export interface ScenarioOptions {
  /**
   * Compare every vfio/vhost shadow with a fresh walk after each step. A disagreement that the
   * steps after it resolve (the invalidation a correct driver sends after writing a PTE) is not
   * reported; one still there when a device accesses memory, or at the end, is.
   */
  readonly checkShadows?: boolean;
}

/** Register accesses are made by the secure side unless the step says otherwise. */
export const DEFAULT_REGISTER_ATTRS: MemTxAttrs = Object.freeze({ secure: true });

export class ScenarioRunner {
  private pos = 0;
  readonly results: StepResult[] = [];

  /** Divergences seen and not yet resolved nor reported, with the step after which each appeared. */
  private readonly pending = new Map<string, StepDivergence>();
  private readonly reported = new Set<string>();

  constructor(
    readonly machine: Machine,
    readonly steps: readonly ScenarioStep[],
    readonly options: ScenarioOptions = {},
  ) {}

  get done(): boolean {
    return this.pos >= this.steps.length;
  }

  get position(): number {
    return this.pos;
  }

  /** Runs the next step; undefined when all have run. */
  next(): StepResult | undefined {
    if (this.done) return undefined;
    const index = this.pos++;
    const step = this.steps[index]!;
    const { value: partial, records } = this.machine.collectNotifications(() => runStep(this.machine, step));
    let divergences: StepDivergence[] | undefined;
    if (this.options.checkShadows) divergences = this.shadowCheck(index, step);
    const r: StepResult = { index, step, failures: [], ...partial, notifications: records.map(toNotification), divergences };
    this.results.push(r);
    return r;
  }

  private shadowCheck(index: number, step: ScenarioStep): StepDivergence[] {
    const now = new Map(checkShadows(this.machine).map((d) => [divergenceKey(d), d] as const));
    for (const k of [...this.pending.keys()]) if (!now.has(k)) this.pending.delete(k);
    for (const [k, d] of now) if (!this.pending.has(k) && !this.reported.has(k)) this.pending.set(k, { ...d, causeStep: index });
    if (step.kind !== 'access' && !this.done) return [];
    const out = [...this.pending.values()];
    for (const k of this.pending.keys()) this.reported.add(k);
    this.pending.clear();
    return out;
  }

  runAll(): ScenarioResult {
    while (!this.done) this.next();
    return this.result();
  }

  /** The steps run so far, as runAll reports them (a caller that runs step by step, to show progress or stop, ends with this). */
  result(): ScenarioResult {
    return {
      steps: this.results,
      failed: this.results.filter((r) => r.failures.length > 0 || r.error).length,
      divergences: this.results.flatMap((r) => r.divergences ?? []),
    };
  }
}

export function runScenario(machine: Machine, steps: readonly ScenarioStep[], options?: ScenarioOptions): ScenarioResult {
  return new ScenarioRunner(machine, steps, options).runAll();
}

function toNotification(r: NotifyRecord): StepNotification {
  return {
    notifier: r.notifier.name,
    owner: r.notifier.owner,
    region: r.region.name,
    iommuIdx: r.notifier.iommuIdx,
    type: formatNotifierFlags(r.event.type),
    entry: r.delivered ?? r.event.entry,
    outcome: r.outcome,
    message: r.message,
    consumerError: r.consumerError,
  };
}

type Partial = Omit<StepResult, 'index' | 'step' | 'notifications' | 'failures'> & { failures?: string[] };

function fail(error: EngineError): Partial {
  return { summary: error.message, error };
}

function runStep(m: Machine, step: ScenarioStep): Partial {
  switch (step.kind) {
    case 'write-reg':
    case 'read-reg': {
      const reg = resolveRegister(m, step.iommu, step.reg);
      if (isEngineError(reg)) return fail(reg);
      const attrs = step.attrs ?? DEFAULT_REGISTER_ATTRS;
      const size = step.size ?? reg.width;
      if (step.kind === 'write-reg') {
        const result = reg.file.write(BigInt(reg.offset), size, step.value, attrs);
        return { summary: `${step.iommu}.${reg.name} <- ${hex(step.value)} (${formatAttrs(attrs)}): ${memTxResultName(result)}`, result };
      }
      const r = reg.file.read(BigInt(reg.offset), size, attrs);
      return { summary: `${step.iommu}.${reg.name} = ${hex(r.value)} (${formatAttrs(attrs)}): ${memTxResultName(r.result)}`, value: r.value, result: r.result };
    }
    case 'access': {
      const r = m.access({ from: step.from, addr: step.addr, op: step.op, attrs: step.attrs, size: step.size, value: step.value });
      if (isEngineError(r)) return fail(r);
      // A vhost back end caches what its device's accesses translated.
      for (const reg of m.registrations) {
        if (reg.owner !== step.from || reg.kind !== 'vhost') continue;
        for (const hop of r.landing.hops) if (hop.iommu === reg.region && hop.iommuIdx === reg.iommuIdx) reg.cacheTranslation(hop.addr, hop.entry);
      }
      const where = r.landing.region ? `${r.landing.region.name}+${hex(r.landing.offset)}` : 'unassigned';
      const what = step.op === 'read' ? `read ${hex(r.value)}` : `wrote ${hex(step.value ?? 0n)}`;
      return {
        summary: `${step.from} ${step.op} ${step.size} byte(s) at ${hex(step.addr)} -> ${where}: ${memTxResultName(r.result)}${r.result === 0 ? `, ${what}` : ''}`,
        value: r.value,
        result: r.result,
        landing: r.landing,
        error: r.error,
      };
    }
    case 'write-mem':
    case 'read-mem': {
      const r = m.access({
        from: step.as,
        addr: step.addr,
        op: step.kind === 'write-mem' ? 'write' : 'read',
        attrs: MEMTXATTRS_UNSPECIFIED,
        size: step.size,
        value: step.kind === 'write-mem' ? step.value : undefined,
      });
      if (isEngineError(r)) return fail(r);
      if (r.result !== 0) {
        const error = r.error ?? engineError('memory-fault', r.landing.fault?.message ?? memTxResultName(r.result));
        return { summary: `${step.kind} ${step.as} ${hex(step.addr)}: ${error.message}`, error, result: r.result };
      }
      return step.kind === 'write-mem'
        ? { summary: `${step.as} ${hex(step.addr)} <- ${hex(step.value)} (${step.size} bytes)`, result: r.result }
        : { summary: `${step.as} ${hex(step.addr)} = ${hex(r.value)} (${step.size} bytes)`, value: r.value, result: r.result };
    }
    case 'map':
    case 'unmap': {
      const dev = m.iommus.get(step.iommu);
      if (!(dev instanceof TableIommu)) {
        return fail(engineError('not-a-table', dev ? `${step.iommu} is a ${dev.model} IOMMU; map/unmap steps need the table model` : `no IOMMU named "${step.iommu}"`));
      }
      const region = dev.region;
      const idx = typeof step.index === 'number' ? step.index : region.indexes.findIndex((ix) => ix.name === step.index);
      if (idx < 0) return fail(engineError('unknown-index', `${step.iommu} has no index named "${step.index}"`));
      if (step.kind === 'map') {
        const targetRegion = m.regions.get(step.targetAs);
        const as = m.addressSpaces.get(step.targetAs) ?? (targetRegion ? addressSpaceForRegion(targetRegion) : undefined);
        if (!as) return fail(engineError('unknown-as', `no address space or region named "${step.targetAs}"`));
        const err = region.map(idx, { iova: step.iova, size: step.size, targetAs: as, target: step.target, perm: step.perm, source: step.source });
        if (err) return fail(err);
        return { summary: `${step.iommu}[${region.indexName(idx)}] map ${hex(step.iova)}+${hex(step.size)} -> ${as.name} ${hex(step.target)} ${permName(step.perm)}` };
      }
      const r = region.unmap(idx, step.iova, step.size);
      if (isEngineError(r)) return fail(r);
      return { summary: `${step.iommu}[${region.indexName(idx)}] unmap ${hex(step.iova)}+${hex(step.size)}: ${r.length} mapping(s) removed` };
    }
    case 'command': {
      const dev = m.iommus.get(step.iommu);
      if (!dev?.issueCommands) {
        return fail(engineError('no-commands', dev ? `${step.iommu} (${dev.model}) takes no commands` : `no IOMMU named "${step.iommu}"`));
      }
      const log = dev.issueCommands([step.command]);
      if (isEngineError(log)) return fail(log);
      const summary = `${step.iommu} ${String(step.command.op)}: ${log.map((e) => e.effect).join('; ') || 'nothing run'}`;
      if (step.expectStatus !== undefined) {
        // An expected status is the step's check: a refusal the driver expects is no error.
        const want = normalStatus(step.expectStatus);
        const got = log.map((e) => e.status ?? (e.error ? `error ${e.error}` : 'ok'));
        const ok = got.length > 0 && got.every((g) => normalStatus(g) === want);
        return { summary: `${summary}; expected ${step.expectStatus}: ${ok ? 'ok' : 'FAILED'}`, failures: ok ? [] : [`status ${got.join(', ') || 'none'}, expected ${step.expectStatus}`] };
      }
      const failed = log.find((e) => e.error !== 0);
      return { summary, error: failed ? engineError('command-error', failed.effect) : undefined };
    }
    case 'expect':
      return runExpect(m, step);
  }
}

/** Status names compare without case. */
function normalStatus(s: string): string {
  return s.toUpperCase();
}

function resolveRegister(m: Machine, iommu: string, reg: string | number) {
  const dev = m.iommus.get(iommu);
  if (!dev) return engineError('unknown-iommu', `no IOMMU named "${iommu}"`);
  const file = dev.registers;
  if (!file) return engineError('no-registers', `${iommu} (${dev.model}) has no register file`);
  const info = findRegister(file, reg);
  if (!info) {
    return engineError('unknown-register', `${dev.model} has no register ${typeof reg === 'number' ? hex(reg) : reg} (have: ${file.registers.map((r) => r.name).join(', ')})`);
  }
  return { ...info, file };
}

function runExpect(m: Machine, step: ExpectStep): Partial {
  const failures: string[] = [];
  if (step.reg !== undefined) {
    if (step.iommu === undefined) return fail(engineError('expect-shape', 'a register expectation names its iommu'));
    const reg = resolveRegister(m, step.iommu, step.reg);
    if (isEngineError(reg)) return fail(reg);
    const r = reg.file.read(BigInt(reg.offset), reg.width, step.attrs ?? DEFAULT_REGISTER_ATTRS);
    if (step.value !== undefined && r.value !== step.value) failures.push(`${step.iommu}.${reg.name} is ${hex(r.value)}, expected ${hex(step.value)}`);
    return { summary: `expect ${step.iommu}.${reg.name} == ${step.value !== undefined ? hex(step.value) : '?'}: ${failures.length ? 'FAILED' : 'ok'}`, value: r.value, failures };
  }
  if (step.from === undefined || step.addr === undefined) {
    return fail(engineError('expect-shape', 'an expectation names either iommu and reg, or from and addr'));
  }
  const op = step.op ?? 'read';
  // Where an access lands is a translation, without side effects; only a value check performs it.
  const r =
    step.value === undefined
      ? withLanding(m.translate({ from: step.from, addr: step.addr, op, attrs: step.attrs, probe: true }))
      : m.access({ from: step.from, addr: step.addr, op, attrs: step.attrs, size: step.size ?? 4, value: 0n });
  if (isEngineError(r)) return fail(r);
  const land = r.landing;
  const where = land.region ? `${land.region.name}+${hex(land.offset)}` : `fault (${land.fault?.message ?? memTxResultName(r.result)})`;
  if (step.faults === true && r.result === 0) failures.push(`expected a fault, but the ${op} reached ${where}`);
  if (step.faults === false && r.result !== 0) failures.push(`expected no fault, got ${memTxResultName(r.result)}: ${land.fault?.message ?? where}`);
  if (step.reaches) {
    if (!land.region || land.region.name !== step.reaches.region) failures.push(`expected to reach ${step.reaches.region}, reached ${where}`);
    else if (step.reaches.offset !== undefined && land.offset !== step.reaches.offset) {
      failures.push(`expected ${step.reaches.region}+${hex(step.reaches.offset)}, reached ${where}`);
    }
  }
  if (step.value !== undefined && op === 'read' && r.value !== step.value) failures.push(`read ${hex(r.value)}, expected ${hex(step.value)}`);
  return {
    summary: `expect ${step.from} ${op} ${hex(step.addr)} -> ${where}: ${failures.length ? 'FAILED' : 'ok'}`,
    failures,
    landing: land,
    result: r.result,
    value: r.value,
  };
}

function withLanding(l: Landing | EngineError): { landing: Landing; result: MemTxResult; value: bigint } | EngineError {
  return isEngineError(l) ? l : { landing: l, result: l.result, value: 0n };
}
