/** Hovers and CodeLens over configs, from the view models in src/views/editor.ts. */
import * as vscode from 'vscode';
import { codeLenses, hoverAt } from '../views/editor';
import type { ConfigStore } from './configs';
import { toRange } from './convert';

/** Providers registered for a selector, registered again when the selector changes. */
export class EditorProviders implements vscode.Disposable {
  private current: vscode.Disposable[] = [];

  constructor(private readonly make: (selector: vscode.DocumentSelector) => vscode.Disposable[]) {}

  register(selector: vscode.DocumentSelector): void {
    for (const d of this.current) d.dispose();
    this.current = this.make(selector);
  }

  dispose(): void {
    for (const d of this.current) d.dispose();
    this.current = [];
  }
}

export class HoverProvider implements vscode.HoverProvider {
  constructor(private readonly store: ConfigStore) {}

  provideHover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    const e = this.store.get(doc.uri);
    // A hover on text that changed since the last load would describe the old text.
    if (!e || (e.version !== undefined && e.version !== doc.version)) return undefined;
    const h = hoverAt(e.config, doc.offsetAt(pos));
    if (!h) return undefined;
    const md = new vscode.MarkdownString(h.lines.join('\n\n'));
    return new vscode.Hover(md, toRange(h.range));
  }
}

export class CodeLensProvider implements vscode.CodeLensProvider {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.emitter.event;

  constructor(private readonly store: ConfigStore) {
    store.onDidChange(() => this.emitter.fire());
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const e = this.store.get(doc.uri);
    if (!e) return [];
    return codeLenses(e.config).map(
      (l) => new vscode.CodeLens(toRange(l.range), { title: l.title, command: l.command, arguments: [...l.arguments], tooltip: l.tooltip }),
    );
  }
}
