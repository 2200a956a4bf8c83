/**
 * `iommu-lens attach --qmp SOCKET|HOST:PORT [--gdb HOST:PORT] [COMMAND [ARGS...]]` and
 * `iommu-lens snapshot --qmp ... [--gdb ...] --out DIR`: the commands that talk to a live QEMU.
 * attach runs any config command (tree, translate, notifiers, replay, run, check) on the live
 * config: the command runs until it reads no guest page that is not fetched yet (live.ts), and
 * only its last run's output is printed. Both only read; the guest is left as it was found.
 */
import * as fs from 'node:fs';
import { parseEndpoint, type Endpoint } from '../node/qemu/endpoint';
import { LiveQemu } from '../node/qemu/live';
import { writeSnapshot } from '../node/qemu/snapshot';
import { EXIT_CANNOT_RUN, EXIT_OK, type CliIO } from './commands';
import { runCli, type CliEnv } from './program';

export { LIVE_COMMANDS } from './commands';

const USAGE = [
  'Usage: iommu-lens attach --qmp SOCKET|HOST:PORT [--gdb HOST:PORT] [--timeout MS] [COMMAND [ARGS...]]',
  '       iommu-lens snapshot --qmp SOCKET|HOST:PORT [--gdb HOST:PORT] [--timeout MS] --out DIR',
  '',
  'attach builds a config from a running QEMU (info mtree -f, query-pci, the IOMMUs found and',
  'their registers) and runs COMMAND (tree, translate, notifiers, replay, run, check; default',
  'tree) on it, with the config argument left out. Guest memory is read on demand over the',
  'gdbstub in physical-memory mode (--gdb), or with the monitor\'s xp without it. `attach ...',
  'config` prints the config itself. snapshot writes that config, an ELF core (QMP',
  'dump-guest-memory) and registers.json into DIR; every command opens the config.',
  '',
  'Reads only: no guest memory or register is written. Attaching the gdbstub stops a running',
  'guest (QEMU does so); it is resumed when the command ends.',
];

interface LiveArgs {
  qmp?: Endpoint;
  gdb?: Endpoint;
  out?: string;
  timeoutMs?: number;
  rest: string[];
}

function parseLiveArgs(argv: readonly string[], io: CliIO): LiveArgs | number {
  const a: LiveArgs = { rest: [] };
  let i = 1;
  for (; i < argv.length; i++) {
    const k = argv[i]!;
    if (k === '-h' || k === '--help') {
      for (const l of USAGE) io.out(l);
      return EXIT_OK;
    }
    const m = /^--(qmp|gdb|out|timeout)(?:=(.*))?$/.exec(k);
    if (!m) break;
    const v = m[2] ?? argv[++i];
    if (v === undefined) {
      io.err(`iommu-lens: --${m[1]} needs a value`);
      return EXIT_CANNOT_RUN;
    }
    if (m[1] === 'out') a.out = v;
    else if (m[1] === 'timeout') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) {
        io.err('iommu-lens: --timeout is a whole number of milliseconds');
        return EXIT_CANNOT_RUN;
      }
      a.timeoutMs = n;
    } else {
      const e = parseEndpoint(v);
      if (typeof e === 'string') {
        io.err(`iommu-lens: --${m[1]} ${v}: ${e}`);
        return EXIT_CANNOT_RUN;
      }
      a[m[1] as 'qmp' | 'gdb'] = e;
    }
  }
  a.rest = argv.slice(i);
  if (!a.qmp) {
    io.err(`iommu-lens: ${argv[0]} needs --qmp SOCKET|HOST:PORT (QEMU's -qmp unix:SOCKET,server=on,wait=off)`);
    io.err(`(iommu-lens ${argv[0]} --help shows the usage)`);
    return EXIT_CANNOT_RUN;
  }
  return a;
}

/** Runs `attach` or `snapshot`; resolves with the exit code. */
export async function runLiveCli(argv: readonly string[], io: CliIO, env: CliEnv = {}): Promise<number> {
  const a = parseLiveArgs(argv, io);
  if (typeof a === 'number') return a;
  if (argv[0] === 'snapshot' && !a.out) {
    io.err('iommu-lens: snapshot needs --out DIR');
    return EXIT_CANNOT_RUN;
  }
  let live: LiveQemu;
  try {
    live = await LiveQemu.attach({ qmp: a.qmp!, gdb: a.gdb, timeoutMs: a.timeoutMs });
  } catch (e) {
    io.err(`iommu-lens: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT_CANNOT_RUN;
  }
  try {
    if (argv[0] === 'snapshot') {
      const f = await writeSnapshot(live, a.out!);
      io.out(`config:    ${f.config}`);
      io.out(`memory:    ${f.core}`);
      io.out(`registers: ${f.registers}`);
      return EXIT_OK;
    }
    const [command = 'tree', ...args] = a.rest;
    const cfg = live.liveConfig();
    if (command === 'config') {
      for (const l of cfg.text.replace(/\n$/, '').split('\n')) io.out(l);
      return EXIT_OK;
    }
    // Each run's output is kept; only the last (which read everything it needed) is printed.
    let lines: Array<[boolean, string]> = [];
    const code = await live.settle(() => {
      lines = [];
      return runCli(
        [command, cfg.file, ...args],
        {
          ...io,
          out: (l) => lines.push([true, l]),
          err: (l) => lines.push([false, l]),
          readFile: (f) => (f === cfg.file ? cfg.text : fs.readFileSync(f, 'utf8')),
          openImage: cfg.openImage,
        },
        env,
      );
    });
    for (const [out, l] of lines) {
      if (out) io.out(l);
      else io.err(l);
    }
    return code;
  } catch (e) {
    io.err(`iommu-lens: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT_CANNOT_RUN;
  } finally {
    await live.detach();
  }
}
