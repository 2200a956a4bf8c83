/**
 * A fast reading of the YAML a config is usually written in: block mappings and sequences,
 * single-line flow collections, single-line plain and quoted scalars, comments. It gives the value
 * exactly as the `yaml` package and ConfigDocument.toJS give it (YAML 1.2 core schema: integers as
 * numbers where a double holds them exactly and bigint beyond, `0x1000_0000` a string) and each
 * node's range as `yaml` gives it (range[0] and range[1]: start and value end).
 *
 * Anything outside that subset, and anything the `yaml` package would report on, is left to it
 * (the answer is undefined): tags, anchors and aliases, block scalars, multi-line scalars and flow
 * collections, directives and document markers, complex or empty keys, a key that appears twice,
 * keys longer than YAML's 1024-character limit, tabs, carriage returns, byte-order marks and
 * characters YAML does not allow, and nesting deeper than MAX_NESTING. Those documents are rare,
 * and the `yaml` package reads them with every diagnostic and recovery it has.
 */
import { MAX_NESTING } from './nesting';

/** A node with its position: kind, start and value end (as `yaml`'s range[0] and range[1]). */
export interface PosNode {
  /** 'alias' only in documents read by the `yaml` package. */
  readonly kind: 'scalar' | 'map' | 'seq' | 'alias';
  readonly start: number;
  readonly end: number;
  /** A mapping's keys as text (as `yaml`'s String(key.value)), in order. */
  readonly names?: readonly string[];
  /** A mapping's key nodes (undefined for an empty key). */
  readonly keys?: ReadonlyArray<PosNode | undefined>;
  /** A mapping's values or a sequence's items (undefined where the `yaml` package has none). */
  readonly items?: ReadonlyArray<PosNode | undefined>;
}

export interface FastYaml {
  readonly value: Record<string, unknown> | unknown[];
  readonly root: PosNode;
}

// eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
const NOT_PLAIN = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\ud800-\udfff\ufeff\ufffe\uffff]/;

/** Longest implicit key the `yaml` package accepts is 1024 characters; stay clear of it. */
const MAX_KEY = 1000;

const NOT_FAST = new Error('not in the fast subset');

/** The value and positions of a config text in the fast subset, or undefined. */
export function fastYaml(text: string): FastYaml | undefined {
  if (NOT_PLAIN.test(text)) return undefined;
  try {
    return new Reader(text).document();
  } catch (e) {
    if (e === NOT_FAST) return undefined;
    throw e;
  }
}

class Node implements PosNode {
  // Declared, not initialised: a scalar (most nodes) carries three fields only.
  declare names?: string[];
  declare items?: Array<PosNode | undefined>;
  constructor(
    readonly kind: 'scalar' | 'map' | 'seq',
    readonly start: number,
    public end: number,
  ) {}
}

/**
 * A mapping's node. Its keys are kept as offsets (start and end of each, in order) and become
 * nodes when first asked for: a document has a key node for most of its scalars, and only a
 * diagnostic or a hover ever reads one.
 */
class MapNode extends Node {
  declare keyOffsets: number[];
  private keyNodes?: Node[];
  constructor(start: number) {
    super('map', start, start);
  }

  get keys(): ReadonlyArray<PosNode | undefined> {
    if (this.keyNodes === undefined) {
      const at = this.keyOffsets;
      const out: Node[] = [];
      for (let i = 0; i < at.length; i += 2) out.push(new Node('scalar', at[i]!, at[i + 1]!));
      this.keyNodes = out;
    }
    return this.keyNodes;
  }
}

/** A parsed node with its value, and where it ends including what trails it on its line (yaml's range[2]). */
interface Parsed {
  node: Node;
  value: unknown;
  nodeEnd: number;
}

/**
 * An array filled by push() as an exact-size copy: push() leaves room to grow (17 slots for the
 * first few items), and a document keeps hundreds of thousands of small arrays alive.
 */
function exact<T>(a: T[]): T[] {
  return a.length === 0 ? [] : a.slice();
}

function isSpace(c: number): boolean {
  return c === 32;
}

/** Characters that cannot start a plain scalar here (or that this reader leaves to `yaml`). */
function badPlainStart(c: number, next: number): boolean {
  switch (c) {
    case 44: // ,
    case 91: // [
    case 93: // ]
    case 123: // {
    case 125: // }
    case 35: // #
    case 38: // &
    case 42: // *
    case 33: // !
    case 124: // |
    case 62: // >
    case 39: // '
    case 34: // "
    case 37: // %
    case 64: // @
    case 96: // `
    case 63: // ?
      return true;
    case 45: // -
    case 58: // :
      return next === 32 || next === 10 || next !== next || next === 44 || next === 91 || next === 93 || next === 123 || next === 125;
    default:
      return false;
  }
}

