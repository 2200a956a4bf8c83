/**
 * Every command, as a record of handlers registered in one place (compare with package.json's
 * `contributes.commands`). Handlers accept arguments so tests and other extensions can run them
 * without the UI; without arguments they ask with quick picks and input boxes.
 */
import * as vscode from 'vscode';
import exampleText from '../../examples/an505.iommu.yaml';
import type { LoadedConfig } from '../config/load';
import { fmtText, formatNotifierFlags, fmtAddr, isEngineError, type AccessOp, type MemTxAttrs } from '../engine';
import { formatAttrs } from '../views/format';
import { parseAddress, parseAttrs } from '../views/query';
import type { NodeModel } from '../views/tree-model';
import { ScenarioSession, registrationViews, replaySlices, stepView, translationView, type RegistrationView, type ScenarioStepView, type TranslationView } from '../views/views';
import type { ConfigEntry } from './configs';
import { toRange } from './convert';
import type { Ctx } from './ctx';
import { longWork } from './progress';
import { TEMPLATE } from './templates';

export interface TranslateArgs {
  /** Open the translation-path panel on the answer. */
  readonly path?: boolean;
  /** A config's file name as views name it, or its URI. */
  readonly config?: string;
  readonly from?: string;
  readonly addr?: string | number | bigint;
  readonly op?: AccessOp;
  /** `secure,user,requester-id=0x10`; absent: the device's own. */
  readonly attrs?: string;
  /** Go to the first step and reveal it. */
  readonly step?: boolean;
}

// VS Code passes a command's arguments untyped (from the palette, a menu, a CodeLens or another
// extension); each handler declares and checks what it accepts.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Handler = (...args: any[]) => unknown;

