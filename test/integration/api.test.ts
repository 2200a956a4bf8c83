/**
 * The extension API (src/extension/api.ts), called as another extension calls it: this suite
 * runs in the test-runner extension, and reaches IOMMU Lens through vscode.extensions. It pins
 * the shape of apiVersion 1: a change that fails here breaks other extensions.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { ApiError, ApiRegion, ApiTranslation, IommuLensApi } from '../../src/extension/api';

const AN505 = 'an505.iommu.yaml';

function ok<T extends object>(v: T | ApiError): T {
  if ('error' in v) assert.fail(`unexpected error: ${v.error}`);
  return v;
}

describe('extension API, version 1', function () {
  this.timeout(60_000);
  let api: IommuLensApi;

  before(async () => {
    const ext = vscode.extensions.getExtension<IommuLensApi>('iommu-lens.iommu-lens');
    assert.ok(ext, 'extension not installed');
    api = await ext.activate();
    await api.ready;
  });

  it('has exactly the documented members', () => {
    assert.equal(api.apiVersion, 1);
    assert.deepEqual(Object.keys(api).sort(), ['apiVersion', 'configs', 'onDidChangeConfigs', 'ready', 'regions', 'translate']);
    for (const f of ['configs', 'regions', 'translate', 'onDidChangeConfigs'] as const) assert.equal(typeof api[f], 'function', f);
    assert.ok(api.ready instanceof Promise);
  });

  it('lists the loaded configs as plain values', () => {
    const files = api.configs().map((c) => c.file);
    for (const f of [AN505, 'dual-regime.iommu.yaml', 'virt-smmuv3.iommu.yaml']) assert.ok(files.includes(f), `${f} not in ${files.join(', ')}`);
    const an505 = api.configs().find((c) => c.file === AN505)!;
    assert.deepEqual(Object.keys(an505).sort(), ['errors', 'file', 'uri', 'warnings']);
    assert.equal(an505.errors, 0);
    assert.match(an505.uri, /^file:\/\/.*an505\.iommu\.yaml$/);
    // The same config by URI.
    assert.ok(!('error' in api.regions(an505.uri)));
  });

  it('lists a config\'s IOMMU regions and their indexes', () => {
    const regions = ok<ApiRegion[]>(api.regions(AN505));
    assert.deepEqual(
      regions.map((r) => r.name),
      ['mpc0', 'mpc1', 'mpc2'],
    );
    const mpc0 = regions[0]!;
    assert.equal(mpc0.model, 'tz-mpc');
    assert.equal(mpc0.size, 0x400000n);
    assert.equal(mpc0.minPageSize, 0x400n);
    assert.deepEqual(
      mpc0.indexes.map((i) => [i.index, i.name]),
      [
        [0, 'S'],
        [1, 'NS'],
      ],
    );
    assert.deepEqual(Object.keys(mpc0).sort(), ['indexes', 'iommu', 'minPageSize', 'model', 'name', 'size']);
  });

  it('translates: landing, IOTLB entry and steps', () => {
    const t = ok<ApiTranslation>(api.translate({ config: AN505, from: 'cpu-ns', addr: '0x8010', op: 'read' }));
    assert.equal(t.ok, true);
    assert.equal(t.result, 'MEMTX_OK');
    assert.deepEqual(t.landing, { region: 'ssram-0', kind: 'ram', offset: 0x8010n, addressSpace: 'mpc0-downstream', addr: 0x8010n });
    assert.equal(t.entry.addrMask, 0x3ffn);
    assert.equal(t.entry.translatedAddr, 0x8000n);
    assert.ok(t.steps.length > 3 && t.steps.every((s) => typeof s === 'string'), t.steps.join('\n'));
    // A bigint address, the attributes replaced: a secure access to the same non-secure block
    // takes index S and reaches the MPC's blocked-io region.
    const s = ok<ApiTranslation>(api.translate({ config: AN505, from: 'cpu-ns', addr: 0x8010n, attrs: 'secure' }));
    assert.equal(s.landing?.region, 'mpc0-blocked-io');
    assert.equal(s.landing?.kind, 'mmio');
  });

  it('answers bad requests with an error value, never a throw', () => {
    assert.match((api.translate({ config: 'nope.iommu.yaml', from: 'cpu-ns', addr: '0' }) as ApiError).error, /no config nope\.iommu\.yaml/);
    assert.match((api.translate({ config: AN505, from: 'nobody', addr: '0' }) as ApiError).error, /nobody/);
    assert.ok('error' in api.translate({ config: AN505, from: 'cpu-ns', addr: 'zz' }));
    assert.ok('error' in api.translate({ config: AN505, from: 'cpu-ns', addr: '0', attrs: 'bogus' }));
    assert.ok('error' in api.regions('nope.iommu.yaml'));
  });
});
