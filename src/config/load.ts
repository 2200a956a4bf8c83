/**
 * Loading a device config: parse with positions, validate against the schema, then build the
 * Machine while checking what a schema cannot (references, overlaps, alignment, what the engine
 * and the models refuse). Every problem is a diagnostic; the loader never throws for bad input,
 * and builds whatever is valid so that views can still show it.
 */
import {
  AddressSpace,
  MAX_FLAT_RANGES,
  MAX_RENDER_DEPTH,
  AliasRegion,
  ContainerRegion,
  HWADDR_MAX,
  IOMMU_NOTIFIER_DEVIOTLB_UNMAP,
  IOMMU_NOTIFIER_MAP,
  IOMMU_NOTIFIER_UNMAP,
  IOMMUMemoryRegion,
  Machine,
  MmioRegion,
  RamRegion,
  SparseMemory,
  hex,
  register,
  vfioRegistrations,
  vhostRegistrations,
  type Device,
  type DeviceKind,
  type MemoryRegion,
  type QemuSemantics,
  type Registration,
  type ScenarioStep,
} from '../engine';
import { BuildContext, entries, list, obj, own } from './context';
import { compareDiagnostics, type Diagnostic, type Range } from './diagnostics';
import { ConfigDocument, idToPath, pathWith, type Path } from './document';
import { IOMMU_BUILDERS } from './models';
import { buildScenario } from './scenario';
import { validateSchema } from './validate';
// Memory images (issue 5): pure modules (no Node built-ins); the file access is the caller's hook.
import { engineError, isEngineError, type EngineError, type MemoryBacking } from '../engine';
import type { ByteSource } from '../engine/images/byte-source';
import { openImageBacking } from '../engine/images/image-backing';

export interface LoadedConfig {
  readonly file: string;
  readonly document: ConfigDocument;
  /** Sorted by position. */
  readonly diagnostics: readonly Diagnostic[];
  /** What was valid, built. */
  readonly machine: Machine;
  readonly scenario: readonly ScenarioStep[];
  /** Where each named thing is defined: `kind:name` -> path. */
  readonly definitions: ReadonlyMap<string, Path>;
  readonly references: BuildContext['references'];
  /** The config range a source id (from a trace step, a registration, a step) refers to. */
  rangeOf(id: string): Range;
  readonly errorCount: number;
  readonly warningCount: number;
}

export interface LoadOptions {
  /** Overrides the file's `qemu-semantics`. */
  readonly semantics?: QemuSemantics;
  /**
   * Opens a RAM region's `image:` file, `path` as the config wrote it, relative to the config file
   * `relativeTo` (the CLI passes src/node/images.ts's openImageFile). Without it images are not
   * read: an info diagnostic, and the region reads as zeros. May throw; that is reported.
   */
  readonly openImage?: (path: string, relativeTo: string) => ByteSource | EngineError;
  /** `yaml` reads a plain JSON file through the `yaml` package too (tests compare it with the fast route). */
  readonly parser?: 'fast' | 'yaml';
}

const AS_SIZE = 1n << 64n;

export function loadConfig(file: string, text: string, opts: LoadOptions = {}): LoadedConfig {
  try {
    return loadChecked(file, text, opts);
  } catch (e) {
    return failedLoad(file, text, e);
  }
}

/**
 * What a load that failed on a bug of ours gives: the file with one `internal-error` diagnostic
 * at its start and nothing built, so that callers (the extension's other configs above all) carry on.
 */
export function failedLoad(file: string, text: string, e: unknown): LoadedConfig {
  let cd: ConfigDocument;
  try {
    cd = new ConfigDocument(file, text);
  } catch {
    cd = new ConfigDocument(file, '');
  }
  const why = (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 200);
  const d: Diagnostic = {
    file,
    range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
    severity: 'error',
    code: 'internal-error',
    message: `IOMMU Lens failed while loading this file (internal error: ${why})`,
  };
  return {
    file,
    document: cd,
    diagnostics: [d],
    machine: new Machine(file, { semantics: 'current' }),
    scenario: [],
    definitions: new Map(),
    references: [],
    rangeOf: () => d.range,
    errorCount: 1,
    warningCount: 0,
  };
}