export function commands(ctx: Ctx): Record<string, Handler> {
  return {
    // From a tree row (the inline action on a device or address space), the row's config and initiator.
    'iommuLens.translate': (args?: TranslateArgs | (NodeModel & TranslateArgs)) => translate(ctx, args && 'contextValue' in args ? rowArgs(args) : args),
    'iommuLens.stepThrough': async () => {
      if (!ctx.steps.state.translation) {
        const t = await translate(ctx, undefined);
        if (!t) return undefined;
      }
      await vscode.commands.executeCommand('iommuLens.steps.focus');
      return ctx.steps.go('first');
    },
    /** From a step's context menu: that step, selected; else the current translation. */
    'iommuLens.showPath': async (arg?: NodeModel) => {
      if (!ctx.steps.state.translation) {
        const t = await translate(ctx, undefined);
        if (!t) return undefined;
      }
      ctx.pathPanel.show();
      const m = arg?.id ? /^step:(\d+)$/.exec(arg.id) : null;
      if (m) await ctx.steps.go(Number(m[1]));
      return ctx.pathPanel.model;
    },
    'iommuLens.steps.next': () => ctx.steps.go('next'),
    'iommuLens.steps.previous': () => ctx.steps.go('previous'),
    'iommuLens.steps.first': () => ctx.steps.go('first'),
    'iommuLens.steps.last': () => ctx.steps.go('last'),
    'iommuLens.inspectNotifiers': (args?: { config?: string; iommu?: string; owner?: string; pick?: string }) => inspectNotifiers(ctx, args),
    'iommuLens.replayNotifier': (arg?: NodeModel | { config?: string; notifier?: string }) => replayNotifier(ctx, arg),
    'iommuLens.runScenario': (args?: { config?: string } | NodeModel) => runScenario(ctx, args && 'config' in args ? args.config : undefined),
    'iommuLens.stepScenario': (args?: { config?: string }) => stepScenario(ctx, args?.config),
    'iommuLens.openExample': async () => {
      // A plain untitled document (Untitled-N), which hot exit restores with its text after
      // Reload Window; one opened under a name would come back empty (src/views/config-files.ts).
      // An example still open as it was opened is shown again rather than opened twice.
      const doc =
        vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'untitled' && !d.isClosed && d.getText() === exampleText) ??
        (await vscode.workspace.openTextDocument({ language: 'yaml', content: exampleText }));
      await vscode.window.showTextDocument(doc);
      return (await ctx.store.reload(doc.uri))?.config.file;
    },
    'iommuLens.newConfig': async (args?: { uri?: vscode.Uri }) => {
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
      const target =
        args?.uri ??
        (await vscode.window.showSaveDialog({
          defaultUri: folder ? vscode.Uri.joinPath(folder, 'machine.iommu.yaml') : undefined,
          filters: { 'IOMMU Lens config': ['yaml', 'yml', 'json'] },
          title: 'New IOMMU Lens config',
        }));
      if (!target) return undefined;
      try {
        await vscode.workspace.fs.stat(target);
        void vscode.window.showErrorMessage(`${vscode.workspace.asRelativePath(target)} already exists; IOMMU Lens does not overwrite files.`);
        return undefined;
      } catch {
        // Not there: the command was asked to create it.
      }
      await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(TEMPLATE));
      await vscode.window.showTextDocument(target);
      await ctx.store.rescan();
      return target.toString();
    },
    'iommuLens.refresh': async () => {
      await ctx.store.rescan();
      ctx.refreshViews();
    },
    'iommuLens.revealInConfig': async (arg?: NodeModel | { config: string; range: vscode.Range }) => {
      if (!arg) return;
      if ('source' in arg || 'id' in arg) {
        const n = arg;
        if (!n.source) return;
        const e = ctx.store.find(n.source.file);
        if (e) await ctx.revealer.reveal(e.uri, n.source.range);
      }
    },
    'iommuLens.revealRegion': async (args: { config: string; region: string }) => {
      const e = ctx.store.find(args.config);
      if (!e) return false;
      return ctx.revealNode(ctx.regionsView, ctx.regions, `region:${e.config.file}:${args.region}`);
    },
    'iommuLens.showMoreMappings': (id: string) => {
      ctx.pagesOpen.set(id, (ctx.pagesOpen.get(id) ?? 1) + 1);
      const node = ctx.regions.node(id);
      ctx.regions.refresh(node);
      return ctx.pagesOpen.get(id);
    },
    'iommuLens.copyValue': async (n?: NodeModel) => {
      const text = n?.copy ?? n?.label;
      if (text) await vscode.env.clipboard.writeText(text);
      return text;
    },
  };
}

/** A tree row's Translate: its own config and initiator (and what else the call gives). */
function rowArgs(n: NodeModel & TranslateArgs): TranslateArgs | undefined {
  if (!n.initiator) return undefined;
  return { config: n.initiator.config, from: n.initiator.from, addr: n.addr, op: n.op, attrs: n.attrs, step: n.step, path: n.path };
}

/** The config a command works on: named, the active editor's, the only one, or picked. */
async function pickConfig(ctx: Ctx, name?: string): Promise<ConfigEntry | undefined> {
  if (name) {
    const e = ctx.store.find(name);
    if (!e) void vscode.window.showErrorMessage(`IOMMU Lens: no config "${name}" is loaded.`);
    return e;
  }
  const active = vscode.window.activeTextEditor?.document.uri;
  const act = active ? ctx.store.get(active) : undefined;
  if (act) return act;
  const all = ctx.store.all;
  if (all.length === 0) {
    const pick = await vscode.window.showInformationMessage('IOMMU Lens: the workspace has no device config.', 'Open Example Config');
    if (pick) await vscode.commands.executeCommand('iommuLens.openExample');
    return undefined;
  }
  if (all.length === 1) return all[0];
  const pick = await vscode.window.showQuickPick(
    all.map((e) => ({ label: e.config.file, description: e.config.machine.name, detail: `${e.config.errorCount} error(s), ${e.config.warningCount} warning(s)`, e })),
    { title: 'IOMMU Lens: which config?', matchOnDescription: true },
  );
  return pick?.e;
}

