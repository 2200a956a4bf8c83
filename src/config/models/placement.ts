/**
 * Where a model's table builder puts its tables (`build.at`), and where a RAM region sits in the
 * address space the model walks: shared by the models that write real tables into guest RAM.
 */
import { RamRegion, hex, type AddressSpace } from '../../engine';
import { list, obj, own, type BuildContext } from '../context';
import type { Path } from '../document';
import { parseConfigNumber } from '../numbers';

/**
 * Where a table builder writes `tables` ("the SMMU tables"): `ddr+0x1000`, `ddr`, or
 * `{ region: ddr, offset: 0x1000 }`, in a RAM region.
 */
export function parseTablesAt(ctx: BuildContext, v: unknown, path: Path, tables: string): { region: RamRegion; offset: bigint } | undefined {
  let regionName: unknown;
  let offset: bigint | undefined = 0n;
  if (typeof v === 'string') {
    const m = /^\s*([^+\s]+)\s*(?:\+\s*(\S+))?\s*$/.exec(v);
    if (!m) {
      ctx.error('bad-value', path, `"${v}" is not region+offset (for example ddr+0x10_0000)`);
      return undefined;
    }
    regionName = m[1];
    if (m[2] !== undefined) {
      const r = parseConfigNumber(m[2]);
      if (!r.ok) {
        ctx.error(r.code, path, `offset "${m[2]}": ${r.message}`);
        return undefined;
      }
      offset = r.value;
    }
  } else {
    const o = obj(v);
    if (!o) return undefined;
    regionName = o.region;
    offset = ctx.num(o.offset, [...path, 'offset'], 0n);
  }
  const region = ctx.region(regionName, typeof v === 'string' ? path : [...path, 'region'], `to build ${tables} in`);
  if (!region || offset === undefined) return undefined;
  if (!(region instanceof RamRegion)) {
    ctx.error('bad-value', path, `${region.name} is a ${region.kind} region; ${tables} go into RAM`);
    return undefined;
  }
  return { region, offset };
}

/**
 * Where offset 0 of region `name` is in address space `asName`, from the config's address-space
 * entries (the address spaces are filled after the IOMMUs are built): a direct entry, an alias
 * (at - offset) or a container holding it, searched depth-first.
 */
export function placementOf(ctx: BuildContext, name: string, asName: string): bigint | undefined {
  const root = obj(ctx.doc.toJS()) ?? {};
  const memory = obj(root.memory) ?? {};
  const num = (v: unknown) => {
    const r = parseConfigNumber(v);
    return r.ok ? r.value : undefined;
  };
  // Each container is searched once: containers that place each other (reported as a cycle) or
  // place one another many times must not make this exponential.
  const searched = new Set<string>();
  const search = (raws: unknown[], base: bigint, depth: number): bigint | undefined => {
    if (depth > 16) return undefined;
    for (const raw of raws) {
      const e = obj(raw);
      const at = e ? num(e.at) : undefined;
      if (!e || at === undefined) continue;
      if (e.region === name) return base + at;
      if (e.alias === name) {
        const off = e.offset === undefined ? 0n : num(e.offset);
        if (off !== undefined) return base + at - off;
      }
      const target = typeof e.region === 'string' ? obj(own(memory, e.region)) : undefined;
      if (target?.kind === 'container' && !searched.has(e.region as string)) {
        searched.add(e.region as string);
        const found = search(list(target.subregions), base + at, depth + 1);
        if (found !== undefined) return found;
      }
    }
    return undefined;
  };
  return search(list(own(obj(root['address-spaces']) ?? {}, asName)), 0n, 0);
}

/** Where a table builder may write: a RAM region, from `offset` up to `limit`, at `base` in the walk memory. */
export interface TablesArea {
  readonly region: RamRegion;
  readonly offset: bigint;
  readonly limit: bigint;
  /** Where offset 0 of the region is in the walk memory. */
  readonly base: bigint;
}

/**
 * A builder's `at` and `size` (inside `b`, the `build` mapping at `path`) for `name`'s `tables`,
 * checked: the region is RAM, placed in `memory` (so the tables' addresses are known) and the
 * offset inside it.
 */
export function tablesArea(ctx: BuildContext, name: string, b: Record<string, unknown>, path: Path, memory: AddressSpace, tables: string): TablesArea | undefined {
  const at = parseTablesAt(ctx, b.at, [...path, 'at'], tables);
  if (!at) return undefined;
  const base = placementOf(ctx, at.region.name, memory.name);
  if (base === undefined) {
    ctx.error(
      'bad-value',
      [...path, 'at'],
      `${at.region.name} is not placed in ${memory.name} (directly, through an alias or a container), so the tables' addresses in ${name}'s walk memory are unknown`,
    );
    return undefined;
  }
  if (at.offset >= at.region.size) {
    ctx.error('address-range', [...path, 'at'], `offset ${hex(at.offset)} is beyond ${at.region.name} (${hex(at.region.size)} bytes)`);
    return undefined;
  }
  const size = ctx.num(b.size, [...path, 'size']);
  return { region: at.region, offset: at.offset, base, limit: size === undefined ? at.region.size : at.offset + size };
}
