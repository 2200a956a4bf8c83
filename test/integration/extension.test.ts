// The extension in a real VS Code host: activation, the views' contents, commands with
// arguments, step-through, diagnostics with exact ranges, quick fixes, hovers, CodeLens and the
// scenario run. The workspace is a copy of examples/ (run.mjs --copy-workspace).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { until } from './wait';
import type { IommuLensApi } from '../../src/extension/api';
import type { IommuLensInternals, NodeModel } from '../../src/extension/extension';
import type { RegistrationView, ScenarioStepView, TranslationView } from '../../src/views/views';

const AN505 = 'an505.iommu.yaml';
const TABLE = 'dual-regime.iommu.yaml';
const VIRT = 'virt-smmuv3.iommu.yaml';
const Q35 = 'q35-intel-iommu.iommu.yaml';
const VIRTIO = 'virtio-iommu.iommu.yaml';
const Q35_NO_CM = 'q35-intel-iommu-no-cm.iommu.yaml';
const Q35_FLTS = 'q35-intel-iommu-flts.iommu.yaml';

let api: IommuLensInternals;


function children(provider: IommuLensInternals['ctx']['regions'], n?: NodeModel): NodeModel[] {
  return provider.getChildren(n);
}

function child(provider: IommuLensInternals['ctx']['regions'], parent: NodeModel | undefined, label: string): NodeModel {
  const kids = children(provider, parent);
  const k = kids.find((c) => c.label === label);
  assert.ok(k, `no child "${label}" under ${parent?.label ?? 'the root'}; have: ${kids.map((c) => c.label).join(', ')}`);
  return k;
}

function wsUri(name: string): vscode.Uri {
  return vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0]!.uri, name);
}