class Reader {
  private readonly n: number;
  private depth = 0;
  constructor(private readonly s: string) {
    this.n = s.length;
  }

  document(): FastYaml {
    const s = this.s;
    const first = this.nextContent(0);
    if (first >= this.n) throw NOT_FAST;
    const indent = first - this.lineStartOf(first);
    if (indent !== 0) throw NOT_FAST;
    if (s.startsWith('---', first) || s.startsWith('...', first)) throw NOT_FAST;
    let root: Parsed;
    if (this.isSeqDash(first)) root = this.blockSeq(first, 0, true);
    else root = this.blockMap(first, 0, true);
    // Only comments and blank lines may follow.
    if (this.nextContent(root.nodeEnd) < this.n) throw NOT_FAST;
    return { value: root.value as Record<string, unknown> | unknown[], root: root.node };
  }

  private lineStartOf(i: number): number {
    return this.s.lastIndexOf('\n', i - 1) + 1;
  }

  /** The first offset at or after `i` (a line start) holding content: past blank and comment lines. */
  private nextContent(i: number): number {
    const s = this.s;
    const n = this.n;
    while (i < n) {
      let j = i;
      while (j < n && isSpace(s.charCodeAt(j))) j++;
      const c = s.charCodeAt(j);
      if (j < n && c !== 10 && c !== 35) return j;
      const nl = s.indexOf('\n', j);
      if (nl < 0) return n;
      i = nl + 1;
    }
    return n;
  }

  private isSeqDash(i: number): boolean {
    const s = this.s;
    if (s.charCodeAt(i) !== 45) return false;
    const c = s.charCodeAt(i + 1);
    return c === 32 || c === 10 || i + 1 >= this.n;
  }

  private enter(): void {
    if (++this.depth > MAX_NESTING) throw NOT_FAST;
  }

  /**
   * After a block collection's last item (at `end`, a line start or the end): comment lines at
   * the collection's indentation or deeper (but not at column 0) belong to it, and what follows
   * them up to the next content, as `yaml` reads them. Returns the collection's node end.
   */
  private trailing(end: number, indent: number, root: boolean): number {
    if (root) return end;
    const s = this.s;
    const n = this.n;
    let i = end;
    let absorbed = false;
    while (i < n) {
      let j = i;
      while (j < n && isSpace(s.charCodeAt(j))) j++;
      const c = s.charCodeAt(j);
      if (j < n && c !== 10 && c !== 35) break; // content
      if (j < n && c === 35) {
        // A comment at column 0 is the document's.
        if (!absorbed && (j - i < indent || j === i)) break;
        absorbed = true;
      }
      const nl = s.indexOf('\n', j);
      i = nl < 0 ? n : nl + 1;
    }
    return absorbed ? i : end;
  }

  /** A block mapping whose first key starts at `at`, its keys at column `indent`. */
  private blockMap(at: number, indent: number, root = false): Parsed {
    this.enter();
    const node = new MapNode(at);
    const names: string[] = [];
    const keys: number[] = [];
    const items: Node[] = [];
    const out: Record<string, unknown> = {};
    let seen: Set<string> | undefined;
    let i = at;
    let last: Parsed | undefined;
    for (;;) {
      const key = this.key(i);
      // A key twice: a search while the mapping is small, a set beyond.
      if (names.length < 8) {
        if (names.includes(key.name)) throw NOT_FAST;
      } else {
        if (seen === undefined) seen = new Set(names);
        if (seen.has(key.name)) throw NOT_FAST;
        seen.add(key.name);
      }
      // i: after the colon.
      i = key.after;
      const v = this.blockValue(i, indent, true);
      names.push(key.name);
      keys.push(key.start, key.end);
      items.push(v.node);
      if (key.name === '__proto__') Object.defineProperty(out, key.name, { value: v.value, enumerable: true, writable: true, configurable: true });
      else out[key.name] = v.value;
      last = v;
      const next = this.nextContent(v.nodeEnd === v.node.end && v.node.kind === 'scalar' && v.node.start === v.node.end ? this.lineAfter(v.nodeEnd) : v.nodeEnd);
      if (next >= this.n) break;
      const col = next - this.lineStartOf(next);
      if (col < indent) break;
      if (col > indent) throw NOT_FAST;
      if (this.isSeqDash(next)) throw NOT_FAST;
      i = next;
    }
    node.names = exact(names);
    node.keyOffsets = exact(keys);
    node.items = exact(items);
    node.end = last.nodeEnd;
    this.depth--;
    return { node, value: out, nodeEnd: this.trailing(node.end, indent, root) };
  }

