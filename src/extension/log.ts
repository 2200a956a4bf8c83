/** The output channel: what the extension did, with timings, and its errors. */
import { inspect } from 'node:util';
import * as vscode from 'vscode';

export class Log implements vscode.Disposable {
  readonly channel: vscode.LogOutputChannel;

  constructor() {
    this.channel = vscode.window.createOutputChannel('IOMMU Lens', { log: true });
  }

  info(msg: string): void {
    this.channel.info(msg);
  }

  warn(msg: string): void {
    this.channel.warn(msg);
  }

  error(msg: string, e?: unknown): void {
    this.channel.error(e instanceof Error ? `${msg}: ${e.stack ?? e.message}` : e !== undefined ? `${msg}: ${inspect(e)}` : msg);
  }

  /** Plain lines (a scenario run, a replay), without a log prefix. */
  append(lines: readonly string[]): void {
    for (const l of lines) this.channel.appendLine(l);
  }

  dispose(): void {
    this.channel.dispose();
  }
}