function loadChecked(file: string, text: string, opts: LoadOptions): LoadedConfig {
  const cd = new ConfigDocument(file, text, opts.parser);
  const value = cd.parseDiagnostics.some((d) => d.severity === 'error') && cd.doc.contents === null ? undefined : cd.toJS();
  const root = obj(value) ?? {};
  const semantics: QemuSemantics = opts.semantics ?? (root['qemu-semantics'] === '5.2-9.x' ? '5.2-9.x' : 'current');
  const machine = new Machine(typeof root.name === 'string' ? root.name : file, { semantics, failedPieces: root['dma-split'] === 'qemu-7.2' ? 4 : 'page' });
  const ctx = new BuildContext(cd, machine);
  ctx.diagnostics.push(...cd.parseDiagnostics);
  let scenario: ScenarioStep[] = [];
  let schemaDiagnostics: Diagnostic[] = [];
  try {
    if (value === undefined || value === null) {
      if (!cd.parseDiagnostics.length) ctx.error('empty-config', [], 'the file is empty; a config starts with `iommu-lens: 1`');
    } else if (!obj(value)) {
      ctx.error('wrong-type', [], 'a config is a mapping of keys (iommu-lens, memory, iommus, address-spaces, devices, notifiers, scenario)');
    } else {
      schemaDiagnostics = validateSchema(cd, value);
      build(ctx, root, opts);
      ctx.rankPlacementFixes();
      scenario = buildScenario(ctx, root.scenario);
    }
  } catch (e) {
    // A bug of ours, not the user's: still a diagnostic, never an exception at the caller.
    ctx.error('internal-error', [], `IOMMU Lens failed while loading this file: ${e instanceof Error ? e.message : String(e)}`);
  }
  ctx.diagnostics.push(...schemaDiagnostics.filter((d) => !restated(d, ctx.diagnostics)));
  const diagnostics = ctx.diagnostics.sort(compareDiagnostics);
  return {
    file,
    document: cd,
    diagnostics,
    machine,
    scenario,
    definitions: ctx.definitions,
    references: ctx.references,
    rangeOf: (id) => {
      // A mapping or list is shown by its key line (`mpc0:`), a scalar by its value.
      const path = idToPath(id);
      const kind = cd.kindAt(path);
      return (kind === 'map' || kind === 'seq') && cd.hasKey(path) ? cd.rangeOf(path, 'key') : cd.rangeOf(path);
    },
    errorCount: diagnostics.filter((d) => d.severity === 'error').length,
    warningCount: diagnostics.filter((d) => d.severity === 'warning').length,
  };
}

/**
 * A value the schema calls malformed (`size: 4KB`, a bdf of device 0x20) is also refused by the
 * builder that reads it, at the same range and with a more specific message; and a YAML error
 * (an alias without its anchor) makes the value there wrong too: one problem, one diagnostic.
 */
const VALUE_CODES = new Set(['wrong-type', 'bad-value', 'bad-number', 'number-range', 'parse-error']);
function restated(d: Diagnostic, built: readonly Diagnostic[]): boolean {
  if (d.code !== 'wrong-type' && d.code !== 'bad-value') return false;
  const same = (a: Range, b: Range) =>
    a.start.line === b.start.line && a.start.character === b.start.character && a.end.line === b.end.line && a.end.character === b.end.character;
  return built.some((b) => VALUE_CODES.has(b.code) && same(b.range, d.range));
}

