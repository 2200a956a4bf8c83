/**
 * The one number format of everything IOMMU Lens shows (trees, hovers, trace steps, the panel,
 * the CLI), in the engine so that models use it in their trace steps too:
 * - addresses, offsets and masks in hex, grouped by 4 digits from the right with `_` as configs
 *   write them (`0x4030_0000`, `0x1_0000`, `0xfff`);
 * - raw register and descriptor values in hex at the width of the value (`0x0000_0000_4100_100b`
 *   for 64 bits, `0x0000_0703` for 32);
 * - ids (stream, ASID, VMID, requester ID, index) in plain hex (`0x10`);
 * - a BDF as bb:dd.f;
 * - a size with its unit when it has one (`64 KiB`), else as an address-like hex count of bytes.
 * `hex()` (src/engine/hex.ts) stays the plain form for messages that quote QEMU.
 */

/** `0x4030_0000`: hex digits grouped by 4 from the right. */
export function fmtAddr(v: bigint | number): string {
  const n = typeof v === 'bigint' ? v : BigInt(v);
  if (n < 0n) return '-' + fmtAddr(-n);
  return '0x' + group(n.toString(16));
}

/** A raw value of `bits` bits, every digit shown: `0x0000_0000_4100_100b`. */
export function fmtRaw(v: bigint | number, bits = 64): string {
  const n = typeof v === 'bigint' ? v : BigInt(v);
  const digits = Math.max(1, Math.ceil(bits / 4));
  return '0x' + group((n & ((1n << BigInt(digits * 4)) - 1n)).toString(16).padStart(digits, '0'));
}

/** An id (SID, ASID, VMID, requester ID): `0x10`. */
export function fmtId(v: bigint | number): string {
  return '0x' + (typeof v === 'bigint' ? v : BigInt(v)).toString(16);
}

/** A PCI requester ID as bb:dd.f. */
export function fmtBdf(requesterId: number): string {
  const bus = (requesterId >> 8) & 0xff;
  const dev = (requesterId >> 3) & 0x1f;
  const fn = requesterId & 7;
  return `${bus.toString(16).padStart(2, '0')}:${dev.toString(16).padStart(2, '0')}.${fn}`;
}

/** A size: `4 KiB`, `16 EiB`, `12 B`, or a byte count in hex when no unit divides it. */
export function fmtSize(size: bigint): string {
  const units: Array<[bigint, string]> = [
    [1n << 60n, 'EiB'],
    [1n << 50n, 'PiB'],
    [1n << 40n, 'TiB'],
    [1n << 30n, 'GiB'],
    [1n << 20n, 'MiB'],
    [1n << 10n, 'KiB'],
  ];
  for (const [u, name] of units) if (size >= u && size % u === 0n) return `${size / u} ${name}`;
  return size < 1024n ? `${size} B` : `${fmtAddr(size)} B`;
}

/** `[start, end]` inclusive, as QEMU writes ranges. */
export function fmtRange(start: bigint, endInclusive: bigint): string {
  return `${fmtAddr(start)}..${fmtAddr(endInclusive)}`;
}

/** An index with its name, the name said only when it says more than the number. */
export function fmtIndex(index: number, name: string): string {
  return name === String(index) || name === '' ? `index ${index}` : `index ${index} (${name})`;
}

function group(digits: string): string {
  let out = '';
  for (let i = digits.length; i > 0; i -= 4) out = digits.slice(Math.max(0, i - 4), i) + (out ? '_' + out : '');
  return out;
}

/**
 * A sentence a model wrote with plain hex (`hex()`), in the one format: a zero-padded 8- or
 * 16-digit literal is a raw value (`0x0000_0000_4100_c003`), any other long literal an address
 * (`0x4100_c000`); short ones (ids, small offsets) stay as they are.
 */
export function fmtText(text: string): string {
  return text.replace(/\b0x([0-9a-f]{5,})\b/g, (m: string, d: string) => {
    if (d[0] === '0' && (d.length === 16 || d.length === 8)) return fmtRaw(BigInt(m), d.length * 4);
    return fmtAddr(BigInt(m));
  });
}
