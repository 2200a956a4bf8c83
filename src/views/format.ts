/** Text forms shared by the CLI and the extension, so both say the same thing the same way. */
import {
  fmtAddr,
  fmtId,
  fmtRange,
  fmtText,
  fmtSize,
  formatNotifierFlags,
  memTxResultName,
  permName,
  type IOMMUTLBEntry,
  type TraceFieldValue,
} from '../engine';

export { formatAttrs, formatNotifierFlags, hex, memTxResultName, permName, permShort } from '../engine';
/** The number format (src/engine/format.ts), for views and the CLI. */
export { fmtAddr, fmtBdf, fmtId, fmtIndex, fmtRange, fmtRaw, fmtSize, fmtText } from '../engine';

/** Sizes as people write them: 4 KiB, 1 MiB, 0x1234 bytes. */
export const formatSize = fmtSize;

/** An inclusive range of addresses. */
export const formatRangeIncl = fmtRange;

export function formatEntry(e: IOMMUTLBEntry): string {
  return `iova ${fmtAddr(e.iova)} -> ${fmtAddr(e.translatedAddr)} mask ${fmtAddr(e.addrMask)} perm ${permName(e.perm)} as ${e.targetAs?.name ?? '-'}`;
}

export function formatEventType(type: number): string {
  return formatNotifierFlags(type);
}

/** Fields that hold ids, shown as ids (`0x20`), not as numbers or addresses. */
const ID_FIELDS = new Set(['sid', 'asid', 'vmid', 'requesterId', 'eventId', 'ASID', 'S2VMID']);

/** A trace field's value: ids as ids, 64-bit values as addresses, text in the one format. */
export function formatField(v: TraceFieldValue, key?: string): string {
  if (key !== undefined && ID_FIELDS.has(key) && (typeof v === 'number' || typeof v === 'bigint') && v >= 0) return fmtId(v);
  if (typeof v === 'bigint') return fmtAddr(v);
  if (typeof v === 'string') return fmtText(v);
  return String(v);
}

export function formatResult(r: number): string {
  return memTxResultName(r);
}

/** JSON with bigint as hex strings, for --json output and webviews. */
export function toJson(v: unknown, indent = 2): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? '0x' + x.toString(16) : x), indent);
}
