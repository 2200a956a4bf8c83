/**
 * The CLI's commands, each a function from its options and an io to an exit code, so that tests
 * run them in-process. They read files through io, ask the views (through reports.ts) for every
 * answer, and print text (render.ts) or JSON (toJson: bigints as hex strings).
 *
 * Exit codes: 0 ok; 1 the command's answer is a failure (errors in `check`, a failed expectation
 * or step in `run`, a notifier with nothing to replay); 2 the command could not run (an
 * unreadable file, a bad address or attribute, an unknown device, address space or notifier).
 */
import { loadConfig, type LoadedConfig, type LoadOptions } from '../config/load';
import { openImageFile } from '../node/images';
import type { AccessOp, MemTxAttrs, QemuSemantics } from '../engine';
import { toJson } from '../views/format';
import { parseAddress, parseAttrs } from '../views/query';
import {
  countDiagnostics,
  diagnosticReport,
  fileCheckReport,
  notifiersReport,
  replayReport,
  runReport,
  translateReport,
  treeReport,
  type FileCheckReport,
  type TranslateReport,
} from './reports';
import { ANSI, PLAIN, heading, renderCounts, renderDiagnostic, renderNotifiers, renderReplay, renderRun, renderTranslate, renderTree, type Style } from './render';
import type { ProgressFn } from './progress';

export interface CliIO {
  out(line: string): void;
  err(line: string): void;
  /** Throws (a Node error with a `code` such as ENOENT) when the file cannot be read; "-" is standard input. */
  readFile(path: string): string;
  /** Colour on stdout and on stderr (main.ts decides: a TTY, and NO_COLOR unset). */
  readonly color?: boolean;
  readonly colorErr?: boolean;
  /** A progress line for long work (main.ts: on a terminal's stderr only); undefined ends it. */
  readonly progress?: ProgressFn;
  /** Opens a config's memory images (default: files; a live QEMU gives its guest memory). */
  readonly openImage?: LoadOptions['openImage'];
}

/** Configs at least this long announce their load on the progress line. */
export const LARGE_CONFIG_CHARS = 512 * 1024;

/** The commands that talk to a running QEMU (live.ts, loaded only for them). */
export const LIVE_COMMANDS: ReadonlySet<string> = new Set(['attach', 'snapshot']);

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_CANNOT_RUN = 2;

export interface CommonOptions {
  readonly json?: boolean;
  /** Overrides the config's `qemu-semantics`. */
  readonly qemu?: QemuSemantics;
}

/** A failure that ends a command with one `iommu-lens: ...` line on stderr. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_CANNOT_RUN,
  ) {
    super(message);
  }
}

function guarded(io: CliIO, fn: () => number): number {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CliFailure) {
      io.err(`iommu-lens: ${e.message}`);
      return e.exitCode;
    }
    throw e;
  }
}

const outStyle = (io: CliIO): Style => (io.color ? ANSI : PLAIN);
const errStyle = (io: CliIO): Style => (io.colorErr ? ANSI : PLAIN);

function readReason(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return e instanceof Error ? e.message : String(e);
}

/** The config file the command is working on, for the one line an unexpected error gets. */
export let currentFile: string | undefined;
export function forgetCurrentFile(): void {
  currentFile = undefined;
}

function readText(io: CliIO, file: string): string {
  currentFile = file;
  try {
    return io.readFile(file);
  } catch (e) {
    throw new CliFailure(`cannot read ${file}: ${readReason(e)}`);
  }
}

/**
 * Loads a config for a query. Its errors go to stderr first; the command then works on what of
 * the machine is valid, and the errors alone do not change the exit code (`check` is for that).
 */
