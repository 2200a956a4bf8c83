/**
 * Scenario steps from the config: each `- kind: { ... }` becomes an engine ScenarioStep whose
 * source id is the step's path, after its references are checked so that a misspelt name is a
 * diagnostic at load time rather than a failure when the step runs.
 */
import { findRegister, hex, TableIommu, type AccessSize, type ExpectedEvent, type ExpectedNotification, type ScenarioStep } from '../engine';
import { list, obj, own, type BuildContext } from './context';
import type { Path } from './document';
import { PERMS } from './models/table';
import { parseConfigNumber } from './numbers';

export function buildScenario(ctx: BuildContext, raw: unknown): ScenarioStep[] {
  const out: ScenarioStep[] = [];
  list(raw).forEach((sraw, i) => {
    const s = obj(sraw);
    const keys = s ? Object.keys(s) : [];
    if (!s || keys.length !== 1) return; // the schema pass reported the shape
    const kind = keys[0]!;
    const path: Path = ['scenario', i, kind];
    const body = obj(s[kind]);
    if (!body) return;
    const step = buildStep(ctx, kind, body, path);
    if (step) out.push(step);
  });
  return out;
}

function size(v: unknown, fallback: AccessSize): AccessSize {
  return v === 1 || v === 2 || v === 4 || v === 8 ? v : fallback;
}

/** Longest access a step may make: a 16 MiB DMA is already a config mistake rather than a test. */
const MAX_ACCESS_LENGTH = 16n << 20n;

/** The length of an access (any length, at most MAX_ACCESS_LENGTH). */
function length(ctx: BuildContext, v: unknown, path: Path, fallback: number): number | undefined {
  if (v === undefined) return fallback;
  const n = ctx.size(v, path, 'an access');
  if (n === undefined) return undefined;
  if (n > MAX_ACCESS_LENGTH) {
    ctx.error('access-length', path, `an access of ${hex(n)} bytes is longer than a scenario step takes (${hex(MAX_ACCESS_LENGTH)})`);
    return undefined;
  }
  return Number(n);
}

/** `offset` inside a register: within its width, and the access must fit. */
function regOffset(ctx: BuildContext, b: Record<string, unknown>, path: Path, r: { iommu: string; reg: string | number }, sz: AccessSize | undefined): number | undefined {
  if (b.offset === undefined) return undefined;
  const dev = ctx.machine.iommus.get(r.iommu);
  const info = dev?.registers ? findRegister(dev.registers, r.reg) : undefined;
  const off = typeof b.offset === 'number' ? b.offset : undefined;
  if (off === undefined || info === undefined) return undefined;
  if (off + (sz ?? 1) > info.width) {
    ctx.error('register-offset', [...path, 'offset'], `${info.name} is ${info.width} bytes wide: ${sz ?? 1} byte(s) at offset ${off} run past it`);
    return undefined;
  }
  return off;
}

const MEMTX = new Set(['MEMTX_OK', 'MEMTX_ERROR', 'MEMTX_DECODE_ERROR', 'MEMTX_ACCESS_ERROR']);

function expectedEvents(ctx: BuildContext, v: unknown, path: Path): ExpectedEvent[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: ExpectedEvent[] = [];
  v.forEach((raw, i) => {
    const e = obj(raw);
    if (!e) return;
    const ep: Path = [...path, i];
    const fields: Record<string, bigint | boolean | string> = {};
    for (const [k, fv] of Object.entries(obj(e.fields) ?? {})) {
      if (typeof fv === 'boolean') fields[k] = fv;
      else if (typeof fv === 'string' && !/^[0-9]/.test(fv)) fields[k] = fv;
      else {
        const n = ctx.num(fv, [...ep, 'fields', k]);
        if (n !== undefined) fields[k] = n;
      }
    }
    const code = ctx.num(e.code, [...ep, 'code'], undefined, 1n << 32n);
    if (e.iommu !== undefined) ctx.iommu(e.iommu, [...ep, 'iommu'], 'for this event');
    out.push({
      iommu: ctx.str(e.iommu),
      type: ctx.str(e.type),
      code: code === undefined ? undefined : Number(code),
      recorded: typeof e.recorded === 'boolean' ? e.recorded : undefined,
      fields: Object.keys(fields).length ? fields : undefined,
    });
  });
  return out;
}

