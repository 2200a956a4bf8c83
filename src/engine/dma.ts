/**
 * Accesses of any length, split into pieces as QEMU's DMA helpers split them (dma_memory_rw ->
 * address_space_rw -> flatview_read_continue / flatview_write_continue, system/physmem.c): each
 * piece is translated on its own (so a DMA that crosses pages or mappings is one translation per
 * page), clipped to the flat range it lands in and to the IOMMU page, then
 *  - RAM: copied whole;
 *  - MMIO: cut by memory_access_size to the device's largest valid access, to the offset's
 *    natural alignment and to a power of two;
 *  - a failed translation or an unassigned address: one piece to the end of the 4 KiB page (a
 *    device's transaction crosses no 4 KiB boundary), or, with `failedPieces: 4`, QEMU's own rule:
 *    io_mem_unassigned has no valid.max_access_size, so memory_access_size cuts at 4 bytes and
 *    each 4-byte piece is translated again (and records its own IOMMU event). QEMU 7.2 does this
 *    (reference, "Observed" 6: one failed 8-byte DMA records two SMMUv3 events).
 * The results are ORed (MEMTX_OK only when every piece succeeded), as the loop does.
 */
import { MemTxResult, type MemTxAttrs } from './attrs';
import type { AddressSpace } from './address-space';
import type { EngineError } from './errors';
import type { AccessSize } from './guest-memory';
import { MmioRegion, RamRegion } from './memory';
import { translateAccess, type AccessOp, type Landing } from './translate';

export type FailedPieces = 'page' | 4;

export interface DmaRequest {
  readonly as: AddressSpace;
  readonly addr: bigint;
  readonly op: AccessOp;
  readonly attrs: MemTxAttrs;
  /** Length in bytes (at least 1). */
  readonly len: number;
  /** The bytes to write, `len` of them. */
  readonly data?: Uint8Array;
  /** How a failed or unassigned stretch is cut (default 'page'). */
  readonly failedPieces?: FailedPieces;
  /** Translate only (a query): pieces are computed as for a read, nothing is accessed or recorded. */
  readonly probe?: boolean;
}

export interface DmaPiece {
  readonly addr: bigint;
  readonly len: number;
  readonly result: MemTxResult;
  readonly landing: Landing;
  /** Little-endian value of the piece for reads of at most 8 bytes. */
  readonly value?: bigint;
  /** What the RAM backing refused (an image with no data there), when it did. */
  readonly error?: EngineError;
}

export interface DmaResult {
  /** OR of the pieces' results. */
  readonly result: MemTxResult;
  readonly pieces: readonly DmaPiece[];
  /** For a read, the bytes read (0 where a piece failed, as QEMU's unassigned reads). */
  readonly data?: Uint8Array;
}

const PAGE = 4096n;
/** More pieces than this in one access is a config mistake, not a DMA (a 16 MiB copy in bytes). */
export const DMA_MAX_PIECES = 1 << 20;

/** memory_access_size: the device's largest access, cut to the offset's alignment and to a power of two. */
export function memoryAccessSize(max: number, len: number, offset: bigint): AccessSize {
  let size = max;
  const align = Number(offset & -offset & 0xffn);
  if (align !== 0 && align < size) size = align;
  if (len < size) size = len;
  // pow2floor
  let p = 1;
  while (p * 2 <= size) p *= 2;
  return p as AccessSize;
}

