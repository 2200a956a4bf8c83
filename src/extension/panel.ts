/**
 * The translation-path panel: a webview showing the Steps view's translation as a path
 * (src/views/path-model.ts), following the Steps view as it moves; a click on a box selects its
 * step (which reveals its config line) or, for a structure read from guest memory, opens a
 * read-only document of the bytes around it with the decode. The page (media/path-panel.js) gets
 * plain values and posts typed messages (src/common/path-messages.ts).
 */
import * as vscode from 'vscode';
import { isPageToHost, type HostToPage, type PageToHost, type PathModel } from '../common/path-messages';
import type { LoadedConfig } from '../config/load';
import { RamRegion, fmtAddr, fmtRaw } from '../engine';
import { pathModel } from '../views/path-model';
import type { TraceLine } from '../views/views';
import type { ConfigStore } from './configs';
import type { StepsController } from './steps';

export const MEMORY_SCHEME = 'iommu-lens-memory';

export class PathPanel implements vscode.Disposable {
  private panel?: vscode.WebviewPanel;
  private readonly subs: vscode.Disposable[] = [];
  private readonly memoryDocs = new Map<string, string>();
  private readonly memoryChanged = new vscode.EventEmitter<vscode.Uri>();
  /** What the page was last sent, for tests and for a page that reloads. */
  model?: PathModel;
  /** Messages the page posted, newest last (for tests). */
  readonly received: PageToHost[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly store: ConfigStore,
    private readonly steps: StepsController,
  ) {
    this.subs.push(
      steps.onDidSet(() => this.refresh()),
      steps.onDidMove((n) => this.post({ type: 'select', step: n })),
      vscode.workspace.registerTextDocumentContentProvider(MEMORY_SCHEME, {
        onDidChange: this.memoryChanged.event,
        provideTextDocumentContent: (uri) => this.memoryDocs.get(uri.toString()) ?? '',
      }),
      this.memoryChanged,
    );
  }

  get visible(): boolean {
    return this.panel !== undefined;
  }

  get html(): string | undefined {
    return this.panel?.webview.html;
  }

  /** Opens (or reveals) the panel on the Steps view's translation. */
  show(): void {
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel('iommuLens.path', 'Translation Path', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
        enableScripts: true,
        retainContextWhenHidden: true,
        localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'media')],
      });
      this.panel.webview.html = this.page(this.panel.webview);
      this.panel.webview.onDidReceiveMessage((m: unknown) => void this.handle(m));
      this.panel.onDidDispose(() => (this.panel = undefined));
    } else this.panel.reveal(undefined, true);
    this.refresh();
  }

  private refresh(): void {
    const { translation, current, file } = this.steps.state;
    const entry = file ? this.store.find(file) : undefined;
    if (!translation || !entry) return;
    this.model = pathModel(entry.config, translation, current);
    this.post({ type: 'path', path: this.model });
  }

  private post(m: HostToPage): void {
    if (m.type === 'select' && this.model) this.model = { ...this.model, current: m.step };
    void this.panel?.webview.postMessage(m);
  }

  /** A message from the page (also what tests call to click a box). */
  async handle(m: unknown): Promise<void> {
    if (!isPageToHost(m)) return;
    this.received.push(m);
    if (m.type === 'ready') {
      if (this.model) this.post({ type: 'path', path: this.model });
      return;
    }
    await this.steps.go(m.step);
    const t = this.steps.state.translation;
    const s = t?.steps[m.step];
    if (s?.source?.kind === 'guest-memory' && this.steps.state.file) {
      const entry = this.store.find(this.steps.state.file);
      if (entry) await this.openMemory(entry.config, s);
    }
  }

  /** The read-only document of the guest memory around a step's structure, with its decode. */
  async openMemory(cfg: LoadedConfig, s: TraceLine): Promise<vscode.Uri | undefined> {
    if (s.source?.kind !== 'guest-memory') return undefined;
    const src = s.source;
    const uri = vscode.Uri.from({ scheme: MEMORY_SCHEME, path: `/${src.as}/${fmtAddr(src.addr)}.memory`, query: cfg.file });
    this.memoryDocs.set(uri.toString(), memoryText(cfg, s));
    this.memoryChanged.fire(uri);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc, { preview: true, preserveFocus: true, viewColumn: vscode.ViewColumn.Beside });
    return uri;
  }

  private page(webview: vscode.Webview): string {
    const nonce = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'media', 'path-panel.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'media', 'path-panel.css'));
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${webview.cspSource}; style-src ${webview.cspSource}; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style.toString()}">
<title>Translation Path</title>
</head>
<body>
<header id="head"><h1 id="title">No translation yet</h1><p id="headline">Translate an address (IOMMU: Translate Address...) to see its path.</p></header>
<main id="path" aria-label="translation path"></main>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
  }

  dispose(): void {
    this.panel?.dispose();
    for (const d of this.subs) d.dispose();
  }
}

/** 256 bytes around the structure (16 a line, the structure's bytes marked), then its decode. */
export function memoryText(cfg: LoadedConfig, s: TraceLine): string {
  if (s.source?.kind !== 'guest-memory') return '';
  const src = s.source;
  const as = cfg.machine.addressSpaces.get(src.as);
  const aligned = src.addr & ~0xfn;
  const start = aligned >= 0x80n ? aligned - 0x80n : 0n;
  const lines = [`# ${s.name}: ${src.size} bytes at ${src.as} ${fmtAddr(src.addr)} (${cfg.file}, step ${s.n})`, `# ${s.summary}`, ''];
  for (let a = start; a < start + 0x100n; a += 16n) {
    const bytes: string[] = [];
    for (let i = 0n; i < 16n; i++) {
      const at = a + i;
      const b = readByte(as?.lookup(at), at);
      const inside = at >= src.addr && at < src.addr + BigInt(src.size);
      bytes.push(b === undefined ? '??' : inside ? b.toString(16).padStart(2, '0').toUpperCase() : b.toString(16).padStart(2, '0'));
    }
    lines.push(`${fmtRaw(a)}  ${bytes.slice(0, 8).join(' ')}  ${bytes.slice(8).join(' ')}${a <= src.addr && src.addr < a + 16n ? '   <-' : ''}`);
  }
  lines.push('', '# Bytes of the structure itself are in upper case; ?? is not readable memory.', '', `# ${s.name}`);
  const w = Math.max(...s.fields.map(([k]) => k.length), 4);
  for (const [k, v] of s.fields) lines.push(`${k.padEnd(w)}  ${v}`);
  return lines.join('\n') + '\n';
}

function readByte(section: ReturnType<NonNullable<ReturnType<LoadedConfig['machine']['addressSpaces']['get']>>['lookup']>, at: bigint): number | undefined {
  if (!section || !(section.region instanceof RamRegion)) return undefined;
  const v = section.region.backing.read(at - section.start + section.offsetInRegion, 1);
  return typeof v === 'bigint' ? Number(v) : undefined;
}
