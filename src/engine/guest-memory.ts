/**
 * Guest memory contents. A RAM region reads and writes through a MemoryBacking; the engine's
 * own backing is a sparse, page-based store (untouched pages read as zero). File-backed images
 * live in src/node and implement the same interface.
 */
import { engineError, type EngineError } from './errors';
import { hex } from './hex';

export type AccessSize = 1 | 2 | 4 | 8;

export function isAccessSize(n: number): n is AccessSize {
  return n === 1 || n === 2 || n === 4 || n === 8;
}

export interface MemoryBacking {
  readonly size: bigint;
  /** Little-endian read; an EngineError (code `memory-fault`) past the end or where nothing backs it. */
  read(offset: bigint, size: AccessSize): bigint | EngineError;
  write(offset: bigint, size: AccessSize, value: bigint): EngineError | undefined;
  /** Offsets with content, for views (optional). */
  describe?(): string;
  /**
   * Optional: zeroes [offset, offset + size) at once (a builder clearing the tables it allocates),
   * as `size / 8` writes of 0 would; an error past the end, where nothing is written.
   */
  fillZero?(offset: bigint, size: bigint): EngineError | undefined;
  /**
   * Optional fast path for descriptor reads: the little-endian 64-bit word at a number offset
   * as two unsigned 32-bit halves into `out` (no bigint, no allocation). False exactly where
   * read(offset, 8) returns an error. Backings without it are read through read().
   */
  readHalves?(offset: number, out: WordHalves): boolean;
  /**
   * Optional, for table walkers: the 4 KiB page at page index `index` (offset / 4096) as 1024
   * little-endian 32-bit words, live (later writes show through), or undefined where no page is
   * held (a sparse store's unwritten page, which reads as zero) or the host is big-endian. The
   * caller checks the offset against `size` first and reads words [0, 1024) only.
   */
  wordPage?(index: number): Uint32Array | undefined;
}

/** The two 32-bit halves of a 64-bit word: `lo` is bits [31:0], `hi` bits [63:32]. */
export interface WordHalves {
  lo: number;
  hi: number;
}

const PAGE_BITS = 12;
const PAGE_SIZE = 1 << PAGE_BITS;
const PAGE_MASK = BigInt(PAGE_SIZE - 1);
/** Slots of SparseMemory's page cache for readHalves (a power of two). */
const WORD_CACHE = 256;
/** The caches of a memory none of whose pages was read yet (never written to). */
const NO_CACHED_INDEX = new Float64Array(WORD_CACHE).fill(-1);
const NO_CACHED_WORDS: Array<Uint32Array | undefined> = new Array<Uint32Array | undefined>(WORD_CACHE).fill(undefined);
/** The page maps of a memory nothing has written to (SparseMemory.pageFor never adds to these). */
const NO_PAGES = new Map<number, DataView>();
const NO_WORDS = new Map<number, Uint32Array>();
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function outOfRange(what: string, offset: bigint, size: number, limit: bigint): EngineError {
  return engineError(
    'memory-fault',
    `${what}: access of ${size} byte(s) at offset ${hex(offset)} is outside its ${hex(limit)} bytes`,
  );
}

/** A sparse RAM store: 4 KiB pages allocated on first write. */
export class SparseMemory implements MemoryBacking {
  // Shared empty maps until the first page is written: a config of many regions allocates none
  // for the RAM nothing writes (pageFor replaces both before its first set).
  private pages: Map<number, DataView> = NO_PAGES;
  /**
   * The same pages as 32-bit words, for readHalves (in the host's byte order, so only on a
   * little-endian host; elsewhere readHalves goes through read()).
   */
  private words: Map<number, Uint32Array> = NO_WORDS;
  // Shared empty caches until the first page is read: a config of many regions allocates no cache for those never walked.
  private cachedIndex = NO_CACHED_INDEX;
  private cachedWords = NO_CACHED_WORDS;
  /** `size` as a number, capped at 2^53 (number offsets are below that). */
  private readonly limit: number;

  constructor(readonly size: bigint, private readonly label = 'ram') {
    this.limit = size > 1n << 53n ? 2 ** 53 : Number(size);
  }

  wordPage(index: number): Uint32Array | undefined {
    // A direct-mapped cache of present pages in front of the map (pages are never removed).
    const slot = index & (WORD_CACHE - 1);
    const cached = this.cachedWords[slot];
    if (cached !== undefined && this.cachedIndex[slot] === index) return cached;
    const words = this.words.get(index);
    if (words !== undefined) {
      if (this.cachedWords === NO_CACHED_WORDS) {
        this.cachedIndex = new Float64Array(WORD_CACHE).fill(-1);
        this.cachedWords = new Array<Uint32Array | undefined>(WORD_CACHE).fill(undefined);
      }
      this.cachedWords[slot] = words;
      this.cachedIndex[slot] = index;
    }
    return words;
  }