describe('IOMMU Lens in VS Code', function () {
  this.timeout(60_000);

  before(async () => {
    const ext = vscode.extensions.getExtension<IommuLensApi>('iommu-lens.iommu-lens');
    assert.ok(ext, 'extension not installed');
    // The extension's internals, beside its API (src/extension/extension.ts, INTERNALS).
    api = ((await ext.activate()) as unknown as Record<symbol, IommuLensInternals>)[Symbol.for('iommuLens.internals')]!;
    await api.ready;
    await until('the example configs', () => api.ctx.store.all.length >= 7);
  });

  it('activates on the workspace and loads the examples without errors', function () {
    const files = api.ctx.store.all.map((e) => e.config.file).sort();
    assert.deepEqual(files, [AN505, TABLE, Q35_FLTS, Q35_NO_CM, Q35, VIRT, VIRTIO]);
    for (const e of api.ctx.store.all) assert.equal(e.config.errorCount, 0, `${e.config.file}: ${e.config.diagnostics.map((d) => d.message).join('; ')}`);
    assert.ok(api.metrics.activationMs < 1000, `activation took ${api.metrics.activationMs} ms`);
    // What activation loads: the bundle, none of the parts kept for later (the yaml package, the
    // schema's builder, the full validator, the model parts of the quick one, the CLI's).
    const loaded = api.metrics.loadedFiles;
    assert.ok(loaded.includes('extension.js'), loaded.join(', '));
    assert.deepEqual(loaded.filter((f) => /^(yaml|config-schema|config-validator|config-quick-.*|cli.*)\.js$/.test(f)), [], loaded.join(', '));
    // The reporter prints the title after the test: the measurement lands in the run's output.
    const moduleMs = api.metrics.moduleMs === undefined ? '' : `, module start-up ${api.metrics.moduleMs.toFixed(1)} ms`;
    this.test!.title += ` [activation ${api.metrics.activationMs.toFixed(1)} ms${moduleMs}; loaded ${loaded.join(', ')}]`;
  });

  it('shows the VT-d example: a region per device by BDF, its context entry, its mappings, the registers decoded', () => {
    const p = api.ctx.regions;
    const cfg = child(p, undefined, Q35);
    assert.deepEqual(
      children(p, cfg).map((c) => c.label),
      ['dmar0.vtd-00:02.0', 'dmar0.vtd-00:03.0', 'dmar0.vtd-00:04.0', 'Address spaces', 'Devices'],
    );
    const nic = child(p, cfg, 'dmar0.vtd-00:03.0');
    assert.match(String(nic.tooltip), /00:03\.0: DID 2, T=0 .*4-level/);
    const gsts = children(p, child(p, nic, 'registers and state')).find((c) => c.label === 'GSTS');
    assert.equal(gsts?.description, '0xc4000000: TES RTPS QIES');
  });

  it('shows the regions, indexes, mappings and notifiers of the AN505 example', () => {
    const p = api.ctx.regions;
    const cfg = child(p, undefined, AN505);
    const labels = children(p, cfg).map((c) => c.label);
    assert.deepEqual(labels, ['mpc0', 'mpc1', 'mpc2', 'Address spaces', 'Devices']);
    const mpc0 = child(p, cfg, 'mpc0');
    assert.equal(mpc0.description, 'tz-mpc, 4 MiB, 2 indexes');
    assert.deepEqual(
      children(p, mpc0).map((c) => `${c.label} | ${c.description}`),
      ['0: S | secure or unspecified attributes', '1: NS | non-secure attributes'],
    );
    const ns = child(p, mpc0, '1: NS');
    const nsKids = children(p, ns).map((c) => c.label);
    assert.deepEqual(nsKids, ['Mappings', 'tcg-mpc0-ns']);
    const runs = children(p, child(p, ns, 'Mappings')).map((c) => `${c.label} ${c.description}`);
    // LUT word 1 = 0xffffffff: blocks 32..63 (0x8000..0xffff) are non-secure, everything else secure.
    assert.deepEqual(runs, [
      '0x0..0x7fff -> mpc0-blocked-io 0x0 rw',
      '0x8000..0xffff -> mpc0-downstream 0x8000 rw',
      '0x1_0000..0x3f_ffff -> mpc0-blocked-io 0x1_0000 rw',
    ]);
    const s = child(p, mpc0, '0: S');
    assert.deepEqual(children(p, s).map((c) => c.label), ['Mappings', 'passthru0/vfio', 'tcg-mpc0-s']);
  });

  it('pages mappings: "Show more..." loads the next page', async () => {
    await vscode.workspace.getConfiguration('iommuLens').update('mappingsPageSize', 1, vscode.ConfigurationTarget.Workspace);
    try {
      const p = api.ctx.regions;
      const ns = child(p, child(p, child(p, undefined, AN505), 'mpc0'), '1: NS');
      const mappings = child(p, ns, 'Mappings');
      let kids = children(p, mappings);
      assert.deepEqual(kids.map((k) => k.label), ['0x0..0x7fff', 'Show more...']);
      await vscode.commands.executeCommand('iommuLens.showMoreMappings', mappings.id);
      kids = children(p, mappings);
      assert.deepEqual(kids.map((k) => k.label), ['0x0..0x7fff', '0x8000..0xffff', 'Show more...']);
    } finally {
      await vscode.workspace.getConfiguration('iommuLens').update('mappingsPageSize', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });

  it('lists notifier registrations, with the one the table model refuses', () => {
    const p = api.ctx.notifiers;
    const roots = children(p);
    const remap = roots.find((r) => r.id.includes(TABLE) && r.label === 'remap0');
    assert.ok(remap, `no remap0 in ${roots.map((r) => r.label).join(', ')}`);
    assert.match(remap.description ?? '', /1 refused/);
    const kernel = child(p, remap, '0: kernel');
    const net0 = child(p, kernel, 'net0/vhost');
    assert.equal(net0.contextValue, 'iommuLens.notifier.refused');
    const status = children(p, net0).find((c) => c.label === 'status');
    assert.equal(status?.description, 'refused: remap0: device IOTLB invalidation is not modelled');
    const gpu = child(p, kernel, 'gpu0/vfio');
    assert.equal(gpu.contextValue, 'iommuLens.notifier.accepted');
    assert.equal(gpu.description, 'UNMAP|MAP 0x0..0xff_ffff');
  });

  it('Translate Address answers from arguments, and fills the steps', async () => {
    const t = await vscode.commands.executeCommand<TranslationView>('iommuLens.translate', { config: AN505, from: 'cpu-ns', addr: '0x8010', op: 'read' });
    assert.ok(t.ok);
    assert.equal(t.headline, 'ssram-0 + 0x8010 (ram, mpc0-downstream 0x8010)');
    assert.equal(t.entry, 'iova 0x8000 -> 0x8000 mask 0x3ff perm RW as mpc0-downstream');
    assert.deepEqual(
      t.steps.map((s) => s.kind),
      ['as-lookup', 'attrs-to-index', 'model', 'iotlb-entry', 'perm-check', 'compose', 'hop', 'as-lookup', 'land'],
    );
    const fault = await vscode.commands.executeCommand<TranslationView>('iommuLens.translate', { config: TABLE, from: 'nic-k', addr: '0x10_0000', op: 'write' });
    assert.equal(fault.ok, false);
    assert.equal(fault.result, 'MEMTX_DECODE_ERROR');
    assert.match(fault.headline, /^fault: remap0 index 0 gives perm RO for 0x10_0000/);
    assert.equal(api.ctx.steps.state.translation?.from, 'nic-k');
  });

  it('steps through a translation and reveals each step\'s config line', async () => {
    await vscode.commands.executeCommand('iommuLens.translate', { config: AN505, from: 'cpu-s', addr: '0x8000', op: 'write' });
    const t = api.ctx.steps.state.translation!;
    assert.equal(t.headline.startsWith('mpc0-blocked-io'), true);
    assert.equal(await vscode.commands.executeCommand('iommuLens.stepThrough'), 0);
    assert.equal(await vscode.commands.executeCommand('iommuLens.steps.next'), 1);
    // Step 2 is attrs-to-index on mpc0: it reveals mpc0's definition in the config.
    const editor = await until('an editor on the config', () => vscode.window.activeTextEditor?.document.uri.path.endsWith(AN505) && vscode.window.activeTextEditor);
    const line = editor.document.lineAt(editor.selection.start.line).text;
    assert.match(line, /^ {2}mpc0:/);
    assert.equal(await vscode.commands.executeCommand('iommuLens.steps.next'), 2);
    // Step 3 is the LUT lookup: block 32 is in LUT word 1.
    const lutLine = vscode.window.activeTextEditor!.document.lineAt(vscode.window.activeTextEditor!.selection.start.line).text;
    assert.match(lutLine, /lut: \[0x00000000, 0xffffffff\]/);
    assert.equal(vscode.window.activeTextEditor!.document.getText(vscode.window.activeTextEditor!.selection), '0xffffffff');
    assert.equal(await vscode.commands.executeCommand('iommuLens.steps.last'), t.steps.length - 1);
    assert.equal(await vscode.commands.executeCommand('iommuLens.steps.previous'), t.steps.length - 2);
    assert.equal(await vscode.commands.executeCommand('iommuLens.steps.first'), 0);
    const nodes = children(api.ctx.steps.provider);
    assert.equal(nodes.length, t.steps.length);
    assert.equal(nodes[0]!.icon, 'debug-stackframe');
  });

  it('reports diagnostics for a broken config at exact ranges, and fixes a typo', async function () {
    const uri = wsUri('broken.iommu.yaml');
    const text = [
      'iommu-lens: 1',
      'memory:',
      '  ram: { kind: ram, size: 64KiB }',
      'iommus:',
      '  mpc:',
      '    model: tz-mpc',
      '    dowstream: ram',
      'address-spaces:',
      '  system:',
      '    - { at: 0x0, region: rma }',
      '',
    ].join('\n');
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(text));
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc);
    const diags = await until('diagnostics on broken.iommu.yaml', () => {
      const d = vscode.languages.getDiagnostics(uri).filter((x) => x.source === 'iommu-lens');
      return d.length >= 3 && d;
    });
    const shown = diags
      .map((d) => `${d.range.start.line + 1}:${d.range.start.character + 1}-${d.range.end.line + 1}:${d.range.end.character + 1} ${typeof d.code === 'object' ? String(d.code.value) : String(d.code)} ${d.message}`)
      .sort();
    assert.deepEqual(shown, [
      '10:26-10:29 unknown-reference no region named "rma" to place here (known: ram)',
      '5:3-5:6 missing-key iommus.mpc is missing the key "downstream"',
      '7:5-7:14 unknown-key unknown key "dowstream" in iommus.mpc; did you mean "downstream"?',
    ]);
    const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', uri, new vscode.Range(6, 6, 6, 6));
    const fix = actions.find((a) => a.title === 'Rename to "downstream"');
    assert.ok(fix?.edit, `no rename fix; actions: ${actions.map((a) => a.title).join(', ')}`);
    assert.ok(await vscode.workspace.applyEdit(fix.edit));
    assert.equal(doc.lineAt(6).text, '    downstream: ram');
    const after = await until('the fixed diagnostics', () => {
      const d = vscode.languages.getDiagnostics(uri).filter((x) => x.source === 'iommu-lens');
      return d.length === 1 && d;
    });
    assert.equal(after[0]!.code, 'unknown-reference');
    const refFix = (await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', uri, after[0]!.range)).find(
      (a) => a.title === 'Change to "ram"',
    );
    assert.ok(refFix?.edit);
    await vscode.workspace.applyEdit(refFix.edit);
    await until('no diagnostics', () => vscode.languages.getDiagnostics(uri).filter((x) => x.source === 'iommu-lens').length === 0);
    const r = api.metrics.lastRefresh;
    assert.ok(r && r.file === 'broken.iommu.yaml', `lastRefresh: ${JSON.stringify(r)}`);
    this.test!.title += ` [refresh: ${r.workMs.toFixed(1)} ms of work, ${r.sinceEditMs.toFixed(1)} ms after the edit]`;
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    await vscode.workspace.fs.delete(uri);
    await until('broken.iommu.yaml forgotten', () => !api.ctx.store.find('broken.iommu.yaml'));
  });

  it('measures edit-to-refresh on the example', async function () {
    const doc = await vscode.workspace.openTextDocument(wsUri(AN505));
    await vscode.window.showTextDocument(doc);
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const edit = new vscode.WorkspaceEdit();
      edit.insert(doc.uri, new vscode.Position(doc.lineCount - 1, 0), `# edit ${i}\n`);
      const before = api.metrics.lastRefresh;
      await vscode.workspace.applyEdit(edit);
      await until('the refresh', () => api.metrics.lastRefresh !== before && api.metrics.lastRefresh?.file === AN505);
      samples.push(api.metrics.lastRefresh!.workMs);
    }
    samples.sort((a, b) => a - b);
    this.test!.title += ` [median ${samples[2]!.toFixed(1)} ms of work after the 100 ms debounce; min ${samples[0]!.toFixed(1)}, max ${samples[4]!.toFixed(1)}]`;
    assert.ok(samples[2]! < 500, `median refresh work ${samples[2]} ms`);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  it('hovers on names and addresses', async () => {
    const doc = await vscode.workspace.openTextDocument(wsUri(AN505));
    await vscode.window.showTextDocument(doc);
    // Hovers answer only for the text that was loaded: wait for the load of this version (the
    // previous test's revert is a change that loads again after the debounce).
    await until('an505 loaded at the document\'s version', () => {
      const e = api.ctx.store.get(doc.uri);
      return e !== undefined && (e.version === undefined || e.version === doc.version);
    });
    const lineOf = (re: RegExp) => doc.getText().split('\n').findIndex((l) => re.test(l));
    const regionLine = lineOf(/- \{ at: 0x00000000, region: mpc0 \}/);
    const col = doc.lineAt(regionLine).text.indexOf('mpc0') + 1;
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, new vscode.Position(regionLine, col));
    const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
    assert.match(text, /tz-mpc IOMMU \*\*mpc0\*\*, 4 MiB, min page 1 KiB/);
    assert.match(text, /index 1 \(NS\): non-secure attributes/);
    const expectLine = lineOf(/expect: +\{ from: cpu-ns, addr: 0x8000/);
    const acol = doc.lineAt(expectLine).text.indexOf('0x8000') + 2;
    const ah = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, new vscode.Position(expectLine, acol));
    const atext = ah.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
    assert.match(atext, /read from cpu-ns\*\* \{non-secure\}: reaches ssram-0 \+ 0x8000/);
  });

  it('shows CodeLens above devices, IOMMUs and the scenario', async () => {
    // The command needs the document's model, so open it first.
    await vscode.workspace.openTextDocument(wsUri(TABLE));
    const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', wsUri(TABLE));
    const titles = lenses.map((l) => l.command?.title);
    assert.ok(titles.includes('Translate...'));
    assert.ok(titles.includes('4 notifiers (1 refused)'), titles.join(', '));
    assert.ok(titles.includes('Run Scenario (9 steps)'), titles.join(', '));
  });

  it('runs the scenario: every step passes, and notifiers show their events', async () => {
    const steps = await vscode.commands.executeCommand<ScenarioStepView[]>('iommuLens.runScenario', { config: AN505 });
    assert.equal(steps.length, 15);
    assert.deepEqual(steps.filter((s) => !s.ok).map((s) => s.n), []);
    const lut = steps.find((s) => s.summary.startsWith('mpc0.BLK_LUT'))!;
    // Two changed bits, four events each: UNMAP S reaches vfio and tcg-s, UNMAP NS tcg-ns, MAP S
    // vfio (and tcg-s filters it out), MAP NS is filtered by tcg-ns. Six decisions per bit.
    assert.equal(lut.notifications.length, 12);
    assert.equal(lut.notifications.filter((n) => n.includes('[type-filtered]')).length, 4);
    assert.ok(lut.notifications.includes('tcg-mpc0-ns <- UNMAP iova 0x2000 -> 0x2000 mask 0x3ff perm NONE as -'), lut.notifications.join('\n'));
    const p = api.ctx.notifiers;
    const mpc0 = children(p).find((r) => r.id === `nreg:${AN505}:mpc0`)!;
    const tcg = child(p, child(p, mpc0, '1: NS'), 'tcg-mpc0-ns');
    const events = children(p, tcg).find((c) => c.label === 'events in last run');
    assert.equal(events?.description, '2');
  });

  it('steps through the scenario one step per call, revealing each step', async () => {
    const first = await vscode.commands.executeCommand<ScenarioStepView>('iommuLens.stepScenario', { config: TABLE });
    assert.equal(first.n, 1);
    assert.equal(first.summary, 'expect nic-k read 0x1234 -> ddr+0x1234: ok');
    const editor = vscode.window.activeTextEditor!;
    assert.ok(editor.document.uri.path.endsWith(TABLE));
    assert.match(editor.document.lineAt(editor.selection.start.line).text, /- expect: \{ from: nic-k, addr: 0x1234/);
    for (let n = 2; n <= 5; n++) assert.equal((await vscode.commands.executeCommand<ScenarioStepView>('iommuLens.stepScenario', { config: TABLE })).n, n);
    const map = await vscode.commands.executeCommand<ScenarioStepView>('iommuLens.stepScenario', { config: TABLE });
    assert.equal(map.kind, 'map');
    assert.equal(map.notifications.length, 2);
  });

  it('reports failed expectations of a scenario as diagnostics on their steps', async () => {
    const uri = wsUri('failing.iommu.yaml');
    const text = [
      'iommu-lens: 1',
      'memory:',
      '  ram: { kind: ram, size: 64KiB }',
      'address-spaces:',
      '  system:',
      '    - { at: 0x1000, region: ram }',
      'devices:',
      '  cpu: { as: system }',
      'scenario:',
      '  - expect: { from: cpu, addr: 0x1000, reaches: { region: ram, offset: 0x10 } }',
      '',
    ].join('\n');
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(text));
    await until('failing.iommu.yaml loaded', () => api.ctx.store.find('failing.iommu.yaml'));
    const steps = await vscode.commands.executeCommand<ScenarioStepView[]>('iommuLens.runScenario', { config: 'failing.iommu.yaml' });
    assert.deepEqual(steps[0]!.failures, ['expected ram+0x10, reached ram+0x0']);
    const d = vscode.languages.getDiagnostics(uri).filter((x) => x.source === 'iommu-lens scenario');
    assert.equal(d.length, 1);
    assert.equal(d[0]!.range.start.line, 9);
    assert.equal(d[0]!.message, 'scenario step 1: expected ram+0x10, reached ram+0x0');
    await vscode.workspace.fs.delete(uri);
  });

  it('runs the SMMUv3 example: the stale vhost IOTLB is a diagnostic on the PTE write and shows under the notifier', async () => {
    const steps = await vscode.commands.executeCommand<ScenarioStepView[]>('iommuLens.runScenario', { config: VIRT });
    assert.deepEqual(steps.filter((s) => !s.ok).map((s) => s.n), []);
    const stale = vscode.languages.getDiagnostics(wsUri(VIRT)).filter((d) => d.code === 'stale-shadow');
    assert.equal(stale.length, 1);
    const doc = await vscode.workspace.openTextDocument(wsUri(VIRT));
    assert.match(doc.lineAt(stale[0]!.range.start.line).text, /- write-mem: +\{ as: system, addr: 0x4100_e000/);
    assert.match(stale[0]!.message, /^after step 5: net0\/vhost: the vhost IOTLB still holds 0x2000_0000\.\.0x2000_0fff -> system 0x4030_0000 RW/);
    const p = api.ctx.notifiers;
    const region = children(p).find((r) => r.id === `nreg:${VIRT}:smmu0.sid-0x20`)!;
    const net0 = child(p, child(p, region, '0'), 'net0/vhost');
    assert.equal(net0.description, 'UNMAP 0x0..0xffff_ffff_ffff_ffff stale shadow');
    const refused = child(p, child(p, children(p).find((r) => r.id === `nreg:${VIRT}:smmu0.sid-0x18`), '0'), 'nic0/vfio');
    assert.equal(refused.contextValue, 'iommuLens.notifier.refused');
    // The Regions view lists the stream's mapping from the SMMU's own walk of its tables.
    const r = api.ctx.regions;
    const sid20 = child(r, child(r, undefined, VIRT), 'smmu0.sid-0x20');
    const runs = children(r, child(r, child(r, sid20, '0'), 'Mappings')).map((c) => `${c.label} ${c.description}`);
    assert.deepEqual(runs, ['0x2000_0000..0x2000_3fff -> system 0x4030_0000 rw']);
  });

  it('reads a RAM region from a raw image file next to the config', async () => {
    const bytes = new Uint8Array(0x2000);
    new DataView(bytes.buffer).setBigUint64(0x1008, 0x1122334455667788n, true);
    await vscode.workspace.fs.writeFile(wsUri('ram.bin'), bytes);
    const uri = wsUri('image.iommu.yaml');
    const text = [
      'iommu-lens: 1',
      'memory:',
      '  ram: { kind: ram, size: 64KiB, image: { file: ram.bin, format: raw } }',
      'address-spaces:',
      '  system:',
      '    - { at: 0x8000_0000, region: ram }',
      'devices:',
      '  cpu: { as: system }',
      'scenario:',
      '  - expect: { from: cpu, addr: 0x8000_1008, size: 8, value: 0x1122334455667788 }',
      '',
    ].join('\n');
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(text));
    const e = await until('image.iommu.yaml loaded', () => api.ctx.store.find('image.iommu.yaml'));
    assert.deepEqual(e.config.diagnostics.map((d) => d.message), []);
    const steps = await vscode.commands.executeCommand<ScenarioStepView[]>('iommuLens.runScenario', { config: 'image.iommu.yaml' });
    assert.deepEqual(steps.map((s) => [s.ok, s.summary]), [[true, 'expect cpu read 0x8000_1008 -> ram+0x1008: ok']]);
    await vscode.workspace.fs.delete(uri);
  });

  it('inspects notifier registrations and replays one', async () => {
    const r = await vscode.commands.executeCommand<RegistrationView>('iommuLens.inspectNotifiers', { config: TABLE, pick: 'net0/vhost' });
    assert.equal(r.status, 'refused');
    const text = await vscode.commands.executeCommand<string>('iommuLens.replayNotifier', { config: TABLE, notifier: 'user-watch' });
    assert.match(text, /default replay of remap0 index 1 \(user\): 16 MAP event\(s\) from 4096 translation\(s\)/);
    const doc = vscode.window.activeTextEditor?.document;
    assert.equal(doc?.uri.scheme, 'iommu-lens-replay');
  });

  it('opens the example config as an untitled document and loads it; a blank untitled document is no config', async () => {
    const file = await vscode.commands.executeCommand<string>('iommuLens.openExample');
    // A plain untitled document (hot exit restores it as it was; test/ui/reload.ui.ts).
    const doc = vscode.window.activeTextEditor!.document;
    assert.equal(doc.uri.scheme, 'untitled');
    assert.equal(file, vscode.workspace.asRelativePath(doc.uri, false));
    const e = api.ctx.store.find(file);
    assert.equal(e?.config.errorCount, 0);
    assert.equal(e?.config.machine.name, 'MPS2 AN505 SSRAM behind TrustZone MPCs');
    // Asked again while it is open: the same document, not a second one.
    assert.equal(await vscode.commands.executeCommand<string>('iommuLens.openExample'), file);
    assert.equal(vscode.workspace.textDocuments.filter((d) => d.uri.scheme === 'untitled' && d.getText() === doc.getText()).length, 1);
    // Emptied, it is no config (not an empty config in error); with text again, a config again.
    const all = new vscode.Range(0, 0, doc.lineCount, 0);
    const edit = new vscode.WorkspaceEdit();
    edit.delete(doc.uri, all);
    assert.ok(await vscode.workspace.applyEdit(edit));
    await until('the emptied example dropped', () => !api.ctx.store.get(doc.uri));
    const back = new vscode.WorkspaceEdit();
    back.insert(doc.uri, new vscode.Position(0, 0), e.config.document.text);
    assert.ok(await vscode.workspace.applyEdit(back));
    await until('the example loaded again', () => api.ctx.store.get(doc.uri)?.config.errorCount === 0);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    await until('the closed example dropped', () => !api.ctx.store.get(doc.uri));
  });

  it('names the active config in the status bar', async () => {
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(wsUri(TABLE)));
    await until('the status text', () => api.status.text.includes(TABLE));
    assert.match(api.status.text, /dual-regime\.iommu\.yaml \$\(warning\) 3/);
  });
});
