/** Text forms shared by the CLI and the extension, so both say the same thing the same way. */
import {
  formatNotifierFlags,
  hex,
  memTxResultName,
  permName,
  type IOMMUTLBEntry,
  type TraceFieldValue,
} from '../engine';

export { formatAttrs, formatNotifierFlags, hex, memTxResultName, permName, permShort } from '../engine';

/** Sizes as people write them: 4 KiB, 1 MiB, 0x1234 bytes. */
export function formatSize(size: bigint): string {
  const units: Array<[bigint, string]> = [
    [1n << 60n, 'EiB'],
    [1n << 50n, 'PiB'],
    [1n << 40n, 'TiB'],
    [1n << 30n, 'GiB'],
    [1n << 20n, 'MiB'],
    [1n << 10n, 'KiB'],
  ];
  for (const [u, name] of units) if (size >= u && size % u === 0n) return `${size / u} ${name}`;
  return size < 1024n ? `${size} B` : `${hex(size)} B`;
}

export function formatRangeIncl(start: bigint, end: bigint): string {
  return `${hex(start)}..${hex(end)}`;
}

export function formatEntry(e: IOMMUTLBEntry): string {
  return `iova ${hex(e.iova)} -> ${hex(e.translatedAddr)} mask ${hex(e.addrMask)} perm ${permName(e.perm)} as ${e.targetAs?.name ?? '-'}`;
}

export function formatEventType(type: number): string {
  return formatNotifierFlags(type);
}

export function formatField(v: TraceFieldValue): string {
  if (typeof v === 'bigint') return hex(v);
  return String(v);
}

export function formatResult(r: number): string {
  return memTxResultName(r);
}

/** JSON with bigint as hex strings, for --json output and webviews. */
export function toJson(v: unknown, indent = 2): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? hex(x) : x), indent);
}
