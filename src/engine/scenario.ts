/**
 * Scenarios: ordered steps run on a Machine (register writes, accesses, guest-memory writes,
 * table mappings, expectations). Each step's result says what it did, every notification
 * decision it caused, and the expectations that failed; the config layer maps `source` ids back
 * to the step's position.
 */
import { MEMTXATTRS_UNSPECIFIED, formatAttrs, memTxResultName, type MemTxAttrs, type MemTxResult } from './attrs';
import { addressSpaceForRegion } from './address-space';
import { findRegister, peekRegister, type ModelCommand, type ModelEventRecord } from './device';
import { valueBytes, type DmaResult } from './dma';
import { engineError, isEngineError, type EngineError } from './errors';
import { isAccessSize, type AccessSize } from './guest-memory';
import { RamRegion, ROMD_WRITE_NOTE } from './memory';
import { hex } from './hex';
import type { IOMMUMemoryRegion, NotifyOutcome, NotifyRecord } from './iommu';
import { formatNotifierFlags, permName, type IOMMUAccessFlags, type IOMMUTLBEntry } from './iotlb';
import type { Machine } from './machine';
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
  /** Byte offset inside the register (a byte write to BLK_LUT+1). */
  readonly offset?: number;
  readonly attrs?: MemTxAttrs;
}
export interface ReadRegStep extends StepBase {
  readonly kind: 'read-reg';
  readonly iommu: string;
  readonly reg: string | number;
  readonly size?: AccessSize;
  readonly offset?: number;
  readonly attrs?: MemTxAttrs;
}
export interface AccessStep extends StepBase {
  readonly kind: 'access';
  readonly from: string;
  readonly addr: bigint;
  readonly op: AccessOp;
  /** Any length in bytes; longer accesses are split as QEMU's DMA helpers split them (dma.ts). */
  readonly size: number;
  /** For writes of at most 8 bytes: the little-endian value. */
  readonly value?: bigint;
  /** For writes: every byte (overrides value). */
  readonly fill?: number;
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
/** One expected notification; every field given must match. */
export interface ExpectedNotification {
  readonly notifier?: string;
  readonly owner?: string;
  readonly region?: string;
  readonly index?: number;
  /** MAP, UNMAP, DEVIOTLB_UNMAP. */
  readonly type?: string;
  readonly iova?: bigint;
  readonly mask?: bigint;
  /** NONE, RO, WO, RW. */
  readonly perm?: string;
  /** translated_addr. */
  readonly translated?: bigint;
  /** target_as by name. */
  readonly target?: string;
  /** delivered (default), filtered, out-of-range... */
  readonly outcome?: string;
}

/** One expected event or fault record; every field given must match (others are fields of the record). */
export interface ExpectedEvent {
  readonly iommu?: string;
  readonly type?: string;
  readonly code?: number;
  readonly recorded?: boolean;
  readonly fields?: Readonly<Record<string, bigint | boolean | string>>;
}

export interface ExpectStep extends StepBase {
  readonly kind: 'expect';
  /** An access expectation: from, addr, op (and attrs). */
  readonly from?: string;
  readonly addr?: bigint;
  readonly op?: AccessOp;
  readonly attrs?: MemTxAttrs;
  /** Length of the access (any length) or of the register/memory read. */
  readonly size?: number;
  readonly reaches?: { readonly region: string; readonly offset?: bigint };
  /** true/false, or the fault's reason (permission, unassigned, hop-limit). */
  readonly faults?: boolean | string;
  /** The MemTxResult of the access: MEMTX_OK, MEMTX_ERROR, MEMTX_DECODE_ERROR, MEMTX_ACCESS_ERROR. */
  readonly result?: string;
  /** For a read, the value read; for a register or memory expectation, the value there. */
  readonly value?: bigint;
  /** Compare only these bits of the value. */
  readonly mask?: bigint;
  /** The event records the access made, in order ([] for none). */
  readonly events?: readonly ExpectedEvent[];
  /** A register expectation: iommu and reg (peeked: a read's side effects are not applied). */
  readonly iommu?: string;
  readonly reg?: string | number;
  /** Byte offset inside the register. */
  readonly offset?: number;
  /** A guest-memory expectation: the address space (with addr, size and value). */
  readonly as?: string;
  /** A notification expectation: what the last step that was not an expectation delivered. */
  readonly notifications?: readonly ExpectedNotification[];
  /** exactly (default): these and no others, in order; subset: these in order, others between. */
  readonly match?: 'exactly' | 'subset';
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

/** One piece of a split access (dma.ts), as plain values. */
export interface StepPiece {
  readonly addr: bigint;
  readonly size: number;
  readonly result: MemTxResult;
  readonly value?: bigint;
  readonly region?: string;
  readonly offset?: bigint;
  readonly fault?: { readonly reason: string; readonly message: string };
}

/** An event or fault record a model made during the step. */
export interface StepEvent extends ModelEventRecord {
  readonly iommu: string;
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
  /** The pieces of an access split as QEMU splits it (one for most accesses). */
  readonly pieces?: readonly StepPiece[];
  /** Event or fault records the IOMMUs made during the step. */
  readonly events?: readonly StepEvent[];
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
  /** What the last step that was not an expectation notified (notification expectations check it). */
  private lastNotifications: readonly StepNotification[] = [];

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
    const marks = eventMarks(this.machine);
    const { value: partial, records } = this.machine.collectNotifications(() => runStep(this.machine, step, this.lastNotifications));
    let divergences: StepDivergence[] | undefined;
    if (this.options.checkShadows) divergences = this.shadowCheck(index, step);
    const notifications = records.map(toNotification);
    if (step.kind !== 'expect') this.lastNotifications = notifications;
    const events = eventsSince(this.machine, marks);
    const r: StepResult = { index, step, failures: [], ...partial, notifications, events: events.length ? events : undefined, divergences };
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

/** The bytes an access step writes. */
function stepData(step: { size: number; value?: bigint; fill?: number }): Uint8Array {
  if (step.fill !== undefined) return new Uint8Array(step.size).fill(step.fill & 0xff);
  return valueBytes(step.value ?? 0n, step.size);
}

/** Performs an access of any length as the machine's DMA helpers split it; a vhost back end caches what its device's pieces translated. */
function doAccess(m: Machine, q: { from: string; addr: bigint; op: AccessOp; attrs?: MemTxAttrs; size: number; value?: bigint; fill?: number }): DmaResult | EngineError {
  const r = m.dma({ from: q.from, addr: q.addr, op: q.op, attrs: q.attrs, len: q.size, data: q.op === 'write' ? stepData(q) : undefined });
  if (isEngineError(r)) return r;
  for (const reg of m.registrations) {
    if (reg.owner !== q.from || reg.kind !== 'vhost') continue;
    for (const p of r.pieces) for (const hop of p.landing.hops) if (hop.iommu === reg.region && hop.iommuIdx === reg.iommuIdx) reg.cacheTranslation(hop.addr, hop.entry);
  }
  return r;
}

function pieceViews(r: DmaResult): StepPiece[] {
  return r.pieces.map((p) => ({
    addr: p.addr,
    size: p.len,
    result: p.result,
    value: p.value,
    region: p.landing.region?.name,
    offset: p.landing.region ? p.landing.offset : undefined,
    fault: p.landing.fault ? { reason: p.landing.fault.reason, message: p.landing.fault.message } : undefined,
  }));
}

/** A write that reached a ROM device (RamRegion.romd) says that nothing was written. */
function romdNote(op: AccessOp, r: DmaResult): string {
  return op === 'write' && r.pieces.some((p) => p.landing.region instanceof RamRegion && p.landing.region.romd) ? ` (${ROMD_WRITE_NOTE})` : '';
}

/** The value of a read: the bytes as a little-endian number (the first 8 bytes of a longer read). */
function readValue(r: DmaResult): bigint {
  let v = 0n;
  const d = r.data ?? new Uint8Array();
  for (let i = Math.min(d.length, 8) - 1; i >= 0; i--) v = (v << 8n) | BigInt(d[i]!);
  return v;
}

function whereLanded(p: { readonly landing: Landing }): string {
  return p.landing.region ? `${p.landing.region.name}+${hex(p.landing.offset)}` : 'unassigned';
}

function runStep(m: Machine, step: ScenarioStep, lastNotifications: readonly StepNotification[]): Partial {
  switch (step.kind) {
    case 'write-reg':
    case 'read-reg': {
      const reg = resolveRegister(m, step.iommu, step.reg);
      if (isEngineError(reg)) return fail(reg);
      const attrs = step.attrs ?? DEFAULT_REGISTER_ATTRS;
      const size = step.size ?? reg.width;
      const off = step.offset ?? 0;
      const at = BigInt(reg.offset + off);
      const name = off ? `${reg.name}+${off}` : reg.name;
      const how = `${step.size !== undefined || off ? `${size} bytes, ` : ''}${formatAttrs(attrs)}`;
      if (step.kind === 'write-reg') {
        const result = reg.file.write(at, size, step.value, attrs);
        return { summary: `${step.iommu}.${name} <- ${hex(step.value)} (${how}): ${memTxResultName(result)}`, result };
      }
      const r = reg.file.read(at, size, attrs);
      return { summary: `${step.iommu}.${name} = ${hex(r.value)} (${how}): ${memTxResultName(r.result)}`, value: r.value, result: r.result };
    }
    case 'access': {
      const r = doAccess(m, step);
      if (isEngineError(r)) return fail(r);
      const first = r.pieces[0]!;
      const backingError = r.pieces.find((p) => p.error)?.error;
      const what = step.op === 'read' ? `read ${hex(readValue(r))}` : `wrote ${step.fill !== undefined ? `${step.size} x ${hex(step.fill)}` : hex(step.value ?? 0n)}`;
      const split = r.pieces.length > 1 ? ` in ${r.pieces.length} pieces (${r.pieces.map((p) => `${p.len}@${whereLanded(p)}:${memTxResultName(p.result)}`).join(', ')})` : '';
      return {
        summary: `${step.from} ${step.op} ${step.size} byte(s) at ${hex(step.addr)} -> ${whereLanded(first)}${split}: ${memTxResultName(r.result)}${r.result === 0 ? `, ${what}` : ''}${romdNote(step.op, r)}`,
        value: step.op === 'read' ? readValue(r) : 0n,
        result: r.result,
        landing: first.landing,
        pieces: pieceViews(r),
        error: backingError,
      };
    }
    case 'write-mem':
    case 'read-mem': {
      // A guest-memory access (address_space_rw): split across flat ranges as any access.
      const op = step.kind === 'write-mem' ? 'write' : 'read';
      const r = doAccess(m, { from: step.as, addr: step.addr, op, attrs: MEMTXATTRS_UNSPECIFIED, size: step.size, value: step.kind === 'write-mem' ? step.value : undefined });
      if (isEngineError(r)) return fail(r);
      if (r.result !== 0) {
        const bad = r.pieces.find((p) => p.result !== 0)!;
        const error = bad.error ?? engineError('memory-fault', bad.landing.fault?.message ?? memTxResultName(bad.result));
        return { summary: `${step.kind} ${step.as} ${hex(step.addr)}: ${error.message}`, error, result: r.result, pieces: pieceViews(r) };
      }
      const value = readValue(r);
      return step.kind === 'write-mem'
        ? { summary: `${step.as} ${hex(step.addr)} <- ${hex(step.value)} (${step.size} bytes)${romdNote(op, r)}`, result: r.result, pieces: pieceViews(r) }
        : { summary: `${step.as} ${hex(step.addr)} = ${hex(value)} (${step.size} bytes)`, value, result: r.result, pieces: pieceViews(r) };
    }
    case 'map':
    case 'unmap': {
      const dev = m.iommus.get(step.iommu);
      const direct = dev?.directMappings;
      if (!dev || !direct) {
        return fail(engineError('not-a-table', dev ? `${step.iommu} is a ${dev.model} IOMMU; map/unmap steps need a model whose mappings are written directly (the table model)` : `no IOMMU named "${step.iommu}"`));
      }
      const region = dev.regionFor(undefined);
      const idx = typeof step.index === 'number' ? step.index : indexNamed(region, step.index);
      if (idx < 0) return fail(engineError('unknown-index', `${step.iommu} has no index named "${step.index}"`));
      if (step.kind === 'map') {
        const targetRegion = m.regions.get(step.targetAs);
        const as = m.addressSpaces.get(step.targetAs) ?? (targetRegion ? addressSpaceForRegion(targetRegion) : undefined);
        if (!as) return fail(engineError('unknown-as', `no address space or region named "${step.targetAs}"`));
        const err = direct.map(idx, { iova: step.iova, size: step.size, targetAs: as, target: step.target, perm: step.perm, source: step.source });
        if (err) return fail(err);
        return { summary: `${step.iommu}[${region.indexName(idx)}] map ${hex(step.iova)}+${hex(step.size)} -> ${as.name} ${hex(step.target)} ${permName(step.perm)}` };
      }
      const removed = direct.unmap(idx, step.iova, step.size);
      if (isEngineError(removed)) return fail(removed);
      return { summary: `${step.iommu}[${region.indexName(idx)}] unmap ${hex(step.iova)}+${hex(step.size)}: ${removed} mapping(s) removed` };
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
      return runExpect(m, step, lastNotifications);
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

/** The records count of every model that keeps event records, before a step. */
function eventMarks(m: Machine): Map<string, number> {
  const marks = new Map<string, number>();
  for (const d of m.iommus.values()) if (d.eventRecords) marks.set(d.name, d.eventRecords.total);
  return marks;
}

function eventsSince(m: Machine, marks: Map<string, number>): StepEvent[] {
  const out: StepEvent[] = [];
  for (const d of m.iommus.values()) {
    const log = d.eventRecords;
    if (!log) continue;
    for (const e of log.since(marks.get(d.name) ?? 0)) out.push({ ...e, iommu: d.name });
  }
  return out;
}

function masked(v: bigint, mask: bigint | undefined): bigint {
  return mask === undefined ? v : v & mask;
}

function runExpect(m: Machine, step: ExpectStep, lastNotifications: readonly StepNotification[]): Partial {
  const failures: string[] = [];
  if (step.notifications !== undefined) return expectNotifications(step, lastNotifications);
  if (step.reg !== undefined) {
    if (step.iommu === undefined) return fail(engineError('expect-shape', 'a register expectation names its iommu'));
    const reg = resolveRegister(m, step.iommu, step.reg);
    if (isEngineError(reg)) return fail(reg);
    const off = step.offset ?? 0;
    const size = step.size !== undefined && isAccessSize(step.size) ? step.size : reg.width;
    // Peeked: a read's side effects (TZ MPC BLK_LUT's AUTOINC) are not applied.
    const r = peekRegister(reg.file, BigInt(reg.offset + off), size, step.attrs ?? DEFAULT_REGISTER_ATTRS);
    const name = off ? `${reg.name}+${off}` : reg.name;
    if (step.value !== undefined && masked(r.value, step.mask) !== masked(step.value, step.mask)) {
      failures.push(`${step.iommu}.${name} is ${hex(r.value)}, expected ${hex(step.value)}${step.mask !== undefined ? ` (mask ${hex(step.mask)})` : ''}`);
    }
    if (step.result !== undefined && memTxResultName(r.result) !== step.result) failures.push(`${step.iommu}.${name} read gives ${memTxResultName(r.result)}, expected ${step.result}`);
    const peeked = reg.readSideEffects ? ` (peeked without its read side effect: ${reg.readSideEffects})` : '';
    return { summary: `expect ${step.iommu}.${name} == ${step.value !== undefined ? hex(step.value) : '?'}${peeked}: ${failures.length ? 'FAILED' : 'ok'}`, value: r.value, result: r.result, failures };
  }
  if (step.as !== undefined) return expectMemory(m, step);
  if (step.from === undefined || step.addr === undefined) {
    return fail(engineError('expect-shape', 'an expectation names iommu and reg, as and addr, from and addr, or notifications'));
  }
  const op = step.op ?? 'read';
  // Where an access lands is a translation, without side effects; a value, result or event
  // check performs the access.
  const performs = step.value !== undefined || step.result !== undefined || step.events !== undefined;
  const marks = eventMarks(m);
  const r = m.dma({ from: step.from, addr: step.addr, op, attrs: step.attrs, len: step.size ?? 4, data: op === 'write' ? new Uint8Array(step.size ?? 4) : undefined, probe: !performs });
  if (isEngineError(r)) return fail(r);
  const events = performs ? eventsSince(m, marks) : [];
  const first = r.pieces[0]!;
  const land = first.landing;
  const where = land.region ? `${land.region.name}+${hex(land.offset)}` : `fault (${land.fault?.message ?? memTxResultName(land.result)})`;
  const result = performs ? r.result : r.pieces.reduce((a, p) => a | p.landing.result, 0);
  if (step.faults === true && result === 0) failures.push(`expected a fault, but the ${op} reached ${where}`);
  if (step.faults === false && result !== 0) failures.push(`expected no fault, got ${memTxResultName(result)}: ${land.fault?.message ?? where}`);
  if (typeof step.faults === 'string') {
    const reasons = r.pieces.map((p) => p.landing.fault?.reason).filter((x) => x !== undefined);
    if (!reasons.some((x) => x === step.faults)) failures.push(`expected a ${step.faults} fault, got ${reasons.length ? reasons.join(', ') : `none (reached ${where})`}`);
  }
  if (step.result !== undefined && memTxResultName(result) !== step.result) failures.push(`result ${memTxResultName(result)}, expected ${step.result}`);
  if (step.reaches) {
    if (!land.region || land.region.name !== step.reaches.region) failures.push(`expected to reach ${step.reaches.region}, reached ${where}`);
    else if (step.reaches.offset !== undefined && land.offset !== step.reaches.offset) {
      failures.push(`expected ${step.reaches.region}+${hex(step.reaches.offset)}, reached ${where}`);
    }
  }
  const value = op === 'read' && performs ? readValue(r) : undefined;
  if (step.value !== undefined && value !== undefined && masked(value, step.mask) !== masked(step.value, step.mask)) failures.push(`read ${hex(value)}, expected ${hex(step.value)}`);
  if (step.events !== undefined) failures.push(...matchEvents(step.events, events));
  return {
    summary: `expect ${step.from} ${op}${step.size !== undefined && step.size > 8 ? ` ${step.size} bytes at` : ''} ${hex(step.addr)} -> ${where}${r.pieces.length > 1 ? ` (${r.pieces.length} pieces)` : ''}: ${failures.length ? 'FAILED' : 'ok'}`,
    failures,
    landing: land,
    result,
    value,
    pieces: pieceViews(r),
  };
}

function describeEvent(e: StepEvent): string {
  const f = Object.entries(e.fields)
    .map(([k, v]) => `${k}=${typeof v === 'bigint' ? hex(v) : String(v)}`)
    .join(' ');
  return `${e.iommu} ${e.type}${f ? ` ${f}` : ''} (${e.recorded ? 'recorded' : 'not recorded'})`;
}

function eventMatches(want: ExpectedEvent, got: StepEvent): boolean {
  if (want.iommu !== undefined && want.iommu !== got.iommu) return false;
  if (want.type !== undefined && want.type.toUpperCase() !== got.type.toUpperCase()) return false;
  if (want.code !== undefined && want.code !== got.code) return false;
  if (want.recorded !== undefined && want.recorded !== got.recorded) return false;
  for (const [k, v] of Object.entries(want.fields ?? {})) {
    const have = got.fields[k];
    if (have === undefined) return false;
    if (typeof v === 'bigint' && (typeof have === 'bigint' || typeof have === 'number')) {
      if (BigInt(have) !== v) return false;
    } else if (typeof v === 'string' && typeof have === 'string') {
      if (v.toUpperCase() !== have.toUpperCase()) return false;
    } else if (v !== have) return false;
  }
  return true;
}

function matchEvents(want: readonly ExpectedEvent[], got: readonly StepEvent[]): string[] {
  const list = got.length ? got.map(describeEvent).join('; ') : 'none';
  if (want.length !== got.length) return [`expected ${want.length} event record(s), the access made ${got.length}: ${list}`];
  const out: string[] = [];
  want.forEach((w, i) => {
    if (!eventMatches(w, got[i]!)) out.push(`event ${i + 1} is ${describeEvent(got[i]!)}, expected ${describeExpectedEvent(w)}`);
  });
  return out;
}

function describeExpectedEvent(w: ExpectedEvent): string {
  const parts: string[] = [];
  if (w.iommu !== undefined) parts.push(w.iommu);
  if (w.type !== undefined) parts.push(w.type);
  if (w.code !== undefined) parts.push(`code=${hex(w.code)}`);
  for (const [k, v] of Object.entries(w.fields ?? {})) parts.push(`${k}=${typeof v === 'bigint' ? hex(v) : String(v)}`);
  if (w.recorded !== undefined) parts.push(w.recorded ? '(recorded)' : '(not recorded)');
  return parts.join(' ');
}

/** A guest-memory expectation: the bytes at as:addr, read without side effects (RAM only). */
function expectMemory(m: Machine, step: ExpectStep): Partial {
  const size = step.size ?? 8;
  const r = m.dma({ from: step.as!, addr: step.addr ?? 0n, op: 'read', attrs: MEMTXATTRS_UNSPECIFIED, len: size, probe: true });
  if (isEngineError(r)) return fail(r);
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const p of r.pieces) {
    const region = p.landing.region;
    if (!(region instanceof RamRegion)) {
      return fail(engineError('expect-memory', `${step.as} ${hex(p.addr)} is ${region ? `${region.kind} region ${region.name}` : 'unassigned'}: a memory expectation reads RAM only`));
    }
    for (let i = 0; i < p.len; i++) {
      const v = region.backing.read(p.landing.offset + BigInt(i), 1);
      if (typeof v !== 'bigint') return fail(v);
      bytes[at + i] = Number(v);
    }
    at += p.len;
  }
  let value = 0n;
  for (let i = Math.min(size, 8) - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  const failures: string[] = [];
  if (step.value !== undefined && masked(value, step.mask) !== masked(step.value, step.mask)) failures.push(`${step.as} ${hex(step.addr ?? 0n)} holds ${hex(value)}, expected ${hex(step.value)}`);
  return { summary: `expect ${step.as} ${hex(step.addr ?? 0n)} (${size} bytes) == ${step.value !== undefined ? hex(step.value) : '?'}: ${failures.length ? 'FAILED' : 'ok'}`, value, failures };
}

function notificationMatches(w: ExpectedNotification, n: StepNotification): boolean {
  if (w.notifier !== undefined && w.notifier !== n.notifier) return false;
  if (w.owner !== undefined && w.owner !== n.owner) return false;
  if (w.region !== undefined && w.region !== n.region) return false;
  if (w.index !== undefined && w.index !== n.iommuIdx) return false;
  if (w.type !== undefined && w.type.toUpperCase() !== n.type.toUpperCase()) return false;
  if (w.iova !== undefined && w.iova !== n.entry.iova) return false;
  if (w.mask !== undefined && w.mask !== n.entry.addrMask) return false;
  if (w.perm !== undefined && w.perm.toUpperCase() !== permName(n.entry.perm)) return false;
  if (w.translated !== undefined && w.translated !== n.entry.translatedAddr) return false;
  if (w.target !== undefined && w.target !== (n.entry.targetAs?.name ?? '')) return false;
  return (w.outcome ?? 'delivered') === n.outcome;
}

export function describeNotification(n: StepNotification): string {
  return `${n.notifier} [${n.region} idx ${n.iommuIdx}] ${n.type} iova ${hex(n.entry.iova)} mask ${hex(n.entry.addrMask)} -> ${hex(n.entry.translatedAddr)} ${permName(n.entry.perm)} in ${n.entry.targetAs?.name ?? '(none)'}: ${n.outcome}`;
}

function describeExpectedNotification(w: ExpectedNotification): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(w)) if (v !== undefined) parts.push(`${k}=${typeof v === 'bigint' ? hex(v) : String(v)}`);
  return `{ ${parts.join(', ')} }`;
}

/** Notifications of the last step that was not an expectation, exactly (in order) or as an ordered subset. */
function expectNotifications(step: ExpectStep, last: readonly StepNotification[]): Partial {
  const want = step.notifications!;
  const mode = step.match ?? 'exactly';
  // Only delivered notifications count, unless an expectation names another outcome.
  const wantsOther = want.some((w) => w.outcome !== undefined && w.outcome !== 'delivered');
  const got = wantsOther ? last : last.filter((n) => n.outcome === 'delivered');
  const failures: string[] = [];
  const gotText = got.length ? got.map(describeNotification).join('; ') : 'none';
  if (mode === 'exactly') {
    if (got.length !== want.length) failures.push(`expected ${want.length} notification(s), got ${got.length}: ${gotText}`);
    else want.forEach((w, i) => !notificationMatches(w, got[i]!) && failures.push(`notification ${i + 1} is ${describeNotification(got[i]!)}, expected ${describeExpectedNotification(w)}`));
  } else {
    let j = 0;
    for (const w of want) {
      while (j < got.length && !notificationMatches(w, got[j]!)) j++;
      if (j >= got.length) {
        failures.push(`no notification (after those matched before it) matches ${describeExpectedNotification(w)}; got ${gotText}`);
        break;
      }
      j++;
    }
  }
  return { summary: `expect notifications (${mode}, ${want.length}): ${failures.length ? 'FAILED' : 'ok'}`, failures };
}

/** The index a region names `name`, or -1. */
function indexNamed(region: IOMMUMemoryRegion, name: string): number {
  for (let i = 0; i < region.numIndexes(); i++) if (region.indexName(i) === name) return i;
  return -1;
}
