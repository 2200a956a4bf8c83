/**
 * The CLI's progress line: long work (a replay, a scenario run, loading a large config) reports
 * what it is doing; on a terminal's stderr this shows as one line rewritten in place, only once
 * the work has lasted SHOW_AFTER_MS (short work prints nothing), at most every UPDATE_MS, and is
 * erased when the work ends. main.ts uses it only when stderr is a terminal; pipes and files
 * never see it.
 */
export const SHOW_AFTER_MS = 500;
export const UPDATE_MS = 100;

/** `immediate`: show it now, for work that cannot report again until it ends (one long synchronous call). */
export type ProgressFn = (text: string | undefined, immediate?: boolean) => void;

export function progressLine(write: (raw: string) => void, now: () => number = Date.now, columns = 80): ProgressFn {
  let started: number | undefined;
  let last = -Infinity;
  let shown = false;
  return (text, immediate = false) => {
    const t = now();
    if (text === undefined) {
      if (shown) write('\r\x1b[K');
      started = undefined;
      shown = false;
      last = -Infinity;
      return;
    }
    started ??= t;
    if (!immediate && (t - started < SHOW_AFTER_MS || t - last < UPDATE_MS)) return;
    last = t;
    shown = true;
    // One line: never wider than the terminal, or it would wrap and \r could not rewrite it.
    const line = text.length >= columns ? `${text.slice(0, Math.max(0, columns - 2))}…` : text;
    write(`\r\x1b[K${line}`);
  };
}