  /** The start of the line after offset `i` (or the end). */
  private lineAfter(i: number): number {
    const nl = this.s.indexOf('\n', i);
    return nl < 0 ? this.n : nl + 1;
  }

  /** A block sequence whose first `-` is at `at`, column `indent`; `root`: nothing trails it. */
  private blockSeq(at: number, indent: number, root = false): Parsed {
    this.enter();
    const node = new Node('seq', at, at);
    const items: Node[] = [];
    const out: unknown[] = [];
    let i = at;
    let last: Parsed | undefined;
    for (;;) {
      // i: at the dash.
      const v = this.blockValue(i + 1, indent, false);
      items.push(v.node);
      out.push(v.value);
      last = v;
      const next = this.nextContent(v.node.kind === 'scalar' && v.node.start === v.node.end && v.nodeEnd === v.node.end ? this.lineAfter(v.nodeEnd) : v.nodeEnd);
      if (next >= this.n) break;
      const col = next - this.lineStartOf(next);
      if (col < indent) break;
      if (col > indent) throw NOT_FAST;
      // At the same column, what is not a dash belongs to the mapping this sequence is the value of.
      if (!this.isSeqDash(next)) break;
      i = next;
    }
    node.items = exact(items);
    node.end = last.nodeEnd;
    this.depth--;
    return { node, value: exact(out), nodeEnd: this.trailing(node.end, indent, root) };
  }

  /**
   * The value after a mapping's colon or a sequence's dash (at `i`), in a block collection at
   * column `indent`. `inMap`: a block sequence may then sit at the same column as the key.
   */
  private blockValue(i: number, indent: number, inMap: boolean): Parsed {
    const s = this.s;
    const n = this.n;
    while (i < n && isSpace(s.charCodeAt(i))) i++;
    const c = s.charCodeAt(i);
    if (i >= n || c === 10 || c === 35) {
      // Nothing more on this line: the value is on the lines below, or empty.
      const hadComment = i < n && c === 35;
      const next = this.nextContent(this.lineAfter(i));
      const col = next < n ? next - this.lineStartOf(next) : -1;
      if (next < n && col > indent) {
        return this.isSeqDash(next) ? this.blockSeq(next, col) : this.nestedMap(next, col);
      }
      if (next < n && col === indent && inMap && this.isSeqDash(next)) return this.blockSeq(next, col);
      // An empty value: yaml places it where the line's content ends (before a comment), and
      // when comments follow it, it reaches over them and the blank lines up to the next content.
      const node = new Node('scalar', i, i);
      return { node, value: null, nodeEnd: this.commentsAfter(i, hadComment) };
    }
    if (c === 91 || c === 123) {
      const v = this.flow(i, indent);
      v.nodeEnd = this.deeperComments(this.endOfLine(v.node.end), indent);
      return v;
    }
    if (c === 34 || c === 39) {
      // A quoted scalar, or a quoted key of a compact mapping (`- "k": v`).
      const q = this.quoted(i);
      let j = q.end;
      while (j < n && isSpace(s.charCodeAt(j))) j++;
      if (s.charCodeAt(j) === 58) {
        if (inMap) throw NOT_FAST;
        return this.nestedMap(i, i - this.lineStartOf(i));
      }
      const node = new Node('scalar', i, q.end);
      return { node, value: q.value, nodeEnd: this.deeperComments(this.endOfLine(q.end), indent) };
    }
    if (c === 45 && (s.charCodeAt(i + 1) === 32 || s.charCodeAt(i + 1) === 10 || i + 1 >= n)) throw NOT_FAST; // `- - x` or `a: - x`
    if (badPlainStart(c, s.charCodeAt(i + 1))) throw NOT_FAST;
    // A plain scalar to the end of the line (or a comment), or a compact mapping's first key.
    this.plainEnd(i, false);
    if (this.plainColon) {
      if (inMap) throw NOT_FAST; // `a: b: c`
      return this.nestedMap(i, i - this.lineStartOf(i));
    }
    const pEnd = this.plainStop;
    const raw = s.slice(i, pEnd);
    // A plain scalar that goes on over more lines than one: left to yaml.
    const after = this.endOfLine(pEnd);
    const next = this.nextContent(after);
    if (next < n && next - this.lineStartOf(next) > indent && !this.commentBetween(pEnd, next)) throw NOT_FAST;
    const node = new Node('scalar', i, pEnd);
    return { node, value: resolvePlain(raw), nodeEnd: this.deeperComments(after, indent) };
  }