async function translate(ctx: Ctx, args: TranslateArgs | undefined): Promise<TranslationView | undefined> {
  const entry = await pickConfig(ctx, args?.config);
  if (!entry) return undefined;
  const cfg = entry.config;
  const m = cfg.machine;
  const title = 'IOMMU Lens: Translate Address';

  let from = args?.from;
  if (!from) {
    const items: Array<vscode.QuickPickItem & { name?: string }> = [
      { label: 'Devices', kind: vscode.QuickPickItemKind.Separator },
      ...[...m.devices.values()].map((d) => ({ label: `$(chip) ${d.name}`, description: `${d.kind} -> ${d.as.name}`, detail: `attributes {${formatAttrs(d.attrs)}}`, name: d.name })),
      { label: 'Address spaces', kind: vscode.QuickPickItemKind.Separator },
      ...[...m.addressSpaces.values()].map((as) => ({ label: `$(symbol-namespace) ${as.name}`, description: 'unspecified attributes', name: as.name })),
    ];
    const pick = await vscode.window.showQuickPick(items, { title: `${title} (1/4): from which initiator?`, matchOnDescription: true });
    if (!pick?.name) return undefined;
    from = pick.name;
  }
  const device = m.devices.get(from);

  let op = args?.op;
  if (!op) {
    const pick = await vscode.window.showQuickPick(
      [
        { label: 'read', description: 'translate(addr, IOMMU_RO, idx)' },
        { label: 'write', description: 'translate(addr, IOMMU_WO, idx)' },
      ],
      { title: `${title} (2/4): which access?` },
    );
    if (!pick) return undefined;
    op = pick.label as AccessOp;
  }

  let attrs: MemTxAttrs | undefined;
  if (args?.attrs !== undefined) {
    const p = parseAttrs(args.attrs);
    if (!p.ok) {
      void vscode.window.showErrorMessage(`IOMMU Lens: ${p.message}`);
      return undefined;
    }
    attrs = args.attrs.trim() === '' ? undefined : p.value;
  } else if (!args?.addr) {
    const own = device ? formatAttrs(device.attrs) : 'unspecified';
    const text = await vscode.window.showInputBox({
      title: `${title} (3/4): attributes`,
      prompt: 'secure | ns, user, debug, unspecified, requester-id=0x10, pasid=1, space=realm; leave as is for the initiator\'s own',
      value: device ? (own === 'non-secure' ? 'ns' : own) : 'unspecified',
      validateInput: (v) => {
        const p = parseAttrs(v);
        return p.ok ? undefined : p.message;
      },
    });
    if (text === undefined) return undefined;
    const p = parseAttrs(text);
    attrs = p.ok ? p.value : undefined;
  }

  let addr: bigint;
  if (args?.addr !== undefined) {
    const p = parseAddress(String(args.addr));
    if (!p.ok) {
      void vscode.window.showErrorMessage(`IOMMU Lens: ${p.message}`);
      return undefined;
    }
    addr = p.value;
  } else {
    const text = await vscode.window.showInputBox({
      title: `${title} (4/4): address`,
      prompt: `Address in ${device ? `${from}'s address space (${device.as.name})` : from}: 0x1000_0000, 4096, 4KiB`,
      value: ctx.lastAddress ?? '0x0',
      validateInput: (v) => {
        const p = parseAddress(v);
        return p.ok ? undefined : p.message;
      },
    });
    if (text === undefined) return undefined;
    const p = parseAddress(text);
    if (!p.ok) return undefined;
    addr = p.value;
    ctx.lastAddress = text;
  }

  const view = translationView(cfg, { from, addr, op, attrs });
  if (isEngineError(view)) {
    void vscode.window.showErrorMessage(`IOMMU Lens: ${view.message}`);
    return undefined;
  }
  ctx.steps.set(cfg.file, view);
  ctx.log.info(`translate ${from} ${op} ${fmtAddr(addr)} {${view.attrs}}: ${view.headline}; ${view.entry}`);
  // Every way of translating ends with the answer on screen: the Steps view shows it in its header.
  await vscode.commands.executeCommand('iommuLens.steps.focus');
  if (args?.path) ctx.pathPanel.show();
  if (args?.step) {
    await ctx.steps.go('first');
  } else if (!args?.addr) {
    void vscode.window
      .showInformationMessage(`${from} ${op} ${fmtAddr(addr)}: ${view.headline}`, { detail: view.entry }, 'Step Through', 'Show Path', 'Show Steps')
      .then(async (choice) => {
        if (choice === 'Step Through') await vscode.commands.executeCommand('iommuLens.stepThrough');
        else if (choice === 'Show Path') await vscode.commands.executeCommand('iommuLens.showPath');
        else if (choice === 'Show Steps') await vscode.commands.executeCommand('iommuLens.steps.focus');
      });
  }
  return view;
}