function expectedNotifications(ctx: BuildContext, v: unknown, path: Path): ExpectedNotification[] {
  const out: ExpectedNotification[] = [];
  list(v).forEach((raw, i) => {
    const n = obj(raw);
    if (!n) return;
    const np: Path = [...path, i];
    if (n.notifier !== undefined && typeof n.notifier === 'string') {
      const known = ctx.machine.registrations.some((r) => r.name === n.notifier);
      if (!known) ctx.unknown('notifier', n.notifier, [...np, 'notifier'], 'to have been notified', ctx.machine.registrations.map((r) => r.name));
    }
    if (typeof n.target === 'string' && !ctx.machine.addressSpaces.has(n.target) && ![...ctx.machine.iommus.values()].some((d) => d.internalRegions?.().some((r) => r.name === n.target))) {
      ctx.warn('unknown-reference', [...np, 'target'], `no address space named "${n.target}" in the config (a model's own address space may still match)`);
    }
    out.push({
      notifier: ctx.str(n.notifier),
      owner: ctx.str(n.owner),
      region: ctx.str(n.region),
      index: typeof n.index === 'number' ? n.index : undefined,
      type: ctx.str(n.type),
      iova: ctx.num(n.iova, [...np, 'iova']),
      mask: ctx.num(n.mask, [...np, 'mask']),
      perm: ctx.str(n.perm),
      translated: ctx.num(n.translated, [...np, 'translated']),
      target: ctx.str(n.target),
      outcome: ctx.str(n.outcome),
    });
  });
  return out;
}

function initiator(ctx: BuildContext, v: unknown, path: Path): string | undefined {
  if (typeof v !== 'string') return undefined;
  const m = ctx.machine;
  if (m.devices.has(v)) {
    ctx.references.push({ kind: 'device', name: v, path });
    return v;
  }
  if (m.addressSpaces.has(v)) {
    ctx.references.push({ kind: 'address-space', name: v, path });
    return v;
  }
  ctx.unknown('device or address space', v, path, 'to access from', [...m.devices.keys(), ...m.addressSpaces.keys()]);
  return undefined;
}

function register(ctx: BuildContext, body: Record<string, unknown>, path: Path): { iommu: string; reg: string | number } | undefined {
  const dev = ctx.iommu(body.iommu, [...path, 'iommu'], 'for this step');
  if (!dev) return undefined;
  if (!dev.registers) {
    ctx.error('no-registers', [...path, 'iommu'], `${dev.name} (${dev.model}) has no register file`);
    return undefined;
  }
  // A name or an offset; anything else (a fraction, a negative number) the schema reports.
  const raw = body.reg;
  const offset = typeof raw === 'bigint' || (typeof raw === 'number' && Number.isInteger(raw)) ? BigInt(raw) : undefined;
  if (typeof raw !== 'string' && (offset === undefined || offset < 0n)) return undefined;
  const reg = typeof raw === 'string' ? raw : offset! <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(offset) : undefined;
  if (reg === undefined || !findRegister(dev.registers, reg)) {
    ctx.error(
      'unknown-reference',
      [...path, 'reg'],
      `${dev.model} has no register ${typeof raw === 'string' ? `"${raw}"` : hex(offset!)} (registers: ${dev.registers.registers.map((r) => r.name).join(', ')})`,
    );
    return undefined;
  }
  return { iommu: dev.name, reg };
}

function tableIndex(ctx: BuildContext, body: Record<string, unknown>, path: Path): { iommu: string; index: number } | undefined {
  const dev = ctx.iommu(body.iommu, [...path, 'iommu'], 'for this step');
  if (!dev) return undefined;
  if (!(dev instanceof TableIommu)) {
    ctx.error('wrong-model', [...path, 'iommu'], `${dev.name} is a ${dev.model} IOMMU; map and unmap steps work on the table model`);
    return undefined;
  }
  const r = dev.region;
  const names = r.indexes.map((ix) => ix.name);
  const index = typeof body.index === 'string' ? names.indexOf(body.index) : typeof body.index === 'number' || typeof body.index === 'bigint' ? Number(body.index) : -1;
  if (index < 0 || index >= names.length) {
    ctx.error('unknown-reference', [...path, 'index'], `${dev.name} has no index ${JSON.stringify(typeof body.index === 'bigint' ? Number(body.index) : body.index)} (indexes: ${names.join(', ')})`);
    return undefined;
  }
  return { iommu: dev.name, index };
}

