/**
 * The one number format (src/engine/format.ts) and where views and the CLI use it: hex for
 * addresses, ids and raw values; `_` grouping; raw values at their width; BDF as bb:dd.f; an
 * unnamed index said once; step names from one table.
 */
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadConfig } from '../../src/config/load';
import { STEP_KIND_NAMES, fmtAddr, fmtBdf, fmtId, fmtIndex, fmtRaw, fmtSize, fmtText, stepName, type TraceStepKind } from '../../src/engine';
import { translationView } from '../../src/views/views';

describe('format: the one number format', () => {
  it('addresses: hex grouped by 4 from the right, as configs write them', () => {
    assert.equal(fmtAddr(0n), '0x0');
    assert.equal(fmtAddr(0xfffn), '0xfff');
    assert.equal(fmtAddr(0x1000n), '0x1000');
    assert.equal(fmtAddr(0x1_0000n), '0x1_0000');
    assert.equal(fmtAddr(0x4030_0000n), '0x4030_0000');
    assert.equal(fmtAddr((1n << 64n) - 1n), '0xffff_ffff_ffff_ffff');
  });

  it('raw values: every digit of their width', () => {
    assert.equal(fmtRaw(0x4100_100bn), '0x0000_0000_4100_100b');
    assert.equal(fmtRaw(0x703, 32), '0x0000_0703');
    assert.equal(fmtRaw(0n), '0x0000_0000_0000_0000');
  });

  it('ids in plain hex, BDF as bb:dd.f, an index named once', () => {
    assert.equal(fmtId(0x20), '0x20');
    assert.equal(fmtBdf(0x20), '00:04.0');
    assert.equal(fmtBdf(0x1_0a), '01:01.2');
    assert.equal(fmtIndex(0, '0'), 'index 0');
    assert.equal(fmtIndex(1, 'NS'), 'index 1 (NS)');
  });

  it('sizes with their unit; a size with no unit is a hex count of bytes', () => {
    assert.equal(fmtSize(64n * 1024n), '64 KiB');
    assert.equal(fmtSize(1n << 64n), '16 EiB');
    assert.equal(fmtSize(12n), '12 B');
    assert.equal(fmtSize(0x1234n), '0x1234 B');
  });

  it('fmtAddr round-trips through the config number syntax (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (v) => {
        const s = fmtAddr(v);
        assert.equal(BigInt(s.replace(/_/g, '')), v);
        assert.ok(/^0x[0-9a-f]{1,4}(_[0-9a-f]{4})*$/.test(s), s);
      }),
    );
  });

  it("a model's sentence in the format: raw values at width, addresses grouped, ids left alone", () => {
    assert.equal(
      fmtText('S1 L0[0x0] at 0x4100b000 = 0x000000004100c003: table -> 0x4100c000 (SID 0x20)'),
      'S1 L0[0x0] at 0x4100_b000 = 0x0000_0000_4100_c003: table -> 0x4100_c000 (SID 0x20)',
    );
  });

  it('every step kind has a name, and every view of a translation uses the names, never the ids', () => {
    const kinds: TraceStepKind[] = ['as-lookup', 'attrs-to-index', 'model', 'descriptor-read', 'iotlb-entry', 'perm-check', 'compose', 'hop', 'land', 'fault'];
    for (const k of kinds) assert.ok(STEP_KIND_NAMES[k] && !STEP_KIND_NAMES[k].includes('-lookup'), k);
    assert.equal(stepName({ kind: 'descriptor-read', name: 'CD fetch' }), 'CD fetch');
    const file = join(__dirname, '../../../examples/virt-smmuv3.iommu.yaml');
    const cfg = loadConfig('virt', readFileSync(file, 'utf8'));
    const v = translationView(cfg, { from: 'net0', addr: 0x2000_0000n });
    assert.ok(!('code' in v));
    const names = v.steps.map((s) => s.name);
    for (const n of ['address-space lookup', 'attrs to index', 'STE fetch', 'CD fetch', 'stage-1 level-3 descriptor', 'IOTLB entry', 'permission check', 'hop to the target address space', 'landing region']) {
      assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
    }
    for (const s of v.steps) {
      assert.doesNotMatch(s.summary, /0x[0-9a-f]{5,}\b/, `ungrouped hex in: ${s.summary}`);
      for (const [, val] of s.fields) assert.doesNotMatch(val, /^0x[0-9a-f]{5,}$/, `ungrouped field value ${val}`);
    }
    assert.match(v.headline, /ram \+ 0x30_0000/);
  });
});
