/**
 * The command line: commander's parsing and help, wired to the commands. Kept apart from main.ts
 * (which owns the process and the embedded example) so that tests run whole command lines
 * in-process.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import * as commands from './commands';
import { EXIT_CANNOT_RUN, EXIT_OK, type CliIO, type EmbeddedExample } from './commands';

export interface CliEnv {
  /** The example `demo` runs on; main.ts passes the copy embedded in the bundle. */
  readonly example?: EmbeddedExample;
  readonly version?: string;
}

const EPILOG = `
A config with errors: every command but check prints the errors on stderr, then
answers for the part of the config that is valid; the errors alone do not change
its exit status (check exits 1 on them).

Exit status: 0 ok; 1 errors (check), a failed expectation or step (run), or a
notifier with nothing to replay (replay); 2 bad usage, a missing or unreadable
file, a bad address or attribute, an unknown device, address space or notifier.

Colour only when stdout is a terminal and NO_COLOR is unset.`;

const QUERY_EPILOG = `
A config with errors: its errors go to stderr first, then the answer for the part
of the config that is valid; the errors alone do not change the exit status.
iommu-lens --help lists the exit statuses.`;

const CHECK_EPILOG = `
Exit status: 0 no errors (warnings and notes allowed); 1 errors; 2 a file that
cannot be read (the others are still checked).`;

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} is a whole number of at least 1.`);
    return n;
  };
}

/** --json and --qemu, on every command. */
function common(cmd: Command): Command {
  return cmd
    .option('--json', 'print machine-readable JSON (64-bit values as hex strings)')
    .addOption(new Option('--qemu <version>', "QEMU semantics to model, overriding the config's qemu-semantics").choices(['current', '5.2-9.x']));
}

/**
 * A command's options as commander hands them to its action (typed `any` there): the options the
 * command declares, without its arguments. commander builds them from the declarations above, so
 * the declarations and these interfaces must agree; the CLI's tests run every option.
 */
type Opts<T, Args extends keyof T = 'file' & keyof T> = Omit<T, Args>;

/** Writes commander's text (help, usage errors) through io, line by line. */
function lines(write: (line: string) => void) {
  return (text: string) => {
    for (const l of text.replace(/\n$/, '').split('\n')) write(l);
  };
}

export function buildProgram(io: CliIO, env: CliEnv, setExit: (code: number) => void): Command {
  const program = new Command('iommu-lens');
  program
    .description("Query a device config's IOMMUs as QEMU's IOMMU memory-region API sees them: regions, indexes, translations, notifiers, replays and scenarios.")
    .version(env.version ?? '0.0.0', '-V, --version')
    .showHelpAfterError('(iommu-lens --help shows the commands; iommu-lens COMMAND --help shows one)')
    .addHelpText('after', EPILOG)
    .configureOutput({
      writeOut: lines((l) => io.out(l)),
      writeErr: lines((l) => io.err(l)),
      outputError: (text, write) => write(text.replace(/^error: /, 'iommu-lens: ')),
    })
    .exitOverride();

  const add = (name: string, after = QUERY_EPILOG) => common(program.command(name)).addHelpText('after', after);

  add('check', CHECK_EPILOG)
    .summary('check configs, gcc-style problems')
    .description('check configs; print each problem gcc-style (file:line:col: error|warning|note: message [code]) and a summary on stderr')
    .argument('<file...>', 'device configs (*.iommu.yaml, *.iommu.json)')
    .action((files: string[], o: Opts<commands.CheckOptions, 'files'>) => setExit(commands.check({ ...o, files }, io)));

  add('tree')
    .summary('regions > indexes > mappings > notifiers')
    .description('IOMMU regions > indexes (and the attributes that select them) > mappings as coalesced runs > notifiers; then address spaces and devices')
    .argument('<file>', 'a device config')
    .option('--max-runs <n>', `mapping runs shown per index (default ${commands.DEFAULT_MAX_RUNS})`, positiveInt('--max-runs'))
    .action((file: string, o: Opts<commands.TreeOptions>) => setExit(commands.tree({ ...o, file }, io)));

  add('translate')
    .summary('where an access lands, step by step')
    .description('where an access lands (or why it faults), the composed IOTLB entry, and with --steps every step of the translation with its source')
    .argument('<file>', 'a device config')
    .option('--from <name>', 'the device or address space the access comes from (required without --batch)')
    .option('--addr <address>', 'the address: 0x1000_0000, 4096, 4KiB (required without --batch)')
    .addOption(new Option('--op <op>', 'the access').choices(['read', 'write']).default('read'))
    .option('--attrs <attrs>', "replace the device's attributes: secure, ns, user, memory, debug, unspecified, space=S, requester-id=N, pasid=N (comma-separated)")
    .option('--size <bytes>', "the access's length: it is split into pieces as QEMU's DMA helpers split it, each translated", positiveInt('--size'))
    .option('--steps', 'print the numbered trace')
    .option('--batch <queries>', 'answer one JSON query per line of this file ("-": standard input) with one JSON answer per line, on one loaded machine')
    .addHelpText(
      'after',
      '\nA fault is an answer, not an error: translate exits 0 whether the access lands or faults.\n' +
        'A --batch query is {"from", "addr", "op"?, "attrs"?, "size"?, "steps"?}; each answer is the --json report or {"line", "error"}.',
    )
    .action((file: string, o: Opts<commands.TranslateOptions>) => setExit(commands.translate({ ...o, file }, io)));

  add('notifiers')
    .summary('every notifier registration and its outcome')
    .description('every notifier registration: owner, region, index, flags, range, accepted/refused/invalid (with the reason), warnings, events received')
    .argument('<file>', 'a device config')
    .action((file: string, o: Opts<commands.FileOptions>) => setExit(commands.notifiers({ ...o, file }, io)));

  add('replay')
    .summary('the events a replay delivers to a notifier')
    .description('the events a replay delivers to a notifier (run on a copy, so the machine is not changed)')
    .argument('<file>', 'a device config')
    .requiredOption('--notifier <name>', 'the registration, as `notifiers` names it (e.g. gpu0/vfio)')
    .option('--limit <n>', `events printed (default ${commands.DEFAULT_REPLAY_LIMIT}); the rest are counted`, positiveInt('--limit'))
    .action((file: string, o: Opts<commands.ReplayOptions>) => setExit(commands.replay({ ...o, file }, io)));

  add('run')
    .summary("run the config's scenario")
    .description(
      "run the config's scenario: each step with its notifications, failed expectations marked; exit 1 if any fails. " +
        "With --check-shadows, after each step every vfio map and vhost IOTLB is compared with a fresh translation, and a stale one fails the run",
    )
    .argument('<file>', 'a device config')
    .option('--check-shadows', "compare vfio's and vhost's shadows with translation after each step")
    .action((file: string, o: Opts<commands.RunOptions>) => setExit(commands.run({ ...o, file }, io)));

  add('demo', '')
    .summary('all of the above on the embedded AN505 example')
    .description('tree, two stepped translations, notifiers and run on the embedded AN505-like example')
    .action((o: commands.CommonOptions) => setExit(commands.demo(o, io, env.example)));

  // attach and snapshot are asynchronous: main.ts runs them (live.ts); listed here for --help.
  program.command('attach').summary('query a running QEMU (QMP, gdbstub): any command above on its live config').helpOption(false).allowUnknownOption().argument('[args...]').action(() => setExit(commands.liveOnly('attach', io)));
  program.command('snapshot').summary('save a running QEMU as a config, an ELF core and its IOMMU registers').helpOption(false).allowUnknownOption().argument('[args...]').action(() => setExit(commands.liveOnly('snapshot', io)));

  add('schema', '')
    .summary("the config format's JSON Schema")
    .description("print the config format's JSON Schema (what schema/iommu-lens.schema.json holds)")
    .action((o: commands.CommonOptions) => setExit(commands.schema(o, io)));

  return program;
}

/** Runs one command line (without the node and script arguments); returns the exit code. */
export function runCli(argv: readonly string[], io: CliIO, env: CliEnv = {}): number {
  let code = EXIT_OK;
  const program = buildProgram(io, env, (c) => (code = c));
  commands.forgetCurrentFile();
  try {
    program.parse([...argv], { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) {
      // A bug of ours: one line naming the file, never a stack trace.
      const why = e instanceof Error ? e.message : String(e);
      io.err(`iommu-lens: ${commands.currentFile ?? '(no file)'}: internal error: ${why.split('\n')[0]!.slice(0, 200)}`);
      return EXIT_CANNOT_RUN;
    }
    // Help and version asked for are a success; every other way commander stops is bad usage.
    return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? EXIT_OK : EXIT_CANNOT_RUN;
  }
  return code;
}
