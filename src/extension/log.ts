/** The output channel: what the extension did, with timings, and its errors. */
import { inspect } from 'node:util';
import * as vscode from 'vscode';

export class Log implements vscode.Disposable {
  readonly channel: vscode.LogOutputChannel;
  /**
   * Scenario tables and replays: a plain channel, because a log channel puts a timestamp and a
   * level on every line and breaks their columns.
   */
  readonly tables: vscode.OutputChannel;

  constructor() {
    this.channel = vscode.window.createOutputChannel('IOMMU Lens', { log: true });
    this.tables = vscode.window.createOutputChannel('IOMMU Lens Scenarios');
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
    this.tables.append(lines.map((l) => l + '\n').join(''));
  }

  dispose(): void {
    this.tables.dispose();
    this.channel.dispose();
  }
}
