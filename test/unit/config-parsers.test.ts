/**
 * What makes loading fast must not change what it says: the validator the build precompiles
 * (Ajv standalone code) reports exactly what the schema compiled at run time reports, on every
 * diagnostics fixture and example.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ValidateFunction } from 'ajv';
import { ConfigDocument } from '../../src/config/document';
import { quickValidatorOf, type QuickValidator } from '../../src/config/quick-validator';
import { compileValidator, quickSchemas, quickValidatorSources, standaloneValidatorSource } from '../../src/config/schema-validator';
import { quickValid, validateSchema } from '../../src/config/validate';

function repoRoot(): string {
  for (let d = __dirname; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'test', 'fixtures', 'config'))) return d;
  }
  return process.cwd();
}
const ROOT = repoRoot();

function fixtures(): Array<[string, string]> {
  const dir = path.join(ROOT, 'test', 'fixtures', 'config');
  const ex = path.join(ROOT, 'examples');
  return [
    ...fs.readdirSync(dir).filter((f) => /\.iommu\.(ya?ml|json)$/.test(f)).map((f): [string, string] => [f, fs.readFileSync(path.join(dir, f), 'utf8')]),
    ...fs.readdirSync(ex).filter((f) => /\.iommu\.(ya?ml|json)$/.test(f)).map((f): [string, string] => [f, fs.readFileSync(path.join(ex, f), 'utf8')]),
  ];
}

describe('config: the precompiled schema validator', () => {
  it('gives the same diagnostics as the schema compiled at run time, on every fixture and example', function () {
    this.timeout(60_000);
    // The module source the build writes into the bundles, loaded as a CommonJS module.
    const mod: { exports: { default?: ValidateFunction } & ValidateFunction } = { exports: {} as { default?: ValidateFunction } & ValidateFunction };
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- loads the generated validator's source as the bundle does
    const load = new Function('module', 'exports', 'require', standaloneValidatorSource()) as (m: unknown, e: unknown, r: NodeJS.Require) => void;
    load(mod, mod.exports, require);
    const standalone = mod.exports.default ?? mod.exports;
    let compared = 0;
    for (const [file, text] of fixtures()) {
      const cd = new ConfigDocument(file, text);
      const value = cd.toJS();
      if (value === null || typeof value !== 'object' || Array.isArray(value)) continue;
      assert.deepEqual(validateSchema(cd, value, standalone), validateSchema(cd, value), file);
      compared++;
    }
    assert.ok(compared > 50, `only ${compared} fixtures compared`);
  });

  it("the quick validator (what a valid config costs) accepts exactly what the full one accepts, compiled and as the bundle's code", function () {
    this.timeout(60_000);
    // Each part's module source as the build writes it, loaded as a CommonJS module.
    const load = (source: string): QuickValidator => {
      const mod: { exports: { default?: QuickValidator } & QuickValidator } = { exports: {} as { default?: QuickValidator } & QuickValidator };
      // eslint-disable-next-line @typescript-eslint/no-implied-eval -- loads the generated validator's source as the bundle does
      const run = new Function('module', 'exports', 'require', source) as (m: unknown, e: unknown, r: NodeJS.Require) => void;
      run(mod, mod.exports, require);
      return mod.exports.default ?? mod.exports;
    };
    const sources = quickValidatorSources();
    const models = new Map(Object.entries(sources.models).map(([m, src]) => [m, load(src)]));
    const standalone = quickValidatorOf(load(sources.root), (m) => models.get(m)!, sources.iommuKeys);
    const full = compileValidator();
    let valid = 0;
    let invalid = 0;
    for (const [file, text] of fixtures()) {
      const value = new ConfigDocument(file, text).toJS();
      const expected = validateSchema(new ConfigDocument(file, text), value, full).length === 0;
      assert.equal(quickValid(value), expected, file);
      // (bigint -> number as validate.ts hands values to Ajv: a JSON round trip does the same here.)
      assert.equal(standalone(JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))) as unknown), expected, file);
      if (expected) valid++;
      else invalid++;
    }
    assert.ok(valid > 10 && invalid > 10, `${valid} valid, ${invalid} invalid`);
  });

  it("the quick validator's config part leaves each IOMMU to its model's part, which a valid config of another model never needs", function () {
    this.timeout(60_000);
    const schemas = quickSchemas();
    assert.deepEqual(Object.keys(schemas.models).sort(), ['intel-iommu', 'smmuv3', 'table', 'tz-mpc', 'virtio-iommu']);
    // The config part names no model's own keys; each model part is that model's IOMMU alone.
    assert.ok(!JSON.stringify(schemas.root).includes('walk-memory'));
    assert.ok(JSON.stringify(schemas.models.smmuv3).includes('walk-memory'));
    assert.ok(!JSON.stringify(schemas.models.smmuv3).includes('intel-iommu'));
    const { root, models, iommuKeys } = quickValidatorSources();
    assert.ok(root.length + models.smmuv3!.length < 0.8 * (root.length + Object.values(models).reduce((n, m) => n + m.length, 0)));
    // Which model parts a config asks for, in order, and what each answer does to the verdict.
    const asked: string[] = [];
    const ajvRoot = (d: unknown) => typeof d === 'object' && d !== null;
    const v = quickValidatorOf(ajvRoot, (m) => (asked.push(m), (i: unknown) => (i as { ok?: boolean }).ok === true), iommuKeys);
    assert.equal(v({ iommus: { a: { model: 'smmuv3', ok: true }, b: { model: 'table', ok: true } } }), true);
    assert.deepEqual(asked, ['smmuv3', 'table']);
    assert.equal(v({ iommus: { a: { model: 'smmuv3', ok: false }, b: { model: 'table', ok: true } } }), false);
    assert.equal(v({}), true);
    assert.equal(v(null), false);
    // A key the record's pattern does not match is not the record's (Ajv leaves it unchecked too).
    asked.length = 0;
    assert.equal(v({ iommus: { 'a\nb': 1 } }), true);
    assert.deepEqual(asked, []);
  });
});
