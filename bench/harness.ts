/**
 * A small benchmark harness: each case runs for a time budget in several rounds; the report
 * gives the median rate and the spread (min..max) across rounds, since this machine's other
 * load moves single numbers around.
 *
 * Time is this process's CPU time (user + system, every thread: the garbage collector's helpers
 * count) unless `--wall` is given: on a machine shared with other work, wall-clock time measures
 * the scheduler as much as the code, while CPU time stays close to what an idle machine shows.
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
}

export interface RateCase {
  readonly name: string;
  /** Runs `n` operations; returns something the optimiser cannot drop. */
  readonly run: (n: number) => unknown;
  readonly unit?: string;
  readonly goal?: string;
}

const wall = process.argv.includes('--wall');

/** Milliseconds of this process's CPU time (or of wall-clock time with --wall). */
export function now(): number {
  if (wall) return performance.now();
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** What `now()` measures, for the report's header. */
export const CLOCK = wall ? 'wall-clock time' : 'CPU time of this process (--wall for wall-clock)';

let sink: unknown;
export function keep(v: unknown): void {
  sink = v;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Operations per second: calibrates a batch size to ~50 ms, then times `rounds` batches. */
export function rate(c: RateCase, rounds = 7): BenchResult {
  let n = 1;
  for (;;) {
    const t0 = now();
    keep(c.run(n));
    const dt = now() - t0;
    if (dt > 50 || n > 1 << 30) break;
    n = dt < 1 ? n * 10 : Math.ceil((n * 60) / dt);
  }
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = now();
    keep(c.run(n));
    rates.push((n * 1000) / (now() - t0));
  }
  return { name: c.name, median: median(rates), min: Math.min(...rates), max: Math.max(...rates), unit: c.unit ?? 'ops/s', rounds, goal: c.goal };
}

/** A row giving `ours` as a share of `anchor` (medians of the same run). */
export function ratioRow(name: string, ours: BenchResult, anchor: BenchResult, goal: string): BenchResult {
  const r = ours.median / anchor.median;
  return { name, median: r, min: r, max: r, unit: 'ratio', rounds: ours.rounds, goal };
}

/** Milliseconds per run of `fn` (a whole operation such as loading a config). */
export function time(name: string, fn: () => unknown, rounds = 7, goal?: string): BenchResult {
  keep(fn());
  const ms: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = now();
    keep(fn());
    ms.push(now() - t0);
  }
  return { name, median: median(ms), min: Math.min(...ms), max: Math.max(...ms), unit: 'ms', rounds, goal };
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
  const rows = results.map((r) => [
    r.name,
    r.rounds === 0 ? '-' : fmt(r.median, r.unit),
    r.min === r.max ? '' : `${fmt(r.min, r.unit)} .. ${fmt(r.max, r.unit)}`,
    `${r.goal ?? ''}${r.met === undefined ? '' : r.met ? '  ok' : '  MISSED'}${r.note ? `  ${r.note}` : ''}`,
  ]);
  const head = ['case', 'median', `range (${Math.max(0, ...results.map((r) => r.rounds))} rounds)`, 'goal'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export { sink };
