/** What the extension's parts share: the config store, views, log and per-session UI state. */
import * as vscode from 'vscode';
import type { NodeModel } from '../views/tree-model';
import type { ScenarioSession, ScenarioStepView } from '../views/views';
import type { ConfigStore } from './configs';
import type { DiagnosticsPublisher } from './diagnostics';
import type { Log } from './log';
import type { Revealer } from './reveal';
import type { PathPanel } from './panel';
import type { StepsController } from './steps';
import type { NodeTreeProvider } from './tree';

export interface LastRun {
  readonly file: string;
  /** Events each notifier received during the run, by registration name. */
  readonly events: ReadonlyMap<string, readonly string[]>;
  /** Divergences of each notifier's shadow from translation, by registration name. */
  readonly stale: ReadonlyMap<string, readonly string[]>;
  readonly steps: readonly ScenarioStepView[];
}

/** A scenario being stepped (src/views/views.ts). */
export type StepSession = ScenarioSession;

export interface Ctx {
  readonly store: ConfigStore;
  readonly log: Log;
  readonly diagnostics: DiagnosticsPublisher;
  readonly revealer: Revealer;
  readonly regions: NodeTreeProvider;
  readonly regionsView: vscode.TreeView<NodeModel>;
  readonly notifiers: NodeTreeProvider;
  readonly notifiersView: vscode.TreeView<NodeModel>;
  readonly steps: StepsController;
  /** The translation-path webview. */
  readonly pathPanel: PathPanel;
  /** Pages of mappings open, by the Mappings node's id. */
  readonly pagesOpen: Map<string, number>;
  readonly replayChanged: vscode.EventEmitter<vscode.Uri>;
  lastRun?: LastRun;
  stepSession?: StepSession;
  lastAddress?: string;
  refreshViews(): void;
  /** Reveals a node by id in a view, expanding its parents; false if it is not there. */
  revealNode(view: vscode.TreeView<NodeModel>, provider: NodeTreeProvider, id: string): Promise<boolean>;
}
