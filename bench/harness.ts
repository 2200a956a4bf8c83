/**
 * A small benchmark harness: each case runs for a time budget in several rounds; the report
 * gives the median rate and the spread (min..max) across rounds, since this machine's other
 * load moves single numbers around.
 *
 * Time is this process's CPU time (user + system, every thread: the garbage collector's helpers
 * count) unless `--wall` is given: on a machine shared with other work, wall-clock time measures
 * the scheduler as much as the code, while CPU time stays close to what an idle machine shows.
 * Timed operations (`time`) record both clocks over the same rounds, so the table gives the
 * wall-clock time beside the CPU time without a second run: CPU time exceeds the wall on an idle
 * machine (V8's parallel GC threads add theirs), the wall exceeds it on a busy one. Whole
 * processes timed from outside (the CLI's start-up) have a wall-clock time only.
 */
export interface BenchResult {
  readonly name: string;
  /** Median over the rounds. */
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly unit: string;
  readonly rounds: number;
  readonly goal?: string;
  /** Whether the median meets the goal (when the goal reads `>= N unit` or `< N unit`). */
  readonly met?: boolean;
  /** A remark printed after the goal (scaling: the growth per item). */
  readonly note?: string;
  /**
   * What median, min and max measure: `CLOCK` when absent; 'wall' for a row that has only a
   * wall-clock time (a whole process timed from outside), whatever `--wall` says.
   */
  readonly clock?: 'wall';
  /** The wall-clock time of the same rounds, beside a CPU-time median (rows from `time`). */
  readonly wall?: { readonly median: number; readonly min: number; readonly max: number };
  /** The rate of each round in order, and which measurement in turns (ratesInTurn) it was: ratioRow pairs the rounds of one. */
  readonly samples?: readonly number[];
  readonly turn?: number;
}

export interface RateCase {
  readonly name: string;
  /** Runs `n` operations; returns something the optimiser cannot drop. */
  readonly run: (n: number) => unknown;
  readonly unit?: string;
  readonly goal?: string;
}

const wall = process.argv.includes('--wall');

/** Milliseconds of this process's CPU time. */
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Milliseconds of this process's CPU time (or of wall-clock time with --wall). */
export function now(): number {
  return wall ? performance.now() : cpuNow();
}

/** What `now()` measures, for the report's header. */
export const CLOCK = wall ? 'wall-clock time' : 'CPU time of this process, and the wall-clock time of timed operations beside it (--wall: wall-clock only)';

let sink: unknown;
export function keep(v: unknown): void {
  sink = v;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Measurements in turns so far (each result of one carries its number). */
let turns = 0;

/** A batch size for `c` that runs for about 50 ms. */
function calibrate(c: RateCase): number {
  let n = 1;
  for (;;) {
    const t0 = now();
    keep(c.run(n));
    const dt = now() - t0;
    if (dt > 50 || n > 1 << 30) return n;
    n = dt < 1 ? n * 10 : Math.ceil((n * 60) / dt);
  }
}

/** Operations per second: calibrates a batch size to ~50 ms, then times `rounds` batches. */
export function rate(c: RateCase, rounds = 7): BenchResult {
  return ratesInTurn([c], rounds)[0];
}

/**
 * rate() for cases that are compared with each other (a walker and its anchors): each is
 * calibrated alone, then their batches run in turns, round r of every case before round r + 1 of
 * any, so that a slower moment of this shared machine falls on all of them alike. Each result
 * keeps the rates of its rounds, which ratioRow pairs round by round.
 */
export function ratesInTurn<T extends readonly RateCase[]>(cases: readonly [...T], rounds = 7): { [K in keyof T]: BenchResult } {
  const turn = ++turns;
  const ns = cases.map(calibrate);
  const rates: number[][] = cases.map(() => []);
  for (let r = 0; r < rounds; r++) {
    cases.forEach((c, i) => {
      const t0 = now();
      keep(c.run(ns[i]!));
      rates[i]!.push((ns[i]! * 1000) / (now() - t0));
    });
  }
  return cases.map((c, i) => ({ name: c.name, ...spread(rates[i]!), unit: c.unit ?? 'ops/s', rounds, goal: c.goal, samples: rates[i]!, turn })) as { [K in keyof T]: BenchResult };
}

/**
 * A row giving `ours` as a share of `anchor`: the median of the ratios of their rounds when the
 * two were measured in turns (each round beside the anchor's round next to it), else the ratio of
 * their medians (the same run, one after the other).
 */
export function ratioRow(name: string, ours: BenchResult, anchor: BenchResult, goal: string): BenchResult {
  const a = ours.samples;
  const b = anchor.samples;
  if (ours.turn !== undefined && ours.turn === anchor.turn && a !== undefined && b !== undefined && a.length === b.length && a.length > 0) {
    const ratios = a.map((x, i) => x / b[i]!);
    return { name, ...spread(ratios), unit: 'ratio', rounds: ratios.length, goal };
  }
  const r = ours.median / anchor.median;
  return { name, median: r, min: r, max: r, unit: 'ratio', rounds: ours.rounds, goal };
}

/** Median, min and max of some samples. */
export function spread(xs: readonly number[]): { median: number; min: number; max: number } {
  return { median: median([...xs]), min: Math.min(...xs), max: Math.max(...xs) };
}

/**
 * Milliseconds per run of `fn` (a whole operation such as loading a config): `median` by `now()`'s
 * clock, and `wall` the wall-clock time of the same rounds when that clock is the CPU's.
 */
export function time(name: string, fn: () => unknown, rounds = 7, goal?: string): BenchResult {
  keep(fn());
  const cpu: number[] = [];
  const walls: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // The previous round's result is let go first: a round (a config load, say) does not pay for
    // keeping its predecessor alive through the garbage collector's work.
    keep(undefined);
    const w0 = performance.now();
    const c0 = cpuNow();
    keep(fn());
    const c1 = cpuNow();
    walls.push(performance.now() - w0);
    cpu.push(c1 - c0);
  }
  if (wall) return { name, ...spread(walls), unit: 'ms', rounds, goal };
  return { name, ...spread(cpu), unit: 'ms', rounds, goal, wall: spread(walls) };
}