export function dmaAccess(req: DmaRequest): DmaResult {
  const pieces: DmaPiece[] = [];
  const out = req.op === 'read' ? new Uint8Array(req.len) : undefined;
  let result: MemTxResult = MemTxResult.OK;
  let addr = req.addr;
  let done = 0;
  while (done < req.len && pieces.length < DMA_MAX_PIECES) {
    const rest = req.len - done;
    const landing = translateAccess({ as: req.as, addr, op: req.op, attrs: req.attrs, probe: req.probe });
    const region = landing.region;
    let l: number;
    let r: MemTxResult = landing.result;
    let value: bigint | undefined;
    let error: EngineError | undefined;
    if (landing.result !== MemTxResult.OK || region === undefined) {
      l = req.failedPieces === 4 ? memoryAccessSize(4, rest, addr) : Math.min(rest, Number(PAGE - (addr % PAGE)));
      if (l <= 8 && !req.probe) value = 0n;
    } else {
      const range = landing.as.lookup(landing.addr);
      const toRangeEnd = range ? range.end - landing.addr : BigInt(rest);
      const mask = landing.entry.addrMask;
      const toPageEnd = (landing.addr | mask) - landing.addr + 1n;
      l = Number(minBig(BigInt(rest), toRangeEnd, toPageEnd));
      if (region instanceof MmioRegion) {
        l = memoryAccessSize(region.ops?.maxAccessSize ?? 8, l, landing.offset);
        if (!req.probe) {
          const size = l as AccessSize;
          if (req.op === 'read') {
            const got = region.ops ? region.ops.read(landing.offset, size, req.attrs) : { value: BigInt.asUintN(8 * size, region.readsAs), result: MemTxResult.OK };
            region.record({ op: 'read', offset: landing.offset, size, value: got.value, attrs: req.attrs });
            r = got.result;
            value = got.value;
          } else {
            const v = bytesToValue(req.data, done, size);
            r = region.ops ? region.ops.write(landing.offset, size, v, req.attrs) : MemTxResult.OK;
            region.record({ op: 'write', offset: landing.offset, size, value: v, attrs: req.attrs });
          }
        }
      } else if (region instanceof RamRegion) {
        if (req.op === 'write' && region.rom) {
          // A ROM refuses writes (see RamRegion.rom).
          r = MemTxResult.DECODE_ERROR;
        } else if (req.op === 'write' && region.romd) {
          // A ROM device takes them, in its MMIO ops (see RamRegion.romd): nothing is written.
          r = MemTxResult.OK;
        } else if (!req.probe) {
          error = req.op === 'read' ? ramRead(region, landing.offset, l, out!, done) : ramWrite(region, landing.offset, l, req.data, done);
          r = error ? MemTxResult.ERROR : MemTxResult.OK;
          if (req.op === 'read' && l <= 8) value = bytesToValue(out, done, l);
        }
      } else {
        r = MemTxResult.DECODE_ERROR;
      }
    }
    if (out && value !== undefined) for (let i = 0; i < l && i < 8; i++) out[done + i] = Number((value >> BigInt(8 * i)) & 0xffn);
    pieces.push({ addr, len: l, result: r, landing, value: req.op === 'read' ? value : undefined, error });
    result |= r;
    done += l;
    addr = BigInt.asUintN(64, addr + BigInt(l));
  }
  return { result, pieces, data: out };
}

function minBig(...v: bigint[]): bigint {
  return v.reduce((a, b) => (b < a ? b : a));
}

function bytesToValue(data: Uint8Array | undefined, at: number, len: number): bigint {
  let v = 0n;
  for (let i = Math.min(len, 8) - 1; i >= 0; i--) v = (v << 8n) | BigInt(data?.[at + i] ?? 0);
  return v;
}

function ramRead(ram: RamRegion, offset: bigint, len: number, out: Uint8Array, at: number): EngineError | undefined {
  for (let i = 0; i < len; ) {
    const size = chunk(offset + BigInt(i), len - i);
    const v = ram.backing.read(offset + BigInt(i), size);
    if (typeof v !== 'bigint') return v;
    for (let b = 0; b < size; b++) out[at + i + b] = Number((v >> BigInt(8 * b)) & 0xffn);
    i += size;
  }
  return undefined;
}

function ramWrite(ram: RamRegion, offset: bigint, len: number, data: Uint8Array | undefined, at: number): EngineError | undefined {
  for (let i = 0; i < len; ) {
    const size = chunk(offset + BigInt(i), len - i);
    const err = ram.backing.write(offset + BigInt(i), size, bytesToValue(data, at + i, size));
    if (err) return err;
    i += size;
  }
  return undefined;
}

/** The largest naturally aligned chunk (at most 8 bytes) at `offset` within `len`. */
function chunk(offset: bigint, len: number): AccessSize {
  for (const s of [8, 4, 2] as const) if (len >= s && offset % BigInt(s) === 0n) return s;
  return 1;
}

/** Little-endian bytes of a value. */
export function valueBytes(value: bigint, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len && i < 8; i++) b[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return b;
}