  /**
   * After a value that ends its line (`k`, a line start): comment lines indented deeper than the
   * collection's column `indent` belong to the value, with the blank lines between them.
   */
  private deeperComments(k: number, indent: number): number {
    const s = this.s;
    const n = this.n;
    let end = k;
    while (k < n) {
      let j = k;
      while (j < n && isSpace(s.charCodeAt(j))) j++;
      const c = s.charCodeAt(j);
      if (j < n && c !== 10 && (c !== 35 || j - k <= indent)) break;
      k = this.lineAfter(j);
      if (c === 35) end = k;
    }
    return end;
  }

  /**
   * Where an empty value at `i` ends: at `i`, or, when a comment is on its line or on the blank
   * and comment lines after it, at the next content line.
   */
  private commentsAfter(i: number, hadComment: boolean): number {
    const s = this.s;
    const n = this.n;
    let absorbed = hadComment;
    let k = this.lineAfter(i);
    while (k < n) {
      let j = k;
      while (j < n && isSpace(s.charCodeAt(j))) j++;
      const c = s.charCodeAt(j);
      if (j < n && c !== 10 && c !== 35) break;
      if (j < n && c === 35) absorbed = true;
      k = this.lineAfter(j);
    }
    return absorbed ? k : i;
  }

  /** Whether a comment starts between `from` and `to` (which ends a plain scalar). */
  private commentBetween(from: number, to: number): boolean {
    const k = this.s.indexOf('#', from);
    return k >= 0 && k < to;
  }

  private nestedMap(at: number, col: number): Parsed {
    return this.blockMap(at, col);
  }

  /** After a value that ends at `i`: spaces, an optional comment, then the newline (past it) or the end. */
  private endOfLine(i: number): number {
    const s = this.s;
    const n = this.n;
    const from = i;
    while (i < n && isSpace(s.charCodeAt(i))) i++;
    if (i >= n) return n;
    const c = s.charCodeAt(i);
    if (c === 10) return i + 1;
    // A comment must be separated from the value by a space.
    if (c === 35 && i > from) return this.lineAfter(i);
    throw NOT_FAST;
  }

  /** What plainEnd() found: where the scalar's text ends, and whether a key's `: ` ends it. */
  private plainStop = 0;
  private plainColon = false;

  /**
   * A plain scalar starting at `i`: where its text ends (trailing spaces excluded, in plainStop)
   * and whether a `: ` (a mapping key's colon) ends it (plainColon). In flow context it also ends
   * at `,`, `]`, `}`.
   */
  private plainEnd(i: number, flow: boolean): void {
    const s = this.s;
    const n = this.n;
    let end = i;
    let j = i;
    this.plainColon = false;
    while (j < n) {
      const c = s.charCodeAt(j);
      if (c === 10) break;
      if (c === 58 /* : */) {
        const d = s.charCodeAt(j + 1);
        if (j + 1 >= n || d === 32 || d === 10 || (flow && (d === 44 || d === 93 || d === 125))) {
          this.plainColon = true;
          break;
        }
        if (flow) throw NOT_FAST; // `a:b` in flow: yaml's rules differ there
      } else if (c === 35 /* # */ && isSpace(s.charCodeAt(j - 1))) {
        break;
      } else if (flow && (c === 44 || c === 93 || c === 125 || c === 91 || c === 123)) {
        if (c === 91 || c === 123) throw NOT_FAST;
        break;
      } else if (!flow && (c === 123 || c === 125 || c === 91 || c === 93)) {
        // Legal in a block plain scalar, but a likely slip: let yaml judge it.
        throw NOT_FAST;
      }
      j++;
      if (c !== 32) end = j;
    }
    this.plainStop = end;
  }