function loadForQuery(io: CliIO, file: string, opts: CommonOptions, text = readText(io, file)): LoadedConfig {
  // A large config takes a while to parse, in one synchronous call: say so first.
  const large = text.length >= LARGE_CONFIG_CHARS && io.progress;
  if (large) io.progress?.(`loading ${file} (${(text.length / 2 ** 20).toFixed(1)} MB)...`, true);
  const cfg = loadConfig(file, text, { semantics: opts.qemu, openImage: io.openImage ?? openImageFile });
  if (large) io.progress?.(undefined);
  if (cfg.errorCount) {
    const s = errStyle(io);
    for (const d of cfg.diagnostics) if (d.severity === 'error') io.err(renderDiagnostic(diagnosticReport(d), s));
    io.err(`iommu-lens: ${file} has ${cfg.errorCount === 1 ? '1 error' : `${cfg.errorCount} errors`}; what follows is for the part of the config that is valid`);
  }
  return cfg;
}

function print(io: CliIO, lines: readonly string[]): void {
  for (const l of lines) io.out(l);
}

// ---- check

export interface CheckOptions extends CommonOptions {
  readonly files: readonly string[];
}

export function check(opts: CheckOptions, io: CliIO): number {
  const reports: FileCheckReport[] = [];
  const unreadable: Array<{ file: string; message: string }> = [];
  const s = outStyle(io);
  for (const file of opts.files) {
    let text: string;
    try {
      text = readText(io, file);
    } catch (e) {
      if (!(e instanceof CliFailure)) throw e;
      io.err(`iommu-lens: ${e.message}`);
      unreadable.push({ file, message: e.message });
      continue;
    }
    const r = fileCheckReport(loadConfig(file, text, { semantics: opts.qemu, openImage: io.openImage ?? openImageFile }));
    reports.push(r);
    if (!opts.json) for (const d of r.diagnostics) io.out(renderDiagnostic(d, s));
  }
  const totals = countDiagnostics(reports.flatMap((r) => r.diagnostics));
  if (opts.json) io.out(toJson({ files: reports, unreadable, ...totals }));
  io.err(renderCounts(reports.length, totals));
  return unreadable.length ? EXIT_CANNOT_RUN : totals.errors ? EXIT_FAILED : EXIT_OK;
}

// ---- tree

export const DEFAULT_MAX_RUNS = 16;

export interface TreeOptions extends CommonOptions {
  readonly file: string;
  readonly maxRuns?: number;
}

export function tree(opts: TreeOptions, io: CliIO): number {
  return guarded(io, () => {
    const maxRuns = opts.maxRuns ?? DEFAULT_MAX_RUNS;
    const report = treeReport(loadForQuery(io, opts.file, opts), maxRuns);
    print(io, opts.json ? [toJson(report)] : renderTree(report, maxRuns, outStyle(io)));
    return EXIT_OK;
  });
}

// ---- translate

export interface TranslateOptions extends CommonOptions {
  readonly file: string;
  readonly from?: string;
  readonly addr?: string;
  readonly op?: string;
  readonly attrs?: string;
  readonly size?: number;
  readonly steps?: boolean;
  /** A file of JSON queries, one per line ("-": standard input). */
  readonly batch?: string;
}

interface ParsedQuery {
  readonly from: string;
  readonly addr: bigint;
  readonly op: AccessOp;
  readonly attrs?: MemTxAttrs;
}

/** What a person typed, checked before any file is read, so that a typo is reported as such. */
function parseQuery(opts: { from: string; addr: string; op?: string; attrs?: string }): ParsedQuery {
  const addr = parseAddress(opts.addr);
  if (!addr.ok) throw new CliFailure(`bad address "${opts.addr}": ${addr.message}`);
  const op = opts.op ?? 'read';
  if (op !== 'read' && op !== 'write') throw new CliFailure(`bad --op "${op}": read or write`);
  let attrs: MemTxAttrs | undefined;
  if (opts.attrs !== undefined) {
    const a = parseAttrs(opts.attrs);
    if (!a.ok) throw new CliFailure(`bad attributes "${opts.attrs}": ${a.message}`);
    attrs = a.value;
  }
  return { from: opts.from, addr: addr.value, op, attrs };
}

