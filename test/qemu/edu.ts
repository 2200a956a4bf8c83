/**
 * QEMU's edu device (hw/misc/edu.c) as the real-QEMU suites drive it through qtest: its DMA
 * registers at BAR 0 + 0x80..0x98 and its 4 KiB DMA buffer at edu address 0x40000. The SMMUv3
 * (virt) and VT-d (q35) set-ups bind these to where their machine puts edu's BAR.
 */
import type { QtestClient } from './qtest';

/** edu's DMA buffer (DMA_START), the edu-side address of a DMA. */
export const EDU_DMA_BUF = 0x40000n;

/** One edu DMA through BAR 0 at `bar`: `toPci` writes edu's buffer at `bufOffset` to `pciAddr`, else reads `pciAddr` into it. */
export function eduDmaAt(qt: QtestClient, bar: bigint, pciAddr: bigint, count: number, toPci: boolean, bufOffset = 0n): Promise<void> {
  const buf = EDU_DMA_BUF + bufOffset;
  return eduTransferAt(qt, bar, toPci ? buf : pciAddr, toPci ? pciAddr : buf, count, toPci);
}

/** An edu DMA of `count` bytes from `src` to `dst` (`toPci`: from edu's buffer to PCI, else the other way), waited for. */
export async function eduTransferAt(qt: QtestClient, bar: bigint, src: bigint, dst: bigint, count: number, toPci: boolean): Promise<void> {
  await qt.writeq(bar + 0x80n, src);
  await qt.writeq(bar + 0x88n, dst);
  await qt.writeq(bar + 0x90n, BigInt(count));
  await qt.writeq(bar + 0x98n, toPci ? 0x3n : 0x1n);
  await eduDmaDoneAt(qt, bar);
}

/**
 * edu runs a DMA from a timer 100 ms of virtual time after the command, and clears the command's
 * RUN bit when done. Debian's QEMU has no qtest accelerator (no clock_step): the guest must run
 * (on virt QemuProcess's `spin` gives its CPU a branch-to-self; q35 idles halted) and the test polls.
 */
export async function eduDmaDoneAt(qt: QtestClient, bar: bigint, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await qt.readq(bar + 0x98n)) & 1n) {
    if (Date.now() > deadline) throw new Error(`edu's DMA did not complete within ${timeoutMs} ms (is the guest running?)`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