async function inspectNotifiers(ctx: Ctx, args?: { config?: string; iommu?: string; owner?: string; pick?: string }): Promise<RegistrationView | undefined> {
  const entry = await pickConfig(ctx, args?.config);
  if (!entry) return undefined;
  const cfg = entry.config;
  const regions = args?.iommu ? cfg.machine.iommus.get(args.iommu)?.regions() ?? [] : undefined;
  const views = registrationViews(cfg).filter(
    (r) => (!regions || regions.some((x) => x.name === r.region)) && (!args?.owner || r.owner === args.owner),
  );
  let chosen: RegistrationView | undefined;
  if (args?.pick) chosen = views.find((v) => v.name === args.pick);
  else {
    const pick = await vscode.window.showQuickPick(
      views.map((v) => ({
        label: `${v.status === 'accepted' ? (v.warnings.length ? '$(warning)' : '$(pass)') : '$(error)'} ${v.name}`,
        description: `${v.region}[${v.index} ${v.indexName}] ${v.flags} ${fmtAddr(v.start)}..${fmtAddr(v.end)}`,
        detail: `${v.kind}, owner ${v.owner}: ${v.status}${v.message ? `: ${v.message}` : ''}${v.warnings.length ? ` (${v.warnings.length} warning(s))` : ''}`,
        v,
      })),
      { title: `IOMMU Lens: notifier registrations (${views.length})`, matchOnDescription: true, matchOnDetail: true },
    );
    chosen = pick?.v;
  }
  if (!chosen) return undefined;
  await ctx.revealNode(ctx.notifiersView, ctx.notifiers, `reg:${cfg.file}:${chosen.name}`);
  if (chosen.source) await ctx.revealer.reveal(entry.uri, cfg.rangeOf(chosen.source));
  return chosen;
}

const replayDocs = new Map<string, string>();
export const REPLAY_SCHEME = 'iommu-lens-replay';
export const replayContent: vscode.TextDocumentContentProvider = {
  provideTextDocumentContent: (uri) => replayDocs.get(uri.toString()) ?? '',
};

