/**
 * Long work in the UI: a progress notification that appears only once the work has lasted
 * SHOW_AFTER_MS (short work shows nothing), with a Cancel button when the work can stop. The work
 * runs in slices: it calls `step()` between pieces (a replay's slice, a scenario step), which
 * reports progress and, every SLICE_MS, gives the extension host a turn so the notification
 * updates and a click on Cancel arrives.
 */
import * as vscode from 'vscode';

export const SHOW_AFTER_MS = 400;
export const SLICE_MS = 50;
/** Configs at least this long show a notification while they load (one synchronous parse: it cannot be cancelled). */
export const LARGE_CONFIG_CHARS = 512 * 1024;

export interface Work {
  /**
   * Progress so far (`fraction` of the whole, 0..1, when known). Resolves to false once the user
   * has cancelled: the work should stop there.
   */
  step(message: string, fraction?: number): Promise<boolean>;
  readonly cancelled: boolean;
}

export interface WorkOptions {
  readonly cancellable: boolean;
  /** Show the notification at once (for work that cannot report until it ends, like a large load). */
  readonly showNow?: boolean;
}

/** Titles of the progress notifications open now, for the log and the tests. */
export const openProgress = new Set<string>();

export async function longWork<T>(title: string, opts: WorkOptions, fn: (w: Work) => Promise<T>): Promise<T> {
  const t0 = Date.now();
  let lastYield = t0;
  let message = '';
  let reported = 0;
  let fraction = 0;
  let cancelled = false;
  let finished = false;
  let ui: { progress: vscode.Progress<{ message?: string; increment?: number }>; close: () => void } | undefined;
  let showing = false;

  const show = () => {
    showing = true;
    openProgress.add(title);
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: opts.cancellable }, (progress, token) => {
      token.onCancellationRequested(() => (cancelled = true));
      return new Promise<void>((resolve) => {
        ui = { progress, close: resolve };
        report();
        if (finished) resolve();
      });
    });
  };
  const report = () => {
    if (!ui) return;
    const increment = Math.max(0, (fraction - reported) * 100);
    reported = Math.max(reported, fraction);
    ui.progress.report({ message, increment: increment || undefined });
  };
  const turn = (ms = 0) => new Promise<void>((resolve) => setTimeout(resolve, ms));

  const work: Work = {
    get cancelled() {
      return cancelled;
    },
    async step(msg, f) {
      message = msg;
      if (f !== undefined) fraction = Math.min(1, Math.max(fraction, f));
      const now = Date.now();
      if (now - lastYield >= SLICE_MS) {
        if (!showing && now - t0 >= SHOW_AFTER_MS) show();
        report();
        await turn();
        lastYield = Date.now();
      }
      return !cancelled;
    },
  };

  if (opts.showNow) {
    show();
    // Let the notification reach the window before synchronous work holds the host.
    await turn(20);
  }
  try {
    return await fn(work);
  } finally {
    finished = true;
    openProgress.delete(title);
    ui?.close();
  }
}
