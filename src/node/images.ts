/**
 * Memory images on a Node file system: the ByteSource behind a config's `image:` when the CLI
 * loads it. The file is stat'ed when the config loads and opened on its first read; reads are
 * positioned `readSync`s of the pieces asked for (ImageBacking asks page by page), so a dump of
 * many gigabytes is never read whole. The descriptor is closed by `close()`, or when the source
 * is garbage-collected (a config reloaded in a long-lived process does not leak it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { engineError, type EngineError } from '../engine/errors';
import { hex } from '../engine/hex';
import { pastEnd, rangeInside, type ByteSource } from '../engine/images/byte-source';

const closer = new FinalizationRegistry<number>((fd) => {
  try {
    fs.closeSync(fd);
  } catch {
    // Already closed.
  }
});

function reason(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return e instanceof Error ? e.message : String(e);
}

export class FileByteSource implements ByteSource {
  private fd: number | undefined;
  /** Positioned reads made (for tests and the benchmark). */
  reads = 0;

  constructor(
    /** The resolved path. */
    readonly path: string,
    readonly size: number,
    /** The path as the config wrote it. */
    readonly label: string = path,
  ) {}

  readAt(offset: number, length: number): Uint8Array | EngineError {
    if (!rangeInside(offset, length, this.size)) return pastEnd(this.label, offset, length, this.size);
    const out = new Uint8Array(length);
    try {
      if (this.fd === undefined) {
        this.fd = fs.openSync(this.path, 'r');
        closer.register(this, this.fd, this);
      }
      for (let done = 0; done < length; ) {
        this.reads++;
        const n = fs.readSync(this.fd, out, done, length - done, offset + done);
        if (n === 0) {
          return engineError('image-read', `${this.label}: the file ended at ${hex(offset + done)} while reading ${length} byte(s) at ${hex(offset)}; it was ${hex(this.size)} bytes when the config loaded`);
        }
        done += n;
      }
      return out;
    } catch (e) {
      return engineError('image-read', `${this.label}: cannot read ${length} byte(s) at file offset ${hex(offset)}: ${reason(e)}`);
    }
  }

  get isOpen(): boolean {
    return this.fd !== undefined;
  }

  close(): void {
    if (this.fd === undefined) return;
    closer.unregister(this);
    try {
      fs.closeSync(this.fd);
    } catch {
      // Already closed.
    }
    this.fd = undefined;
  }
}

/**
 * The config loader's `openImage` hook for Node: `file` relative to the directory of the config
 * file `relativeTo` (or absolute). Only stats the file; it is opened on the first read.
 */
export function openImageFile(file: string, relativeTo: string): ByteSource | EngineError {
  const full = path.isAbsolute(file) ? file : path.resolve(path.dirname(relativeTo), file);
  let st: fs.Stats;
  try {
    st = fs.statSync(full);
  } catch (e) {
    return engineError('image-open', `cannot open ${file}: ${reason(e)}${full !== file ? ` (looked for ${full})` : ''}`);
  }
  if (st.isDirectory()) return engineError('image-open', `cannot open ${file}: it is a directory`);
  if (!st.isFile()) return engineError('image-open', `cannot open ${file}: not a regular file`);
  return new FileByteSource(full, st.size, file);
}