async function replayNotifier(ctx: Ctx, arg?: NodeModel | { config?: string; notifier?: string }): Promise<string | undefined> {
  let config: string | undefined;
  let name: string | undefined;
  if (arg && 'id' in arg) {
    config = arg.source?.file;
    name = arg.copy;
  } else {
    config = arg?.config;
    name = arg?.notifier;
  }
  const entry = await pickConfig(ctx, config);
  if (!entry) return undefined;
  const cfg = entry.config;
  if (!name) {
    const pick = await vscode.window.showQuickPick(
      registrationViews(cfg)
        .filter((r) => r.status === 'accepted')
        .map((r) => ({ label: r.name, description: `${r.region}[${r.indexName}] ${r.flags}`, name: r.name })),
      { title: 'IOMMU Lens: replay which notifier?' },
    );
    name = pick?.name;
  }
  if (!name) return undefined;
  const notifier = name;
  // A default replay walks the whole region page by page: in slices, with progress, cancellable.
  const v = await longWork(`IOMMU Lens: replaying ${notifier}`, { cancellable: true }, async (w) => {
    const cap = vscode.workspace.getConfiguration('iommuLens').get<number>('replayMaxSteps');
    const slices = replaySlices(cfg, notifier, undefined, cap !== undefined && Number.isSafeInteger(cap) && cap > 0 ? cap : undefined);
    for (;;) {
      const r = slices.next();
      if (r.done) return r.value;
      const go = await w.step(`${r.value.steps.toLocaleString('en-US')} of ${r.value.total.toLocaleString('en-US')} translations`, r.value.steps / r.value.total);
      if (!go) return { cancelledAt: r.value };
    }
  });
  if ('cancelledAt' in v) {
    const msg = `Replay of ${notifier} cancelled after ${v.cancelledAt.steps} of ${v.cancelledAt.total} translations.`;
    ctx.log.info(msg);
    void vscode.window.showInformationMessage(`IOMMU Lens: ${msg}`);
    return undefined;
  }
  if (isEngineError(v)) {
    void vscode.window.showErrorMessage(`IOMMU Lens: ${v.message}`);
    return undefined;
  }
  const lines = [
    `# Replay of ${v.notifier} (${cfg.file})`,
    `# ${v.summary}`,
    `# ${v.qemuReplay}`,
    '',
    ...v.events.map((e) => `${String(e.n).padStart(6)}  ${e.type.padEnd(5)} iova ${fmtAddr(e.iova)} mask ${fmtAddr(e.mask)} -> ${fmtAddr(e.translated)} ${e.perm.padEnd(4)} ${e.target}${e.error ? `  ! ${e.error}` : ''}`),
  ];
  const uri = vscode.Uri.from({ scheme: REPLAY_SCHEME, path: `/${name.replace(/[^\w.-]+/g, '_')}.replay.log` });
  replayDocs.set(uri.toString(), lines.join('\n') + '\n');
  ctx.replayChanged.fire(uri);
  const doc = await vscode.workspace.openTextDocument(uri);
  await vscode.window.showTextDocument(doc, { preview: true });
  ctx.log.info(`replay ${name}: ${v.summary}`);
  return lines.join('\n');
}

async function runScenario(ctx: Ctx, config?: string): Promise<ScenarioStepView[] | undefined> {
  const entry = await pickConfig(ctx, config);
  if (!entry) return undefined;
  // A scenario always starts from the config's initial state: run it on a fresh load.
  const fresh = ctx.store.fresh(entry);
  if (fresh.scenario.length === 0) {
    void vscode.window.showInformationMessage(`IOMMU Lens: ${fresh.file} has no scenario steps.`);
    return [];
  }
  const t0 = performance.now();
  // Run and Step share ScenarioSession's runner (shadow checks on).
  const runner = new ScenarioSession(fresh).runner;
  const total = fresh.scenario.length;
  const completed = await longWork(`IOMMU Lens: running the scenario of ${fresh.file}`, { cancellable: true }, async (w) => {
    while (runner.next()) {
      if (!(await w.step(`step ${runner.position} of ${total}`, runner.position / total))) return false;
    }
    return true;
  });
  const result = runner.result();
  const ms = performance.now() - t0;
  if (!completed) {
    const msg = `Scenario ${fresh.file} cancelled after step ${runner.position} of ${total}; the views show the steps that ran.`;
    ctx.log.info(msg);
    void vscode.window.showInformationMessage(`IOMMU Lens: ${msg}`);
  }
  const steps = result.steps.map((s) => stepView(fresh, s));
  const stale = new Map<string, string[]>();
  for (const d of result.divergences) stale.set(d.notifier, [...(stale.get(d.notifier) ?? []), d.message]);
  ctx.lastRun = { file: fresh.file, events: eventsByNotifier(fresh), stale, steps };
  ctx.log.append([
    `── scenario ${fresh.file} (${steps.length} steps, ${result.failed} failed, ${result.divergences.length} stale shadow(s), ${ms.toFixed(1)} ms)`,
    ...steps.flatMap(stepLines),
  ]);
  ctx.diagnostics.scenario.set(
    entry.uri,
    steps.flatMap((s) => {
      if (!s.range) return [];
      const out: vscode.Diagnostic[] = [];
      if (!s.ok) {
        const d = new vscode.Diagnostic(toRange(s.range), `scenario step ${s.n}: ${[...s.failures, ...(s.error ? [s.error] : [])].join('; ')}`, vscode.DiagnosticSeverity.Error);
        d.source = 'iommu-lens scenario';
        d.code = s.error ? 'scenario-error' : 'expectation-failed';
        out.push(d);
      }
      return out;
    }),
  );
  // A stale shadow is shown on the step that caused it.
  const diags = [...(ctx.diagnostics.scenario.get(entry.uri) ?? [])];
  for (const d of result.divergences) {
    const cause = steps[d.causeStep];
    if (!cause?.range) continue;
    const v = new vscode.Diagnostic(toRange(cause.range), `after step ${cause.n}: ${fmtText(d.message)}`, vscode.DiagnosticSeverity.Warning);
    v.source = 'iommu-lens scenario';
    v.code = 'stale-shadow';
    diags.push(v);
  }
  ctx.diagnostics.scenario.set(entry.uri, diags);
  ctx.refreshViews();
  const msg = `Scenario ${fresh.file}: ${steps.length} steps, ${result.failed} failed${result.divergences.length ? `, ${result.divergences.length} stale shadow(s)` : ''}.`;
  if (!completed) return steps;
  if (result.failed || result.divergences.length) void vscode.window.showWarningMessage(msg, 'Show Output').then((c) => c && ctx.log.tables.show(true));
  else void vscode.window.setStatusBarMessage(`$(pass) ${msg}`, 5000);
  return steps;
}

