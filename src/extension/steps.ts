/**
 * The Translation Steps view: the steps of the last translation, one current step that
 * Next/Previous/First/Last move, its fields as children, and its source revealed as it becomes
 * current (a config line, or a guest-memory address with its raw value).
 */
import * as vscode from 'vscode';
import { fmtAddr } from '../engine';
import type { TranslationView } from '../views/views';
import type { NodeModel } from '../views/tree-model';
import type { ConfigStore } from './configs';
import type { Revealer } from './reveal';
import { NodeTreeProvider } from './tree';

export class StepsController implements vscode.Disposable {
  private translation?: TranslationView;
  private file?: string;
  private current = -1;
  private readonly onDidSetEmitter = new vscode.EventEmitter<TranslationView>();
  private readonly onDidMoveEmitter = new vscode.EventEmitter<number>();
  /** A new translation is shown. */
  readonly onDidSet = this.onDidSetEmitter.event;
  /** The current step moved. */
  readonly onDidMove = this.onDidMoveEmitter.event;
  readonly provider: NodeTreeProvider;
  readonly view: vscode.TreeView<NodeModel>;

  constructor(
    private readonly store: ConfigStore,
    private readonly revealer: Revealer,
  ) {
    this.provider = new NodeTreeProvider(
      () => this.nodes(),
      (f) => this.store.find(f)?.uri,
      (n) => n.id === this.stepId(this.current),
    );
    this.view = vscode.window.createTreeView('iommuLens.steps', { treeDataProvider: this.provider, showCollapseAll: false });
  }

  get state(): { translation?: TranslationView; current: number; file?: string } {
    return { translation: this.translation, current: this.current, file: this.file };
  }

  set(file: string, t: TranslationView): void {
    this.file = file;
    this.translation = t;
    this.current = -1;
    // The answer stays in the view's header while the steps move: where it lands (or the fault)
    // and the composed IOTLB entry.
    this.view.message = `${t.from} ${t.op} ${fmtAddr(t.addr)} {${t.attrs}}: ${t.headline}; IOTLB entry ${t.entry}`;
    this.view.description = `${t.ok ? '' : 'fault: '}${t.ok ? t.headline : t.headline.replace(/^fault: /, '')}`;
    this.onDidSetEmitter.fire(t);
    void vscode.commands.executeCommand('setContext', 'iommuLens.hasSteps', t.steps.length > 0);
    this.provider.refresh();
  }

  private stepId(i: number): string {
    return `step:${i}`;
  }

  private nodes(): NodeModel[] {
    const t = this.translation;
    if (!t) return [];
    return t.steps.map((s, i) => ({
      id: this.stepId(i),
      label: `${s.n}. ${s.name}`,
      description: s.summary,
      tooltip: `${s.summary}\n${s.fields.map(([k, v]) => `${k}: ${v}`).join('\n')}`,
      icon: i === this.current ? 'debug-stackframe' : s.kind === 'fault' ? 'error' : 'circle-small',
      iconColor: i === this.current ? 'debugIcon.stepOverForeground' : s.kind === 'fault' ? 'problemsErrorIcon.foreground' : undefined,
      contextValue: 'iommuLens.step',
      collapsible: i === this.current ? 'expanded' : 'collapsed',
      source: s.range && this.file ? { file: this.file, range: s.range } : undefined,
      copy: s.summary,
      children: () =>
        s.fields.map(([k, v], j) => ({ id: `${this.stepId(i)}:${j}`, label: k, description: v, contextValue: 'iommuLens.detail', copy: v })),
    }));
  }

  async go(to: 'first' | 'last' | 'next' | 'previous' | number): Promise<number> {
    const t = this.translation;
    if (!t || t.steps.length === 0) return -1;
    const last = t.steps.length - 1;
    const next =
      to === 'first' ? 0 : to === 'last' ? last : to === 'next' ? Math.min(this.current + 1, last) : to === 'previous' ? Math.max(this.current - 1, 0) : Math.max(0, Math.min(to, last));
    this.current = next;
    this.provider.refresh();
    this.onDidMoveEmitter.fire(next);
    const step = t.steps[next]!;
    const node = this.nodes()[next]!;
    try {
      await this.view.reveal(node, { select: true, focus: false, expand: true });
    } catch {
      // The view may be hidden; the state is still right.
    }
    if (step.source?.kind === 'guest-memory') {
      const s = step.source;
      this.view.message = `step ${step.n}: ${s.size}-byte read of ${s.as} ${fmtAddr(s.addr)}${s.value !== undefined ? ` = ${fmtAddr(s.value)}` : ''}`;
    } else if (step.range && this.file) {
      const entry = this.store.find(this.file);
      if (entry) await this.revealer.reveal(entry.uri, step.range);
      this.view.message = `step ${step.n} of ${t.steps.length}: ${step.summary}`;
    } else {
      this.view.message = `step ${step.n} of ${t.steps.length}: ${step.summary}`;
    }
    return next;
  }

  dispose(): void {
    this.onDidSetEmitter.dispose();
    this.onDidMoveEmitter.dispose();
    this.view.dispose();
  }
}
