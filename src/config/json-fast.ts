/**
 * A fast reading of a `.iommu.json` config that is plain, valid JSON: its value, exactly as the
 * YAML route (the `yaml` package, then ConfigDocument.toJS) gives it, without positions. Positions
 * are needed only for diagnostics and hovers, and ConfigDocument parses with `yaml` when first asked
 * for one.
 *
 * Anything the YAML route would treat differently or report on is left to it (the answer is
 * undefined): a syntax error, a key that appears twice in one object, a key longer than YAML's
 * 1024-character implicit-key limit, a tab, a byte-order mark or a character YAML does not allow,
 * nesting deeper than MAX_NESTING, or a top level that is not an object. Integers are numbers
 * where a double holds them exactly and bigint beyond, as toJS gives them.
 *
 * The common case goes through JSON.parse, checked afterwards (viaJsonParse); texts whose value
 * JSON.parse cannot give exactly (an integer literal of 16 digits or more, a -0) go through the
 * parser below, which reads the text itself.
 */
import { MAX_NESTING } from './nesting';

/** Characters the YAML route may refuse or read differently in a JSON text: leave those to it. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
const NOT_PLAIN = /[\u0000-\u0008\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\ud800-\udfff\ufeff\ufffe\uffff]/;

/** The value of a plain JSON config text, or undefined when the YAML route must read it. */
export function fastJsonValue(text: string): Record<string, unknown> | undefined {
  if (NOT_PLAIN.test(text)) return undefined;
  const v = viaJsonParse(text);
  return v === BY_HAND ? byHand(text) : v;
}

/** viaJsonParse's answer for a text whose value JSON.parse does not give exactly. */
const BY_HAND = Symbol('by hand');

/**
 * JSON.parse's value of `text`, checked to be the value the parser below would give: JSON.parse
 * accepts the same texts (tabs and the characters NOT_PLAIN finds are refused before), keeps the
 * last of two equal keys where the parser refuses the text (so the keys JSON.parse kept are
 * counted against the key separators in the text), and rounds integers a double cannot hold where
 * the parser gives bigints (so a text with a digit run of 16 or more goes to the parser, as does a
 * -0, which the parser reads as 0 when it is an integer).
 */
function viaJsonParse(text: string): Record<string, unknown> | undefined | typeof BY_HAND {
  const separators = keySeparators(text);
  if (separators === LONG_DIGITS) return BY_HAND;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const keys = countKeys(v, 1);
  if (keys === NEGATIVE_ZERO) return BY_HAND;
  return keys === separators ? (v as Record<string, unknown>) : undefined;
}

/** keySeparators' answer for a text with a digit run of 16 or more outside strings. */
const LONG_DIGITS = -1;

/** The colons outside strings in a JSON text (one for each key), or LONG_DIGITS. */
function keySeparators(text: string): number {
  let colons = 0;
  let digits = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      // To the closing quote: the next one not escaped (preceded by an even run of backslashes).
      let j = i;
      for (;;) {
        j = text.indexOf('"', j + 1);
        if (j < 0) return colons; // unterminated: JSON.parse refuses it
        let k = j - 1;
        while (text.charCodeAt(k) === 92 /* \ */) k--;
        if ((j - 1 - k) % 2 === 0) break;
      }
      i = j;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (++digits >= 16) return LONG_DIGITS;
    } else {
      digits = 0;
      if (c === 58 /* : */) colons++;
    }
  }
  return colons;
}

/** countKeys' answer for a value holding a -0. */
const NEGATIVE_ZERO = -1;
/** countKeys' answer for a value the parser would refuse (a key too long, nesting too deep). */
const REFUSED = -2;

/** The keys of every object in `v` (a JSON.parse value at nesting `depth`), or NEGATIVE_ZERO or REFUSED. */
function countKeys(v: object, depth: number): number {
  if (depth > MAX_NESTING) return REFUSED;
  let n = 0;
  if (Array.isArray(v)) {
    for (const x of v) {
      if (typeof x === 'object' && x !== null) {
        const k = countKeys(x as object, depth + 1);
        if (k < 0) return k;
        n += k;
      } else if (x === 0 && 1 / x < 0) return NEGATIVE_ZERO;
    }
    return n;
  }
  for (const key in v) {
    if (key.length > MAX_KEY) return REFUSED;
    n++;
    const x = (v as Record<string, unknown>)[key];
    if (typeof x === 'object' && x !== null) {
      const k = countKeys(x, depth + 1);
      if (k < 0) return k;
      n += k;
    } else if (x === 0 && 1 / x < 0) return NEGATIVE_ZERO;
  }
  return n;
}