function translateQuery(cfg: LoadedConfig, q: ParsedQuery, steps: boolean, size?: number): TranslateReport {
  const r = translateReport(cfg, q, steps, size);
  // The only refusal is an unknown device or address space; its message lists the names there are.
  if ('error' in r) throw new CliFailure(r.message);
  return r;
}

/** A fault is an answer, not a failure: translate exits 0 whether the access lands or faults. */
export function translate(opts: TranslateOptions, io: CliIO): number {
  return guarded(io, () => {
    if (opts.batch !== undefined) return translateBatch(opts, opts.batch, io);
    if (opts.from === undefined || opts.addr === undefined) throw new CliFailure('translate needs --from and --addr (or --batch)', EXIT_CANNOT_RUN);
    const q = parseQuery({ ...opts, from: opts.from, addr: opts.addr });
    const report = translateQuery(loadForQuery(io, opts.file, opts), q, opts.steps === true, opts.size);
    print(io, opts.json ? [toJson(report)] : renderTranslate(report, outStyle(io)));
    return EXIT_OK;
  });
}

/** Longest access a batch query may ask about (as a scenario step). */
const MAX_QUERY_SIZE = 16 << 20;

/**
 * `translate FILE --batch QUERIES`: one loaded machine answers every line. A line is a JSON object
 * {from, addr, op?, attrs?, size?, steps?} (addr as a number or a string the CLI accepts); the
 * answer is the --json report on one line, or {line, error} for a query that cannot be asked.
 * Blank lines are skipped. Exit 0 when every query was answered (a fault is an answer).
 */
function translateBatch(opts: TranslateOptions, queries: string, io: CliIO): number {
  const text = readText(io, queries);
  const cfg = loadForQuery(io, opts.file, opts);
  let failed = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const answer = (() => {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (e) {
        return { error: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
      }
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return { error: 'a query is a JSON object: {"from": ..., "addr": ...}' };
      const o = v as Record<string, unknown>;
      const str = (k: string) => (typeof o[k] === 'string' ? (o[k]) : typeof o[k] === 'number' ? String(o[k]) : undefined);
      const from = typeof o.from === 'string' ? o.from : undefined;
      const addr = str('addr');
      if (from === undefined || addr === undefined) return { error: 'a query needs "from" (a name) and "addr"' };
      const size = o.size === undefined ? undefined : typeof o.size === 'number' && Number.isSafeInteger(o.size) && o.size >= 1 && o.size <= MAX_QUERY_SIZE ? o.size : NaN;
      if (Number.isNaN(size)) return { error: `"size" is a whole number from 1 to ${MAX_QUERY_SIZE}` };
      try {
        const q = parseQuery({ from, addr, op: str('op'), attrs: str('attrs') });
        return translateQuery(cfg, q, o.steps === true, size);
      } catch (e) {
        if (e instanceof CliFailure) return { error: e.message };
        throw e;
      }
    })();
    if ('error' in answer) failed++;
    io.out(toJson('error' in answer ? { line: i + 1, ...answer } : answer, 0));
  });
  return failed ? EXIT_FAILED : EXIT_OK;
}

// ---- notifiers

export interface FileOptions extends CommonOptions {
  readonly file: string;
}

export function notifiers(opts: FileOptions, io: CliIO): number {
  return guarded(io, () => {
    const report = notifiersReport(loadForQuery(io, opts.file, opts));
    print(io, opts.json ? [toJson(report)] : renderNotifiers(report.file, report.notifiers, outStyle(io)));
    return EXIT_OK;
  });
}

// ---- replay

export const DEFAULT_REPLAY_LIMIT = 64;

export interface ReplayOptions extends CommonOptions {
  readonly file: string;
  readonly notifier: string;
  readonly limit?: number;
}

