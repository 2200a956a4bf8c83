/**
 * Numbers in a device config: integers (kept as bigint, so 64-bit values survive), or strings
 * in hex, binary, octal or decimal with optional `_` separators, optionally followed by a size
 * unit (B, KiB, MiB, GiB, TiB, PiB, EiB). Decimal units (KB, MB) are refused rather than
 * guessed at.
 */

export const U64_LIMIT = 1n << 64n;

/** Case matters, as in the schema: `Kib` would be kibibits. */
const UNITS: Record<string, bigint> = {
  B: 1n,
  KiB: 1n << 10n,
  MiB: 1n << 20n,
  GiB: 1n << 30n,
  TiB: 1n << 40n,
  PiB: 1n << 50n,
  EiB: 1n << 60n,
};

/**
 * Splits `  0x1000_0000 KiB ` into its digits (`0x1000_0000`) and unit (`KiB`), or undefined when
 * it is not that shape: the regular expression
 * `^\s*(0x[0-9a-f]+(?:_[0-9a-f]+)*|0b[01]+(?:_[01]+)*|0o[0-7]+(?:_[0-7]+)*|[0-9]+(?:_[0-9]+)*)\s*([a-z]+)?\s*$`
 * (case-insensitive) written as one pass, because the expression backtracks quadratically on
 * long malformed input (hex digits and unit letters overlap).
 */
export function splitNumber(v: string): { digits: string; unit: string | undefined } | undefined {
  const n = v.length;
  let i = 0;
  while (i < n && isWs(v.charCodeAt(i))) i++;
  const start = i;
  let digit: (c: number) => boolean = isDec;
  if (v.charCodeAt(i) === 48 /* 0 */ && i + 1 < n) {
    const p = v.charCodeAt(i + 1) | 0x20;
    const prefixed = p === 120 /* x */ ? isHex : p === 98 /* b */ ? isBin : p === 111 /* o */ ? isOct : undefined;
    if (prefixed && i + 2 < n && prefixed(v.charCodeAt(i + 2))) {
      digit = prefixed;
      i += 2;
    }
  }
  // Digits with single `_` between groups.
  if (!(i < n && digit(v.charCodeAt(i)))) return undefined;
  while (i < n) {
    const c = v.charCodeAt(i);
    if (digit(c)) i++;
    else if (c === 95 /* _ */ && i + 1 < n && digit(v.charCodeAt(i + 1))) i += 2;
    else break;
  }
  // A hex number takes every hex letter, as the expression's greedy match does; it backtracks
  // into the digits only to let "0xab" end in a unit, which no unit allows (units end in B or
  // are letters beyond f), except "B": "0x1B" is 0x1b, as the expression reads it too.
  const digits = v.slice(start, i);
  while (i < n && isWs(v.charCodeAt(i))) i++;
  const unitStart = i;
  while (i < n && isLetter(v.charCodeAt(i))) i++;
  const unit = i > unitStart ? v.slice(unitStart, i) : undefined;
  while (i < n && isWs(v.charCodeAt(i))) i++;
  if (i !== n) return undefined;
  return { digits, unit };
}