/** The parser: the value of `text` read character by character, or undefined. */
function byHand(text: string): Record<string, unknown> | undefined {
  const p = new Parser(text);
  try {
    p.ws();
    if (text.charCodeAt(p.i) !== 123 /* { */) return undefined;
    const v = p.value(0);
    p.ws();
    return p.i === text.length ? (v as Record<string, unknown>) : undefined;
  } catch (e) {
    if (e === NOT_FAST) return undefined;
    throw e;
  }
}

const NOT_FAST = new Error('not plain JSON');
const MAX_KEY = 1024;
const SAFE_DIGITS = 15;

class Parser {
  i = 0;
  constructor(private readonly s: string) {}

  ws(): void {
    const s = this.s;
    let i = this.i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13) i++;
      else break;
    }
    this.i = i;
  }

  value(depth: number): unknown {
    const s = this.s;
    const c = s.charCodeAt(this.i);
    if (c === 123 /* { */) return this.object(depth + 1);
    if (c === 91 /* [ */) return this.array(depth + 1);
    if (c === 34 /* " */) return this.string();
    if (c === 45 /* - */ || (c >= 48 && c <= 57)) return this.number();
    if (s.startsWith('true', this.i)) {
      this.i += 4;
      return true;
    }
    if (s.startsWith('false', this.i)) {
      this.i += 5;
      return false;
    }
    if (s.startsWith('null', this.i)) {
      this.i += 4;
      return null;
    }
    throw NOT_FAST;
  }

  private object(depth: number): Record<string, unknown> {
    if (depth > MAX_NESTING) throw NOT_FAST;
    const s = this.s;
    this.i++;
    const out: Record<string, unknown> = {};
    this.ws();
    if (s.charCodeAt(this.i) === 125 /* } */) {
      this.i++;
      return out;
    }
    for (;;) {
      if (s.charCodeAt(this.i) !== 34) throw NOT_FAST;
      const key = this.string();
      // Every key read so far is an own property of `out` (`__proto__` too): a second one is a duplicate.
      if (key.length > MAX_KEY || Object.hasOwn(out, key)) throw NOT_FAST;
      this.ws();
      if (s.charCodeAt(this.i) !== 58 /* : */) throw NOT_FAST;
      this.i++;
      this.ws();
      const v = this.value(depth);
      if (key === '__proto__') Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      else out[key] = v;
      this.ws();
      const c = s.charCodeAt(this.i++);
      if (c === 44 /* , */) {
        this.ws();
        continue;
      }
      if (c === 125) return out;
      throw NOT_FAST;
    }
  }

  private array(depth: number): unknown[] {
    if (depth > MAX_NESTING) throw NOT_FAST;
    const s = this.s;
    this.i++;
    const out: unknown[] = [];
    this.ws();
    if (s.charCodeAt(this.i) === 93 /* ] */) {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth));
      this.ws();
      const c = s.charCodeAt(this.i++);
      if (c === 44) {
        this.ws();
        continue;
      }
      if (c === 93) return out;
      throw NOT_FAST;
    }
  }

  private string(): string {
    const s = this.s;
    const start = this.i + 1;
    let i = start;
    let escaped = false;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 34) break;
      if (c === 92 /* \ */) {
        escaped = true;
        i += 2;
        continue;
      }
      if (c !== c || c < 32) throw NOT_FAST; // the end, or a raw control character
      i++;
    }
    this.i = i + 1;
    if (!escaped) return s.slice(start, i);
    try {
      return JSON.parse(s.slice(start - 1, i + 1)) as string;
    } catch {
      throw NOT_FAST;
    }
  }

  private number(): number | bigint {
    const s = this.s;
    const start = this.i;
    let i = start;
    if (s.charCodeAt(i) === 45) i++;
    const intStart = i;
    while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
    if (i === intStart || (s.charCodeAt(intStart) === 48 && i - intStart > 1)) throw NOT_FAST;
    let float = false;
    if (s.charCodeAt(i) === 46 /* . */) {
      float = true;
      i++;
      const f = i;
      while (s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
      if (i === f) throw NOT_FAST;
    }
    const e = s.charCodeAt(i);
    if (e === 101 || e === 69 /* e E */) {
      float = true;
      i++;
      if (s.charCodeAt(i) === 43 || s.charCodeAt(i) === 45) i++;
      const x = i;
      while (s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
      if (i === x) throw NOT_FAST;
    }
    this.i = i;
    const t = s.slice(start, i);
    if (float) return Number(t);
    // An integer, as toJS gives it: a number where exact (and 0 for -0, as BigInt has no -0).
    if (i - intStart <= SAFE_DIGITS) return Number(t) || 0;
    const big = BigInt(t);
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }
}