function build(ctx: BuildContext, root: Record<string, unknown>, opts: LoadOptions): void {
  const m = ctx.machine;
  // Leaf regions first, then empty address spaces (IOMMU targets may name them), then IOMMUs,
  // then what places regions (containers and address-space entries), then who uses them.
  const containers: Array<[string, Record<string, unknown>, Path]> = [];
  for (const [name, raw] of entries(root.memory)) {
    const path: Path = ['memory', name];
    const spec = obj(raw);
    if (!spec) continue;
    ctx.define('region', name, path);
    const size = ctx.size(spec.size, [...path, 'size'], `region ${name}`);
    if (size === undefined) continue;
    let region: MemoryRegion | undefined;
    if (spec.kind === 'ram') region = buildRam(ctx, name, size, spec, path, opts);
    else if (spec.kind === 'mmio') {
      const mmio = new MmioRegion(name, size);
      if (spec['reads-as'] !== undefined) mmio.readsAs = ctx.num(spec['reads-as'], [...path, 'reads-as'], 0n, 1n << 64n) ?? 0n;
      region = mmio;
    }
    else if (spec.kind === 'container') {
      region = new ContainerRegion(name, size);
      containers.push([name, spec, path]);
    }
    if (region) {
      region.source = ctx.id(path);
      m.regions.set(name, region);
    }
  }

  for (const [name] of entries(root['address-spaces'])) {
    const path: Path = ['address-spaces', name];
    ctx.define('address-space', name, path);
    if (m.regions.has(name)) ctx.warn('name-clash', path, `"${name}" names both a region and an address space; a mapping target of that name means the address space`, 'key');
    const as = new AddressSpace(name, new ContainerRegion(`${name}-root`, AS_SIZE));
    as.source = ctx.id(path);
    m.addressSpaces.set(name, as);
  }
  m.systemAs = m.addressSpaces.get('system');

  for (const [name, raw] of entries(root.iommus)) {
    const path: Path = ['iommus', name];
    const spec = obj(raw);
    if (!spec) continue;
    ctx.define('iommu', name, path);
    if (m.regions.has(name)) {
      ctx.error('duplicate-name', path, `"${name}" is already a memory region; IOMMUs and regions share one namespace`, 'key');
      continue;
    }
    const builder = typeof spec.model === 'string' ? own(IOMMU_BUILDERS, spec.model) : undefined;
    if (!builder) continue; // the schema pass reported the model
    const dev = builder(ctx, name, spec, path);
    if (dev) m.addIommu(dev);
  }

  for (const [name, spec, path] of containers) {
    placeEntries(ctx, m.regions.get(name)!, list(spec.subregions), [...path, 'subregions']);
  }
  for (const [name, raw] of entries(root['address-spaces'])) {
    placeEntries(ctx, m.addressSpaces.get(name)!.root, list(raw), ['address-spaces', name]);
  }
  for (const [name, raw] of entries(root.iommus)) {
    const regs = obj(obj(raw)?.registers);
    const dev = m.iommus.get(name);
    if (!regs || !dev) continue;
    const path: Path = ['iommus', name, 'registers'];
    const as = ctx.addressSpace(regs.as, [...path, 'as'], `for ${name}'s registers`);
    const at = ctx.num(regs.at, [...path, 'at']);
    if (!as || at === undefined) continue;
    if (!dev.registerRegion) {
      ctx.error('no-registers', path, `${name} (${dev.model}) has no register block to map`);
      continue;
    }
    dev.registerRegion.source = ctx.id(path);
    as.root.addSubregion(dev.registerRegion, at, 0, ctx.id(path));
  }

  reportContainmentCycles(ctx);
  reportWalkLoops(ctx);
  buildDevices(ctx, root.devices);
  reportMachineDone(ctx);
  buildNotifiers(ctx, root.notifiers);
  reportTruncatedViews(ctx);
}

/**
 * Containers (and aliases) that hold themselves through each other: QEMU would recurse for ever
 * rendering them. Each cycle is reported once, at the entry that closes it; the flat view draws
 * what the cycle holds once. Depth-first with an explicit stack (chains can be long).
 */
function reportContainmentCycles(ctx: BuildContext): void {
  const state = new Map<MemoryRegion, 1 | 2>(); // 1: on the current path, 2: done
  // A region's edges: an alias's target, or its subregions (read by index, nothing copied).
  const edgeCount = (r: MemoryRegion): number => (r instanceof AliasRegion ? 1 : r.subregions.length);
  const edge = (r: MemoryRegion, i: number): { to: MemoryRegion; source?: string } => (r instanceof AliasRegion ? { to: r.target, source: r.source } : { to: r.subregions[i]!.region, source: r.subregions[i]!.source });
  const roots: MemoryRegion[] = [...ctx.machine.regions.values(), ...[...ctx.machine.addressSpaces.values()].map((as) => as.root)];
  for (const root of roots) {
    if (state.has(root)) continue;
    // A region with nothing inside closes no cycle: done at once (most regions of a large config).
    if (edgeCount(root) === 0) {
      state.set(root, 2);
      continue;
    }
    const stack: Array<{ r: MemoryRegion; next: number }> = [{ r: root, next: 0 }];
    const onPath: MemoryRegion[] = [root];
    state.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      if (top.next >= edgeCount(top.r)) {
        state.set(top.r, 2);
        stack.pop();
        onPath.pop();
        continue;
      }
      const e = edge(top.r, top.next++);
      const st = state.get(e.to);
      if (st === 1) {
        const from = onPath.indexOf(e.to);
        const names = [...onPath.slice(from), e.to].map((r) => r.name.replace(/-root$/, ''));
        const at = e.source ? idToPath(e.source) : [];
        ctx.error('entry-cycle', at.length ? [...at, e.source && top.r instanceof AliasRegion ? 'alias' : 'region'] : at, `${e.to.name} is placed inside itself: ${names.join(' -> ')} (QEMU would recurse for ever drawing it)`);
      } else if (st === undefined) {
        if (edgeCount(e.to) === 0) {
          state.set(e.to, 2);
          continue;
        }
        state.set(e.to, 1);
        onPath.push(e.to);
        stack.push({ r: e.to, next: 0 });
      }
    }
  }
}

