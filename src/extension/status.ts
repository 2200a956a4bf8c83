/** The status-bar item: the active config and its problem count. */
import * as vscode from 'vscode';
import type { ConfigStore } from './configs';

export class StatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('iommuLens.status', vscode.StatusBarAlignment.Left, 50);
  private readonly subs: vscode.Disposable[] = [];

  constructor(private readonly store: ConfigStore) {
    this.item.name = 'IOMMU Lens';
    this.item.command = 'workbench.view.extension.iommuLens';
    this.subs.push(store.onDidChange(() => this.update()), vscode.window.onDidChangeActiveTextEditor(() => this.update()));
    this.update();
  }

  update(): void {
    const active = vscode.window.activeTextEditor?.document.uri;
    const e = (active && this.store.get(active)) || this.store.all[0];
    if (!e) {
      this.item.hide();
      return;
    }
    const c = e.config;
    const problems = c.errorCount ? ` $(error) ${c.errorCount}` : c.warningCount ? ` $(warning) ${c.warningCount}` : ' $(check)';
    this.item.text = `$(shield) ${c.file.split('/').pop()}${problems}`;
    this.item.tooltip = `IOMMU Lens: ${c.file}\n${c.machine.name}\n${c.errorCount} error(s), ${c.warningCount} warning(s); loaded in ${e.loadMs.toFixed(1)} ms\n${this.store.all.length} config(s) in the workspace`;
    this.item.backgroundColor = c.errorCount ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    this.item.show();
  }

  get text(): string {
    return this.item.text;
  }

  dispose(): void {
    this.item.dispose();
    for (const s of this.subs) s.dispose();
  }
}