/**
 * Whether `r` meets a goal written `>= 5 M/s`, `>= 0.3` (a ratio), `< 1 s` or `< 200 ms`; undefined
 * for a goal in another form.
 */
export function meets(r: BenchResult): boolean | undefined {
  const m = /^(>=|<)\s*([\d.]+)\s*(M\/s|k\/s|\/s|s|ms)?$/.exec(r.goal ?? '');
  if (!m) return undefined;
  const scale = m[3] === 'M/s' ? 1e6 : m[3] === 'k/s' ? 1e3 : m[3] === 's' ? 1000 : 1;
  const limit = Number(m[2]) * scale;
  return m[1] === '>=' ? r.median >= limit : r.median < limit;
}

/** The result with `met` filled in from its goal. */
export function judged(r: BenchResult): BenchResult {
  const met = meets(r);
  return met === undefined ? r : { ...r, met };
}

export function format(results: readonly BenchResult[]): string {
  const fmt = (v: number, unit: string) =>
    unit === 'ms'
      ? `${v.toFixed(v < 10 ? 2 : 1)} ms`
      : unit === 'ratio'
        ? `${v.toFixed(2)}x`
        : v >= 1e6
          ? `${(v / 1e6).toFixed(2)} M${unit}`
          : v >= 1e3
            ? `${(v / 1e3).toFixed(1)} k${unit}`
            : `${v.toFixed(1)} ${unit}`;
  const range = (s: { min: number; max: number }, unit: string) => (s.min === s.max ? '' : `${fmt(s.min, unit)} .. ${fmt(s.max, unit)}`);
  // The wall-clock columns: a timed operation's wall beside its CPU time, a whole process's wall alone.
  const wallOf = (r: BenchResult) => (r.clock === 'wall' ? r : r.wall);
  const showWall = !wall && results.some((r) => wallOf(r) !== undefined);
  const rows = results.map((r) => {
    const w = wallOf(r);
    const own = r.rounds === 0 || (showWall && r.clock === 'wall') ? undefined : r;
    return [
      r.name,
      own ? fmt(own.median, r.unit) : r.rounds === 0 ? '' : '-',
      own ? range(own, r.unit) : '',
      ...(showWall ? [w ? fmt(w.median, r.unit) : '', w ? range(w, r.unit) : ''] : []),
      `${r.goal ?? ''}${r.met === undefined ? '' : r.met ? '  ok' : '  MISSED'}${r.note ? `  ${r.note}` : ''}`,
    ];
  });
  const n = Math.max(0, ...results.map((r) => r.rounds));
  const head = showWall
    ? ['case', 'median (CPU)', `range (${n} rounds)`, 'median (wall)', 'range (wall)', 'goal']
    : ['case', 'median', `range (${n} rounds)`, 'goal'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export { sink };