/**
 * An IOMMU whose walk memory (where it reads its tables) holds the IOMMU itself: every table read
 * would be translated by the same IOMMU, which reads its tables again. Reported here where it is
 * plain from the config; loops that depend on the tables' contents fault when translated.
 */
function reportWalkLoops(ctx: BuildContext): void {
  for (const [name, dev] of ctx.machine.iommus) {
    const walk = (dev as { memory?: unknown }).memory;
    if (!(walk instanceof AddressSpace)) continue;
    const own = new Set<MemoryRegion>(dev.regions());
    const hit = walk.flatView().find((r) => own.has(r.region));
    if (!hit) continue;
    ctx.error(
      'translation-loop',
      ['iommus', name, 'walk-memory'],
      `${name} reads its tables from ${walk.name}, which places ${name} itself at ${hex(hit.start)}: every table read would be translated by ${name} again (QEMU would recurse for ever)`,
    );
  }
}

/** A flat view that hit a bound (containers placing each other many times over). */
function reportTruncatedViews(ctx: BuildContext): void {
  for (const [name, as] of ctx.machine.addressSpaces) {
    // Leaves placed directly cannot pass a bound: no need to draw the view now (views draw it when shown).
    const subs = as.root.subregions;
    if (subs.length <= MAX_FLAT_RANGES && subs.every((s) => s.region.kind !== 'container' && s.region.kind !== 'alias')) continue;
    const { truncated } = as.renderProblems();
    if (!truncated) continue;
    const why =
      truncated === 'ranges'
        ? `more than ${MAX_FLAT_RANGES} ranges`
        : truncated === 'depth'
          ? `regions nested more than ${MAX_RENDER_DEPTH} deep`
          : 'more work than IOMMU Lens allows for one address space';
    ctx.error('view-too-large', ['address-spaces', name], `the flat view of ${name} needs ${why} (containers that place each other many times over?); it is shown only in part`, 'key');
  }
}

function buildRam(ctx: BuildContext, name: string, size: bigint, spec: Record<string, unknown>, path: Path, opts: LoadOptions): RamRegion {
  const mem: MemoryBacking = imageBacking(ctx, name, size, spec, path, opts) ?? new SparseMemory(size, name);
  list(spec.contents).forEach((raw, i) => {
    const w = obj(raw);
    if (!w) return;
    const wp: Path = [...path, 'contents', i];
    if (w.bytes !== undefined) {
      contentBytes(ctx, mem, w, wp);
      return;
    }
    if (w.fill !== undefined) {
      contentFill(ctx, mem, w, wp);
      return;
    }
    const at = ctx.num(w.at, [...wp, 'at']);
    if (w.size !== undefined && w.size !== 1 && w.size !== 2 && w.size !== 4 && w.size !== 8) {
      ctx.error('bad-value', [...wp, 'size'], 'a value is 1, 2, 4 or 8 bytes; use "fill" for a longer range');
      return;
    }
    const bytes = w.size === 1 || w.size === 2 || w.size === 4 ? w.size : 8;
    if (w.value === undefined) {
      ctx.error('missing-key', wp, 'an initial-contents entry needs "value" (a word at "at"), "bytes" (bytes from "at" on) or "fill" (with "size")');
      return;
    }
    const value = ctx.num(w.value, [...wp, 'value'], undefined, 1n << BigInt(8 * bytes));
    if (at === undefined || value === undefined) return;
    const err = mem.write(at, bytes, value);
    if (err) ctx.error('address-range', [...wp, 'at'], `initial contents: ${err.message}`);
  });
  const region = new RamRegion(name, size, mem);
  region.rom = spec.rom === true;
  if (spec.romd === true) {
    if (region.rom) ctx.error('entry-shape', [...path, 'romd'], `${name} is a ROM ("rom") or a ROM device ("romd"), not both: a ROM refuses writes, a ROM device takes them`, 'key');
    else region.romd = true;
  }
  return region;
}

