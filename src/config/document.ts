/**
 * A config file parsed with positions. A YAML config in the subset configs are usually written in
 * is read by yaml-fast.ts, a plain JSON one by json-fast.ts (its positions computed only when first
 * asked for); everything else, above all a file with a syntax error, goes through the `yaml`
 * package (JSON is YAML's flow subset), integers as bigint, with every diagnostic and recovery it
 * has. Both routes give the same values and the same ranges. A node is found again by its path
 * (the list of keys and indexes from the root), which is also how the rest of the project names
 * config nodes: a source id is the path written as a JSON pointer (`/iommus/mpc0/lut/0`).
 */
import type { Alias, Document, Node, Pair, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import { LineStarts, yamlLib } from './yaml-lib';
import type { Diagnostic, Range } from './diagnostics';
import { fastJsonValue } from './json-fast';
import { fastYaml, type PosNode } from './yaml-fast';
import { MAX_NESTING, nestingTooDeep } from './nesting';
import { addWork } from '../engine/work';

export type PathSegment = string | number;
export type Path = readonly PathSegment[];

/**
 * `path` with `seg` appended, in an array of exactly that length: where a builder keeps a path
 * (a definition, a reference, a placed entry) for every one of many entries, a spread
 * `[...path, seg]` would keep room to grow as well, over twice the memory.
 */
export function pathWith(path: Path, seg: PathSegment): Path {
  return path.concat(seg);
}

export function pathToId(path: Path): string {
  let id = '';
  for (let i = 0; i < path.length; i++) {
    const s = String(path[i]);
    id += '/';
    id += s.includes('~') || s.includes('/') ? s.replace(/~/g, '~0').replace(/\//g, '~1') : s;
  }
  return path.length ? id : '/';
}

export function idToPath(id: string): PathSegment[] {
  if (id === '/' || id === '') return [];
  return id
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
}

export class ConfigDocument {
  private lineIndex: LineStarts | undefined;
  readonly parseDiagnostics: Diagnostic[] = [];
  private parsed: Document.Parsed | undefined;
  /** A plain JSON file's value, read without positions (json-fast.ts); the YAML parse then waits until positions are needed. */
  private readonly fast: { value: Record<string, unknown> | unknown[] } | undefined;
  /** The nodes with their positions: from yaml-fast.ts, or from the `yaml` package's document. */
  private posRoot: PosNode | null | undefined;

  /** `route: 'yaml'` reads every file through the `yaml` package (tests compare the two routes). */
  constructor(
    readonly file: string,
    readonly text: string,
    route: 'fast' | 'yaml' = 'fast',
  ) {
    if (route === 'fast') {
      if (/\.json$/i.test(file)) {
        const value = fastJsonValue(text);
        if (value !== undefined) this.fast = { value };
      } else {
        const y = fastYaml(text);
        if (y !== undefined) {
          this.fast = { value: y.value };
          this.posRoot = y.root;
        }
      }
    }
    if (this.fast === undefined) this.parse();
  }

  /**
   * The text's line starts, counted when a position is first needed (loading a valid file needs
   * none). Counted from the text, not by the parser: after a syntax error its lexer can skip
   * newlines, and positions on the lines after would point past their line's end.
   */
  get lines(): LineStarts {
    return (this.lineIndex ??= LineStarts.of(this.text));
  }

  /** The root node with positions (for a plain JSON file, parsed with `yaml` when first asked for). */
  private get root(): PosNode | null {
    if (this.posRoot === undefined) this.posRoot = posTree(this.doc.contents);
    return this.posRoot;
  }

  /** The parsed document with positions (for a plain JSON file, parsed when first asked for). */
  get doc(): Document.Parsed {
    if (this.parsed === undefined) this.parse();
    return this.parsed!;
  }

  private parse(): void {
    const { file, text } = this;
    const deep = nestingTooDeep(text);
    if (deep !== undefined) {
      // Refused before parsing: a parser would overflow its stack at a place that varies from run to run.
      this.parseDiagnostics.push({
        file,
        range: this.rangeOfOffsets(deep, deep + 1),
        severity: 'error',
        code: 'too-deep',
        message: `lists and mappings nest more than ${MAX_NESTING} levels deep here; a config needs far fewer, and IOMMU Lens reads no further`,
      });
    }
    this.parsed = yamlLib().parseDocument(deep === undefined ? text : '', {
      intAsBigInt: true,
      // A collection as a key would otherwise print a process warning; the schema reports it.
      logLevel: 'error',
      prettyErrors: false,
      // yaml's own check compares every key with every other (quadratic); duplicateKeys() is linear.
      uniqueKeys: false,
      strict: true,
    });
    const reported = new Set<string>();
    for (const e of this.doc.errors) {
      // One unclosed bracket can make the parser say the same thing at the same place thousands of times.
      const once = `${e.code}:${e.pos[0]}:${e.pos[1]}:${e.message}`;
      if (reported.has(once)) continue;
      reported.add(once);
      if (reported.size > MAX_PARSE_ERRORS) break;
      const dup = e.code === 'DUPLICATE_KEY' ? this.keyAt(e.pos[0]) : undefined;
      this.parseDiagnostics.push({
        file,
        range: dup?.range ? this.rangeOfOffsets(dup.range[0], dup.range[1]) : this.rangeOfOffsets(e.pos[0], Math.max(e.pos[1], e.pos[0] + 1)),
        severity: 'error',
        code: e.code === 'DUPLICATE_KEY' ? 'duplicate-key' : 'parse-error',
        message:
          e.code === 'DUPLICATE_KEY'
            ? `the key ${dup ? `"${String(dup.value)}" ` : ''}appears twice in this mapping; keys must be unique`
            : e.code === 'MULTIPLE_DOCS'
              ? 'a config file holds one YAML document; this `---` starts a second'
              : firstLine(e.message),
      });
    }
    this.duplicateKeys();
    for (const w of this.doc.warnings) {
      this.parseDiagnostics.push({
        file,
        range: this.rangeOfOffsets(w.pos[0], Math.max(w.pos[1], w.pos[0] + 1)),
        severity: 'warning',
        code: 'parse-warning',
        message: firstLine(w.message),
      });
    }
  }

  /** Reports every key that appears twice in one mapping, at its second occurrence. */
  private duplicateKeys(): void {
    yamlLib().visit(this.doc, {
      Map: (_k, map) => {
        const seen = new Set<string>();
        for (const pair of map.items) {
          if (!isScalar(pair.key)) continue;
          const name = String(pair.key.value);
          if (!seen.has(name)) {
            seen.add(name);
            continue;
          }
          const r = pair.key.range;
          this.parseDiagnostics.push({
            file: this.file,
            range: r ? this.rangeOfOffsets(r[0], r[1]) : this.rangeOfOffsets(0, 0),
            severity: 'error',
            code: 'duplicate-key',
            message: `the key "${name}" appears twice in this mapping; keys must be unique`,
          });
        }
      },
    });
  }

  /**
   * The value as plain data: maps become objects (every key an own property, `__proto__` too);
   * integers are numbers where a double holds them exactly and bigint beyond, so 64-bit values
   * survive. An alias shares its anchor's value; how far aliases expand is bounded (count and
   * expanded size, as YAML libraries' maxAliasCount), and an alias past the bound, without its
   * anchor, or inside its own anchor reads as null with a diagnostic at the alias.
   */
  toJS(): unknown {
    if (!this.converted) {
      this.converted = true;
      this.value = this.fast ? this.fast.value : new ToJS(this).convert(this.doc.contents);
    }
    return this.value;
  }

  private converted = false;
  private value: unknown;

  /** Reports a problem found while converting (aliases), once per alias. */
  aliasProblem(a: Alias, message: string): void {
    this.parseDiagnostics.push({
      file: this.file,
      range: a.range ? this.rangeOfOffsets(a.range[0], a.range[1]) : this.rangeOfOffsets(0, 1),
      severity: 'error',
      code: 'parse-error',
      message,
    });
  }

  /** The key scalar that starts at an offset (for a duplicate key). */
  private keyAt(offset: number): { value: unknown; range?: Node['range'] } | undefined {
    let found: { value: unknown; range?: Node['range'] } | undefined;
    yamlLib().visit(this.doc, {
      Pair: (_, p) => {
        if (isScalar(p.key) && p.key.range?.[0] === offset) {
          found = p.key;
          return yamlLib().visit.BREAK;
        }
      },
    });
    return found;
  }

  position(offset: number): { line: number; character: number } {
    const p = this.lines.linePos(Math.min(Math.max(offset, 0), this.text.length));
    return { line: p.line - 1, character: p.col - 1 };
  }

  rangeOfOffsets(start: number, end: number): Range {
    return { start: this.position(start), end: this.position(Math.max(start, end)) };
  }

  /**
   * The `yaml` package's node at a path, or undefined. It parses the file with `yaml` when a fast
   * route read it: the loader and the views use find(), kindAt() and extentOf() instead.
   */
  node(path: Path): Node | undefined {
    let cur: unknown = this.doc.contents;
    for (const seg of path) {
      if (isMap(cur)) {
        cur = this.pairOf(cur, String(seg))?.value;
      } else if (isSeq(cur) && typeof seg === 'number') {
        cur = cur.items[seg];
      } else {
        return undefined;
      }
      if (cur === undefined || cur === null) return undefined;
    }
    return cur as Node;
  }

  /** The `yaml` package's key node of the last segment of a path (see node()). */
  keyNode(path: Path): Node | undefined {
    if (path.length === 0) return undefined;
    const parent = this.node(path.slice(0, -1));
    if (!isMap(parent)) return undefined;
    const pair = this.pairOf(parent, String(path[path.length - 1]));
    return pair && isScalar(pair.key) ? (pair.key) : undefined;
  }

  /** The node at a path, with its kind and offsets, or undefined. */
  find(path: Path): PosNode | undefined {
    let cur: PosNode | undefined | null = this.root;
    for (const seg of path) {
      if (!cur) return undefined;
      if (cur.kind === 'map') cur = cur.items![this.pairIndexOf(cur, String(seg))];
      else if (cur.kind === 'seq' && typeof seg === 'number') cur = cur.items![seg];
      else return undefined;
    }
    return cur ?? undefined;
  }

  /** Whether a node exists at a path. */
  has(path: Path): boolean {
    return this.find(path) !== undefined;
  }

  /** The kind of the node at a path. */
  kindAt(path: Path): PosNode['kind'] | undefined {
    return this.find(path)?.kind;
  }

  /** The start and value end offsets of the node at a path. */
  extentOf(path: Path): readonly [number, number] | undefined {
    const n = this.find(path);
    return n ? [n.start, n.end] : undefined;
  }

  /** The value at a path, in toJS() form (undefined where there is none). */
  valueAt(path: Path): unknown {
    let cur: unknown = this.toJS();
    for (const seg of path) {
      if (cur === null || typeof cur !== 'object') return undefined;
      if (Array.isArray(cur)) {
        if (typeof seg !== 'number') return undefined;
        cur = cur[seg];
      } else {
        const o = cur as Record<string, unknown>;
        const k = String(seg);
        cur = Object.hasOwn(o, k) ? o[k] : undefined;
      }
    }
    return cur;
  }

  /** Whether the node at a path sits under a key (a scalar one) in a mapping. */
  hasKey(path: Path): boolean {
    return this.keyPos(path) !== undefined;
  }

  /** The scalar key node of the last segment of a path (for "unknown key" and names). */
  private keyPos(path: Path): PosNode | undefined {
    if (path.length === 0) return undefined;
    const parent = this.find(path.slice(0, -1));
    if (parent?.kind !== 'map') return undefined;
    const k = parent.keys![this.pairIndexOf(parent, String(path[path.length - 1]))];
    return k?.kind === 'scalar' ? k : undefined;
  }

  private readonly posIndex = new WeakMap<PosNode, Map<string, number>>();

  /** The index of a mapping's first pair with this key (-1 if none), through an index built once per mapping. */
  private pairIndexOf(map: PosNode, key: string): number {
    const names = map.names!;
    // Small mappings are searched; large ones indexed.
    if (names.length <= 8) return names.indexOf(key);
    let index = this.posIndex.get(map);
    if (!index) {
      index = new Map();
      for (let i = 0; i < names.length; i++) if (!index.has(names[i]!)) index.set(names[i]!, i);
      this.posIndex.set(map, index);
    }
    return index.get(key) ?? -1;
  }

  private readonly pairIndex = new WeakMap<YAMLMap, Map<string, Pair>>();

  /** The first pair of a mapping with this key, through an index built once per mapping. */
  private pairOf(map: YAMLMap, key: string): Pair | undefined {
    let index = this.pairIndex.get(map);
    if (!index) {
      index = new Map();
      for (const p of map.items) {
        const k = keyText(p);
        if (!index.has(k)) index.set(k, p);
      }
      this.pairIndex.set(map, index);
    }
    return index.get(key);
  }

  /**
   * The range of the deepest node along a path that exists: a path into something missing
   * points at its nearest existing ancestor.
   */
  rangeOf(path: Path, which: 'value' | 'key' = 'value'): Range {
    for (let n = path.length; n >= 0; n--) {
      const p = path.slice(0, n);
      const node = which === 'key' && n === path.length ? (this.keyPos(p) ?? this.find(p)) : this.find(p);
      if (node) return this.nodeRange(node, n === path.length ? 'whole' : 'head');
    }
    return this.rangeOfOffsets(0, 0);
  }

  /** For a collection reported as a whole, `head` narrows to its first line so squiggles stay readable. */
  private nodeRange(node: PosNode, part: 'whole' | 'head'): Range {
    const { start, end: valueEnd } = node;
    let end = valueEnd;
    if (part === 'head' || node.kind === 'map' || node.kind === 'seq') {
      const nl = this.text.indexOf('\n', start);
      if (nl >= 0 && nl < end) end = nl;
    }
    return this.rangeOfOffsets(start, end > start ? end : start + 1);
  }

  /** The text a range covers. */
  textAt(r: Range): string {
    const off = (p: Range['start']) => (this.lines.lineStarts[p.line] ?? this.text.length) + p.character;
    return this.text.slice(off(r.start), off(r.end));
  }

  /** Ranges of a source id (a JSON pointer), for traces and scenario results. */
  rangeOfId(id: string): Range {
    return this.rangeOf(idToPath(id));
  }

  /** The path of the innermost node at an offset (for hovers), with the key it sits under. */
  pathAt(offset: number): { path: PathSegment[]; onKey: boolean } | undefined {
    const out: PathSegment[] = [];
    let onKey = false;
    let cur: PosNode | undefined | null = this.root;
    for (;;) {
      if (cur?.kind === 'map') {
        const m: PosNode = cur;
        const i = itemAt(m.names!.length, offset, (j) => (m.keys![j] ?? m.items![j])?.start, (j) => (m.items![j] ?? m.keys![j])?.end);
        if (i < 0) break;
        out.push(m.names![i]!);
        const k = m.keys![i];
        if (k && offset >= k.start && offset <= k.end) {
          onKey = true;
          break;
        }
        cur = m.items![i];
      } else if (cur?.kind === 'seq') {
        const items: ReadonlyArray<PosNode | undefined> = cur.items!;
        const i = itemAt(items.length, offset, (j) => items[j]?.start, (j) => items[j]?.end);
        if (i < 0) break;
        out.push(i);
        cur = items[i];
      } else {
        break;
      }
    }
    return out.length ? { path: out, onKey } : undefined;
  }
}

/** Past this many, parse errors are not listed one by one (the first ones say what is wrong). */
const MAX_PARSE_ERRORS = 200;

/**
 * The index of the item whose [start, end] holds an offset, or -1, by binary search: items are in
 * text order. Where ranges touch (one ends where the next starts) the first one wins, as a linear
 * search would.
 */
function itemAt(count: number, offset: number, start: (i: number) => number | undefined, end: (i: number) => number | undefined): number {
  let lo = 0;
  let hi = count - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = start(mid);
    if (s === undefined) {
      // An item without a range (rare: an empty value): fall back to a scan.
      for (let i = 0; i < count; i++) {
        const a = start(i);
        const b = end(i);
        if (a !== undefined && b !== undefined && offset >= a && offset <= b) return i;
      }
      return -1;
    }
    if (s <= offset) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  // The last item starting at or before the offset, or the one before it when both touch it.
  for (let i = Math.max(0, found - 1); i <= found; i++) {
    const a = start(i);
    const b = end(i);
    if (a !== undefined && b !== undefined && offset >= a && offset <= b) return i;
  }
  return -1;
}

/** The positions of a document the `yaml` package read, in the form yaml-fast.ts gives them. */
export function posTree(root: Node | null): PosNode | null {
  if (root === null || root === undefined) return null;
  // Iterative over an explicit stack is not needed: nesting is bounded by MAX_NESTING before parsing.
  const conv = (n: Node | null | undefined): PosNode | undefined => {
    if (n === null || n === undefined) return undefined;
    const [start, end] = n.range ?? [0, 0];
    if (isMap(n)) {
      const names: string[] = [];
      const keys: Array<PosNode | undefined> = [];
      const items: Array<PosNode | undefined> = [];
      for (const p of n.items) {
        names.push(keyText(p));
        keys.push(conv(p.key as Node | null));
        items.push(conv(p.value as Node | null));
      }
      return { kind: 'map', start, end, names, keys, items };
    }
    if (isSeq(n)) return { kind: 'seq', start, end, items: (n.items as Array<Node | null>).map(conv) };
    return { kind: isAlias(n) ? 'alias' : 'scalar', start, end };
  };
  return conv(root) ?? null;
}

/** Expanded nodes allowed beyond the document's own: aliases may repeat, not explode. */
const ALIAS_EXPANSION_BASE = 100_000;
/** Aliases followed, at most. */
const MAX_ALIASES = 10_000;

/**
 * The conversion of a parsed document to plain data. Each node is converted once; an alias shares
 * its anchor's value, and its expanded size (the nodes a walk of the value visits) is counted
 * from sizes kept per node, so that a chain of aliases costs its length, not its expansion.
 */
class ToJS {
  private readonly sizes = new Map<Node, number>();
  private readonly values = new Map<Node, unknown>();
  private readonly open = new Set<Node>();
  /** Anchors seen so far, in text order: an alias names the nearest one before it. */
  private readonly anchors = new Map<string, Node>();
  private aliases = 0;
  private expanded = 0;
  private readonly limit: number;
  private stopped = false;

  constructor(private readonly cd: ConfigDocument) {
    this.limit = ALIAS_EXPANSION_BASE + 4 * cd.text.length;
  }

  convert(node: Node | null): unknown {
    const v = this.value(node).v;
    addWork(this.values.size + this.expanded);
    return v;
  }

  private value(node: Node | null | undefined): { v: unknown; size: number } {
    if (node === null || node === undefined) return { v: null, size: 1 };
    if (isAlias(node)) return this.alias(node);
    const done = this.values.get(node);
    if (done !== undefined || this.values.has(node)) return { v: done, size: this.sizes.get(node)! };
    if (node.anchor) this.anchors.set(node.anchor, node);
    let v: unknown;
    let size = 1;
    if (isScalar(node)) {
      v = scalarValue(node.value);
    } else if (isMap(node) && !node.tag) {
      this.open.add(node);
      const out: Record<string, unknown> = {};
      for (const p of node.items) {
        const keyNode = p.key as Node | null;
        if (keyNode?.anchor) this.anchors.set(keyNode.anchor, keyNode);
        const key = keyOf(keyNode);
        const r = this.value(p.value as Node | null);
        size += r.size;
        if (key === '__proto__') Object.defineProperty(out, key, { value: r.v, enumerable: true, writable: true, configurable: true });
        else out[key] = r.v;
      }
      this.open.delete(node);
      v = out;
    } else if (isSeq(node) && !node.tag) {
      this.open.add(node);
      const out: unknown[] = [];
      for (const it of node.items as Array<Node | null>) {
        const r = this.value(it);
        size += r.size;
        out.push(r.v);
      }
      this.open.delete(node);
      v = out;
    } else {
      // A tagged collection (!!set, !!omap, !!pairs): yaml's own conversion, its aliases bounded.
      try {
        v = (node as { toJS(doc: Document, opts: { maxAliasCount: number }): unknown }).toJS(this.cd.doc, { maxAliasCount: 100 });
      } catch {
        v = null;
      }
    }
    this.values.set(node, v);
    this.sizes.set(node, size);
    return { v, size };
  }

  private alias(a: Alias): { v: unknown; size: number } {
    if (this.stopped) return { v: null, size: 1 };
    const target = this.anchors.get(a.source);
    if (target === undefined) {
      this.cd.aliasProblem(a, `the alias *${a.source} has no anchor &${a.source} before it`);
      return { v: null, size: 1 };
    }
    if (this.open.has(target)) {
      this.cd.aliasProblem(a, `the alias *${a.source} is inside the collection its anchor names: a value cannot contain itself`);
      return { v: null, size: 1 };
    }
    const r = this.value(target);
    this.aliases++;
    this.expanded += r.size;
    if (this.aliases > MAX_ALIASES || this.expanded > this.limit) {
      this.stopped = true;
      this.cd.aliasProblem(
        a,
        this.aliases > MAX_ALIASES
          ? `more than ${MAX_ALIASES} aliases; IOMMU Lens expands no more of them (this and later aliases read as nothing)`
          : `aliases here expand to more than ${this.limit} values; IOMMU Lens expands no more of them (this and later aliases read as nothing)`,
      );
      return { v: null, size: 1 };
    }
    return r;
  }
}

/** A key as yaml's toJS names it: null is "", a collection its flow text. */
function keyOf(k: Node | null): string {
  if (k === null || k === undefined) return '';
  if (isScalar(k)) return k.value === null || k.value === undefined ? '' : `${k.value as string}`;
  return String(k);
}

/** Integers: numbers where a double holds them exactly, bigint beyond. */
function scalarValue(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  return v;
}

export function keyText(p: Pair): string {
  const k = p.key;
  if (isScalar(k)) return String(k.value);
  return String(k);
}

// yaml's node tests, through the package loaded on demand (a node exists only once it is loaded).
function isMap(n: unknown): n is YAMLMap {
  return yamlLib().isMap(n);
}
function isSeq(n: unknown): n is YAMLSeq {
  return yamlLib().isSeq(n);
}
function isScalar(n: unknown): n is Scalar {
  return yamlLib().isScalar(n);
}
function isAlias(n: unknown): n is Alias {
  return yamlLib().isAlias(n);
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

