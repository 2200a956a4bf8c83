/**
 * The workspace's device configs: found by the configured globs, watched (open documents as
 * the user types, closed files through a file watcher), loaded through the config layer and
 * re-evaluated on change after a short debounce. Every consumer (views, diagnostics, hovers)
 * reads the latest LoadedConfig from here and listens to onDidChange.
 */
import * as vscode from 'vscode';
import { failedLoad, loadConfig, type LoadedConfig, type LoadOptions } from '../config/load';
import type { QemuSemantics } from '../engine';
import { openImageFile } from '../node/images';
import { isBlank, isConfigText, matchesFiles } from '../views/config-files';
import { LoadGate } from '../views/load-gate';
import type { Log } from './log';
import { LARGE_CONFIG_CHARS, longWork } from './progress';

export interface ConfigEntry {
  readonly uri: vscode.Uri;
  readonly config: LoadedConfig;
  /** Document version it was loaded from (undefined: from disk). */
  readonly version?: number;
  /** Milliseconds the load (parse, checks, build) took. */
  readonly loadMs: number;
}

const DEBOUNCE_MS = 100;

export class ConfigStore implements vscode.Disposable {
  private readonly entries = new Map<string, ConfigEntry>();
  /** Machines attached from a live QEMU (live.ts): not files, never rescanned. */
  private readonly live = new Map<string, ConfigEntry>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly emitter = new vscode.EventEmitter<vscode.Uri | undefined>();
  private readonly disposables: vscode.Disposable[] = [];
  private watchers: vscode.FileSystemWatcher[] = [];
  private readonly globsEmitter = new vscode.EventEmitter<void>();
  /** The `iommuLens.files` globs changed: selectors built from them must be rebuilt. */
  readonly onDidChangeGlobs = this.globsEmitter.event;
  private readonly gate = new LoadGate();
  /** Loads run (parse, checks, build), for tests: one per content change. */
  loadCount = 0;
  /** When the latest edit of each document happened, for the edit-to-refresh measurement. */
  readonly editTimes = new Map<string, number>();
  readonly onDidChange = this.emitter.event;
  /** Resolves once the first scan has loaded every config. */
  readonly ready: Promise<void>;