/** `contents: [{ at, size, fill }]`: `size` bytes from `at` on, each `fill` (zeroing or patterning a range without splitting the region). */
function contentFill(ctx: BuildContext, mem: MemoryBacking, w: Record<string, unknown>, wp: Path): void {
  for (const k of ['value', 'bytes'] as const) {
    if (w[k] !== undefined) ctx.error('entry-shape', [...wp, k], `an initial-contents entry gives one of "value", "bytes" or "fill"; "${k}" goes with none other`, 'key');
  }
  if (w.size === undefined) {
    ctx.error('missing-key', wp, 'a "fill" entry needs "size" (how many bytes to fill)');
    return;
  }
  const at = ctx.num(w.at, [...wp, 'at']);
  const fill = ctx.num(w.fill, [...wp, 'fill'], undefined, 256n);
  const size = ctx.size(w.size, [...wp, 'size'], 'a fill');
  if (at === undefined || fill === undefined || size === undefined) return;
  if (at + size > mem.size) {
    ctx.error('address-range', [...wp, 'size'], `initial contents: ${hex(size)} byte(s) at offset ${hex(at)} run past the end of the region (${hex(mem.size)} bytes)`);
    return;
  }
  // Eight bytes at a time (a fill may overwrite an earlier one, so zeros are written too).
  const word = BigInt.asUintN(64, fill * 0x0101010101010101n);
  let off = at;
  const end = at + size;
  while (off < end) {
    const n = end - off >= 8n && off % 8n === 0n ? 8 : 1;
    const err = mem.write(off, n, n === 8 ? word : fill);
    if (err) {
      ctx.error('address-range', [...wp, 'at'], `initial contents: ${err.message}`);
      return;
    }
    off += BigInt(n);
  }
}

// ---- memory images and byte contents (issue 5)

/** `contents: [{ at, bytes: [0x12, 0x34] }]` or `bytes: "12 34"`. */
function contentBytes(ctx: BuildContext, mem: MemoryBacking, w: Record<string, unknown>, wp: Path): void {
  if (w.value !== undefined || w.size !== undefined) {
    ctx.error('entry-shape', [...wp, 'bytes'], 'an initial-contents entry gives either "value" (with "size") or "bytes", not both', 'key');
    return;
  }
  const at = ctx.num(w.at, [...wp, 'at']);
  const data: number[] = [];
  if (typeof w.bytes === 'string') {
    const digits = w.bytes.replace(/[\s_]/g, '');
    if (!/^([0-9a-fA-F]{2})*$/.test(digits)) {
      ctx.error('bad-value', [...wp, 'bytes'], 'bytes as a string are pairs of hex digits, optionally separated by spaces or _ (such as "de ad be ef")');
      return;
    }
    for (let i = 0; i < digits.length; i += 2) data.push(parseInt(digits.slice(i, i + 2), 16));
  } else if (Array.isArray(w.bytes)) {
    let ok = true;
    w.bytes.forEach((b, j) => {
      const v = ctx.num(b, [...wp, 'bytes', j], undefined, 256n);
      if (v === undefined) ok = false;
      else data.push(Number(v));
    });
    if (!ok) return;
  } else return; // the schema pass reported the type
  if (at === undefined) return;
  if (at + BigInt(data.length) > mem.size) {
    ctx.error('address-range', [...wp, 'at'], `initial contents: ${data.length} byte(s) at offset ${hex(at)} run past the end of the region (${hex(mem.size)} bytes)`);
    return;
  }
  for (let j = 0; j < data.length; j++) {
    const err = mem.write(at + BigInt(j), 1, BigInt(data[j]!));
    if (err) {
      ctx.error('address-range', [...wp, 'at'], `initial contents: ${err.message}`);
      return;
    }
  }
}

/**
 * A RAM region's `image:`, through the caller's openImage hook. Undefined (the region reads as
 * zeros) when there is no hook or the image cannot be used; every problem is a diagnostic at the
 * key it is about, and nothing the hook or the file does escapes as an exception.
 */
