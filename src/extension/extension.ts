/**
 * IOMMU Lens in VS Code: a thin layer over the config layer and the engine. Activation only
 * wires things up; configs load in the background, so activation stays fast.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { configNode, findNode, notifierTree, type NodeModel } from '../views/tree-model';
import { createApi, type IommuLensApi } from './api';
import { commands, REPLAY_SCHEME, replayContent } from './commands';
import { ConfigStore } from './configs';
import type { Ctx } from './ctx';
import { DiagnosticsPublisher } from './diagnostics';
import { CodeLensProvider, EditorProviders, HoverProvider } from './editor';
import { LiveSessions } from './live';
import { Log } from './log';
import { PathPanel } from './panel';
import { Revealer } from './reveal';
import { SchemaAssociation } from './schema';
import { StatusItem } from './status';
import { StepsController } from './steps';
import { NodeTreeProvider } from './tree';

/**
 * The extension's own parts, for its integration tests only: not part of the API (./api.ts),
 * and free to change. Reached through INTERNALS on the object activate returns.
 */
export interface IommuLensInternals {
  /** Resolves once the first scan of the workspace has loaded every config. */
  readonly ready: Promise<void>;
  readonly ctx: Ctx;
  readonly metrics: Metrics;
  readonly status: StatusItem;
  readonly schema: SchemaAssociation;
}

/** A non-enumerable key of the API object that holds IommuLensInternals (Symbol.for: the tests' copy of this module is another instance). */
export const INTERNALS = Symbol.for('iommuLens.internals');

export type { IommuLensApi };

/** The time the bundle's first statement ran (scripts/build.mjs writes it as the extension bundle's banner); unbundled, none. */
declare const __iommuLensModuleStart: number | undefined;

export interface Metrics {
  /** activate() from entry to return. */
  activationMs: number;
  /** From the bundle's first statement to activate(): evaluating what the bundle requires when it starts (undefined unbundled). */
  moduleMs?: number;
  /**
   * The files of the extension's folder that were loaded when activate() returned: the bundle and
   * the parts it required (the parts a one-shot start does not need, such as dist/yaml.js, load
   * when first used).
   */
  loadedFiles: string[];
  /** The latest refresh after an edit: the work (load, diagnostics, views) and the whole time since the keystroke (with the debounce). */
  lastRefresh?: { file: string; workMs: number; sinceEditMs: number };
}

