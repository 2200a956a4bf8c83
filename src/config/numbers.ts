/**
 * Numbers in a device config: integers (kept as bigint, so 64-bit values survive), or strings
 * in hex, binary, octal or decimal with optional `_` separators, optionally followed by a size
 * unit (B, KiB, MiB, GiB, TiB, PiB, EiB). Decimal units (KB, MB) are refused rather than
 * guessed at.
 */

export const U64_LIMIT = 1n << 64n;

const UNITS: Record<string, bigint> = {
  b: 1n,
  kib: 1n << 10n,
  mib: 1n << 20n,
  gib: 1n << 30n,
  tib: 1n << 40n,
  pib: 1n << 50n,
  eib: 1n << 60n,
};

const NUMBER_RE = /^\s*(0x[0-9a-f]+(?:_[0-9a-f]+)*|0b[01]+(?:_[01]+)*|0o[0-7]+(?:_[0-7]+)*|[0-9]+(?:_[0-9]+)*)\s*([a-z]+)?\s*$/i;

export type NumberParse = { ok: true; value: bigint } | { ok: false; message: string };

/** Parses a config number; `max` is exclusive (2^64 for addresses, 2^64 + 1 for sizes). */
export function parseConfigNumber(v: unknown, max: bigint = U64_LIMIT): NumberParse {
  let value: bigint;
  if (typeof v === 'bigint') value = v;
  else if (typeof v === 'number') {
    if (!Number.isInteger(v)) return { ok: false, message: `${v} is not an integer` };
    value = BigInt(v);
  } else if (typeof v === 'string') {
    const m = NUMBER_RE.exec(v);
    if (!m) return { ok: false, message: `"${v}" is not a number (write 0x1000, 4096, 0x1000_0000 or 4KiB)` };
    const digits = m[1]!.replace(/_/g, '');
    const base = /^0x/i.test(digits) ? 16 : /^0b/i.test(digits) ? 2 : /^0o/i.test(digits) ? 8 : 10;
    value = base === 10 ? BigInt(digits) : BigInt(base === 16 ? digits : base === 2 ? digits : '0o' + digits.slice(2));
    if (m[2] !== undefined) {
      const unit = UNITS[m[2].toLowerCase()];
      if (unit === undefined) return { ok: false, message: `"${m[2]}" is not a size unit (use B, KiB, MiB, GiB, TiB, PiB or EiB)` };
      value *= unit;
    }
  } else {
    return { ok: false, message: 'expected a number' };
  }
  if (value < 0n) return { ok: false, message: `${v} is negative` };
  if (value >= max) {
    return { ok: false, message: max === U64_LIMIT ? `${String(v)} does not fit in 64 bits` : `${String(v)} is too large (limit ${max - 1n})` };
  }
  return { ok: true, value };
}