function imageBacking(ctx: BuildContext, name: string, size: bigint, spec: Record<string, unknown>, path: Path, opts: LoadOptions): MemoryBacking | undefined {
  const image = obj(spec.image);
  if (!image) return undefined; // absent, or the schema pass reported its type
  const ip: Path = [...path, 'image'];
  const file = ctx.str(image.file);
  const format = image.format === 'raw' || image.format === 'elf-core' ? image.format : undefined;
  const offset = ctx.num(image.offset, [...ip, 'offset'], undefined);
  const slice = image.size === undefined ? undefined : ctx.size(image.size, [...ip, 'size'], 'an image slice');
  if (file === undefined || format === undefined || (image.offset !== undefined && offset === undefined) || (image.size !== undefined && slice === undefined)) return undefined; // reported by the schema or ctx.num
  if (!opts.openImage) {
    ctx.report('info', 'image-not-read', ip, `images are not read here: ${file} is not loaded, and ${name} reads as zeros`, 'key');
    return undefined;
  }
  let source: ByteSource | EngineError;
  try {
    source = opts.openImage(file, ctx.doc.file);
  } catch (e) {
    source = engineError('image-open', `cannot open ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (isEngineError(source)) {
    ctx.error('image-error', [...ip, 'file'], `${source.message}; ${name} reads as zeros`);
    return undefined;
  }
  const opened = openImageBacking(source, { file, format, offset, size: slice }, size, name);
  for (const p of opened.problems) {
    const at: Path =
      p.at === 'image' ? ip : p.at === 'offset' && image.offset !== undefined ? [...ip, 'offset'] : p.at === 'size' && image.size !== undefined ? [...ip, 'size'] : [...ip, 'file'];
    ctx.report(p.severity, p.code, at, p.message, p.at === 'image' ? 'key' : 'value');
  }
  return opened.backing;
}

/** Address-space entries (and container subregions): region or alias at an address, priority. */
function placeEntries(ctx: BuildContext, parent: MemoryRegion, raws: unknown[], path: Path): void {
  interface Placed {
    start: bigint;
    end: bigint;
    priority: number;
    path: Path;
    name: string;
    /** Its place in `placed` (file order). */
    index: number;
  }
  const placed: Placed[] = [];
  const listId = ctx.id(path);
  const idOf = (i: number) => (path.length ? `${listId}/${i}` : `/${i}`);
  raws.forEach((raw, i) => {
    const ep = pathWith(path, i);
    const e = obj(raw);
    if (!e) return;
    const at = ctx.numAt(e.at, ep, 'at');
    const priority = typeof e.priority === 'number' ? e.priority : 0;
    if (e.region !== undefined && e.alias !== undefined) {
      ctx.error('entry-shape', ep, 'an entry places either a region or an alias, not both');
      return;
    }
    if (e.region === undefined && e.alias === undefined) {
      ctx.error('missing-key', ep, 'an entry needs "region" (a region or IOMMU to place) or "alias" (a region to alias into)');
      return;
    }
    let placedRegion: MemoryRegion | undefined;
    let name: string;
    if (e.region !== undefined) {
      for (const k of ['offset', 'size'] as const) {
        if (e[k] !== undefined) ctx.warn('ignored-key', [...ep, k], `"${k}" applies only to an alias; a region entry uses the region's own size`, 'key');
      }
      placedRegion = ctx.region(e.region, pathWith(ep, 'region'), 'to place here');
      // (JSON.stringify throws on a bigint: `region: 18446744073709552000` is a number too large for a double.)
      name = typeof e.region === 'string' ? e.region : typeof e.region === 'bigint' ? String(e.region) : JSON.stringify(e.region);
      if (placedRegion && placedRegion === parent) {
        ctx.error('entry-cycle', [...ep, 'region'], `${name} cannot contain itself`);
        return;
      }
    } else {
      const target = ctx.region(e.alias, [...ep, 'alias'], 'to alias into');
      name = String(e.alias);
      const offset = ctx.num(e.offset, [...ep, 'offset'], 0n);
      if (!target || offset === undefined) return;
      if (offset >= target.size) {
        ctx.error('alias-range', [...ep, 'offset'], `alias offset ${hex(offset)} is past the end of ${target.name} (size ${hex(target.size)})`);
        return;
      }
      const size = e.size === undefined ? target.size - offset : ctx.size(e.size, [...ep, 'size'], 'an alias');
      if (size === undefined) return;
      if (offset + size > target.size) {
        ctx.error(
          'alias-range',
          [...ep, 'size'],
          `alias of ${hex(size)} bytes at offset ${hex(offset)} runs past the end of ${target.name} (size ${hex(target.size)}) by ${hex(offset + size - target.size)}`,
        );
        return;
      }
      placedRegion = new AliasRegion(`${target.name}@${hex(offset)}`, size, target, offset);
      placedRegion.source = idOf(i);
    }
    if (!placedRegion || at === undefined) return;
    const end = at + placedRegion.size;
    if (end > parent.size) {
      const what = parent.size === AS_SIZE ? 'the 64-bit address space' : `${parent.name} (size ${hex(parent.size)})`;
      ctx.error('address-range', [...ep, 'at'], `${name} at ${hex(at)} with size ${hex(placedRegion.size)} runs past the end of ${what}`);
      return;
    }
    placed.push({ start: at, end, priority, path: ep, name, index: placed.length });
    parent.addSubregion(placedRegion, at, priority, idOf(i));
  });
  reportOverlaps(ctx, placed);
}

/**
 * Entries at the same priority that overlap: QEMU resolves them (the later one wins), but it is
 * almost always a mistake. Sorted by address, each entry is compared with the one reaching
 * furthest before it, so n entries cost n log n, not n².
 */