  /** A mapping key at `i` followed by `:`; `after` is just past the colon. */
  private key(i: number): { name: string; start: number; end: number; after: number } {
    const s = this.s;
    const n = this.n;
    const c = s.charCodeAt(i);
    let end: number;
    let name: string;
    let j: number;
    if (c === 34 || c === 39) {
      const q = this.quoted(i);
      end = q.end;
      name = q.value;
      j = end;
      while (j < n && isSpace(s.charCodeAt(j))) j++;
      if (s.charCodeAt(j) !== 58) throw NOT_FAST;
    } else {
      if (badPlainStart(c, s.charCodeAt(i + 1))) throw NOT_FAST;
      this.plainEnd(i, false);
      if (!this.plainColon) throw NOT_FAST;
      end = this.plainStop;
      const v = resolvePlain(s.slice(i, end));
      if (v === null) throw NOT_FAST;
      name = String(v);
      j = end;
      while (j < n && isSpace(s.charCodeAt(j))) j++;
    }
    if (end - i > MAX_KEY) throw NOT_FAST;
    const d = s.charCodeAt(j + 1);
    if (!(j + 1 >= n || d === 32 || d === 10)) throw NOT_FAST;
    return { name, start: i, end, after: j + 1 };
  }

  /** A single-line quoted scalar at `i`. */
  private quoted(i: number): { value: string; end: number } {
    const s = this.s;
    const q = s.charCodeAt(i);
    let j = i + 1;
    if (q === 39) {
      let escaped = false;
      for (;;) {
        const k = s.indexOf("'", j);
        const nl = s.indexOf('\n', j);
        if (k < 0 || (nl >= 0 && nl < k)) throw NOT_FAST;
        if (s.charCodeAt(k + 1) === 39) {
          escaped = true;
          j = k + 2;
          continue;
        }
        const body = s.slice(i + 1, k);
        return { value: escaped ? body.replace(/''/g, "'") : body, end: k + 1 };
      }
    }
    let escaped = false;
    for (;;) {
      const c = s.charCodeAt(j);
      if (j >= this.n || c === 10) throw NOT_FAST;
      if (c === 92) {
        // Escapes JSON shares with YAML only; the others are left to yaml.
        const e = s.charCodeAt(j + 1);
        if (!(e === 34 || e === 92 || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116 || e === 117)) throw NOT_FAST;
        escaped = true;
        j += 2;
        continue;
      }
      if (c === 34) break;
      j++;
    }
    const body = s.slice(i, j + 1);
    let value: string;
    if (!escaped) value = body.slice(1, -1);
    else {
      try {
        value = JSON.parse(body) as string;
      } catch {
        throw NOT_FAST;
      }
    }
    return { value, end: j + 1 };
  }

  /**
   * A flow collection at `i` in a block collection at column `indent`. Lines it goes on over must
   * be indented more than that column (yaml's rule for the closing bracket, kept for every line).
   */
  private flow(i: number, indent: number): Parsed {
    this.enter();
    const s = this.s;
    const open = s.charCodeAt(i);
    const isMap = open === 123;
    const close = isMap ? 125 : 93;
    const node = isMap ? new MapNode(i) : new Node('seq', i, i);
    const names: string[] = [];
    const keys: number[] = [];
    const items: Node[] = [];
    const obj: Record<string, unknown> | undefined = isMap ? {} : undefined;
    const arr: unknown[] | undefined = isMap ? undefined : [];
    let seen: Set<string> | undefined;
    let j = i + 1;
    const ws = () => {
      j = this.flowSpace(j, indent);
    };
    ws();
    if (s.charCodeAt(j) === close) {
      j++;
    } else {
      for (;;) {
        if (isMap) {
          const c = s.charCodeAt(j);
          let name: string;
          let kEnd: number;
          if (c === 34 || c === 39) {
            const q = this.quoted(j);
            name = q.value;
            kEnd = q.end;
            const k0 = j;
            j = q.end;
            ws();
            if (s.charCodeAt(j) !== 58) throw NOT_FAST;
            keys.push(k0, kEnd);
          } else {
            if (badPlainStart(c, s.charCodeAt(j + 1))) throw NOT_FAST;
            this.plainEnd(j, true);
            if (!this.plainColon) throw NOT_FAST;
            kEnd = this.plainStop;
            const v = resolvePlain(s.slice(j, kEnd));
            if (v === null) throw NOT_FAST;
            name = String(v);
            keys.push(j, kEnd);
            j = kEnd;
            ws();
          }
          if (kEnd - keys[keys.length - 2]! > MAX_KEY) throw NOT_FAST;
          // A key twice: a search while the mapping is small, a set beyond.
          if (names.length < 8) {
            if (names.includes(name)) throw NOT_FAST;
          } else {
            if (seen === undefined) seen = new Set(names);
            if (seen.has(name)) throw NOT_FAST;
            seen.add(name);
          }
          j++; // the colon
          ws();
          const v = this.flowValue(j, indent);
          names.push(name);
          items.push(v.node);
          if (name === '__proto__') Object.defineProperty(obj, name, { value: v.value, enumerable: true, writable: true, configurable: true });
          else obj![name] = v.value;
          j = v.node.end;
        } else {
          const v = this.flowValue(j, indent);
          items.push(v.node);
          arr!.push(v.value);
          j = v.node.end;
        }
        ws();
        const c = s.charCodeAt(j);
        if (c === 44) {
          j++;
          ws();
          if (s.charCodeAt(j) === close) throw NOT_FAST; // a trailing comma
          continue;
        }
        if (c === close) {
          j++;
          break;
        }
        throw NOT_FAST;
      }
    }
    node.end = j;
    node.items = exact(items);
    if (isMap) {
      node.names = exact(names);
      (node as MapNode).keyOffsets = exact(keys);
    }
    this.depth--;
    return { node, value: isMap ? obj : exact(arr!), nodeEnd: j };
  }

