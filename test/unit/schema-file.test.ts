/**
 * The shipped JSON Schema (schema/iommu-lens.schema.json, which package.json contributes to the
 * editor's YAML and JSON support) is exactly what schema.ts builds, so the two cannot drift; and,
 * read from the file with Ajv as validate.ts reads it, it accepts both examples.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { parseDocument } from 'yaml';
import { schemaJson } from '../../src/config/schema';

function repoRoot(): string {
  for (let d = __dirname; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'examples'))) return d;
  }
  return process.cwd();
}

const ROOT = repoRoot();
const SCHEMA_FILE = path.join(ROOT, 'schema', 'iommu-lens.schema.json');

describe('schema file', () => {
  it('schema/iommu-lens.schema.json is exactly schemaJson()', () => {
    assert.ok(fs.existsSync(SCHEMA_FILE), `${SCHEMA_FILE} is missing: run \`npm run schema\``);
    // Compared as text, so that a change of order or formatting shows too.
    assert.equal(fs.readFileSync(SCHEMA_FILE, 'utf8'), schemaJson(), 'the shipped schema is stale: run `npm run schema`');
  });

  it('is a draft-07 JSON Schema with a title, for the editor', () => {
    const schema = JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
    assert.equal(schema.title, 'IOMMU Lens device config');
    assert.deepEqual(schema.required, ['iommu-lens']);
  });

  describe('read from the file with Ajv, as validate.ts reads it', () => {
    const ajv = new Ajv({ allErrors: true, strict: false, discriminator: true, verbose: true, allowUnionTypes: true });
    const validate = ajv.compile(JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8')) as object);

    for (const example of fs.readdirSync(path.join(ROOT, 'examples')).filter((f) => /\.iommu\.(ya?ml|json)$/.test(f))) {
      it(`accepts examples/${example}`, () => {
        const value: unknown = parseDocument(fs.readFileSync(path.join(ROOT, 'examples', example), 'utf8')).toJS();
        const ok = validate(value);
        assert.ok(ok, JSON.stringify(validate.errors, null, 2));
      });
    }

    it('refuses what the loader calls a schema error (an unknown key, a missing size, a wrong type)', () => {
      const bad: unknown[] = [
        { 'iommu-lens': 1, memory: { ram0: { kind: 'ram', sise: '4KiB', size: '4KiB' } } },
        { 'iommu-lens': 1, memory: { ram0: { kind: 'ram' } } },
        { 'iommu-lens': 1, memory: { ram0: { kind: 'ram', size: true } } },
        { 'iommu-lens': 1, memory: { ram0: { kind: 'ram', size: '4KB' } } },
        { 'iommu-lens': 2 },
      ];
      for (const v of bad) assert.equal(validate(v), false, JSON.stringify(v));
    });

    it('accepts 64-bit values written as strings', () => {
      const v = {
        'iommu-lens': 1,
        memory: { ram0: { kind: 'ram', size: '4KiB' } },
        iommus: { mpc0: { model: 'tz-mpc', downstream: 'ram0' } },
        notifiers: { n0: { region: 'mpc0', index: 'S', flags: ['unmap'], range: [0, '0xffff_ffff_ffff_ffff'] } },
      };
      assert.ok(validate(v), JSON.stringify(validate.errors, null, 2));
    });
  });
});