function reportOverlaps(ctx: BuildContext, placed: ReadonlyArray<{ start: bigint; end: bigint; priority: number; path: Path; name: string; index: number }>): void {
  const order = placed.slice().sort((a, b) => a.priority - b.priority || (a.start < b.start ? -1 : a.start > b.start ? 1 : a.index - b.index));
  let reach: (typeof order)[number] | undefined;
  for (const e of order) {
    if (reach && reach.priority === e.priority && e.start < reach.end) {
      // Report on whichever of the two comes later in the file: that is the entry that wins.
      const [first, later] = reach.index < e.index ? [reach, e] : [e, reach];
      ctx.warn(
        'overlap',
        [...later.path, 'at'],
        `${later.name} [${hex(later.start)}, ${hex(later.end - 1n)}] overlaps ${first.name} [${hex(first.start)}, ${hex(first.end - 1n)}] at the same priority ${e.priority}; QEMU lets the later entry win (give one a higher priority)`,
      );
    }
    if (!reach || reach.priority !== e.priority || e.end > reach.end) reach = e;
  }
}

/** bus:dev.fn -> requester ID. */
export function bdfToRequesterId(bdf: string): number | undefined {
  const m = /^([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])$/i.exec(bdf);
  if (!m) return undefined;
  const dev = parseInt(m[2]!, 16);
  if (dev > 31) return undefined;
  return (parseInt(m[1]!, 16) << 8) | (dev << 3) | parseInt(m[3]!, 10);
}

function buildDevices(ctx: BuildContext, raw: unknown): void {
  const m = ctx.machine;
  for (const [name, draw] of entries(raw)) {
    const path: Path = ['devices', name];
    const spec = obj(draw);
    if (!spec) continue;
    ctx.define('device', name, path);
    if (m.addressSpaces.has(name)) ctx.warn('name-clash', path, `"${name}" names both a device and an address space; queries from "${name}" use the device`, 'key');
    let requesterId: number | undefined;
    if (typeof spec.bdf === 'string') {
      requesterId = bdfToRequesterId(spec.bdf);
      if (requesterId === undefined) ctx.error('bad-value', [...path, 'bdf'], `"${spec.bdf}" is not a PCI bus:device.function (device 0..1f, function 0..7)`);
    }
    const attrs = ctx.attrs(spec.attrs, [...path, 'attrs']) ?? {};
    if (attrs.requesterId !== undefined && requesterId !== undefined && attrs.requesterId !== requesterId) {
      ctx.warn('requester-id', [...path, 'attrs', 'requester-id'], `requester-id ${hex(attrs.requesterId)} differs from bdf ${String(spec.bdf)} (${hex(requesterId)}); transactions carry ${hex(attrs.requesterId)}`);
    }
    const rid = attrs.requesterId ?? requesterId;
    const kind: DeviceKind = typeof spec.kind === 'string' ? (spec.kind as DeviceKind) : spec.iommu !== undefined ? 'pci' : 'initiator';
    if (spec.as !== undefined && spec.iommu !== undefined) {
      ctx.error('device-conflict', [...path, 'iommu'], `give "as" (an address space) or "iommu" (the IOMMU in front of its DMA), not both`, 'key');
      continue;
    }
    if (spec.as === undefined && spec.iommu === undefined) {
      ctx.error('missing-key', path, `device ${name} needs "as" (the address space it accesses) or "iommu" (the IOMMU its DMA goes through)`, 'key');
      continue;
    }
    let as: AddressSpace | undefined;
    const iommu = spec.iommu !== undefined ? ctx.iommu(spec.iommu, [...path, 'iommu'], `for device ${name}`) : undefined;
    if (spec.iommu !== undefined) {
      if (!iommu) continue;
      as = m.dmaAddressSpace(iommu, rid, attrs.pasid);
    } else {
      as = ctx.addressSpace(spec.as, [...path, 'as'], `for device ${name}`);
      if (!as) continue;
    }
    const device: Device = {
      name,
      kind,
      as,
      attrs: rid !== undefined && attrs.requesterId === undefined && !attrs.unspecified ? { ...attrs, requesterId: rid } : attrs,
      bdf: typeof spec.bdf === 'string' ? spec.bdf : undefined,
      requesterId: rid,
      iommu,
      deviceIotlb: spec['device-iotlb'] === true,
      source: ctx.id(path),
    };
    m.devices.set(name, device);
    if (kind === 'vfio-pci' || kind === 'vhost') backEndRegistrations(ctx, device, path);
  }
}

/** Each IOMMU's machine-done checks over the machine's devices, as warnings on the device QEMU names. */
function reportMachineDone(ctx: BuildContext): void {
  const devices = [...ctx.machine.devices.values()];
  for (const dev of ctx.machine.iommus.values()) {
    for (const f of dev.machineDone?.(devices) ?? []) ctx.warn('machine-done', ['devices', f.device], f.message, 'key');
  }
}