  /** Past spaces, line breaks and comments between a flow collection's tokens (lines indented past `indent`). */
  private flowSpace(j: number, indent: number): number {
    const s = this.s;
    const n = this.n;
    for (;;) {
      while (j < n && s.charCodeAt(j) === 32) j++;
      if (j >= n) throw NOT_FAST;
      const c = s.charCodeAt(j);
      if (c === 35) {
        if (!isSpace(s.charCodeAt(j - 1)) && s.charCodeAt(j - 1) !== 10) throw NOT_FAST;
        j = s.indexOf('\n', j);
        if (j < 0) throw NOT_FAST;
      } else if (c !== 10) return j;
      // A new line: its content must be indented more than the block collection.
      const line = j + 1;
      j = line;
      while (j < n && s.charCodeAt(j) === 32) j++;
      const d = s.charCodeAt(j);
      if (j < n && d !== 10 && d !== 35 && j - line <= indent) throw NOT_FAST;
    }
  }

  private flowValue(j: number, indent: number): Parsed {
    const s = this.s;
    const c = s.charCodeAt(j);
    if (c === 91 || c === 123) return this.flow(j, indent);
    if (c === 34 || c === 39) {
      const q = this.quoted(j);
      let k = q.end;
      while (isSpace(s.charCodeAt(k))) k++;
      if (s.charCodeAt(k) === 58) throw NOT_FAST; // a single-pair mapping in a flow sequence
      return { node: new Node('scalar', j, q.end), value: q.value, nodeEnd: q.end };
    }
    if (c === 44 || c === 93 || c === 125) throw NOT_FAST; // an empty entry
    if (badPlainStart(c, s.charCodeAt(j + 1))) throw NOT_FAST;
    this.plainEnd(j, true);
    const end = this.plainStop;
    if (this.plainColon || end === j) throw NOT_FAST;
    return { node: new Node('scalar', j, end), value: resolvePlain(s.slice(j, end)), nodeEnd: end };
  }
}

const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** A plain scalar's value in the YAML 1.2 core schema, as `yaml` (intAsBigInt) then toJS give it. */
export function resolvePlain(raw: string): string | number | bigint | boolean | null {
  const c = raw.charCodeAt(0);
  // Most scalars are names and words: only those that may be null, a boolean or a number are tested.
  if (raw.length === 0) return null;
  if (c === 126 /* ~ */ || c === 110 || c === 78) {
    if (raw === '~' || raw === 'null' || raw === 'Null' || raw === 'NULL') return null;
    return raw;
  }
  if (c === 116 || c === 84 || c === 102 || c === 70) {
    if (raw === 'true' || raw === 'True' || raw === 'TRUE') return true;
    if (raw === 'false' || raw === 'False' || raw === 'FALSE') return false;
    return raw;
  }
  if (!(c === 43 || c === 45 || c === 46 || (c >= 48 && c <= 57))) return raw;
  if (/^0o[0-7]+$/.test(raw) || /^[-+]?[0-9]+$/.test(raw) || /^0x[0-9a-fA-F]+$/.test(raw)) {
    if (raw.length <= 15 && raw.charCodeAt(1) !== 120 && raw.charCodeAt(1) !== 111) return Number(raw) || 0;
    const big = BigInt(raw);
    return big >= SAFE_MIN && big <= SAFE_MAX ? Number(big) : big;
  }
  if (/^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/.test(raw)) {
    return raw.slice(-3).toLowerCase() === 'nan' ? NaN : raw[0] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }
  if (/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(raw) || /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/.test(raw)) return parseFloat(raw);
  return raw;
}
