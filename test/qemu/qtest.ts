/**
 * QEMU's qtest protocol (QEMU's tests/qtest/libqtest.c speaks the other side): text commands a
 * line each, answered `OK [value]` or `FAIL ...`; `IRQ raise|lower N` lines arrive unasked. The
 * tests program the SMMU, its tables and the edu device with it, and step the virtual clock so
 * that edu's DMA timer fires.
 */
import * as net from 'node:net';

export class QtestClient {
  private buf = '';
  private waiting: Array<{ resolve: (l: string) => void; reject: (e: Error) => void }> = [];
  private closed: string | undefined;

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        if (line.startsWith('IRQ ')) continue;
        this.waiting.shift()?.resolve(line);
      }
    });
    const fail = (why: string) => {
      this.closed ??= why;
      for (const w of this.waiting.splice(0)) w.reject(new Error(`qtest: ${why}`));
    };
    sock.on('error', (e) => fail(e.message));
    sock.on('close', () => fail('QEMU closed the qtest socket'));
  }

  static connect(path: string): Promise<QtestClient> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection({ path });
      s.once('connect', () => resolve(new QtestClient(s)));
      s.once('error', reject);
    });
  }

  async cmd(line: string): Promise<string> {
    if (this.closed) throw new Error(`qtest: ${this.closed}`);
    const p = new Promise<string>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.sock.write(line + '\n');
    const r = await p;
    if (!r.startsWith('OK')) throw new Error(`qtest "${line.slice(0, 60)}": ${r}`);
    return r.slice(2).trim();
  }

  writel(addr: bigint, v: bigint | number): Promise<string> {
    return this.cmd(`writel 0x${addr.toString(16)} 0x${BigInt(v).toString(16)}`);
  }
  writeq(addr: bigint, v: bigint): Promise<string> {
    return this.cmd(`writeq 0x${addr.toString(16)} 0x${v.toString(16)}`);
  }
  writew(addr: bigint, v: number): Promise<string> {
    return this.cmd(`writew 0x${addr.toString(16)} 0x${v.toString(16)}`);
  }
  async readl(addr: bigint): Promise<bigint> {
    return BigInt(await this.cmd(`readl 0x${addr.toString(16)}`));
  }
  async readq(addr: bigint): Promise<bigint> {
    return BigInt(await this.cmd(`readq 0x${addr.toString(16)}`));
  }
  memwrite(addr: bigint, bytes: Uint8Array): Promise<string> {
    return this.cmd(`write 0x${addr.toString(16)} 0x${bytes.length.toString(16)} 0x${Buffer.from(bytes).toString('hex')}`);
  }
  memset(addr: bigint, size: number, byte: number): Promise<string> {
    return this.cmd(`memset 0x${addr.toString(16)} 0x${size.toString(16)} 0x${byte.toString(16)}`);
  }
  async memread(addr: bigint, size: number): Promise<Uint8Array> {
    const hex = await this.cmd(`read 0x${addr.toString(16)} 0x${size.toString(16)}`);
    return new Uint8Array(Buffer.from(hex.replace(/^0x/, ''), 'hex'));
  }
  /** Port I/O (x86): `outl`/`inl`, as the PCI configuration mechanism at 0xcf8/0xcfc needs. */
  outl(port: number, v: number): Promise<string> {
    return this.cmd(`outl 0x${port.toString(16)} 0x${(v >>> 0).toString(16)}`);
  }
  outw(port: number, v: number): Promise<string> {
    return this.cmd(`outw 0x${port.toString(16)} 0x${v.toString(16)}`);
  }
  async inl(port: number): Promise<number> {
    return Number(await this.cmd(`inl 0x${port.toString(16)}`));
  }
  clockStep(ns?: number): Promise<string> {
    return this.cmd(ns === undefined ? 'clock_step' : `clock_step ${ns}`);
  }

  close(): void {
    this.closed ??= 'closed';
    this.sock.destroy();
  }
}
