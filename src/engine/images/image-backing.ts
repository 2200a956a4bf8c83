/**
 * A RAM region's contents read from a memory image: a raw binary (the region's first byte at a
 * file offset) or an ELF core (PT_LOAD segments placed by guest-physical address). The file is
 * never read whole: reads assemble 4 KiB pages on demand with positioned reads and keep the most
 * recent ones in a small LRU cache, so a multi-gigabyte dump opens in the time it takes to read
 * its headers. Writes (a scenario's write-mem, a config's `contents:`) go to a sparse copy-on-write
 * overlay, never to the file.
 *
 * Pure TypeScript: no Node built-ins (see byte-source.ts); the config loader builds these from
 * whatever ByteSource its `openImage` hook returns.
 */
import { engineError, isEngineError, type EngineError } from '../errors';
import { outOfRange, SparseMemory, type AccessSize, type MemoryBacking } from '../guest-memory';
import { hex } from '../hex';
import { safeReadAt, sourceSize, type ByteSource } from './byte-source';
import { parseElfCore, type ElfCore, type ImageProblem } from './elf-core';

export type { ImageProblem } from './elf-core';

export type ImageFormat = 'raw' | 'elf-core';
export const IMAGE_FORMATS: readonly ImageFormat[] = ['raw', 'elf-core'];

export interface ImageSpec {
  /** The path as the config wrote it, for messages. */
  readonly file: string;
  readonly format: ImageFormat;
  /**
   * raw: the file offset of the region's first byte. elf-core: the guest-physical address of the
   * region's first byte (a segment at p_paddr P lands at region offset P - offset). Default 0.
   */
  readonly offset?: bigint;
  /**
   * A slice: raw: the region holds `size` bytes of the file from `offset` on; elf-core: segment
   * parts outside the region are the other regions' share of the file, not a problem. Several
   * regions can then share one file without a size warning.
   */
  readonly size?: bigint;
}

export interface ImageBackingOptions {
  /** Pages kept by the LRU cache (default 512, 2 MiB). */
  readonly cachePages?: number;
}

/** A run of region offsets backed by the file: [start, end); bytes from dataEnd on read as zero. */
export interface ImageExtent {
  readonly start: bigint;
  readonly end: bigint;
  readonly dataEnd: bigint;
  /** File offset of `start`. */
  readonly fileOffset: number;
  /** The ELF program header it came from. */
  readonly segment?: number;
}

export interface ImageStats {
  /** readAt calls made on the source. */
  sourceReads: number;
  cacheHits: number;
  cacheMisses: number;
}

interface CachedPage {
  readonly page: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  newer: CachedPage | undefined;
  older: CachedPage | undefined;
}

const PAGE_BITS = 12;
const PAGE_SIZE = 1 << PAGE_BITS;
const PAGE_MASK = BigInt(PAGE_SIZE - 1);
const BPAGE_BITS = BigInt(PAGE_BITS);

export class ImageBacking implements MemoryBacking {
  readonly stats: ImageStats = { sourceReads: 0, cacheHits: 0, cacheMisses: 0 };
  /** LRU: pages in a list, most recent first; a hit moves its page to the front, a miss evicts the back. */
  private readonly cache = new Map<number, CachedPage>();
  private newest: CachedPage | undefined;
  private oldest: CachedPage | undefined;
  private readonly cachePages: number;
  private readonly overlay: SparseMemory;
  private readonly written = new Set<number>();
  private lastExtent = 0;

  constructor(
    readonly size: bigint,
    private readonly source: ByteSource,
    readonly spec: ImageSpec,
    /** Sorted, non-overlapping. */
    readonly extents: readonly ImageExtent[],
    private readonly label: string,
    opts: ImageBackingOptions = {},
  ) {
    this.cachePages = Math.max(1, Math.floor(opts.cachePages ?? 512));
    this.overlay = new SparseMemory(size, label);
  }