export function replay(opts: ReplayOptions, io: CliIO): number {
  return guarded(io, () => {
    const limit = opts.limit ?? DEFAULT_REPLAY_LIMIT;
    const r = replayReport(loadForQuery(io, opts.file, opts), opts.notifier, limit, io.progress);
    if ('error' in r) throw new CliFailure(r.message, r.code === 'unknown-notifier' ? EXIT_CANNOT_RUN : EXIT_FAILED);
    print(io, opts.json ? [toJson(r)] : renderReplay(r, limit, outStyle(io)));
    return EXIT_OK;
  });
}

// ---- run

export interface RunOptions extends FileOptions {
  readonly checkShadows?: boolean;
}

export function run(opts: RunOptions, io: CliIO): number {
  return guarded(io, () => {
    const r = runReport(loadForQuery(io, opts.file, opts), { checkShadows: opts.checkShadows, progress: io.progress });
    print(io, opts.json ? [toJson(r)] : renderRun(r, outStyle(io)));
    return r.failed || r.divergences ? EXIT_FAILED : EXIT_OK;
  });
}

// ---- demo

export interface EmbeddedExample {
  /** The name diagnostics and sources use: the example's path in the repository. */
  readonly file: string;
  readonly text: string;
}

/** The demo's translations: the MPC passes a non-secure access to a non-secure block, and blocks a secure one. */
export const DEMO_QUERIES = [
  { from: 'cpu-ns', addr: '0x8000' },
  { from: 'cpu-s', addr: '0x8000' },
] as const;

export function demo(opts: CommonOptions, io: CliIO, example: EmbeddedExample | undefined): number {
  return guarded(io, () => {
    if (!example) throw new CliFailure('this build has no embedded example (build the CLI with `npm run build`)');
    const cfg = loadForQuery(io, example.file, opts, example.text);
    const maxRuns = DEFAULT_MAX_RUNS;
    const tr = treeReport(cfg, maxRuns);
    const translations = DEMO_QUERIES.map((q) => translateQuery(cfg, parseQuery(q), true));
    const nr = notifiersReport(cfg);
    // The scenario changes the machine, so it runs on a machine of its own.
    const rr = runReport(loadConfig(example.file, example.text, { semantics: opts.qemu }));
    if (opts.json) {
      io.out(toJson({ example: example.file, tree: tr, translate: translations, notifiers: nr, run: rr }));
      return rr.failed ? EXIT_FAILED : EXIT_OK;
    }
    const s = outStyle(io);
    const f = example.file;
    print(io, [`IOMMU Lens demo on its embedded example, ${f}: ${cfg.machine.name}.`, 'Each part below is the output of the command in its heading.', '']);
    print(io, [heading(`iommu-lens tree ${f}`, s), '', ...renderTree(tr, maxRuns, s), '']);
    translations.forEach((t, i) => {
      const q = DEMO_QUERIES[i]!;
      print(io, [heading(`iommu-lens translate ${f} --from ${q.from} --addr ${q.addr} --steps`, s), '', ...renderTranslate(t, s), '']);
    });
    print(io, [heading(`iommu-lens notifiers ${f}`, s), '', ...renderNotifiers(nr.file, nr.notifiers, s), '']);
    print(io, [heading(`iommu-lens run ${f}`, s), '', ...renderRun(rr, s)]);
    return rr.failed ? EXIT_FAILED : EXIT_OK;
  });
}

// ---- schema

export function schema(_opts: CommonOptions, io: CliIO): number {
  // The schema's builder (TypeBox and every model's schema) is loaded for this command only.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on demand, by design
  const { schemaJson } = require('../config/schema') as typeof import('../config/schema');
  io.out(schemaJson().trimEnd());
  return EXIT_OK;
}

/** attach and snapshot need the asynchronous entry point (the iommu-lens executable runs it). */
export function liveOnly(name: string, io: CliIO): number {
  io.err(`iommu-lens: ${name} talks to QEMU and runs from the iommu-lens executable (iommu-lens ${name} --help)`);
  return EXIT_CANNOT_RUN;
}