function isWs(c: number): boolean {
  // \s of a JavaScript regular expression.
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}
function isDec(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isHex(c: number): boolean {
  return isDec(c) || ((c | 0x20) >= 97 && (c | 0x20) <= 102);
}
function isBin(c: number): boolean {
  return c === 48 || c === 49;
}
function isOct(c: number): boolean {
  return c >= 48 && c <= 55;
}
function isLetter(c: number): boolean {
  return (c | 0x20) >= 97 && (c | 0x20) <= 122;
}

/** Why a number is refused: not a number at all, a malformed one, or one out of range. */
export type NumberErrorCode = 'wrong-type' | 'bad-number' | 'number-range';

export type NumberParse = { ok: true; value: bigint } | { ok: false; code: NumberErrorCode; message: string };

/**
 * Values of the number strings read so far ("4KiB", "0x1000_0000"): a large config writes the same
 * few sizes thousands of times. Bounded; cleared when full.
 */
const STRING_VALUES = new Map<string, bigint>();
const STRING_VALUES_MAX = 4096;

/** Parses a config number; `max` is exclusive (2^64 for addresses, 2^64 + 1 for sizes). */
export function parseConfigNumber(v: unknown, max: bigint = U64_LIMIT): NumberParse {
  // The common cases first, without allocating more than the result: a safe integer within a
  // 64-bit limit, and a string read before.
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && max >= U64_LIMIT) return { ok: true, value: BigInt(v) };
  if (typeof v === 'string') {
    const known = STRING_VALUES.get(v);
    if (known !== undefined && known < max) return { ok: true, value: known };
  }
  const r = parseSlow(v, max);
  if (r.ok && typeof v === 'string') {
    if (STRING_VALUES.size >= STRING_VALUES_MAX) STRING_VALUES.clear();
    STRING_VALUES.set(v, r.value);
  }
  return r;
}

function parseSlow(v: unknown, max: bigint): NumberParse {
  let value: bigint;
  if (typeof v === 'bigint') value = v;
  else if (typeof v === 'number') {
    if (!Number.isInteger(v)) return { ok: false, code: 'bad-number', message: `${v} is not an integer` };
    value = BigInt(v);
  } else if (typeof v === 'string') {
    const m = splitNumber(v);
    const notNumber = (): NumberParse => ({ ok: false, code: 'bad-number', message: `"${shorten(v)}" is not a number (write 0x1000, 4096, 0x1000_0000 or 4KiB)` });
    if (!m) return notNumber();
    const digits = m.digits.includes('_') ? m.digits.replace(/_/g, '') : m.digits;
    const base = /^0x/i.test(digits) ? 16 : /^0b/i.test(digits) ? 2 : /^0o/i.test(digits) ? 8 : 10;
    value = base === 10 ? BigInt(digits) : BigInt(base === 16 ? digits : base === 2 ? digits : '0o' + digits.slice(2));
    if (m.unit !== undefined) {
      const unit = Object.hasOwn(UNITS, m.unit) ? UNITS[m.unit] : undefined;
      // "0x" or "0xg" is a radix prefix gone wrong, not 0 with a unit "x".
      if (unit === undefined && m.digits === '0' && /^[xbo]/i.test(m.unit)) return notNumber();
      const shownUnit = m.unit.length > 40 ? `${m.unit.slice(0, 20)}...` : m.unit;
      if (unit === undefined) return { ok: false, code: 'bad-number', message: `"${shownUnit}" is not a size unit (use B, KiB, MiB, GiB, TiB, PiB or EiB)` };
      value *= unit;
    }
  } else {
    return { ok: false, code: 'wrong-type', message: `expected a number (an integer, or a string such as "0x1000_0000" or "4KiB"), got ${describe(v)}` };
  }
  if (value >= 0n && value < max) return { ok: true, value };
  // What the user wrote, or for a number the exact integer (a double's own text rounds).
  const shown = shorten(typeof v === 'string' ? v : String(value));
  if (value < 0n) return { ok: false, code: 'number-range', message: `${shown} is negative` };
  if (value >= max) {
    const bits = (max & (max - 1n)) === 0n ? max.toString(2).length - 1 : undefined;
    const limit = bits !== undefined ? `does not fit in ${bits} bits` : `is too large (at most 0x${(max - 1n).toString(16)})`;
    return { ok: false, code: 'number-range', message: `${shown} ${limit}` };
  }
  return { ok: true, value };
}

/** A long number as the message shows it: its start and end. */
function shorten(v: string): string {
  return v.length > 80 ? `${v.slice(0, 40)}...${v.slice(-20)}` : v;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' || typeof v === 'string') return String(v);
  return typeof v;
}