  read(offset: bigint, size: AccessSize): bigint | EngineError {
    if (offset < 0n || offset + BigInt(size) > this.size) return outOfRange(this.label, offset, size, this.size);
    const gap = this.uncovered(offset, size);
    if (gap) return gap;
    const pageOff = Number(offset & PAGE_MASK);
    if (pageOff + size <= PAGE_SIZE) {
      const p = Number(offset >> BPAGE_BITS);
      if (this.written.size && this.written.has(p)) return this.overlay.read(offset, size);
      const page = this.page(p);
      if (isEngineError(page)) return page;
      const v = page.view;
      switch (size) {
        case 1: return BigInt(v.getUint8(pageOff));
        case 2: return BigInt(v.getUint16(pageOff, true));
        case 4: return BigInt(v.getUint32(pageOff, true));
        case 8: return v.getBigUint64(pageOff, true);
      }
    }
    let value = 0n;
    for (let i = size - 1; i >= 0; i--) {
      const b = this.byteAt(offset + BigInt(i));
      if (isEngineError(b)) return b;
      value = (value << 8n) | BigInt(b);
    }
    return value;
  }

  write(offset: bigint, size: AccessSize, value: bigint): EngineError | undefined {
    if (offset < 0n || offset + BigInt(size) > this.size) return outOfRange(this.label, offset, size, this.size);
    const gap = this.uncovered(offset, size);
    if (gap) return gap;
    const first = Number(offset >> BPAGE_BITS);
    const last = Number((offset + BigInt(size) - 1n) >> BPAGE_BITS);
    for (let p = first; p <= last; p++) {
      const err = this.copyUp(p);
      if (err) return err;
    }
    return this.overlay.write(offset, size, value);
  }

  /** Pages written (held by the overlay). */
  get writtenPages(): number {
    return this.written.size;
  }

  get cachedPages(): number {
    return this.cache.size;
  }

  dropCache(): void {
    this.cache.clear();
    this.newest = this.oldest = undefined;
  }

  /** Closes the source's file; a later read opens it again (Node's source) or faults. */
  close(): void {
    this.dropCache();
    try {
      this.source.close?.();
    } catch {
      // Nothing to do about a failed close; reads report their own errors.
    }
  }

  describe(): string {
    const where = this.spec.format === 'raw' ? `file offset ${hex(this.spec.offset ?? 0n)}` : `physical ${hex(this.spec.offset ?? 0n)}`;
    return `${this.spec.format} image ${this.spec.file} at ${where}: ${this.extents.length} extent(s), ${this.cache.size} page(s) cached, ${this.written.size} page(s) written`;
  }

  /** An EngineError when some byte of [offset, offset+size) is in no extent (a gap in a dump). */
  private uncovered(offset: bigint, size: number): EngineError | undefined {
    const ex = this.extents;
    let i = this.lastExtent;
    let e = ex[i];
    if (!(e && offset >= e.start && offset < e.end)) {
      i = this.extentIndex(offset);
      e = ex[i];
      if (!e || offset >= e.end) return this.gap(offset);
      this.lastExtent = i;
    }
    const end = offset + BigInt(size);
    while (end > e.end) {
      const next = ex[i + 1];
      if (!next || next.start !== e.end) return this.gap(e.end);
      e = next;
      i++;
    }
    return undefined;
  }

  /** Index of the last extent starting at or before `a` (or -1). */
  private extentIndex(a: bigint): number {
    let lo = 0;
    let hi = this.extents.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.extents[mid]!.start <= a) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  private gap(a: bigint): EngineError {
    const base = this.spec.offset ?? 0n;
    return engineError(
      'memory-fault',
      `${this.label}: no PT_LOAD segment of ${this.spec.file} holds physical address ${hex(base + a)} (offset ${hex(a)} in ${this.label}); the dump does not contain it`,
    );
  }

  private byteAt(a: bigint): number | EngineError {
    const p = Number(a >> BPAGE_BITS);
    if (this.written.has(p)) return Number(this.overlay.read(a, 1));
    const page = this.page(p);
    return isEngineError(page) ? page : page.bytes[Number(a & PAGE_MASK)]!;
  }

