// Views you can trust (issue 8) in a real VS Code host: a tree row's Translate uses its own
// config, every translation leaves its answer on screen, one load per content change, the
// `iommuLens.files` setting, and the translation-path panel's content checked from the extension.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { sleep, until } from './wait';
import type { PathModel } from '../../src/common/path-messages';
import type { IommuLensApi } from '../../src/extension/api';
import type { IommuLensInternals, NodeModel } from '../../src/extension/extension';
import type { TranslationView } from '../../src/views/views';

const AN505 = 'an505.iommu.yaml';
const TABLE = 'dual-regime.iommu.yaml';
const VIRT = 'virt-smmuv3.iommu.yaml';

let api: IommuLensInternals;


function wsUri(name: string): vscode.Uri {
  return vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0]!.uri, name);
}

function find(roots: readonly NodeModel[], pred: (n: NodeModel) => boolean, depth = 4): NodeModel | undefined {
  for (const n of roots) {
    if (pred(n)) return n;
    if (depth > 0 && n.children) {
      const f = find(n.children(), pred, depth - 1);
      if (f) return f;
    }
  }
  return undefined;
}

describe('IOMMU Lens views you can trust', function () {
  this.timeout(60_000);

  before(async () => {
    const ext = vscode.extensions.getExtension<IommuLensApi>('iommu-lens.iommu-lens');
    assert.ok(ext);
    // The extension's internals, beside its API (src/extension/extension.ts, INTERNALS).
    api = ((await ext.activate()) as unknown as Record<symbol, IommuLensInternals>)[Symbol.for('iommuLens.internals')]!;
    await api.ready;
    await until('the example configs', () => api.ctx.store.all.length >= 3);
  });

  it("a device row's Translate uses the row's config, not the active editor's (item 3)", async () => {
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(wsUri(AN505)));
    const row = find(api.ctx.regions.getChildren(), (n) => n.id === `device:${TABLE}:nic-k`);
    assert.ok(row, 'the nic-k row under the table example');
    const t = await vscode.commands.executeCommand<TranslationView | undefined>('iommuLens.translate', { ...row, addr: '0x1000', op: 'read' });
    assert.ok(t, 'an answer');
    assert.equal(t.from, 'nic-k');
    assert.equal(api.ctx.steps.state.file, TABLE);
  });

  it('a translation from arguments (CodeLens) leaves its answer in the Steps view (item 4)', async () => {
    const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', wsUri(VIRT));
    const lens = lenses.find((l) => l.command?.title === 'Translate...' && JSON.stringify(l.command.arguments).includes('net0'));
    assert.ok(lens?.command);
    const args = { ...(lens.command.arguments![0] as object), addr: '0x2000_0000', op: 'read' };
    const t = await vscode.commands.executeCommand<TranslationView>(lens.command.command, args);
    const view = api.ctx.steps.view;
    await until('the Steps view visible', () => view.visible);
    assert.equal(view.description, t.headline);
    assert.match(view.description ?? '', /ram \+ 0x30_0000/);
    assert.ok(view.message?.includes(`IOTLB entry ${t.entry}`), view.message);
    const fault = await vscode.commands.executeCommand<TranslationView>('iommuLens.translate', { config: TABLE, from: 'nic-k', addr: '0x10_0000', op: 'write' });
    assert.equal(fault.ok, false);
    assert.match(view.description ?? '', /^fault: remap0 index 0 gives perm RO/);
  });

  it('one load per content change: the watcher seeing the save loads nothing more (item 7)', async () => {
    const uri = wsUri(AN505);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc);
    const before = api.ctx.store.loadCount;
    const edit = new vscode.WorkspaceEdit();
    edit.insert(uri, new vscode.Position(doc.lineCount, 0), '# one load\n');
    assert.ok(await vscode.workspace.applyEdit(edit));
    await until('the edit loaded', () => api.ctx.store.get(uri)?.config.document.text.includes('# one load'));
    assert.equal(api.ctx.store.loadCount, before + 1);
    // What auto-save does: the same text reaches the disk, and the file watcher reports it.
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(doc.getText()));
    await sleep(1500); // the watcher's event and its debounce
    assert.equal(api.ctx.store.loadCount, before + 1, 'the save of the same text loaded again');
    const undo = new vscode.WorkspaceEdit();
    undo.delete(uri, new vscode.Range(doc.lineCount - 2, 0, doc.lineCount - 1, 0));
    await vscode.workspace.applyEdit(undo);
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(doc.getText()));
    await until('the undo loaded', () => !api.ctx.store.get(uri)?.config.document.text.includes('# one load'));
  });

  it('iommuLens.files chooses the configs, their watcher and the hover selector (item 11)', async () => {
    const extra = wsUri('extra.lens.yaml');
    const text = 'iommu-lens: 1\nname: extra\nmemory:\n  ram: { kind: ram, size: 4KiB }\naddress-spaces:\n  system:\n    - { at: 0x1000, region: ram }\n';
    const conf = vscode.workspace.getConfiguration('iommuLens');
    const old = conf.get<string[]>('files');
    try {
      await conf.update('files', [...(old ?? []), '**/*.lens.yaml'], vscode.ConfigurationTarget.Workspace);
      await vscode.workspace.fs.writeFile(extra, new TextEncoder().encode(text));
      await until('the .lens.yaml config loaded', () => api.ctx.store.get(extra));
      const doc = await vscode.workspace.openTextDocument(extra);
      const line = 3;
      const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', extra, new vscode.Position(line, 3));
      const hv = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
      assert.match(hv, /ram region \*\*ram\*\*/, `hover on ${doc.lineAt(line).text}`);
    } finally {
      // The file goes while its glob is still watched, then the setting is restored.
      await vscode.workspace.fs.delete(extra);
      await until('the deleted config gone', () => !api.ctx.store.get(extra)).catch(() => undefined);
      await conf.update('files', old, vscode.ConfigurationTarget.Workspace);
    }
    await until('the config gone', () => !api.ctx.store.get(extra));
    const pkg = vscode.extensions.getExtension('iommu-lens.iommu-lens')!.packageJSON as {
      contributes: { menus: { commandPalette: Array<{ command: string; when: string }> }; viewsWelcome: Array<{ view: string }> };
    };
    for (const c of ['iommuLens.translate', 'iommuLens.runScenario', 'iommuLens.stepScenario']) {
      assert.ok(pkg.contributes.menus.commandPalette.some((m) => m.command === c && m.when === 'iommuLens.hasConfig'), c);
    }
    assert.ok(pkg.contributes.viewsWelcome.some((w) => w.view === 'iommuLens.notifiers'));
  });

  it('the schema association follows iommuLens.files: the YAML contributor, and json.schemas when asked (item 11)', async function () {
    this.timeout(120_000);
    const SCHEMA_URI = 'iommu-lens-schema:/iommu-lens.schema.json';
    const yaml = wsUri('boards/extra.lens.yaml').toString();
    const json = wsUri('bad.lens.json');
    const files = vscode.workspace.getConfiguration('iommuLens');
    const jsonConf = () => vscode.workspace.getConfiguration('json');
    const old = files.get<string[]>('files');
    const oldFiles = files.inspect('files')?.workspaceValue;
    const oldSchemas = jsonConf().inspect('schemas')?.workspaceValue;
    // The schema, served as a read-only document (what the JSON and YAML services load).
    const schemaDoc = await vscode.workspace.openTextDocument(vscode.Uri.parse(SCHEMA_URI));
    const schema = JSON.parse(schemaDoc.getText()) as { properties?: Record<string, unknown> };
    assert.ok(schema.properties?.['iommu-lens'], 'the served schema describes iommu-lens');
    // The YAML contributor (what Red Hat's YAML extension asks) reads the setting at each request.
    assert.equal(api.schema.contributor.requestSchema(yaml), undefined);
    assert.equal(api.schema.contributor.requestSchema(wsUri(AN505).toString()), SCHEMA_URI);
    try {
      await files.update('files', [...(old ?? []), '**/*.lens.yaml', '**/*.lens.json'], vscode.ConfigurationTarget.Workspace);
      await until('the setting seen', () => api.ctx.store.globs().includes('**/*.lens.json'));
      assert.equal(api.schema.contributor.requestSchema(yaml), SCHEMA_URI);
      // JSON: nothing is written until the command is run; then one entry, for the JSON globs.
      assert.deepEqual(jsonConf().inspect('schemas')?.workspaceValue, oldSchemas);
      await vscode.commands.executeCommand('iommuLens.associateJsonSchema');
      const written = jsonConf().inspect<Array<{ fileMatch?: string[]; url?: string }>>('schemas')?.workspaceValue ?? [];
      assert.deepEqual(
        written.filter((e) => e.url === SCHEMA_URI),
        [{ fileMatch: [...(old ?? []).filter((g) => !/\.ya?ml$/.test(g)), '**/*.lens.json'], url: SCHEMA_URI }],
      );
      // VS Code's JSON support now checks a .lens.json file against the schema (its schema
      // problems carry no source; IOMMU Lens's own diagnostics on the file say iommu-lens).
      await vscode.workspace.fs.writeFile(json, new TextEncoder().encode('{ "iommu-lens": "one" }\n'));
      await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(json));
      const fromJson = await until(
        'the JSON service checking bad.lens.json against the schema',
        () => {
          const d = vscode.languages.getDiagnostics(json).filter((x) => !x.source?.startsWith('iommu-lens'));
          return d.length > 0 && d;
        },
        90_000,
      );
      assert.ok(fromJson.some((d) => /Value must be 1|Expected "number"/.test(d.message)), fromJson.map((d) => d.message).join('; '));
      // Run again after the setting changed: the entry is replaced, not added.
      await files.update('files', [...(old ?? []), '**/*.lens.yaml'], vscode.ConfigurationTarget.Workspace);
      await until('the setting seen', () => !api.ctx.store.globs().includes('**/*.lens.json'));
      await vscode.commands.executeCommand('iommuLens.associateJsonSchema');
      const again = jsonConf().inspect<Array<{ fileMatch?: string[]; url?: string }>>('schemas')?.workspaceValue ?? [];
      assert.deepEqual(again.filter((e) => e.url === SCHEMA_URI).map((e) => e.fileMatch), [(old ?? []).filter((g) => !/\.ya?ml$/.test(g))]);
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
      await vscode.workspace.fs.delete(json).then(undefined, () => undefined);
      await jsonConf().update('schemas', oldSchemas, vscode.ConfigurationTarget.Workspace);
      await files.update('files', oldFiles, vscode.ConfigurationTarget.Workspace);
    }
    await until('the setting restored', () => !api.ctx.store.globs().includes('**/*.lens.yaml'));
    await until('bad.lens.json gone', () => !api.ctx.store.get(json));
  });

  it('the quick fix for an unknown region offers the candidates, the unplaced one first (item 9)', async () => {
    const uri = wsUri('misplaced.iommu.yaml');
    const text = 'iommu-lens: 1\nmemory:\n  ssram-0: { kind: ram, size: 4KiB }\n  ssram-1: { kind: ram, size: 4KiB }\naddress-spaces:\n  system:\n    - { at: 0x0, region: ssram-0 }\n    - { at: 0x1000, region: sram-0 }\n';
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(text));
    try {
      await until('the config loaded', () => api.ctx.store.get(uri));
      const doc = await vscode.workspace.openTextDocument(uri);
      const at = new vscode.Position(7, doc.lineAt(7).text.indexOf('sram-0') + 1);
      const actions = await until('the quick fixes', () => api.ctx.diagnostics.codeActions(uri, new vscode.Range(at, at)).filter((a) => a.title.startsWith('Change to')).length > 1 && api.ctx.diagnostics.codeActions(uri, new vscode.Range(at, at)));
      const fixes = actions.filter((a) => a.title.startsWith('Change to'));
      assert.deepEqual(fixes.map((a) => a.title), ['Change to "ssram-1"', 'Change to "ssram-0"']);
      assert.equal(fixes[0]!.isPreferred, true);
      const viaHost = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', uri, new vscode.Range(at, at));
      assert.deepEqual(viaHost.filter((a) => a.title.startsWith('Change to')).map((a) => a.title), ['Change to "ssram-1"', 'Change to "ssram-0"']);
    } finally {
      await vscode.workspace.fs.delete(uri);
    }
    await until('the config gone', () => !api.ctx.store.get(uri));
  });

  it('the translation-path panel: every structure read on the SMMUv3 path, raw values, fields, the map: entry (panel)', async () => {
    await vscode.commands.executeCommand('iommuLens.translate', { config: VIRT, from: 'net0', addr: '0x2000_0000', op: 'read', path: true });
    const panel = api.ctx.pathPanel;
    const m = await until('the path model', () => panel.model?.title === 'net0 read 0x2000_0000' && panel.model);
    await until('the page running under its CSP says it is ready', () => panel.received.some((r) => r.type === 'ready'), 20_000);
    const html = panel.html ?? '';
    assert.match(html, /Content-Security-Policy" content="default-src 'none'; [^"]*script-src 'nonce-[0-9a-f]{32}'/);
    assert.doesNotMatch(html, /unsafe-inline|unsafe-eval/);
    assert.deepEqual(
      m.columns.map((c) => c.kind),
      ['initiator', 'lookup', 'hop', 'lookup', 'landing'],
    );
    const hop = m.columns[2]!;
    const names = hop.boxes.map((b) => b.name);
    for (const n of ['attrs to index', 'STE fetch', 'CD fetch', 'stage-1 level-0 descriptor', 'stage-1 level-3 descriptor', 'IOTLB entry', 'permission check']) assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
    const ste = hop.boxes.find((b) => b.name === 'STE fetch')!;
    assert.equal(ste.raw.length, 8);
    assert.ok(ste.fields.some(([k, v]) => k === 'S1ContextPtr' && v === '0x4100_a000'));
    const cd = hop.boxes.find((b) => b.name === 'CD fetch')!;
    assert.equal(cd.raw.length, 8, 'the whole 64-byte CD');
    const leaf = hop.boxes.find((b) => b.name === 'stage-1 level-3 descriptor')!;
    assert.match(leaf.raw[0]!, /^0x0000_0000_4030_0[0-9a-f]{3}$/);
    assert.ok(leaf.fields.some(([k, v]) => k === 'output address' && v === '0x4030_0000'));
    for (const k of ['AttrIndx', 'AP[2:1]', 'AF', 'UXN/XN']) assert.ok(leaf.fields.some(([f]) => f === k), k);
    assert.match(leaf.mapEntry?.text ?? '', /iova: 0x2000_0000, size: 16KiB/);
    assert.deepEqual(leaf.source && { kind: leaf.source.kind }, { kind: 'guest-memory' });
    assert.match(m.columns[4]!.subtitle ?? '', /0x30_0000/);
    assert.match(m.entry, /^iova 0x2000_0000 -> 0x4030_0000/);

    // It follows the Steps view...
    await api.ctx.steps.go(ste.step);
    assert.equal(panel.model?.current, ste.step);
    // ...and a click on a box selects its step and opens the guest memory around it with the decode.
    await panel.handle({ type: 'select', step: leaf.step });
    assert.equal(api.ctx.steps.state.current, leaf.step);
    const mem = await until('the memory document', () => vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'iommu-lens-memory' && d.getText().includes('stage-1 level-3 descriptor')));
    assert.match(mem.getText(), /0x0000_0000_4100_e000 {2}03 07 30 40 00 00 00 00/i);
    assert.match(mem.getText(), /output address +0x4030_0000/);
  });

  it('the panel works for every model: the TZ MPC LUT lookup and the table model fault', async () => {
    await vscode.commands.executeCommand('iommuLens.translate', { config: AN505, from: 'cpu-ns', addr: '0x8010', op: 'read', path: true });
    const panel = api.ctx.pathPanel;
    const m = await until('the AN505 path', () => panel.model?.config === AN505 && panel.model);
    const lut = m.columns.flatMap((c) => c.boxes).find((b) => b.name === 'BLK_LUT lookup');
    assert.ok(lut, 'the LUT lookup box');
    assert.deepEqual(lut.raw, ['0xffff_ffff']);
    assert.equal(lut.source?.kind, 'config');
    await vscode.commands.executeCommand('iommuLens.translate', { config: TABLE, from: 'nic-k', addr: '0x10_0000', op: 'write' });
    const f = await until<PathModel>('the table fault', () => panel.model?.config === TABLE && panel.model);
    assert.equal(f.ok, false);
    assert.equal(f.columns.at(-1)?.kind, 'fault');
  });
});
