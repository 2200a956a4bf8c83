/**
 * A config file parsed with positions. YAML and JSON both go through the `yaml` package (JSON is
 * YAML's flow subset), integers as bigint. A node is found again by its path (the list of keys
 * and indexes from the root), which is also how the rest of the project names config nodes: a
 * source id is the path written as a JSON pointer (`/iommus/mpc0/lut/0`).
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, Scalar, visit, type Alias, type Document, type Node, type Pair } from 'yaml';
import type { Diagnostic, Range } from './diagnostics';

export type PathSegment = string | number;
export type Path = readonly PathSegment[];

export function pathToId(path: Path): string {
  return '/' + path.map((s) => String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
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
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
  readonly parseDiagnostics: Diagnostic[] = [];

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    // Lines are counted from the text, not by the parser: after a syntax error its lexer can
    // skip newlines, and positions on the lines after would point past their line's end.
    this.lines = new LineCounter();
    this.lines.addNewLine(0);
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.lines.addNewLine(i + 1);
    this.doc = parseDocument(text, {
      intAsBigInt: true,
      // A collection as a key would otherwise print a process warning; the schema reports it.
      logLevel: 'error',
      prettyErrors: false,
      // yaml's own check compares every key with every other (quadratic); duplicateKeys() is linear.
      uniqueKeys: false,
      strict: true,
    });
    for (const e of this.doc.errors) {
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
    visit(this.doc, {
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
   * The value as plain data: maps become objects; integers are numbers where a double holds
   * them exactly and bigint beyond, so 64-bit values survive.
   */
  toJS(): unknown {
    try {
      return smallIntsAsNumbers(this.doc.toJS({ maxAliasCount: 1000 }));
    } catch (e) {
      // Only aliases make toJS throw: an undefined anchor, or too many expansions. Say so at the
      // alias rather than leave the caller thinking the file is empty; undefined anchors read as
      // null, so that the rest of the file is still checked.
      const unresolved: Alias[] = [];
      const doc = this.doc.clone();
      visit(doc, {
        Alias: (_, a) => {
          if (a.resolve(doc) !== undefined) return undefined;
          unresolved.push(a);
          return new Scalar(null);
        },
      });
      if (!this.aliasReported) {
        this.aliasReported = true;
        const report = (a: Alias | undefined, message: string) =>
          this.parseDiagnostics.push({
            file: this.file,
            range: a?.range ? this.rangeOfOffsets(a.range[0], a.range[1]) : this.rangeOfOffsets(0, 1),
            severity: 'error',
            code: 'parse-error',
            message,
          });
        for (const a of unresolved) report(a, `the alias *${a.source} has no anchor &${a.source} before it`);
        if (!unresolved.length) report(this.firstAlias(), e instanceof Error ? firstLine(e.message) : String(e));
      }
      if (!unresolved.length) return undefined;
      try {
        return smallIntsAsNumbers(doc.toJS({ maxAliasCount: 1000 }));
      } catch {
        return undefined;
      }
    }
  }

  private aliasReported = false;

  private firstAlias(): Alias | undefined {
    let found: Alias | undefined;
    visit(this.doc, {
      Alias: (_, a) => {
        found = a;
        return visit.BREAK;
      },
    });
    return found;
  }

  /** The key scalar that starts at an offset (for a duplicate key). */
  private keyAt(offset: number): { value: unknown; range?: Node['range'] } | undefined {
    let found: { value: unknown; range?: Node['range'] } | undefined;
    visit(this.doc, {
      Pair: (_, p) => {
        if (isScalar(p.key) && p.key.range?.[0] === offset) {
          found = p.key;
          return visit.BREAK;
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

  /** The node at a path, or undefined. */
  node(path: Path): Node | undefined {
    let cur: unknown = this.doc.contents;
    for (const seg of path) {
      if (isMap(cur)) {
        const pair = cur.items.find((p) => keyText(p) === String(seg));
        cur = pair?.value;
      } else if (isSeq(cur) && typeof seg === 'number') {
        cur = cur.items[seg];
      } else {
        return undefined;
      }
      if (cur === undefined || cur === null) return undefined;
    }
    return cur as Node;
  }

  /** The key node of the last segment of a path (for "unknown key" and names). */
  keyNode(path: Path): Node | undefined {
    if (path.length === 0) return undefined;
    const parent = this.node(path.slice(0, -1));
    if (!isMap(parent)) return undefined;
    const pair = parent.items.find((p) => keyText(p) === String(path[path.length - 1]));
    return pair && isScalar(pair.key) ? pair.key : undefined;
  }

  /**
   * The range of the deepest node along a path that exists: a path into something missing
   * points at its nearest existing ancestor.
   */
  rangeOf(path: Path, which: 'value' | 'key' = 'value'): Range {
    for (let n = path.length; n >= 0; n--) {
      const p = path.slice(0, n);
      const node = which === 'key' && n === path.length ? (this.keyNode(p) ?? this.node(p)) : this.node(p);
      if (node?.range) return this.nodeRange(node, n === path.length ? 'whole' : 'head');
    }
    return this.rangeOfOffsets(0, 0);
  }

  /** For a collection reported as a whole, `head` narrows to its first line so squiggles stay readable. */
  private nodeRange(node: Node, part: 'whole' | 'head'): Range {
    const [start, valueEnd] = node.range!;
    let end = valueEnd;
    if (part === 'head' || isMap(node) || isSeq(node)) {
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
    let cur: unknown = this.doc.contents;
    for (;;) {
      if (isMap(cur)) {
        const pair = cur.items.find((p) => within(p, offset));
        if (!pair) break;
        out.push(keyText(pair));
        const k = pair.key as Node | null;
        if (k?.range && offset >= k.range[0] && offset <= k.range[1]) {
          onKey = true;
          break;
        }
        cur = pair.value;
      } else if (isSeq(cur)) {
        const i = cur.items.findIndex((it) => {
          const r = (it as Node | null)?.range;
          return r != null && offset >= r[0] && offset <= r[1];
        });
        if (i < 0) break;
        out.push(i);
        cur = cur.items[i];
      } else {
        break;
      }
    }
    return out.length ? { path: out, onKey } : undefined;
  }
}

function smallIntsAsNumbers(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  if (Array.isArray(v)) return v.map(smallIntsAsNumbers);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = smallIntsAsNumbers(x);
    return out;
  }
  return v;
}

function within(p: Pair, offset: number): boolean {
  const k = p.key as Node | null;
  const v = p.value as Node | null;
  const start = k?.range?.[0] ?? v?.range?.[0];
  const end = v?.range?.[1] ?? k?.range?.[1];
  return start !== undefined && end !== undefined && offset >= start && offset <= end;
}

export function keyText(p: Pair): string {
  const k = p.key;
  if (isScalar(k)) return String(k.value);
  return String(k);
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

