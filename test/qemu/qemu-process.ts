/**
 * Starts Debian's qemu-system-aarch64 for the tests against a real QEMU: `-M virt,iommu=smmuv3`
 * with an edu device, stopped (-S), QMP on a unix socket in a fresh temporary directory, the
 * gdbstub on a loopback port chosen free, and optionally the qtest protocol (`-qtest`; Debian's build has no qtest accelerator, so the
 * guest runs on TCG and virtual time passes only while it runs) on
 * another unix socket. `stop()` ends the process it started (by its pid) and removes the directory.
 *
 * With `machine: 'q35'` it starts qemu-system-x86_64 instead: `-machine q35` with an intel-iommu
 * (its properties from `intelIommu`) and an edu device at 00:01.0, and as firmware a 64 KiB image
 * written into the temporary directory whose reset vector is `hlt` (interrupts are off at reset,
 * so the CPU stays halted and virtual time passes without it spinning).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const QEMU_AARCH64 = process.env.IOMMU_LENS_QEMU ?? 'qemu-system-aarch64';
export const QEMU_X86_64 = process.env.IOMMU_LENS_QEMU_X86 ?? 'qemu-system-x86_64';

/** Whether the QEMU binary runs here (the suites skip with a note when it does not). */
export function qemuAvailable(binary = QEMU_AARCH64): boolean {
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

/** A 64 KiB firmware image: `hlt; jmp hlt` at the reset vector (0xfffffff0, the image's last 16 bytes). */
function haltingBios(): Uint8Array {
  const b = new Uint8Array(0x10000);
  b.set([0xf4, 0xeb, 0xfd], 0xfff0);
  return b;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface QemuOptions {
  /** Use the qtest accelerator and open the qtest socket. */
  readonly qtest?: boolean;
  readonly memory?: string;
  /**
   * Give the CPU a branch-to-self at the start of RAM (QEMU's generic loader), so that the guest
   * can run (`cont`) without executing anything else: edu's DMA timer needs virtual time to pass.
   */
  readonly spin?: boolean;
  readonly extraArgs?: readonly string[];
  /** virt: an image for its first flash (`-bios`: virt.flash0 at 0, a ROM device in ROMD mode). */
  readonly bios?: Uint8Array;
  /** `virt` (qemu-system-aarch64 with an SMMUv3, the default) or `q35` (qemu-system-x86_64 with an intel-iommu). */
  readonly machine?: 'virt' | 'q35';
  /** q35: the intel-iommu's properties, e.g. `caching-mode=on,aw-bits=48`. */
  readonly intelIommu?: string;
}

export class QemuProcess {
  private exited = false;
  stderr = '';

  private constructor(
    readonly child: ChildProcess,
    readonly dir: string,
    readonly qmpPath: string,
    readonly gdbPort: number,
    readonly qtestPath: string | undefined,
  ) {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => (this.stderr += d));
    child.once('exit', () => (this.exited = true));
  }

  static async start(opts: QemuOptions = {}): Promise<QemuProcess> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lens-qemu-'));
    const qmpPath = path.join(dir, 'qmp.sock');
    const gdbPort = await freePort();
    const qtestPath = opts.qtest ? path.join(dir, 'qtest.sock') : undefined;
    const q35 = opts.machine === 'q35';
    let machineArgs: string[];
    if (q35) {
      const bios = path.join(dir, 'hlt.bin');
      fs.writeFileSync(bios, haltingBios());
      // intel-iommu first: a PCI device realized before it would not be behind it. edu's DMA
      // mask is the full 64 bits, so that IOVAs beyond the address width reach the IOMMU.
      machineArgs = ['-machine', 'q35', '-accel', 'tcg', '-bios', bios, '-device', `intel-iommu${opts.intelIommu ? ',' + opts.intelIommu : ''}`, '-device', 'edu,dma_mask=0xffffffffffffffff'];
    } else {
      machineArgs = ['-M', 'virt,iommu=smmuv3', '-cpu', 'cortex-a57', '-device', 'edu,dma_mask=0xffffffffff'];
      if (opts.bios) {
        const flash = path.join(dir, 'flash0.bin');
        fs.writeFileSync(flash, opts.bios);
        machineArgs.push('-bios', flash);
      }
    }
    const args = [
      ...machineArgs,
      '-m', opts.memory ?? '256M',
      '-nodefaults', '-display', 'none', '-S',
      '-qmp', `unix:${qmpPath},server=on,wait=off`,
      '-gdb', `tcp:127.0.0.1:${gdbPort}`,
      ...(qtestPath ? ['-qtest', `unix:${qtestPath},server=on,wait=off`, '-qtest-log', '/dev/null'] : []),
      ...(opts.spin ? ['-device', 'loader,addr=0x40000000,data=0x14000000,data-len=4', '-device', 'loader,addr=0x40000000,cpu-num=0'] : []),
      ...(opts.extraArgs ?? []),
    ];
    const child = spawn(q35 ? QEMU_X86_64 : QEMU_AARCH64, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const q = new QemuProcess(child, dir, qmpPath, gdbPort, qtestPath);
    // Ready when its sockets exist and the gdb port accepts.
    const deadline = Date.now() + 15000;
    while (!fs.existsSync(qmpPath) || (qtestPath !== undefined && !fs.existsSync(qtestPath)) || !(await portOpen(gdbPort))) {
      if (q.exited) throw new Error(`QEMU exited at start: ${q.stderr.trim()}`);
      if (Date.now() > deadline) {
        await q.stop();
        throw new Error(`QEMU did not open its sockets within 15 s: ${q.stderr.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return q;
  }

  get running(): boolean {
    return !this.exited;
  }

  get gdbAddress(): string {
    return `127.0.0.1:${this.gdbPort}`;
  }

  /** Kills the QEMU this object started (SIGKILL: a test also uses this as "QEMU exits mid-session"). */
  async stop(): Promise<void> {
    if (!this.exited && this.child.pid !== undefined) {
      const gone = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGKILL');
      await gone;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
