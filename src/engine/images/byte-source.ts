/**
 * Where the bytes of a memory image come from. Translation is synchronous (a page-table walk
 * reads guest memory in the middle of `translate`), so a source answers synchronously too: the
 * Node implementation (images.ts) uses positioned `readSync`s on a file opened on first use; the
 * extension, whose workspace file system is asynchronous, will either pre-fetch the pieces a
 * config needs into a MemoryByteSource or bring its own synchronous source.
 *
 * Pure TypeScript like the engine: no `vscode`, no Node built-ins (the config loader imports this
 * folder's pure modules, and they must run in a web worker too).
 */
import { engineError, isEngineError, type EngineError } from '../errors';
import { hex } from '../hex';

export interface ByteSource {
  /** Total bytes. */
  readonly size: number | bigint;
  /** A name for messages (a path as the config wrote it, usually). */
  readonly label?: string;
  /**
   * Exactly `length` bytes from `offset`, or an EngineError when the range is not entirely inside
   * the source or the read fails. Never throws (callers still guard against one that does).
   */
  readAt(offset: number, length: number): Uint8Array | EngineError;
  /** Releases what the source holds open (a file descriptor); reads after it reopen or fail. */
  close?(): void;
}

/** A source over bytes already in memory: tests, and what the extension pre-fetches. */
export class MemoryByteSource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly bytes: Uint8Array,
    readonly label = 'memory',
  ) {
    this.size = bytes.length;
  }

  readAt(offset: number, length: number): Uint8Array | EngineError {
    if (!rangeInside(offset, length, this.size)) return pastEnd(this.label, offset, length, this.size);
    return this.bytes.subarray(offset, offset + length);
  }
}

export function sourceSize(s: ByteSource): bigint {
  return typeof s.size === 'bigint' ? s.size : BigInt(s.size);
}

export function rangeInside(offset: number, length: number, size: number | bigint): boolean {
  return Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && BigInt(offset) + BigInt(length) <= BigInt(size);
}

export function pastEnd(label: string, offset: number, length: number, size: number | bigint): EngineError {
  return engineError('image-read', `${label}: read of ${length} byte(s) at file offset ${hex(offset)} is past the end of the file (${hex(size)} bytes)`);
}

/**
 * Calls `readAt` without trusting it: an exception, a short answer or something that is not bytes
 * becomes an EngineError, so a misbehaving source (the extension's, a file cut short under us)
 * can fault a walk but never crash one.
 */
export function safeReadAt(s: ByteSource, offset: number, length: number, label = s.label ?? 'image'): Uint8Array | EngineError {
  try {
    const r = s.readAt(offset, length);
    if (isEngineError(r)) return r;
    if (!(r instanceof Uint8Array)) return engineError('image-read', `${label}: the source returned no bytes for ${length} byte(s) at file offset ${hex(offset)}`);
    if (r.length < length) {
      return engineError('image-read', `${label}: only ${r.length} of ${length} byte(s) at file offset ${hex(offset)} could be read (was the file truncated?)`);
    }
    return r.length === length ? r : r.subarray(0, length);
  } catch (e) {
    return engineError('image-read', `${label}: reading ${length} byte(s) at file offset ${hex(offset)} failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
