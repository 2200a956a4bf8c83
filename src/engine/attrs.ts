/**
 * Transaction attributes (QEMU's MemTxAttrs) and what an access returns (MemTxResult).
 */

/** Arm security space, as in QEMU's ARMSecuritySpace. */
export type SecuritySpace = 'secure' | 'non-secure' | 'root' | 'realm';

export interface MemTxAttrs {
  /** Set only by MEMTXATTRS_UNSPECIFIED: the bus master gave no attributes. */
  readonly unspecified?: boolean;
  readonly secure?: boolean;
  readonly space?: SecuritySpace;
  readonly user?: boolean;
  /** The access is a memory (not device) access, as Arm's attribute says. */
  readonly memory?: boolean;
  readonly debug?: boolean;
  /** 16-bit requester ID (PCI BDF or stream ID). */
  readonly requesterId?: number;
  /** PASID / substream ID (QEMU's `pid`). */
  readonly pasid?: number;
}

export const MEMTXATTRS_UNSPECIFIED: MemTxAttrs = Object.freeze({ unspecified: true });

/** QEMU's MemTxResult bits. */
export const MemTxResult = {
  OK: 0,
  ERROR: 1,
  DECODE_ERROR: 2,
  ACCESS_ERROR: 4,
} as const;
export type MemTxResult = number;

export function memTxResultName(r: MemTxResult): string {
  if (r === MemTxResult.OK) return 'MEMTX_OK';
  const names: string[] = [];
  if (r & MemTxResult.ERROR) names.push('MEMTX_ERROR');
  if (r & MemTxResult.DECODE_ERROR) names.push('MEMTX_DECODE_ERROR');
  if (r & MemTxResult.ACCESS_ERROR) names.push('MEMTX_ACCESS_ERROR');
  return names.join('|');
}

/** A compact, stable text form: `unspecified`, or `secure,user,requester-id=0x10`, or `none`. */
export function formatAttrs(a: MemTxAttrs): string {
  if (a.unspecified) return 'unspecified';
  const parts: string[] = [];
  if (a.secure) parts.push('secure');
  if (a.space !== undefined) parts.push(`space=${a.space}`);
  if (a.user) parts.push('user');
  if (a.memory) parts.push('memory');
  if (a.debug) parts.push('debug');
  if (a.requesterId !== undefined) parts.push(`requester-id=0x${a.requesterId.toString(16)}`);
  if (a.pasid !== undefined) parts.push(`pasid=0x${a.pasid.toString(16)}`);
  return parts.length ? parts.join(',') : 'non-secure';
}
