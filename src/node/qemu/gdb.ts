/**
 * A client for QEMU's gdbstub in the GDB remote serial protocol (RSP; GDB's manual, "Remote
 * Protocol"): packets `$data#cc` with a two-hex-digit checksum, acknowledged with `+` (or `-` to
 * ask again), `}`-escapes and `*` run-length encoding in replies. QEMU 7.2's gdbstub (gdbstub.c)
 * adds `qqemu.Supported`, and `qqemu.PhyMemMode` / `Qqemu.PhyMemMode:1`, which make `m`/`M` take
 * guest-physical addresses: what a table walk needs.
 *
 * Reads and writes go in pieces that never cross a 4 KiB page and fit QEMU's 4096-byte packet
 * buffer (`m` takes at most MAX_PACKET_LENGTH / 2 bytes). The client leaves the stub as it found
 * it: `close()` restores the memory mode read on entry. QEMU stops a running guest when a debugger
 * connects; resuming it is the caller's (QMP `cont`, see live.ts), since only QMP knows whether it
 * was running before.
 */
import type * as net from 'node:net';
import { connectEndpoint, describeEndpoint, type Endpoint } from './endpoint';

export interface GdbOptions {
  readonly connectTimeoutMs?: number;
  /** Each packet's reply (default 10000 ms). */
  readonly timeoutMs?: number;
}

/** The stub answered `Enn` or an empty (unsupported) reply where the client needs an answer. */
export class GdbRefusal extends Error {}

/** Bytes per `m` packet: QEMU answers at most MAX_PACKET_LENGTH / 2 = 2048. */
export const GDB_READ_PIECE = 2048;
/** Bytes per `M` packet: the hex must fit QEMU's 4096-byte line buffer with the header. */
export const GDB_WRITE_PIECE = 1024;
const PAGE = 4096n;

interface Waiter {
  readonly what: string;
  readonly resolve: (payload: string) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
  /** `O` packets (console output, qRcmd's text) seen while waiting. */
  readonly output: string[];
}

export function rspChecksum(data: string): number {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum = (sum + data.charCodeAt(i)) & 0xff;
  return sum;
}