function buildStep(ctx: BuildContext, kind: string, b: Record<string, unknown>, path: Path): ScenarioStep | undefined {
  const source = ctx.id(path);
  const attrs = ctx.attrs(b.attrs, [...path, 'attrs']);
  switch (kind) {
    case 'write-reg':
    case 'read-reg': {
      const r = register(ctx, b, path);
      const value = kind === 'write-reg' ? ctx.num(b.value, [...path, 'value']) : 0n;
      if (!r || value === undefined) return undefined;
      const sz = b.size === undefined ? undefined : size(b.size, 4);
      const offset = regOffset(ctx, b, path, r, sz);
      if (b.offset !== undefined && offset === undefined) return undefined;
      return kind === 'write-reg' ? { kind, source, ...r, value, size: sz, offset, attrs } : { kind, source, ...r, size: sz, offset, attrs };
    }
    case 'access': {
      const from = initiator(ctx, b.from, [...path, 'from']);
      const addr = ctx.num(b.addr, [...path, 'addr']);
      const len = length(ctx, b.size, [...path, 'size'], 4);
      const value = ctx.num(b.value, [...path, 'value'], 0n, len !== undefined && len < 8 ? 1n << BigInt(8 * len) : undefined);
      if (!from || addr === undefined || value === undefined || len === undefined) return undefined;
      const op = b.op === 'write' ? 'write' : 'read';
      if (op === 'read' && b.value !== undefined) ctx.warn('ignored-key', [...path, 'value'], 'a read has no value to write; use expect to check what it reads', 'key');
      if (op === 'read' && b.fill !== undefined) ctx.warn('ignored-key', [...path, 'fill'], 'a read has nothing to fill', 'key');
      if (b.value !== undefined && b.fill !== undefined) ctx.error('entry-shape', [...path, 'fill'], 'a write gives "value" or "fill", not both', 'key');
      if (op === 'write' && len > 8 && b.value !== undefined) ctx.warn('value-width', [...path, 'value'], `a value fills at most 8 bytes; the other ${len - 8} of this ${len}-byte write are zero (use "fill" to set every byte)`);
      const fill = typeof b.fill === 'number' ? b.fill : undefined;
      return { kind, source, from, addr, op, size: len, value, fill, attrs };
    }
    case 'write-mem':
    case 'read-mem': {
      const as = ctx.addressSpace(b.as, [...path, 'as'], 'for this step');
      const addr = ctx.num(b.addr, [...path, 'addr']);
      const bytes = size(b.size, 8);
      const value = kind === 'write-mem' ? ctx.num(b.value, [...path, 'value'], undefined, 1n << BigInt(8 * bytes)) : 0n;
      if (!as || addr === undefined || value === undefined) return undefined;
      return kind === 'write-mem' ? { kind, source, as: as.name, addr, size: bytes, value } : { kind, source, as: as.name, addr, size: bytes };
    }
    case 'map':
    case 'unmap': {
      const t = tableIndex(ctx, b, path);
      const iova = ctx.num(b.iova, [...path, 'iova']);
      const sz = ctx.size(b.size, [...path, 'size'], 'a mapping');
      if (!t || iova === undefined || sz === undefined) return undefined;
      if (kind === 'unmap') return { kind, source, iommu: t.iommu, index: t.index, iova, size: sz };
      const target = ctx.target(b.target, [...path, 'target']);
      const addr = ctx.num(b.addr, [...path, 'addr'], 0n);
      const perm = typeof b.perm === 'string' ? own(PERMS, b.perm) : undefined;
      if (!target || addr === undefined || perm === undefined) return undefined;
      return { kind, source, iommu: t.iommu, index: t.index, iova, size: sz, targetAs: String(b.target), target: addr, perm };
    }
    case 'command': {
      const dev = ctx.iommu(b.iommu, [...path, 'iommu'], 'for this step');
      if (!dev) return undefined;
      if (!dev.issueCommands) {
        ctx.error('wrong-model', [...path, 'iommu'], `${dev.name} is a ${dev.model} IOMMU, which takes no commands`);
        return undefined;
      }
      const fields: Record<string, string | number | bigint | boolean | undefined> = {};
      for (const [k, v] of Object.entries(b)) {
        if (k === 'iommu' || k === 'cmd') continue;
        if (k === 'addr') fields.addr = ctx.num(v, [...path, k]);
        else if (k === 'sid' || k === 'asid' || k === 'vmid') {
          const n = ctx.num(v, [...path, k], undefined, 1n << (k === 'sid' ? 32n : 16n));
          if (n !== undefined) fields[k] = Number(n);
        } else if (k === 'expect-status') continue;
        else if (typeof v === 'bigint') fields[k] = v;
        else if (typeof v === 'string' && parseConfigNumber(v).ok) fields[k] = ctx.num(v, [...path, k]);
        else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') fields[k] = v;
      }
      if (typeof b.cmd !== 'string') return undefined;
      const command = { ...fields, op: b.cmd };
      const bad = dev.checkCommand?.(command);
      if (bad) {
        ctx.error('bad-value', [...path, 'cmd'], `${dev.name}: ${bad.message}`);
        return undefined;
      }
      const expectStatus = typeof b['expect-status'] === 'string' ? b['expect-status'] : undefined;
      return { kind, source, iommu: dev.name, command, expectStatus };
    }
    case 'expect': {
      const shapes = [b.reg !== undefined || b.iommu !== undefined, b.as !== undefined, b.from !== undefined, b.notifications !== undefined].filter(Boolean).length;
      if (shapes > 1) {
        ctx.error('expect-shape', path, 'an expectation is on one thing: a register (iommu, reg), guest memory (as, addr), an access (from, addr) or notifications');
        return undefined;
      }
      const mask = ctx.num(b.mask, [...path, 'mask']);
      const result = typeof b.result === 'string' && MEMTX.has(b.result) ? b.result : undefined;
      if (b.notifications !== undefined) {
        const match = b.match === 'subset' ? 'subset' : 'exactly';
        return { kind, source, notifications: expectedNotifications(ctx, b.notifications, [...path, 'notifications']), match };
      }
      if (b.match !== undefined) ctx.warn('ignored-key', [...path, 'match'], '"match" applies to a notifications expectation', 'key');
      if (b.reg !== undefined || b.iommu !== undefined) {
        const r = register(ctx, b, path);
        const value = ctx.num(b.value, [...path, 'value']);
        if (!r) return undefined;
        const sz = b.size === undefined ? undefined : size(b.size, 4);
        const offset = regOffset(ctx, b, path, r, sz);
        return { kind, source, iommu: r.iommu, reg: r.reg, value, mask, size: sz, offset, result, attrs };
      }
      if (b.as !== undefined) {
        const as = ctx.addressSpace(b.as, [...path, 'as'], 'for this expectation');
        const addr = ctx.num(b.addr, [...path, 'addr']);
        const len = length(ctx, b.size, [...path, 'size'], 8);
        const value = ctx.num(b.value, [...path, 'value']);
        if (b.addr === undefined) ctx.error('missing-key', path, 'a memory expectation needs "addr"', 'key');
        if (!as || addr === undefined || len === undefined) return undefined;
        if (value === undefined) ctx.warn('empty-expect', path, 'this expectation checks nothing: give value', 'key');
        return { kind, source, as: as.name, addr, size: len, value, mask };
      }
      const from = initiator(ctx, b.from, [...path, 'from']);
      const addr = ctx.num(b.addr, [...path, 'addr']);
      if (b.from === undefined || b.addr === undefined) {
        ctx.error('missing-key', path, 'an access expectation needs "from" and "addr"', 'key');
        return undefined;
      }
      const len = length(ctx, b.size, [...path, 'size'], 4);
      if (!from || addr === undefined || len === undefined) return undefined;
      const reaches = obj(b.reaches);
      let reachesOut: { region: string; offset?: bigint } | undefined;
      if (reaches) {
        const region = reachable(ctx, reaches.region, [...path, 'reaches', 'region']);
        const offset = ctx.num(reaches.offset, [...path, 'reaches', 'offset']);
        if (!region) return undefined;
        reachesOut = { region: region.name, offset };
      }
      const events = expectedEvents(ctx, b.events, [...path, 'events']);
      if (reachesOut === undefined && b.faults === undefined && b.value === undefined && result === undefined && events === undefined) {
        ctx.warn('empty-expect', path, 'this expectation checks nothing: give reaches, faults, result, value or events', 'key');
      }
      const value = ctx.num(b.value, [...path, 'value']);
      return {
        kind,
        source,
        from,
        addr,
        op: b.op === 'write' ? 'write' : 'read',
        size: b.size === undefined ? undefined : len,
        attrs,
        reaches: reachesOut,
        faults: typeof b.faults === 'boolean' || typeof b.faults === 'string' ? b.faults : undefined,
        result,
        value,
        mask,
        events,
      };
    }
  }
  return undefined;
}

/** A region an access can land on: a config region, or one a model owns (an MPC's blocked-io). */
function reachable(ctx: BuildContext, v: unknown, path: Path) {
  if (typeof v === 'string') {
    for (const dev of ctx.machine.iommus.values()) {
      const r = dev.internalRegions?.().find((x) => x.name === v);
      if (r) return r;
    }
  }
  return ctx.region(v, path, 'to be reached');
}