  /** Copy-on-write: the page's current contents move into the overlay before its first write. */
  private copyUp(p: number): EngineError | undefined {
    if (this.written.has(p)) return undefined;
    const page = this.page(p);
    if (isEngineError(page)) return page;
    const start = BigInt(p) << BPAGE_BITS;
    const len = this.size - start < BigInt(PAGE_SIZE) ? Number(this.size - start) : PAGE_SIZE;
    const err = this.overlay.writeBytes(start, page.bytes.subarray(0, len));
    if (err) return err;
    this.written.add(p);
    const cached = this.cache.get(p);
    if (cached) {
      this.unlink(cached);
      this.cache.delete(p);
    }
    return undefined;
  }

  /** Page `p` of the region as the image has it (gaps as zeros), through the cache. */
  private page(p: number): CachedPage | EngineError {
    const hit = this.cache.get(p);
    if (hit) {
      this.stats.cacheHits++;
      if (hit !== this.newest) {
        this.unlink(hit);
        this.pushFront(hit);
      }
      return hit;
    }
    this.stats.cacheMisses++;
    const buf = new Uint8Array(PAGE_SIZE);
    const pStart = BigInt(p) << BPAGE_BITS;
    const pEnd = pStart + BigInt(PAGE_SIZE);
    for (let i = Math.max(0, this.extentIndex(pStart)); i < this.extents.length; i++) {
      const e = this.extents[i]!;
      if (e.start >= pEnd) break;
      const lo = e.start > pStart ? e.start : pStart;
      const hi = e.dataEnd < pEnd ? e.dataEnd : pEnd;
      if (hi <= lo) continue;
      this.stats.sourceReads++;
      const bytes = safeReadAt(this.source, e.fileOffset + Number(lo - e.start), Number(hi - lo), this.source.label ?? this.spec.file);
      if (isEngineError(bytes)) return engineError('memory-fault', `${this.label}: ${bytes.message}`);
      buf.set(bytes, Number(lo - pStart));
    }
    if (this.cache.size >= this.cachePages && this.oldest) {
      const victim = this.oldest;
      this.unlink(victim);
      this.cache.delete(victim.page);
    }
    const entry: CachedPage = { page: p, bytes: buf, view: new DataView(buf.buffer), newer: undefined, older: undefined };
    this.cache.set(p, entry);
    this.pushFront(entry);
    return entry;
  }

  private unlink(e: CachedPage): void {
    if (e.newer) e.newer.older = e.older;
    else this.newest = e.older;
    if (e.older) e.older.newer = e.newer;
    else this.oldest = e.newer;
    e.newer = e.older = undefined;
  }

  private pushFront(e: CachedPage): void {
    e.older = this.newest;
    if (this.newest) this.newest.newer = e;
    this.newest = e;
    if (!this.oldest) this.oldest = e;
  }
}

export interface OpenedImage {
  /** Undefined when the image cannot be used at all (the problems say why). */
  readonly backing?: ImageBacking;
  readonly problems: ImageProblem[];
  /** For elf-core: what the headers say. */
  readonly core?: ElfCore;
}

/**
 * Lays an image over a region of `regionSize` bytes: raw at a file offset, or an ELF core's
 * segments by physical address. Never throws; a problem names the file and the reason.
 */
export function openImageBacking(source: ByteSource, spec: ImageSpec, regionSize: bigint, regionName: string, opts: ImageBackingOptions = {}): OpenedImage {
  try {
    return spec.format === 'raw' ? openRaw(source, spec, regionSize, regionName, opts) : openElfCore(source, spec, regionSize, regionName, opts);
  } catch (e) {
    return {
      problems: [{ severity: 'error', code: 'image-error', at: 'file', message: `${spec.file}: reading the image failed: ${e instanceof Error ? e.message : String(e)}` }],
    };
  }
}

