/**
 * What the suites against a real QEMU share: the endpoint parser, the edu device's name as an
 * attach names it, a CLI output capture, an attached config's answer for an edu DMA, a read, write
 * and read again through an attached config, a snapshot reloaded beside the live answers, and the
 * seeded generator of the differential suites.
 */
import * as fs from 'node:fs';
import { loadConfig, type LoadedConfig } from '../../src/config/load';
import { MEMTXATTRS_UNSPECIFIED, isEngineError, performAccess, regionKindName, type MemTxResult } from '../../src/engine';
import { openImageFile } from '../../src/node/images';
import { parseEndpoint, type Endpoint } from '../../src/node/qemu/endpoint';
import { LiveQemu } from '../../src/node/qemu/live';
import { writeSnapshot, type SnapshotFiles } from '../../src/node/qemu/snapshot';

export const ep = (s: string): Endpoint => parseEndpoint(s) as Endpoint;

/** edu at 00:01.0, as an attach names the device. */
export const EDU = 'edu-00.01.0';

/** The CLI's io, its lines kept. */
export function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), readFile: (f: string) => fs.readFileSync(f, 'utf8') } };
}

/** Where an edu access at `addr` lands in `cfg` (a probe), or its fault. */
export function answer(cfg: LoadedConfig, addr: bigint, op: 'read' | 'write'): string {
  const l = cfg.machine.translate({ from: EDU, addr, op, probe: true });
  if (isEngineError(l)) return `error ${l.message}`;
  return l.fault ? `fault ${l.fault.reason}` : `${l.region?.name ?? 'unassigned'}+0x${l.offset.toString(16)}`;
}

/**
 * Through the attached machine's system memory: a 4-byte read at `addr`, a write of 0 there, and
 * the read again, with the region and its kind as the views name it (how a ROM or a ROM device
 * behaves). Asserts first that the live config loaded without errors.
 */
export async function readWriteRead(live: LiveQemu, addr: bigint): Promise<{ region: string; kind: string; value: bigint; write: MemTxResult; again: bigint }> {
  return live.query((cfg) => {
    if (cfg.errorCount) throw new Error(cfg.diagnostics.map((d) => d.message).join('; '));
    const as = cfg.machine.systemAs!;
    const at = (op: 'read' | 'write') => performAccess({ as, addr, op, size: 4, value: 0n, attrs: MEMTXATTRS_UNSPECIFIED });
    const read = at('read');
    const write = at('write');
    return { region: read.landing.region!.name, kind: regionKindName(read.landing.region!), value: read.value, write: write.result, again: at('read').value };
  });
}

/**
 * Attaches to the QEMU at `qmp`/`gdb`, answers `addrs` live, writes a snapshot into `dir` and
 * detaches; then loads the snapshot: the live answers, the reloaded config and the files.
 */
export async function snapshotBesideLive(qmp: string, gdb: string, dir: string, addrs: ReadonlyArray<readonly [bigint, 'read' | 'write']>): Promise<{ liveAnswers: string[]; cfg: LoadedConfig; files: SnapshotFiles }> {
  const live = await LiveQemu.attach({ qmp: ep(qmp), gdb: ep(gdb) });
  let liveAnswers: string[];
  let files: SnapshotFiles;
  try {
    liveAnswers = await live.query((cfg) => addrs.map(([a, op]) => answer(cfg, a, op)));
    files = await writeSnapshot(live, dir);
  } finally {
    await live.detach();
  }
  const cfg = loadConfig(files.config, fs.readFileSync(files.config, 'utf8'), { openImage: openImageFile });
  return { liveAnswers, cfg, files };
}

/** A seeded generator of numbers in [0, 1) (mulberry32), so a failing run can be replayed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