export function activate(context: vscode.ExtensionContext): IommuLensApi {
  const t0 = performance.now();
  const log = new Log();
  const store = new ConfigStore(log);
  const diagnostics = new DiagnosticsPublisher(store);
  const revealer = new Revealer();
  const pagesOpen = new Map<string, number>();
  const pageSize = () => vscode.workspace.getConfiguration('iommuLens').get<number>('mappingsPageSize') ?? 50;
  const uriOf = (file: string) => store.find(file)?.uri;
  const metrics: Metrics = { activationMs: 0, moduleMs: typeof __iommuLensModuleStart === 'number' ? t0 - __iommuLensModuleStart : undefined, loadedFiles: [] };

  const regions = new NodeTreeProvider(
    () => store.all.map((e) => configNode(e.config, { pageSize: pageSize(), pagesOpen }, e.config.file)),
    uriOf,
  );
  const notifiers = new NodeTreeProvider(() => {
    const ctxRun = ctx.lastRun;
    return store.all.flatMap((e) => notifierTree(e.config, ctxRun && ctxRun.file === e.config.file ? ctxRun : undefined));
  }, uriOf);
  const regionsView = vscode.window.createTreeView('iommuLens.regions', { treeDataProvider: regions, showCollapseAll: true });
  const notifiersView = vscode.window.createTreeView('iommuLens.notifiers', { treeDataProvider: notifiers, showCollapseAll: true });
  const steps = new StepsController(store, revealer);
  const pathPanel = new PathPanel(context.extensionUri, store, steps);
  const replayChanged = new vscode.EventEmitter<vscode.Uri>();

  const ctx: Ctx = {
    store,
    log,
    diagnostics,
    revealer,
    regions,
    regionsView,
    notifiers,
    notifiersView,
    steps,
    pathPanel,
    pagesOpen,
    replayChanged,
    refreshViews() {
      regions.refresh();
      notifiers.refresh();
      const n = store.all.length;
      void vscode.commands.executeCommand('setContext', 'iommuLens.hasConfig', n > 0);
      regionsView.description = n > 1 ? `${n} configs` : undefined;
    },
    async revealNode(view, provider, id) {
      const chain = findNode(provider.getChildren(), id);
      if (!chain) return false;
      for (let i = 0; i < chain.length - 1; i++) provider.getChildren(chain[i]);
      try {
        await view.reveal(chain[chain.length - 1]!, { select: true, focus: false, expand: true });
      } catch (e) {
        log.warn(`could not reveal ${id}: ${String(e)}`);
      }
      return true;
    },
  };

  const status = new StatusItem(store);
  // The schema for YAML and JSON editors, following iommuLens.files (schema.ts).
  const schema = new SchemaAssociation(context.extensionUri, store, log);
  // Hovers, CodeLens and quick fixes on the files `iommuLens.files` names, re-registered when it changes.
  const hover = new HoverProvider(store);
  const lens = new CodeLensProvider(store);
  const editorProviders = new EditorProviders((selector) => [
    vscode.languages.registerHoverProvider(selector, hover),
    vscode.languages.registerCodeLensProvider(selector, lens),
    vscode.languages.registerCodeActionsProvider(selector, { provideCodeActions: (doc, range) => diagnostics.codeActions(doc.uri, range) }, {
      providedCodeActionKinds: [vscode.CodeActionKind.QuickFix],
    }),
  ]);
  editorProviders.register(store.selector());
  context.subscriptions.push(
    log,
    store,
    diagnostics,
    revealer,
    regionsView,
    notifiersView,
    steps,
    pathPanel,
    status,
    schema,
    replayChanged,
    vscode.workspace.registerTextDocumentContentProvider(REPLAY_SCHEME, { ...replayContent, onDidChange: replayChanged.event }),
    editorProviders,
    store.onDidChangeGlobs(() => editorProviders.register(store.selector())),
    store.onDidChange((uri) => {
      const t = performance.now();
      ctx.refreshViews();
      // An edit of the config ends a scenario being stepped (a reload of the same text does not).
      const changed = uri ? store.get(uri) : undefined;
      if (ctx.stepSession && changed?.config.file === ctx.stepSession.file && changed.config.document.text !== ctx.stepSession.config.document.text) {
        ctx.stepSession = undefined;
      }
      const key = uri?.toString();
      const edited = key ? store.editTimes.get(key) : undefined;
      const entry = uri ? store.get(uri) : undefined;
      if (edited !== undefined && entry) {
        store.editTimes.delete(key!);
        metrics.lastRefresh = { file: entry.config.file, workMs: entry.loadMs + (performance.now() - t), sinceEditMs: performance.now() - edited };
        log.info(`refreshed ${entry.config.file}: ${metrics.lastRefresh.workMs.toFixed(1)} ms of work, ${metrics.lastRefresh.sinceEditMs.toFixed(1)} ms after the edit`);
      }
    }),
  );
  // A running QEMU as a root of Regions (live.ts): read only.
  const liveSessions = new LiveSessions(ctx, context.globalState);
  context.subscriptions.push(liveSessions);
  const all: Record<string, (...args: unknown[]) => unknown> = {
    ...commands(ctx),
    ...liveSessions.commands(),
    'iommuLens.associateJsonSchema': () => schema.associateJson(),
  };
  for (const [id, handler] of Object.entries(all)) {
    context.subscriptions.push(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          return await handler(...args);
        } catch (e) {
          log.error(`${id} failed`, e);
          void vscode.window.showErrorMessage(`IOMMU Lens: ${id} failed: ${e instanceof Error ? e.message : String(e)}`);
          return undefined;
        }
      }),
    );
  }
  // The walkthrough's "Attach to a running QEMU" step shows once that command is registered.
  void vscode.commands
    .getCommands(true)
    .then((ids) => vscode.commands.executeCommand('setContext', 'iommuLens.canAttachQemu', ids.includes('iommuLens.attachQemu')));
  void store.ready.then(() => ctx.refreshViews());
  metrics.activationMs = performance.now() - t0;
  metrics.loadedFiles = Object.keys(require.cache)
    .filter((f) => path.dirname(f) === __dirname)
    .map((f) => path.basename(f))
    .sort();
  const moduleMs = metrics.moduleMs === undefined ? '' : ` after ${metrics.moduleMs.toFixed(1)} ms of module start-up`;
  log.info(`activated in ${metrics.activationMs.toFixed(1)} ms${moduleMs} (VS Code ${vscode.version}; loaded ${metrics.loadedFiles.join(', ')})`);
  const configsChanged = new vscode.EventEmitter<void>();
  context.subscriptions.push(configsChanged, store.onDidChange(() => configsChanged.fire()));
  const api = createApi(store, configsChanged.event);
  const internals: IommuLensInternals = { ready: store.ready, ctx, metrics, status, schema };
  Object.defineProperty(api, INTERNALS, { value: internals, enumerable: false });
  return api;
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}

export type { NodeModel };
