/**
 * The request virtqueue in guest memory (a split virtqueue, virtio 1.x section 2.7): the driver
 * side writes a request into a buffer, chains two descriptors (the request, device-readable; the
 * tail or probe buffer, device-writable), publishes the chain in the available ring and kicks;
 * the device side (virtio_iommu_handle_command) pops every available chain, reads the request
 * bytes, handles it, writes the status (and for PROBE the properties) into the writable buffer
 * and returns the chain in the used ring. Requests a scenario issues go this way when the config
 * gives a queue, so they pass through guest memory as the guest's do; `kick` makes the device
 * process chains written into memory by other steps.
 *
 * Layout from `at`: the descriptor table (16 bytes per entry), the available ring (flags, idx,
 * ring[size], used_event), the used ring (4-aligned: flags, idx, ring[size] of {id, len},
 * avail_event), then one 1 KiB buffer per descriptor pair (request at +0, writable buffer at
 * +128). Notifications (the interrupt after a push) are not modelled.
 */
import { MEMTXATTRS_UNSPECIFIED, MemTxResult } from '../../attrs';
import type { AddressSpace } from '../../address-space';
import type { AccessSize } from '../../guest-memory';
import { hex } from '../../hex';
import { performAccess } from '../../translate';

export const VRING_DESC_F_NEXT = 1;
export const VRING_DESC_F_WRITE = 2;
const SLOT = 1024n;
const IN_OFFSET = 128n;

export interface QueueLayout {
  readonly as: AddressSpace;
  readonly at: bigint;
  /** Entries (a power of two, at most 256: VIOMMU_DEFAULT_QUEUE_SIZE). */
  readonly size: number;
}

/** One chain the device popped: its head index, the bytes it reads and where it may write. */
export interface PoppedChain {
  readonly head: number;
  readonly out: Uint8Array;
  readonly inSegs: ReadonlyArray<{ readonly addr: bigint; readonly len: number }>;
}

export class RequestQueue {
  readonly desc: bigint;
  readonly avail: bigint;
  readonly used: bigint;
  readonly buffers: bigint;
  /** The device's last_avail_idx. */
  lastAvail = 0;
  /** The driver's next descriptor pair. */
  private nextSlot = 0;

  constructor(readonly layout: QueueLayout) {
    const n = BigInt(layout.size);
    this.desc = layout.at;
    this.avail = this.desc + 16n * n;
    this.used = align(this.avail + 6n + 2n * n, 4n);
    this.buffers = align(this.used + 6n + 8n * n, 16n);
  }

  /** Bytes from the queue's start to the end of its buffers. */
  get footprint(): bigint {
    return this.buffers + SLOT * BigInt(this.layout.size / 2) - this.layout.at;
  }

  read(addr: bigint, size: AccessSize): bigint | undefined {
    const r = performAccess({ as: this.layout.as, addr, op: 'read', size, attrs: MEMTXATTRS_UNSPECIFIED });
    return r.result === MemTxResult.OK && r.error === undefined ? r.value : undefined;
  }

  write(addr: bigint, size: AccessSize, value: bigint): boolean {
    const r = performAccess({ as: this.layout.as, addr, op: 'write', size, value, attrs: MEMTXATTRS_UNSPECIFIED });
    return r.result === MemTxResult.OK && r.error === undefined;
  }

  writeBytes(addr: bigint, bytes: Uint8Array): boolean {
    for (let i = 0; i < bytes.length; i++) if (!this.write(addr + BigInt(i), 1, BigInt(bytes[i]!))) return false;
    return true;
  }

  readBytes(addr: bigint, len: number): Uint8Array | undefined {
    const out = new Uint8Array(len);
    for (let i = 0; i < len; i++) {
      const v = this.read(addr + BigInt(i), 1);
      if (v === undefined) return undefined;
      out[i] = Number(v);
    }
    return out;
  }

  // --- the driver ---------------------------------------------------------------------------

