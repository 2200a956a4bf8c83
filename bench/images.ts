/**
 * Memory images: how long a 4 GiB ELF core takes to open (the goal is under 50 ms: only its
 * headers are read) and how fast random 8-byte reads go, through the page cache (misses: a
 * positioned read each) and from it (hits). The core is written sparse into a temporary
 * directory, so it takes a few pages of disk, and removed afterwards. Figures are medians over
 * rounds. bench/bench.ts calls benchImages().
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isEngineError } from '../src/engine/errors';
import { openImageBacking, type ImageBacking } from '../src/engine/images/image-backing';
import { openImageFile } from '../src/node/images';
import { le, writeElfCore } from '../test/fixtures/images/elf-core-writer';

export interface ImageBenchResult {
  name: string;
  value: number;
  unit: string;
}

const GiB = 1n << 30n;
const ROUNDS = 7;
const READS = 4000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** xorshift32: the same addresses every run. */
function randomOffsets(n: number, span: bigint, seed = 0x9e3779b9): bigint[] {
  let x = seed >>> 0;
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    // 32 random bits times 8: an 8-aligned offset in 32 GiB, folded into the span.
    out.push((BigInt(x) << 3n) % span);
  }
  return out;
}

function open(file: string, relativeTo: string): ImageBacking {
  const src = openImageFile(file, relativeTo);
  if (isEngineError(src)) throw new Error(src.message);
  const o = openImageBacking(src, { file, format: 'elf-core' }, 4n * GiB, 'ram');
  if (!o.backing || o.problems.length) throw new Error(o.problems.map((p) => p.message).join('; ') || 'no backing');
  return o.backing;
}

export function benchImages(): Array<{ name: string; value: number; unit: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lens-bench-'));
  const cfg = path.join(dir, 'bench.iommu.yaml');
  try {
    // The layout QEMU writes for a 4 GiB x86 guest: low RAM below the PCI hole, the rest above 4 GiB
    // (physical addresses here are folded into one 4 GiB region, segments back to back).
    writeElfCore(path.join(dir, 'guest.elf'), {
      segments: [
        { paddr: 0n, memsz: 0xa_0000n, data: [{ at: 0x1000n, bytes: le(0x1111n, 8) }] },
        { paddr: 0x10_0000n, memsz: 0xbff0_0000n, data: [{ at: 0x10_0000n, bytes: le(0x2222n, 8) }] },
        { paddr: 0xc000_0000n, memsz: 0x4000_0000n, data: [{ at: 0n, bytes: le(0x3333n, 8) }] },
      ],
    });
    const size = fs.statSync(path.join(dir, 'guest.elf')).size;

    const openMs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const t0 = performance.now();
      const b = open('guest.elf', cfg);
      openMs.push(performance.now() - t0);
      b.close();
    }

    const b = open('guest.elf', cfg);
    // Reads inside the segments (the PCI-hole gap [0xa0000, 0x100000) would fault, not read).
    const offsets = randomOffsets(READS, 4n * GiB).map((o) => (o >= 0xa_0000n && o < 0x10_0000n ? o + 0x6_0000n : o));
    const missRates: number[] = [];
    const hitRates: number[] = [];
    // The first 256 offsets again and again: all from the cache (512 pages).
    const hot = offsets.slice(0, 256);
    const HOT_PASSES = 200;
    let faults = 0;
    for (let r = -1; r < ROUNDS; r++) {
      // Round -1 warms the JIT up and is not counted.
      b.dropCache();
      let t0 = performance.now();
      for (const o of offsets) if (isEngineError(b.read(o, 8))) faults++;
      const miss = (READS * 1000) / (performance.now() - t0);
      t0 = performance.now();
      for (let k = 0; k < HOT_PASSES; k++) for (const o of hot) if (isEngineError(b.read(o, 8))) faults++;
      const hit = (hot.length * HOT_PASSES * 1000) / (performance.now() - t0);
      if (r >= 0) {
        missRates.push(miss);
        hitRates.push(hit);
      }
    }
    b.close();
    if (faults) throw new Error(`${faults} reads faulted`);

    return [
      { name: `open a ${(size / 2 ** 30).toFixed(0)} GiB sparse ELF core (goal < 50 ms)`, value: median(openMs), unit: 'ms' },
      { name: `random 8-byte reads of it, uncached (${READS} reads, a positioned read each)`, value: median(missRates), unit: 'reads/s' },
      { name: 'random 8-byte reads of it, from the page cache', value: median(hitRates), unit: 'reads/s' },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
