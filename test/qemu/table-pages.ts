/**
 * Tables the engine's builders lay out for a real QEMU: a copy of the tables area that records
 * which 4 KiB pages a build writes, and the write of that area into QEMU's guest RAM through
 * qtest (zeroed first, so that a previous set-up's tables do not survive, then the pages written).
 */
import { SparseMemory, type AccessSize, type EngineError, type MemoryBacking } from '../../src/engine';
import type { QtestClient } from './qtest';

/** Records which 4 KiB pages a build writes. */
export class Recording implements MemoryBacking {
  readonly dirty = new Set<bigint>();
  readonly inner: SparseMemory;
  constructor(size: bigint) {
    this.inner = new SparseMemory(size, 'tables');
  }
  get size(): bigint {
    return this.inner.size;
  }
  read(offset: bigint, size: AccessSize): bigint | EngineError {
    return this.inner.read(offset, size);
  }
  write(offset: bigint, size: AccessSize, value: bigint): EngineError | undefined {
    this.dirty.add(offset >> 12n);
    this.dirty.add((offset + BigInt(size) - 1n) >> 12n);
    return this.inner.write(offset, size, value);
  }
}

/** Writes the tables area at guest-physical `at` into QEMU: zeros, then every page the build wrote. */
export async function writeTables(qt: QtestClient, mem: Recording, at: bigint): Promise<void> {
  await qt.memset(at, Number(mem.size), 0);
  for (const p of [...mem.dirty].sort((a, b) => (a < b ? -1 : 1))) {
    const bytes = new Uint8Array(4096);
    const dv = new DataView(bytes.buffer);
    for (let i = 0; i < 4096; i += 8) {
      const v = mem.inner.read(p * 4096n + BigInt(i), 8);
      dv.setBigUint64(i, typeof v === 'bigint' ? v : 0n, true);
    }
    await qt.memwrite(at + p * 4096n, bytes);
  }
}
