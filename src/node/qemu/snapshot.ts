/**
 * A live state as files a user can attach to a bug report: the config (the same one attach
 * builds) with its RAM regions read from an ELF core that QEMU writes itself (QMP
 * `dump-guest-memory`, without paging: PT_LOAD segments by guest-physical address), and every
 * IOMMU register read, in registers.json. Every command opens the config like any other.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FlatRange } from '../../config/mtree';
import type { LiveQemu } from './live';

export interface SnapshotFiles {
  readonly config: string;
  readonly core: string;
  readonly registers: string;
}

export const SNAPSHOT_CONFIG = 'snapshot.iommu.yaml';
export const SNAPSHOT_CORE = 'memory.elf';

export async function writeSnapshot(live: LiveQemu, dir: string, opts: { timeoutMs?: number } = {}): Promise<SnapshotFiles> {
  fs.mkdirSync(dir, { recursive: true });
  const core = path.resolve(dir, SNAPSHOT_CORE);
  // QEMU opens the file: over a TCP monitor on another host it lands on that host.
  await live.qmp.execute('dump-guest-memory', { paging: false, protocol: `file:${core}` }, { timeoutMs: opts.timeoutMs ?? 300000 });
  if (!fs.existsSync(core)) {
    throw new Error(`QEMU reported the dump done, but ${core} is not on this machine (is QEMU on another host? the monitor is ${live.qmp.where})`);
  }
  const s = live.state;
  const config = path.join(dir, SNAPSHOT_CONFIG);
  // dump-guest-memory writes RAM and ROM, not ROM devices (a flash in ROMD mode is not RAM to it):
  // those stay sinks in the snapshot.
  const dumped = (r: FlatRange) => r.type !== 'romd' && r.type !== 'nv-romd';
  const text = live.configText((r) => (dumped(r) ? { file: SNAPSHOT_CORE, format: 'elf-core', offset: `0x${r.start.toString(16)}` } : undefined), [
    `Snapshot of QEMU ${live.versionText} (${live.where}), ${s.status}, taken ${new Date().toISOString()}.`,
    `Guest memory: ${SNAPSHOT_CORE} (QMP dump-guest-memory); IOMMU registers as read: registers.json.`,
  ]);
  fs.writeFileSync(config, text);
  const registers = path.join(dir, 'registers.json');
  const regs = Object.fromEntries(
    s.iommus.map((i) => [
      i.name,
      { model: i.found.model, base: `0x${i.found.base.toString(16)}`, registers: Object.fromEntries([...i.registers].map(([k, v]) => [k, `0x${v.toString(16)}`])) },
    ]),
  );
  fs.writeFileSync(registers, JSON.stringify({ qemu: live.versionText, status: s.status, iommus: regs }, null, 2) + '\n');
  return { config, core, registers };
}