function openRaw(source: ByteSource, spec: ImageSpec, regionSize: bigint, regionName: string, opts: ImageBackingOptions): OpenedImage {
  const fileSize = sourceSize(source);
  const offset = spec.offset ?? 0n;
  if (offset > fileSize) {
    return {
      problems: [
        {
          severity: 'error',
          code: 'image-error',
          at: 'offset',
          message: `${spec.file}: offset ${hex(offset)} is past the end of the file (${hex(fileSize)} bytes); ${regionName} reads as zeros`,
        },
      ],
    };
  }
  const problems: ImageProblem[] = [];
  let held = fileSize - offset;
  if (spec.size !== undefined) {
    if (spec.size > held) {
      problems.push({
        severity: 'warning',
        code: 'image-size',
        at: 'size',
        message: `${spec.file}: the ${hex(spec.size)}-byte slice from offset ${hex(offset)} runs past the end of the file (${hex(fileSize)} bytes); the rest of ${regionName} reads as zeros`,
      });
    } else held = spec.size;
  }
  if (held > regionSize) {
    problems.push({
      severity: 'warning',
      code: 'image-size',
      at: 'image',
      message: `${spec.file} holds ${hex(held)} bytes from offset ${hex(offset)}, more than ${regionName}'s ${hex(regionSize)}; the last ${hex(held - regionSize)} are not part of the region`,
    });
  }
  if (offset + (held < regionSize ? held : regionSize) > BigInt(Number.MAX_SAFE_INTEGER)) {
    return { problems: [...problems, { severity: 'error', code: 'image-error', at: 'offset', message: `${spec.file}: offset ${hex(offset)} is beyond what can be read here` }] };
  }
  // Past the image's end the region is RAM the image did not fill: zeros, as QEMU's loaders leave it.
  const extents: ImageExtent[] = [{ start: 0n, end: regionSize, dataEnd: held < regionSize ? held : regionSize, fileOffset: Number(offset) }];
  return { backing: new ImageBacking(regionSize, source, spec, extents, regionName, opts), problems };
}

function openElfCore(source: ByteSource, spec: ImageSpec, regionSize: bigint, regionName: string, opts: ImageBackingOptions): OpenedImage {
  const parsed = parseElfCore(source, spec.file);
  if (!parsed.core) return { problems: parsed.problems.map((p) => (p.severity === 'error' ? { ...p, message: `${p.message}; ${regionName} reads as zeros` } : p)) };
  const { core } = parsed;
  const problems = [...parsed.problems];
  const base = spec.offset ?? 0n;
  const top = base + regionSize;
  const extents: ImageExtent[] = [];
  for (const s of core.segments) {
    const sEnd = s.paddr + s.memsz;
    if (sEnd <= base || s.paddr >= top) continue; // another region's memory, or none of ours
    if ((s.paddr < base || sEnd > top) && spec.size === undefined) {
      const lo = s.paddr < base ? base - s.paddr : 0n;
      const hi = sEnd > top ? sEnd - top : 0n;
      problems.push({
        severity: 'warning',
        code: 'image-size',
        at: 'image',
        message: `${spec.file}: program header ${s.index} (physical [${hex(s.paddr)}, ${hex(sEnd - 1n)}]) runs ${[lo ? `${hex(lo)} bytes below` : '', hi ? `${hex(hi)} bytes past the end of` : ''].filter(Boolean).join(' and ')} ${regionName} (physical [${hex(base)}, ${hex(top - 1n)}]); only the part inside is used`,
      });
    }
    const pStart = s.paddr > base ? s.paddr : base;
    const pEnd = sEnd < top ? sEnd : top;
    const dataTop = s.paddr + s.filesz;
    const skip = pStart - s.paddr;
    extents.push({
      start: pStart - base,
      end: pEnd - base,
      dataEnd: (dataTop < pStart ? pStart : dataTop > pEnd ? pEnd : dataTop) - base,
      fileOffset: Number(s.fileOffset + (skip < s.filesz ? skip : s.filesz)),
      segment: s.index,
    });
  }
  if (extents.length === 0 && core.segments.length > 0) {
    const shown = core.segments.slice(0, 4).map((s) => `[${hex(s.paddr)}, ${hex(s.paddr + s.memsz - 1n)}]`);
    problems.push({
      severity: 'warning',
      code: 'image-size',
      at: spec.offset === undefined ? 'image' : 'offset',
      message: `${spec.file}: no PT_LOAD segment lies in ${regionName}'s physical range [${hex(base)}, ${hex(top - 1n)}] (segments: ${shown.join(', ')}${core.segments.length > 4 ? ', ...' : ''}); set image.offset to the physical address ${regionName} starts at`,
    });
  }
  return { backing: new ImageBacking(regionSize, source, spec, extents, regionName, opts), problems, core };
}