  /** Writes a request and a writable buffer of inLen bytes, chains them, makes them available. Returns the writable buffer's address. */
  submit(request: Uint8Array, inLen: number): { head: number; inAddr: bigint } | string {
    const size = this.layout.size;
    const head = (this.nextSlot * 2) % size;
    const slot = this.buffers + SLOT * BigInt(head / 2);
    const inAddr = slot + IN_OFFSET;
    const d = (i: number) => this.desc + 16n * BigInt(i);
    const ok =
      this.writeBytes(slot, request) &&
      this.write(d(head), 8, slot) &&
      this.write(d(head) + 8n, 4, BigInt(request.length)) &&
      this.write(d(head) + 12n, 2, BigInt(VRING_DESC_F_NEXT)) &&
      this.write(d(head) + 14n, 2, BigInt(head + 1)) &&
      this.write(d(head + 1), 8, inAddr) &&
      this.write(d(head + 1) + 8n, 4, BigInt(inLen)) &&
      this.write(d(head + 1) + 12n, 2, BigInt(VRING_DESC_F_WRITE)) &&
      this.write(d(head + 1) + 14n, 2, 0n);
    if (!ok) return `the request queue at ${hex(this.layout.at)} cannot be written in ${this.layout.as.name}`;
    const idx = this.read(this.avail + 2n, 2);
    if (idx === undefined) return `the available ring at ${hex(this.avail)} cannot be read`;
    this.write(this.avail + 4n + 2n * (idx % BigInt(size)), 2, BigInt(head));
    this.write(this.avail + 2n, 2, (idx + 1n) & 0xffffn);
    this.nextSlot = (this.nextSlot + 1) % (size / 2);
    return { head, inAddr };
  }

  // --- the device ---------------------------------------------------------------------------

  /** virtqueue_pop: the next available chain, undefined when none, or why the ring is broken. */
  pop(): PoppedChain | undefined | string {
    const size = this.layout.size;
    const idx = this.read(this.avail + 2n, 2);
    if (idx === undefined) return `the available ring at ${hex(this.avail)} cannot be read`;
    if (Number(idx) === this.lastAvail) return undefined;
    const headV = this.read(this.avail + 4n + 2n * BigInt(this.lastAvail % size), 2);
    if (headV === undefined) return 'the available ring cannot be read';
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    const head = Number(headV);
    if (head >= size) return `Guest says index ${head} is available`;
    const outParts: Uint8Array[] = [];
    const inSegs: Array<{ addr: bigint; len: number }> = [];
    let i = head;
    for (let n = 0; ; n++) {
      if (n >= size) return 'Looped descriptor';
      const base = this.desc + 16n * BigInt(i);
      const addr = this.read(base, 8);
      const len = this.read(base + 8n, 4);
      const flags = this.read(base + 12n, 2);
      const next = this.read(base + 14n, 2);
      if (addr === undefined || len === undefined || flags === undefined || next === undefined) return `descriptor ${i} cannot be read`;
      if (Number(flags) & VRING_DESC_F_WRITE) inSegs.push({ addr, len: Number(len) });
      else {
        if (inSegs.length) return 'Incorrect order for descriptors';
        const bytes = this.readBytes(addr, Math.min(Number(len), 4096));
        if (!bytes) return `descriptor ${i}'s buffer at ${hex(addr)} cannot be read`;
        outParts.push(bytes);
      }
      if (!(Number(flags) & VRING_DESC_F_NEXT)) break;
      i = Number(next);
      if (i >= size) return `Desc next is ${i}`;
    }
    const total = outParts.reduce((s, p) => s + p.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of outParts) {
      out.set(p, at);
      at += p.length;
    }
    return { head, out, inSegs };
  }

  /** iov_from_buf into the writable buffers: the bytes written. */
  fill(c: PoppedChain, bytes: Uint8Array): number {
    let done = 0;
    for (const s of c.inSegs) {
      const n = Math.min(s.len, bytes.length - done);
      if (n <= 0) break;
      if (!this.writeBytes(s.addr, bytes.subarray(done, done + n))) break;
      done += n;
    }
    return done;
  }

  /** virtqueue_push: the chain in the used ring with the length written. */
  push(c: PoppedChain, len: number): boolean {
    const idx = this.read(this.used + 2n, 2);
    if (idx === undefined) return false;
    const e = this.used + 4n + 8n * (idx % BigInt(this.layout.size));
    return this.write(e, 4, BigInt(c.head)) && this.write(e + 4n, 4, BigInt(len)) && this.write(this.used + 2n, 2, (idx + 1n) & 0xffffn);
  }
}

function align(v: bigint, a: bigint): bigint {
  return (v + a - 1n) & ~(a - 1n);
}
