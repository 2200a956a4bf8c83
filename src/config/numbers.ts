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

const NUMBER_RE = /^\s*(0x[0-9a-f]+(?:_[0-9a-f]+)*|0b[01]+(?:_[01]+)*|0o[0-7]+(?:_[0-7]+)*|[0-9]+(?:_[0-9]+)*)\s*([a-z]+)?\s*$/i;

/** Why a number is refused: not a number at all, a malformed one, or one out of range. */
export type NumberErrorCode = 'wrong-type' | 'bad-number' | 'number-range';

export type NumberParse = { ok: true; value: bigint } | { ok: false; code: NumberErrorCode; message: string };

/** Parses a config number; `max` is exclusive (2^64 for addresses, 2^64 + 1 for sizes). */
export function parseConfigNumber(v: unknown, max: bigint = U64_LIMIT): NumberParse {
  let value: bigint;
  if (typeof v === 'bigint') value = v;
  else if (typeof v === 'number') {
    if (!Number.isInteger(v)) return { ok: false, code: 'bad-number', message: `${v} is not an integer` };
    value = BigInt(v);
  } else if (typeof v === 'string') {
    const m = NUMBER_RE.exec(v);
    const notNumber = { ok: false, code: 'bad-number', message: `"${v}" is not a number (write 0x1000, 4096, 0x1000_0000 or 4KiB)` } as const;
    if (!m) return notNumber;
    const digits = m[1]!.replace(/_/g, '');
    const base = /^0x/i.test(digits) ? 16 : /^0b/i.test(digits) ? 2 : /^0o/i.test(digits) ? 8 : 10;
    value = base === 10 ? BigInt(digits) : BigInt(base === 16 ? digits : base === 2 ? digits : '0o' + digits.slice(2));
    if (m[2] !== undefined) {
      const unit = Object.hasOwn(UNITS, m[2]) ? UNITS[m[2]] : undefined;
      // "0x" or "0xg" is a radix prefix gone wrong, not 0 with a unit "x".
      if (unit === undefined && m[1] === '0' && /^[xbo]/i.test(m[2])) return notNumber;
      if (unit === undefined) return { ok: false, code: 'bad-number', message: `"${m[2]}" is not a size unit (use B, KiB, MiB, GiB, TiB, PiB or EiB)` };
      value *= unit;
    }
  } else {
    return { ok: false, code: 'wrong-type', message: `expected a number (an integer, or a string such as "0x1000_0000" or "4KiB"), got ${describe(v)}` };
  }
  // What the user wrote, or for a number the exact integer (a double's own text rounds).
  const shown = typeof v === 'string' ? v : String(value);
  if (value < 0n) return { ok: false, code: 'number-range', message: `${shown} is negative` };
  if (value >= max) {
    const bits = (max & (max - 1n)) === 0n ? max.toString(2).length - 1 : undefined;
    const limit = bits !== undefined ? `does not fit in ${bits} bits` : `is too large (at most 0x${(max - 1n).toString(16)})`;
    return { ok: false, code: 'number-range', message: `${shown} ${limit}` };
  }
  return { ok: true, value };
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' || typeof v === 'string') return String(v);
  return typeof v;
}
