/** Showing a config range in an editor: selection, scroll and a highlight that stays until the next reveal. */
import * as vscode from 'vscode';
import type { Range } from '../config/diagnostics';
import { toRange } from './convert';

export class Revealer implements vscode.Disposable {
  private readonly decoration = vscode.window.createTextEditorDecorationType({
    backgroundColor: new vscode.ThemeColor('editor.rangeHighlightBackground'),
    isWholeLine: true,
    overviewRulerColor: new vscode.ThemeColor('editorOverviewRuler.rangeHighlightForeground'),
    overviewRulerLane: vscode.OverviewRulerLane.Center,
  });
  private decorated?: vscode.TextEditor;

  async reveal(uri: vscode.Uri, range: Range, opts: { preserveFocus?: boolean } = {}): Promise<vscode.TextEditor> {
    const r = toRange(range);
    const editor = await vscode.window.showTextDocument(uri, { selection: r, preserveFocus: opts.preserveFocus ?? true, preview: true });
    editor.revealRange(r, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    this.decorated?.setDecorations(this.decoration, []);
    editor.setDecorations(this.decoration, [r]);
    this.decorated = editor;
    return editor;
  }

  clear(): void {
    this.decorated?.setDecorations(this.decoration, []);
    this.decorated = undefined;
  }

  dispose(): void {
    this.decoration.dispose();
  }
}