  readHalves(offset: number, out: WordHalves): boolean {
    if (!(offset >= 0 && offset + 8 <= this.limit)) return false;
    // Integer arithmetic while the offset fits 31 bits (a double `%` is a library call).
    const index = offset <= 0x7fffffff ? offset >>> PAGE_BITS : Math.floor(offset / PAGE_SIZE);
    const pageOff = offset <= 0x7fffffff ? offset & (PAGE_SIZE - 1) : offset - index * PAGE_SIZE;
    if ((pageOff & 3) === 0 && pageOff <= PAGE_SIZE - 8 && LITTLE_ENDIAN_HOST) {
      const words = this.wordPage(index);
      if (words === undefined) {
        out.lo = 0;
        out.hi = 0;
      } else {
        out.lo = words[pageOff >>> 2]!;
        out.hi = words[(pageOff >>> 2) + 1]!;
      }
      return true;
    }
    // Unaligned or across two pages (descriptors never are): the bigint path.
    const v = this.read(BigInt(offset), 8);
    if (typeof v !== 'bigint') return false;
    out.lo = Number(v & 0xffffffffn);
    out.hi = Number(v >> 32n);
    return true;
  }

  read(offset: bigint, size: AccessSize): bigint | EngineError {
    if (offset < 0n || offset + BigInt(size) > this.size) return outOfRange(this.label, offset, size, this.size);
    const pageOff = Number(offset & PAGE_MASK);
    if (pageOff + size <= PAGE_SIZE) {
      const page = this.pages.get(Number(offset >> BigInt(PAGE_BITS)));
      if (page === undefined) return 0n;
      switch (size) {
        case 1: return BigInt(page.getUint8(pageOff));
        case 2: return BigInt(page.getUint16(pageOff, true));
        case 4: return BigInt(page.getUint32(pageOff, true));
        case 8: return page.getBigUint64(pageOff, true);
      }
    }
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | this.byteAt(offset + BigInt(i));
    return v;
  }

  write(offset: bigint, size: AccessSize, value: bigint): EngineError | undefined {
    if (offset < 0n || offset + BigInt(size) > this.size) return outOfRange(this.label, offset, size, this.size);
    const pageOff = Number(offset & PAGE_MASK);
    if (pageOff + size <= PAGE_SIZE) {
      const page = this.pageFor(offset);
      switch (size) {
        case 1: page.setUint8(pageOff, Number(value & 0xffn)); break;
        case 2: page.setUint16(pageOff, Number(value & 0xffffn), true); break;
        case 4: page.setUint32(pageOff, Number(value & 0xffffffffn), true); break;
        case 8: page.setBigUint64(pageOff, BigInt.asUintN(64, value), true); break;
      }
      return undefined;
    }
    for (let i = 0; i < size; i++) {
      const a = offset + BigInt(i);
      this.pageFor(a).setUint8(Number(a & PAGE_MASK), Number((value >> BigInt(8 * i)) & 0xffn));
    }
    return undefined;
  }

  /** Writes bytes (for inline contents and tests); out-of-range bytes are an error, nothing is written. */
  writeBytes(offset: bigint, bytes: Uint8Array): EngineError | undefined {
    if (offset < 0n || offset + BigInt(bytes.length) > this.size) {
      return outOfRange(this.label, offset, bytes.length, this.size);
    }
    for (let i = 0; i < bytes.length; i++) {
      const a = offset + BigInt(i);
      this.pageFor(a).setUint8(Number(a & PAGE_MASK), bytes[i]!);
    }
    return undefined;
  }

  /** Zeroes a range: the pages held are cleared there; a page never written reads as zero already. */
  fillZero(offset: bigint, size: bigint): EngineError | undefined {
    if (offset < 0n || size < 0n || offset + size > this.size) return outOfRange(this.label, offset, Number(size), this.size);
    const end = offset + size;
    for (let a = offset; a < end; ) {
      const index = a >> BigInt(PAGE_BITS);
      const pageStart = index << BigInt(PAGE_BITS);
      const stop = end < pageStart + BigInt(PAGE_SIZE) ? end : pageStart + BigInt(PAGE_SIZE);
      const page = this.pages.get(Number(index));
      if (page !== undefined) new Uint8Array(page.buffer, page.byteOffset + Number(a - pageStart), Number(stop - a)).fill(0);
      a = stop;
    }
    return undefined;
  }

  /** Number of pages holding data. */
  get populatedPages(): number {
    return this.pages.size;
  }

  describe(): string {
    return `sparse, ${this.pages.size} page(s) written`;
  }

  private byteAt(a: bigint): bigint {
    const page = this.pages.get(Number(a >> BigInt(PAGE_BITS)));
    return page === undefined ? 0n : BigInt(page.getUint8(Number(a & PAGE_MASK)));
  }

  private pageFor(a: bigint): DataView {
    const idx = Number(a >> BigInt(PAGE_BITS));
    let page = this.pages.get(idx);
    if (page === undefined) {
      if (this.pages === NO_PAGES) {
        this.pages = new Map();
        this.words = new Map();
      }
      const buf = new ArrayBuffer(PAGE_SIZE);
      page = new DataView(buf);
      this.pages.set(idx, page);
      if (LITTLE_ENDIAN_HOST) this.words.set(idx, new Uint32Array(buf));
    }
    return page;
  }
}