/** `$data#cc` with `#`, `$`, `}` and `*` escaped as `}` and the byte XOR 0x20. */
export function rspFrame(data: string): string {
  const body = data.replace(/[#$}*]/g, (c) => '}' + String.fromCharCode(c.charCodeAt(0) ^ 0x20));
  return `$${body}#${rspChecksum(body).toString(16).padStart(2, '0')}`;
}

/** A received packet body (checksummed as sent) decoded: escapes and run-length encoding undone. */
export function rspDecode(body: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '}' && i + 1 < body.length) {
      out += String.fromCharCode(body.charCodeAt(++i) ^ 0x20);
    } else if (c === '*' && i + 1 < body.length && out.length > 0) {
      // The previous character repeated (count - 29) more times.
      const n = body.charCodeAt(++i) - 29;
      out += out[out.length - 1]!.repeat(Math.max(0, n));
    } else {
      out += c;
    }
  }
  return out;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export class GdbClient {
  private inbuf = '';
  private waiter: Waiter | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private lastSent = '';
  private closedReason: string | undefined;
  /** The memory mode found on entry to physical mode; restored by `close()`. */
  private foundPhysMode: string | undefined;
  /** Packets sent (for tests and figures). */
  packets = 0;

  private constructor(
    private readonly sock: net.Socket,
    readonly endpoint: Endpoint,
    private readonly timeoutMs: number,
  ) {
    sock.setEncoding('latin1');
    // The protocol is request and answer with one-byte acknowledgements between them: with
    // Nagle's algorithm on, each packet sent after an ack waits for the peer's delayed ACK
    // (about 40 ms a packet on Linux).
    sock.setNoDelay(true);
    sock.on('data', (d: string) => this.onData(d));
    sock.on('error', (e) => this.fail(`the connection failed: ${e.message}`));
    sock.on('close', () => this.fail('the gdbstub closed the connection (has QEMU exited?)'));
  }

  /** Connects and asks the stop reason (`?`): a peer that does not answer in RSP is refused. */
  static async connect(endpoint: Endpoint, opts: GdbOptions = {}): Promise<GdbClient> {
    const ms = opts.connectTimeoutMs ?? 5000;
    const sock = await connectEndpoint(endpoint, 'gdbstub', ms);
    const client = new GdbClient(sock, endpoint, opts.timeoutMs ?? 10000);
    try {
      const stop = await client.request('?', ms);
      if (!/^[STWX]/.test(stop)) throw new Error(`gdbstub at ${client.where}: unexpected stop reply "${stop.slice(0, 40)}"`);
      return client;
    } catch (e) {
      client.sock.destroy();
      throw e instanceof Error && /no reply within/.test(e.message)
        ? new Error(`gdbstub at ${client.where}: no reply to "?" within ${ms} ms; is this QEMU's gdbstub (-gdb tcp::PORT or -s)?`)
        : e;
    }
  }

  get where(): string {
    return describeEndpoint(this.endpoint);
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Sends one packet and resolves with the reply's payload (`O` output packets collected apart). */
  request(data: string, timeoutMs = this.timeoutMs): Promise<string> {
    return this.requestWithOutput(data, timeoutMs).then((r) => r.reply);
  }

  /** As request, with the `O` packets' decoded text that came before the reply. */
  requestWithOutput(data: string, timeoutMs = this.timeoutMs): Promise<{ reply: string; output: string }> {
    const run = () =>
      new Promise<{ reply: string; output: string }>((resolve, reject) => {
        if (this.closedReason !== undefined) {
          reject(new Error(`gdbstub at ${this.where}: ${this.closedReason}`));
          return;
        }
        const output: string[] = [];
        const what = data.length > 24 ? data.slice(0, 24) + '...' : data;
        const timer = setTimeout(() => {
          this.waiter = undefined;
          reject(new Error(`gdbstub at ${this.where}: no reply within ${timeoutMs} ms to "${what}"`));
        }, timeoutMs);
        this.waiter = { what, resolve: (reply) => resolve({ reply, output: output.join('') }), reject, timer, output };
        this.send(data);
      });
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** `qqemu.Supported`'s features (empty when the stub has none of QEMU's). */
  async qemuFeatures(): Promise<string[]> {
    const r = await this.request('qqemu.Supported');
    return r === '' || /^E[0-9a-fA-F]{2}$/.test(r) ? [] : r.split(';').filter(Boolean);
  }

  /**
   * Switches `m`/`M` to guest-physical addresses, remembering the mode found (restored by
   * `leavePhysicalMode` and `close`). A stub without QEMU's PhyMemMode, or one that refuses it, is
   * a GdbRefusal: reading virtual addresses in its place would be silently wrong.
   */
  async enterPhysicalMode(): Promise<void> {
    const features = await this.qemuFeatures();
    if (!features.includes('PhyMemMode')) {
      throw new GdbRefusal(
        `gdbstub at ${this.where} does not offer physical-memory mode (qqemu.Supported: "${features.join(';')}"); ` +
          'guest-physical reads need QEMU\'s gdbstub in system emulation (QEMU 4.1 or newer)',
      );
    }
    const found = await this.request('qqemu.PhyMemMode');
    if (found !== '0' && found !== '1') throw new GdbRefusal(`gdbstub at ${this.where}: qqemu.PhyMemMode answered "${found}", not 0 or 1`);
    if (this.foundPhysMode === undefined) this.foundPhysMode = found;
    if (found === '1') return;
    const r = await this.request('Qqemu.PhyMemMode:1');
    if (r !== 'OK') throw new GdbRefusal(`gdbstub at ${this.where} refused physical-memory mode (Qqemu.PhyMemMode:1 answered "${r || 'nothing: unsupported'}")`);
  }

  /** Puts back the memory mode found by enterPhysicalMode. */
  async leavePhysicalMode(): Promise<void> {
    const found = this.foundPhysMode;
    if (found === undefined || this.closed) return;
    this.foundPhysMode = undefined;
    if (found === '1') return;
    const r = await this.request(`Qqemu.PhyMemMode:${found}`);
    if (r !== 'OK') throw new GdbRefusal(`gdbstub at ${this.where}: restoring memory mode ${found} answered "${r}"`);
  }

  async physicalMode(): Promise<boolean> {
    return (await this.request('qqemu.PhyMemMode')) === '1';
  }

  /** `length` bytes at `addr` (physical once enterPhysicalMode ran), in pieces within pages. */
  async read(addr: bigint, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const a = addr + BigInt(done);
      const toPage = Number(PAGE - (a & (PAGE - 1n)));
      const n = Math.min(length - done, GDB_READ_PIECE, toPage);
      const r = await this.request(`m${a.toString(16)},${n.toString(16)}`);
      if (/^E[0-9a-fA-F]{2}$/.test(r) || r === '') {
        throw new GdbRefusal(`gdbstub at ${this.where}: reading ${n} byte(s) at 0x${a.toString(16)} failed (${r || 'empty reply'})`);
      }
      if (r.length !== 2 * n || !/^[0-9a-fA-F]*$/.test(r)) {
        throw new Error(`gdbstub at ${this.where}: reading ${n} byte(s) at 0x${a.toString(16)}: malformed reply "${r.slice(0, 40)}"`);
      }
      out.set(Buffer.from(r, 'hex'), done);
      done += n;
    }
    return out;
  }

  async write(addr: bigint, bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const a = addr + BigInt(done);
      const toPage = Number(PAGE - (a & (PAGE - 1n)));
      const n = Math.min(bytes.length - done, GDB_WRITE_PIECE, toPage);
      const r = await this.request(`M${a.toString(16)},${n.toString(16)}:${toHex(bytes.subarray(done, done + n))}`);
      if (r !== 'OK') throw new GdbRefusal(`gdbstub at ${this.where}: writing ${n} byte(s) at 0x${a.toString(16)} failed (${r || 'empty reply'})`);
      done += n;
    }
  }

  /** A monitor command through `qRcmd` (GDB's `monitor`): its text output. */
  async monitor(command: string): Promise<string> {
    const { reply, output } = await this.requestWithOutput(`qRcmd,${Buffer.from(command, 'utf8').toString('hex')}`);
    if (reply !== 'OK') throw new GdbRefusal(`gdbstub at ${this.where}: monitor "${command}" answered "${reply || 'nothing: unsupported'}"`);
    return output;
  }

  /** Restores the memory mode found and closes. Never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.leavePhysicalMode();
    } catch {
      // The stub is gone or refuses: nothing more to restore.
    }
    this.fail('the client closed the connection');
    this.sock.destroy();
  }

  private send(data: string): void {
    this.lastSent = rspFrame(data);
    this.packets++;
    this.sock.write(this.lastSent, 'latin1');
  }

  private onData(d: string): void {
    this.inbuf += d;
    for (;;) {
      // Between packets: acks, or a packet start. Anything else is not RSP.
      let i = 0;
      while (i < this.inbuf.length && this.inbuf[i] !== '$') {
        const c = this.inbuf[i]!;
        if (c === '-' && this.lastSent) this.sock.write(this.lastSent, 'latin1');
        else if (c !== '+') {
          this.notRsp(this.inbuf.slice(i, i + 40));
          return;
        }
        i++;
      }
      this.inbuf = this.inbuf.slice(i);
      if (!this.inbuf.length) return;
      const hash = this.inbuf.indexOf('#');
      if (hash < 0 || this.inbuf.length < hash + 3) {
        if (this.inbuf.length > 1 << 20) this.notRsp('a packet of more than 1 MiB');
        return;
      }
      const body = this.inbuf.slice(1, hash);
      const sum = parseInt(this.inbuf.slice(hash + 1, hash + 3), 16);
      this.inbuf = this.inbuf.slice(hash + 3);
      if (sum !== rspChecksum(body)) {
        this.sock.write('-');
        continue;
      }
      this.sock.write('+');
      this.onPacket(rspDecode(body));
      if (this.closed) return;
    }
  }

  private onPacket(payload: string): void {
    const w = this.waiter;
    if (!w) return; // an asynchronous stop notification nobody asked for
    // QEMU sends a stop reply of its own when attaching stops a running guest: it may arrive
    // after the connection's `?` was answered. No reply to m, M, q or Q starts like one.
    if (/^[ST][0-9a-fA-F]{2}/.test(payload) && !/^[?cCsSv]/.test(w.what)) return;
    if (payload.startsWith('O') && payload !== 'OK' && /^O[0-9a-fA-F]*$/.test(payload)) {
      w.output.push(Buffer.from(payload.slice(1), 'hex').toString('utf8'));
      return;
    }
    this.waiter = undefined;
    clearTimeout(w.timer);
    w.resolve(payload);
  }

  private notRsp(sample: string): void {
    this.fail(`the peer is not a gdbstub (it sent ${JSON.stringify(sample)})`);
    this.sock.destroy();
  }

  private fail(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    const w = this.waiter;
    this.waiter = undefined;
    if (w) {
      clearTimeout(w.timer);
      w.reject(new Error(`gdbstub at ${this.where}: ${reason} (waiting for the reply to "${w.what}")`));
    }
  }
}
