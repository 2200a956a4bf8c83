/** Formatting and arithmetic helpers for 64-bit guest addresses held as bigint. */

export const U64_MAX = (1n << 64n) - 1n;
export const HWADDR_MAX = U64_MAX;

export function hex(v: bigint | number, width = 0): string {
  const s = (typeof v === 'bigint' ? v : BigInt(v)).toString(16);
  return '0x' + (width > s.length ? '0'.repeat(width - s.length) + s : s);
}

/** `[start, end]` inclusive, as QEMU writes notifier ranges. */
export function formatRange(start: bigint, endInclusive: bigint): string {
  return `[${hex(start)}, ${hex(endInclusive)}]`;
}

export function isPowerOfTwo(v: bigint): boolean {
  return v > 0n && (v & (v - 1n)) === 0n;
}

/** Count trailing zeros of a positive bigint (QEMU's ctz64). */
export function ctz(v: bigint): number {
  if (v === 0n) return 64;
  let n = 0;
  while ((v & 1n) === 0n) {
    v >>= 1n;
    n++;
  }
  return n;
}

/**
 * Splits `[start, start+size)` into naturally aligned power-of-two chunks, largest first at each
 * position, as QEMU's virtio-iommu and SMMUv3 do before notifying (an IOTLB entry's mask must be
 * 2^n-1 with an aligned iova).
 */
export function powerOfTwoChunks(start: bigint, size: bigint): Array<{ iova: bigint; size: bigint }> {
  const out: Array<{ iova: bigint; size: bigint }> = [];
  let addr = start;
  let left = size;
  while (left > 0n) {
    const align = addr === 0n ? 1n << 64n : addr & -addr;
    let chunk = 1n;
    while (chunk * 2n <= left && chunk * 2n <= align) chunk *= 2n;
    out.push({ iova: addr, size: chunk });
    addr += chunk;
    left -= chunk;
  }
  return out;
}