function eventsByNotifier(cfg: LoadedConfig): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of cfg.machine.registrations) {
    out.set(
      r.name,
      r.received.filter((e) => e.via === 'notify').map((e) => `${formatNotifierFlags(e.type)} iova ${fmtAddr(e.entry.iova)} mask ${fmtAddr(e.entry.addrMask)} -> ${fmtAddr(e.entry.translatedAddr)} ${e.entry.targetAs?.name ?? '-'}${e.error ? ` ! ${e.error}` : ''}`),
    );
  }
  return out;
}

function stepLines(s: ScenarioStepView): string[] {
  return [
    `${s.ok ? '  ok ' : 'FAIL '} ${String(s.n).padStart(3)}  ${s.summary}`,
    ...s.notifications.map((n) => `           ${n}`),
    ...s.failures.map((f) => `           ! ${f}`),
    ...s.divergences.map((d) => `           ! stale shadow: ${d}`),
    ...(s.error ? [`           ! ${s.error}`] : []),
  ];
}

async function stepScenario(ctx: Ctx, config?: string): Promise<ScenarioStepView | undefined> {
  const entry = await pickConfig(ctx, config);
  if (!entry) return undefined;
  let session = ctx.stepSession;
  if (!session || session.file !== entry.config.file || session.done) {
    session = new ScenarioSession(ctx.store.fresh(entry));
    ctx.stepSession = session;
    ctx.log.append([`── stepping scenario ${session.file} (${session.config.scenario.length} steps)`]);
  }
  const v = session.next();
  if (!v) return undefined;
  ctx.log.append(stepLines(v));
  if (v.range) await ctx.revealer.reveal(entry.uri, v.range);
  const left = session.runner.steps.length - session.runner.position;
  const msg = `Step ${v.n}/${session.runner.steps.length}: ${v.summary}${v.notifications.length ? ` (${v.notifications.length} notification(s))` : ''}`;
  if (!v.ok) void vscode.window.showWarningMessage(`${msg}: ${[...v.failures, ...(v.error ? [v.error] : [])].join('; ')}`);
  else if (v.divergences.length) void vscode.window.showWarningMessage(`${msg}: stale shadow: ${v.divergences.join('; ')}`);
  else void vscode.window.setStatusBarMessage(`$(debug-step-over) ${msg}${left ? '' : ' (done)'}`, 8000);
  return v;
}
