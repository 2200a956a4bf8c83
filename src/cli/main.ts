/**
 * The `iommu-lens` executable (bundled to dist/cli.js, run by bin/iommu-lens.js): wires the
 * process (arguments, streams, exit status, colour) to the command line in program.ts, and hands
 * `demo` the AN505 example, which esbuild embeds in the bundle as text.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import example from '../../examples/an505.iommu.yaml';
import { LIVE_COMMANDS, type CliIO } from './commands';
import { runCli } from './program';
import { progressLine } from './progress';

function packageVersion(): string | undefined {
  try {
    // dist/cli.js -> the package's package.json.
    return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

// https://no-color.org: set and not empty means no colour.
const noColor = (process.env.NO_COLOR ?? '') !== '';

// `iommu-lens ... | head` closes the pipe early; that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

const io: CliIO = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  // "-" is standard input (translate --batch -).
  readFile: (file) => fs.readFileSync(file === '-' ? 0 : file, 'utf8'),
  color: !noColor && process.stdout.isTTY === true,
  colorErr: !noColor && process.stdout.isTTY === true && process.stderr.isTTY === true,
  // A progress line for long work, on a terminal only (stderr to a TTY is written synchronously).
  progress: process.stderr.isTTY ? progressLine((s) => process.stderr.write(s), Date.now, process.stderr.columns || 80) : undefined,
};
const env = { example: { file: 'examples/an505.iommu.yaml', text: example }, version: packageVersion() };
const argv = process.argv.slice(2);
if (LIVE_COMMANDS.has(argv[0] ?? '')) {
  // attach and snapshot talk to QEMU: asynchronous, and the process exits when they are done.
  // Loaded for these commands only (with the QEMU clients, a file of its own in the bundle).
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on demand, by design
  const { runLiveCli } = require('./live') as typeof import('./live');
  runLiveCli(argv, io, env).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`iommu-lens: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(2);
    },
  );
} else {
  process.exitCode = runCli(argv, io, env);
}