function backEndRegistrations(ctx: BuildContext, d: Device, path: Path): void {
  const m = ctx.machine;
  const regs =
    d.kind === 'vfio-pci' ? vfioRegistrations(d.name, d.as, m.systemAs, ctx.id(path)) : vhostRegistrations(d.name, d.as, d.deviceIotlb === true, ctx.id(path));
  if (regs.length === 0) {
    ctx.report('info', 'no-iommu', path, `${d.name}: no IOMMU region in ${d.as.name}; ${d.kind === 'vfio-pci' ? 'vfio maps its RAM directly' : 'vhost needs no IOTLB'}, no notifier is registered`, 'key');
  }
  for (const r of regs) {
    reportRegistration(ctx, r, [...path, 'kind'], path);
    m.addRegistrations([r]);
  }
}

function reportRegistration(ctx: BuildContext, r: Registration, at: Path, fallback: Path, replayAt?: Path): void {
  const where = ctx.doc.has(at) ? at : fallback;
  // What the replay found is about `replay: true` where the config says it.
  const replayWhere = replayAt && ctx.doc.has(replayAt) ? replayAt : where;
  if (r.status === 'refused') {
    ctx.warn('notifier-refused', where, `${r.region.model} ${r.region.name} refuses the ${r.kind} notifier ${r.name}: ${r.error!.message}`);
  } else if (r.status === 'invalid') {
    ctx.error(r.error!.code, where, r.error!.message);
  }
  for (const w of r.warnings) ctx.warn('multi-index-notifier', where, w);
  const rejected = r.received.filter((e) => e.error !== undefined);
  if (rejected.length) {
    ctx.warn('consumer-error', replayWhere, `${r.name}: ${rejected.length} replayed MAP event(s) rejected: ${rejected[0]!.error}`);
  }
  if (r.replayResult?.stopped) ctx.warn('replay-too-long', replayWhere, r.replayResult.stopped.message);
}

const FLAG_BITS: Readonly<Record<string, number>> = {
  map: IOMMU_NOTIFIER_MAP,
  unmap: IOMMU_NOTIFIER_UNMAP,
  'deviotlb-unmap': IOMMU_NOTIFIER_DEVIOTLB_UNMAP,
};

function buildNotifiers(ctx: BuildContext, raw: unknown): void {
  const m = ctx.machine;
  for (const [name, nraw] of entries(raw)) {
    const path: Path = ['notifiers', name];
    const spec = obj(nraw);
    if (!spec) continue;
    ctx.define('notifier', name, path);
    const dev = ctx.iommu(spec.region, [...path, 'region'], `for notifier ${name}`);
    if (!dev) continue;
    const rid = ctx.num(spec['requester-id'], [...path, 'requester-id'], undefined, 1n << 16n);
    const region: IOMMUMemoryRegion = m.iommuRegionFor(dev, rid === undefined ? undefined : Number(rid));
    let index: number | undefined;
    if (typeof spec.index === 'number' || typeof spec.index === 'bigint') index = Number(spec.index);
    else if (typeof spec.index === 'string') {
      for (let i = 0; i < region.numIndexes(); i++) if (region.indexName(i) === spec.index) index = i;
      if (index === undefined) {
        const names = Array.from({ length: region.numIndexes() }, (_, i) => region.indexName(i));
        ctx.error('unknown-reference', [...path, 'index'], `${region.name} has no index named "${spec.index}" (indexes: ${names.join(', ')})`);
        continue;
      }
    }
    if (index === undefined) continue;
    let flags = 0;
    for (const f of list(spec.flags)) if (typeof f === 'string') flags |= own(FLAG_BITS, f) ?? 0;
    const range = list(spec.range);
    const start = range.length === 2 ? ctx.num(range[0], [...path, 'range', 0]) : 0n;
    const end = range.length === 2 ? ctx.num(range[1], [...path, 'range', 1]) : HWADDR_MAX;
    if (start === undefined || end === undefined) continue;
    const r = register({
      kind: spec.kind === 'tcg' ? 'tcg' : 'explicit',
      name,
      owner: 'explicit',
      region,
      flags,
      start,
      end,
      iommuIdx: index,
      replay: spec.replay === true,
      source: ctx.id(path),
      systemAs: m.systemAs,
    });
    const at: Path =
      r.error?.code === 'notifier-flags-none'
        ? [...path, 'flags']
        : r.error?.code === 'notifier-range'
          ? [...path, 'range']
          : r.error?.code === 'notifier-index'
            ? [...path, 'index']
            : [...path, 'flags'];
    reportRegistration(ctx, r, at, path, [...path, 'replay']);
    m.addRegistrations([r]);
  }
}