  constructor(private readonly log: Log) {
    this.disposables.push(
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (!this.matches(e.document.uri, e.document) || e.contentChanges.length === 0) return;
        this.editTimes.set(e.document.uri.toString(), performance.now());
        this.schedule(e.document.uri);
      }),
      vscode.workspace.onDidOpenTextDocument((d) => this.matches(d.uri, d) && this.schedule(d.uri)),
      vscode.workspace.onDidCloseTextDocument((d) => this.matches(d.uri, d) && this.schedule(d.uri)),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('iommuLens.files')) this.globsEmitter.fire();
        if (e.affectsConfiguration('iommuLens.files') || e.affectsConfiguration('iommuLens.exclude') || e.affectsConfiguration('iommuLens.qemuSemantics')) {
          void this.rescan();
        }
      }),
    );
    this.ready = this.rescan();
  }

  get all(): ConfigEntry[] {
    return [...[...this.entries.values()].sort((a, b) => a.uri.toString().localeCompare(b.uri.toString())), ...this.live.values()];
  }

  get(uri: vscode.Uri | string): ConfigEntry | undefined {
    const key = typeof uri === 'string' ? uri : uri.toString();
    return this.entries.get(key) ?? this.live.get(key);
  }

  /** Shows (or, with no config, removes) a live machine as a config root. */
  setLive(uri: vscode.Uri, config: LoadedConfig | undefined): void {
    if (config) this.live.set(uri.toString(), { uri, config, loadMs: 0 });
    else this.live.delete(uri.toString());
    this.emitter.fire(uri);
  }

  /** The entry for a file name as configs and views name it (relative path or URI). */
  find(file: string): ConfigEntry | undefined {
    return this.all.find((e) => e.config.file === file || e.uri.toString() === file || e.uri.fsPath === file);
  }

  exclude(): string | undefined {
    return vscode.workspace.getConfiguration('iommuLens').get<string>('exclude') || undefined;
  }

  globs(): string[] {
    return vscode.workspace.getConfiguration('iommuLens').get<string[]>('files') ?? ['**/*.iommu.yaml', '**/*.iommu.yml', '**/*.iommu.json'];
  }

  /**
   * Where hovers, CodeLens and quick fixes apply: the configured globs, saved or untitled, and
   * untitled YAML and JSON (the providers answer only for documents loaded as configs).
   */
  selector(): vscode.DocumentFilter[] {
    return [
      ...this.globs().flatMap((pattern) => [{ pattern }, { scheme: 'untitled', pattern }]),
      { scheme: 'untitled', language: 'yaml' },
      { scheme: 'untitled', language: 'json' },
    ];
  }

  /**
   * A file the extension should treat as a config: the configured globs; an untitled document
   * whose text is a config (the example; see src/views/config-files.ts); one loaded already.
   */
  matches(uri: vscode.Uri, doc?: vscode.TextDocument): boolean {
    return this.matchesNew(uri, doc) || this.entries.has(uri.toString());
  }

  /** Named by the globs, or an untitled config: a config whether or not it was loaded before. */
  private matchesNew(uri: vscode.Uri, doc?: vscode.TextDocument): boolean {
    if (uri.scheme === 'output' || uri.scheme === 'vscode-scm') return false;
    // The head of the text only: the version key is at the top, and this runs on every keystroke.
    if (uri.scheme === 'untitled' && doc && isConfigText(doc.getText(new vscode.Range(0, 0, Math.min(doc.lineCount, 2000), 0)))) return true;
    const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.toString());
    return matchesFiles(uri.toString(), folders, this.globs(), this.exclude());
  }

  private loadOptions(uri: vscode.Uri): LoadOptions {
    return {
      semantics: this.semantics(),
      // Memory images are read lazily, page by page, while translations walk them; that needs
      // synchronous positioned reads, which the extension host's Node file system gives for
      // local files. Configs in virtual workspaces load without their images (an info diagnostic).
      openImage: uri.scheme === 'file' ? (file) => openImageFile(file, uri.fsPath) : undefined,
    };
  }

  /**
   * A new load of an entry's current text, for what must start from the config's initial state
   * (running a scenario changes the machine it runs on).
   */
  fresh(entry: ConfigEntry): LoadedConfig {
    if (this.live.has(entry.uri.toString())) return entry.config;
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === entry.uri.toString());
    return loadConfig(entry.config.file, doc?.getText() ?? entry.config.document.text, this.loadOptions(entry.uri));
  }

  private semantics(): QemuSemantics | undefined {
    const s = vscode.workspace.getConfiguration('iommuLens').get<string>('qemuSemantics');
    return s === 'current' || s === '5.2-9.x' ? s : undefined;
  }

  async rescan(): Promise<void> {
    const t0 = performance.now();
    const exclude = this.exclude();
    const found = new Map<string, vscode.Uri>();
    for (const g of this.globs()) {
      for (const uri of await vscode.workspace.findFiles(g, exclude, 10_000)) found.set(uri.toString(), uri);
    }
    // Open documents: those the globs name (or untitled configs), and those loaded before that
    // have unsaved edits. One the globs no longer name, or whose file is gone, with nothing
    // unsaved, goes (VS Code keeps a closed document's model a while after its editor closed).
    for (const doc of vscode.workspace.textDocuments) {
      const key = doc.uri.toString();
      const kept = this.entries.has(key) && (doc.isDirty || doc.isUntitled);
      if (kept || this.matchesNew(doc.uri, doc)) found.set(key, doc.uri);
    }
    for (const key of [...this.entries.keys()]) {
      if (!found.has(key)) {
        this.entries.delete(key);
        this.gate.forget(key);
      }
    }
    await Promise.all([...found.values()].map((u) => this.load(u, false)));
    this.watch();
    this.log.info(`found ${found.size} config(s) in ${(performance.now() - t0).toFixed(1)} ms`);
    this.emitter.fire(undefined);
  }

  private watch(): void {
    for (const w of this.watchers) w.dispose();
    this.watchers = this.globs().map((g) => vscode.workspace.createFileSystemWatcher(g));
    for (const w of this.watchers) this.watchEvents(w);
  }

  private watchEvents(w: vscode.FileSystemWatcher): void {
    w.onDidCreate((u) => this.schedule(u));
    w.onDidChange((u) => this.schedule(u));
    w.onDidDelete((u) => {
      // Unsaved edits of a deleted file stay a config until the editor goes.
      if (vscode.workspace.textDocuments.some((d) => d.uri.toString() === u.toString() && d.isDirty)) return;
      this.entries.delete(u.toString());
      this.gate.forget(u.toString());
      this.emitter.fire(u);
    });
  }

  private schedule(uri: vscode.Uri): void {
    const key = uri.toString();
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        void this.load(uri, true);
      }, DEBOUNCE_MS),
    );
  }

  /** Loads now (no debounce): for commands that need the current text. */
  async reload(uri: vscode.Uri): Promise<ConfigEntry | undefined> {
    return this.load(uri, true);
  }

  private async load(uri: vscode.Uri, fire: boolean): Promise<ConfigEntry | undefined> {
    const key = uri.toString();
    let text = '';
    try {
      const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === key);
      if (doc) {
        text = doc.getText();
        // An untitled document with nothing written yet (a new file, or one hot exit could not
        // fill) is not a config with an error: it is no config until it has text.
        if (uri.scheme === 'untitled' && isBlank(text)) {
          const had = this.entries.delete(key);
          this.gate.forget(key);
          if (fire && had) this.emitter.fire(uri);
          return undefined;
        }
        // A saved document whose file is gone is no config: VS Code keeps a closed document's
        // model a while, and the watcher's delete may arrive before a revert made it clean.
        if (uri.scheme === 'file' && !doc.isDirty && !(await exists(uri))) {
          const had = this.entries.delete(key);
          this.gate.forget(key);
          if (fire && had) this.emitter.fire(uri);
          return undefined;
        }
      } else {
        try {
          text = new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
        } catch {
          this.entries.delete(key);
          this.gate.forget(key);
          if (fire) this.emitter.fire(uri);
          return undefined;
        }
      }
      // The same text with the same options (the watcher seeing an auto-save, a rescan): the
      // loaded config stands; only the document version it answers for moves on.
      const old = this.entries.get(key);
      if (!this.gate.admit(key, text, JSON.stringify([this.semantics(), uri.scheme])) && old) {
        if (doc && old.version !== doc.version) this.entries.set(key, { ...old, version: doc.version });
        return this.entries.get(key);
      }
      this.loadCount++;
      const t0 = performance.now();
      const file = vscode.workspace.asRelativePath(uri, false) || uri.path;
      // A large config takes a while to parse: say so (the parse is one synchronous call; it cannot be cancelled).
      const config =
        text.length >= LARGE_CONFIG_CHARS
          ? await longWork(`IOMMU Lens: loading ${file} (${(text.length / 2 ** 20).toFixed(1)} MB)`, { cancellable: false, showNow: true }, () =>
              Promise.resolve(loadConfig(file, text, this.loadOptions(uri))),
            )
          : loadConfig(file, text, this.loadOptions(uri));
      const entry: ConfigEntry = { uri, config, version: doc?.version, loadMs: performance.now() - t0 };
      this.entries.set(key, entry);
      this.log.info(`loaded ${config.file} in ${entry.loadMs.toFixed(1)} ms: ${config.errorCount} error(s), ${config.warningCount} warning(s)`);
      if (fire) this.emitter.fire(uri);
      return entry;
    } catch (e) {
      // A bug of ours: the file shows it as a diagnostic, the other configs stay as they were.
      this.gate.forget(key);
      this.log.error(`loading ${uri.toString()} failed`, e);
      const entry: ConfigEntry = { uri, config: failedLoad(vscode.workspace.asRelativePath(uri, false) || uri.path, text, e), loadMs: 0 };
      this.entries.set(key, entry);
      if (fire) this.emitter.fire(uri);
      return entry;
    }
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    for (const w of this.watchers) w.dispose();
    this.globsEmitter.dispose();
    this.emitter.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}
