// A running QEMU in the real VS Code host: Debian's qemu-system-aarch64 -M virt,iommu=smmuv3
// with an edu device, its SMMU programmed through qtest; the extension attaches (QMP +
// gdbstub), shows the machine as a root, translates over the guest's tables, and says when QEMU
// is gone.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { IommuLensInternals } from '../../src/extension/extension';
import type { TranslationView } from '../../src/views/views';
import { IOMMU_RW } from '../../src/engine';
import { QemuProcess } from '../qemu/qemu-process';
import { QtestClient } from '../qemu/qtest';
import { RAM_BASE, enableEdu, programSmmu } from '../qemu/smmu-setup';

describe('IOMMU Lens attached to a running QEMU', function () {
  this.timeout(60_000);
  let api: IommuLensInternals;
  let q: QemuProcess;
  let qt: QtestClient;

  before(async () => {
    // The extension's internals, beside its API (src/extension/extension.ts, INTERNALS).
    const exports = await vscode.extensions.getExtension<unknown>('iommu-lens.iommu-lens')!.activate();
    api = (exports as Record<symbol, IommuLensInternals>)[Symbol.for('iommuLens.internals')]!;
    q = await QemuProcess.start({ qtest: true });
    qt = await QtestClient.connect(q.qtestPath!);
    await enableEdu(qt);
    await programSmmu(qt, {
      tablesAt: RAM_BASE + 0x100_0000n,
      tablesSize: 0x10_0000n,
      streams: [[0x08, { stage1: { granule: 4096, t0sz: 16, asid: 1, map: [{ iova: 0x1000_0000n, size: 0x1_0000n, pa: RAM_BASE + 0x20_0000n, perm: IOMMU_RW }] } }]],
    });
  });
  after(async () => {
    await vscode.commands.executeCommand('iommuLens.detachQemu');
    qt?.close();
    await q?.stop();
  });

  it('shows the live machine as a root, translates over its tables, and marks it disconnected when QEMU exits', async () => {
    const file = await vscode.commands.executeCommand<string | undefined>('iommuLens.attachQemu', { qmp: q.qmpPath, gdb: q.gdbAddress });
    assert.ok(file, 'attached');
    const entry = api.ctx.store.find(file);
    assert.ok(entry, 'the live machine is a config root');
    assert.match(entry.config.machine.name, /^QEMU 7\.2\./);
    assert.ok(entry.config.machine.iommus.has('smmu0'));
    const t = await vscode.commands.executeCommand<TranslationView>('iommuLens.translate', { config: file, from: 'edu-00.01.0', addr: '0x1000_0010', op: 'read' });
    assert.ok(t.ok, t.headline);
    assert.equal(t.landing.region?.name, 'mach-virt.ram');
    assert.equal(t.landing.offset, 0x20_0010n);
    const roots = api.ctx.regions.getChildren(undefined).map((n) => n.label);
    assert.ok(roots.some((l) => typeof l === 'string' && l.includes('qemu-')), `roots: ${roots.join(', ')}`);
    qt.close();
    await q.stop();
    const end = Date.now() + 10_000;
    while (!/disconnected/.test(api.ctx.store.all.map((e) => e.config.machine.name).join('\n'))) {
      assert.ok(Date.now() < end, 'the root says disconnected');
      await new Promise((r) => setTimeout(r, 50));
    }
  });
});
