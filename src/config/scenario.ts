/**
 * Scenario steps from the config: each `- kind: { ... }` becomes an engine ScenarioStep whose
 * source id is the step's path, after its references are checked so that a misspelt name is a
 * diagnostic at load time rather than a failure when the step runs.
 */
import { findRegister, hex, TableIommu, type AccessSize, type ScenarioStep } from '../engine';
import { list, obj, type BuildContext } from './context';
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
  const reg = typeof body.reg === 'string' || typeof body.reg === 'number' ? body.reg : typeof body.reg === 'bigint' ? Number(body.reg) : undefined;
  if (reg === undefined) return undefined;
  if (!findRegister(dev.registers, reg)) {
    ctx.error(
      'unknown-reference',
      [...path, 'reg'],
      `${dev.model} has no register ${typeof reg === 'number' ? hex(reg) : `"${reg}"`} (registers: ${dev.registers.registers.map((r) => r.name).join(', ')})`,
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
      return kind === 'write-reg'
        ? { kind, source, ...r, value, size: b.size === undefined ? undefined : size(b.size, 4), attrs }
        : { kind, source, ...r, size: b.size === undefined ? undefined : size(b.size, 4), attrs };
    }
    case 'access': {
      const from = initiator(ctx, b.from, [...path, 'from']);
      const addr = ctx.num(b.addr, [...path, 'addr']);
      const value = ctx.num(b.value, [...path, 'value'], 0n);
      if (!from || addr === undefined || value === undefined) return undefined;
      const op = b.op === 'write' ? 'write' : 'read';
      if (op === 'read' && b.value !== undefined) ctx.warn('ignored-key', [...path, 'value'], 'a read has no value to write; use expect to check what it reads', 'key');
      return { kind, source, from, addr, op, size: size(b.size, 4), value, attrs };
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
      const perm = typeof b.perm === 'string' ? PERMS[b.perm] : undefined;
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
      if (b.reg !== undefined || b.iommu !== undefined) {
        const r = register(ctx, b, path);
        const value = ctx.num(b.value, [...path, 'value']);
        if (!r) return undefined;
        if (b.from !== undefined || b.addr !== undefined) ctx.error('expect-shape', path, 'an expectation is either on a register (iommu, reg, value) or on an access (from, addr)');
        return { kind, source, iommu: r.iommu, reg: r.reg, value, attrs };
      }
      const from = initiator(ctx, b.from, [...path, 'from']);
      const addr = ctx.num(b.addr, [...path, 'addr']);
      if (b.from === undefined || b.addr === undefined) {
        ctx.error('missing-key', path, 'an access expectation needs "from" and "addr"', 'key');
        return undefined;
      }
      if (!from || addr === undefined) return undefined;
      const reaches = obj(b.reaches);
      let reachesOut: { region: string; offset?: bigint } | undefined;
      if (reaches) {
        const region = reachable(ctx, reaches.region, [...path, 'reaches', 'region']);
        const offset = ctx.num(reaches.offset, [...path, 'reaches', 'offset']);
        if (!region) return undefined;
        reachesOut = { region: region.name, offset };
      }
      if (reachesOut === undefined && b.faults === undefined && b.value === undefined) {
        ctx.warn('empty-expect', path, 'this expectation checks nothing: give reaches, faults or value', 'key');
      }
      const value = ctx.num(b.value, [...path, 'value']);
      return {
        kind,
        source,
        from,
        addr,
        op: b.op === 'write' ? 'write' : 'read',
        size: b.size === undefined ? undefined : size(b.size, 4),
        attrs,
        reaches: reachesOut,
        faults: typeof b.faults === 'boolean' ? b.faults : undefined,
        value,
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
