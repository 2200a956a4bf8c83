/**
 * The config layer's diagnostics in the Problems view (and as squiggles while typing), scenario
 * failures as diagnostics on their steps, and the quick fixes the config layer proposes.
 */
import * as vscode from 'vscode';
import type { Diagnostic } from '../config/diagnostics';
import type { ConfigStore } from './configs';
import { toDiagnostic, toRange } from './convert';

export class DiagnosticsPublisher implements vscode.Disposable {
  readonly config = vscode.languages.createDiagnosticCollection('iommu-lens');
  readonly scenario = vscode.languages.createDiagnosticCollection('iommu-lens-scenario');
  private readonly fixes = new Map<string, Diagnostic[]>();
  private readonly sub: vscode.Disposable;

  constructor(private readonly store: ConfigStore) {
    this.sub = store.onDidChange((uri) => this.publish(uri));
  }

  publish(uri?: vscode.Uri): void {
    const entries = uri ? [this.store.get(uri)].filter((e) => e !== undefined) : this.store.all;
    if (uri && entries.length === 0) {
      this.config.delete(uri);
      this.scenario.delete(uri);
      this.fixes.delete(uri.toString());
      return;
    }
    if (!uri) this.config.clear();
    for (const e of entries) {
      this.config.set(e.uri, e.config.diagnostics.map(toDiagnostic));
      this.fixes.set(e.uri.toString(), e.config.diagnostics.filter((d) => d.fixes?.length));
      // A changed file invalidates what the last scenario run said about its steps.
      if (uri) this.scenario.delete(e.uri);
    }
  }

  /** Quick fixes for a range, as the config layer proposed them. */
  codeActions(uri: vscode.Uri, range: vscode.Range): vscode.CodeAction[] {
    const out: vscode.CodeAction[] = [];
    for (const d of this.fixes.get(uri.toString()) ?? []) {
      const dr = toRange(d.range);
      if (!dr.intersection(range)) continue;
      for (const [i, f] of (d.fixes ?? []).entries()) {
        const a = new vscode.CodeAction(f.title, vscode.CodeActionKind.QuickFix);
        a.edit = new vscode.WorkspaceEdit();
        a.edit.replace(uri, toRange(f.range), f.newText);
        a.diagnostics = [toDiagnostic(d)];
        // The config layer orders candidates best first.
        a.isPreferred = i === 0;
        out.push(a);
      }
    }
    return out;
  }

  dispose(): void {
    this.sub.dispose();
    this.config.dispose();
    this.scenario.dispose();
  }
}
