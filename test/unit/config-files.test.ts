/**
 * Which documents are configs (src/views/config-files.ts): untitled ones by their text (issue 8,
 * item 6), files by `iommuLens.files`, and the schema association that follows the setting
 * (item 11): the YAML contributor's URI matching and the json.schemas entry.
 */
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  isBlank,
  isConfigText,
  jsonSchemaSettings,
  matchesFiles,
  SCHEMA_URI,
  schemaContributor,
  uriPaths,
  type SchemaContributorSource,
} from '../../src/views/config-files';

// out/test/unit -> the repository root.
const ROOT = join(__dirname, '..', '..', '..');

describe('views: untitled documents that are configs', () => {
  it('every example is a config by its text, YAML as written and as JSON', () => {
    for (const f of ['an505.iommu.yaml', 'virt-smmuv3.iommu.yaml', 'q35-intel-iommu.iommu.yaml']) {
      const text = readFileSync(join(ROOT, 'examples', f), 'utf8');
      assert.ok(isConfigText(text), f);
    }
    assert.ok(isConfigText('{ "iommu-lens": 1, "memory": {} }'));
    assert.ok(isConfigText('{\n  "name": "m",\n  "iommu-lens" : 1\n}'));
    assert.ok(isConfigText("'iommu-lens': 1\n"));
  });

  it('the version key only at the top level of YAML, not nested, in a comment or a value', () => {
    assert.ok(!isConfigText('memory:\n  iommu-lens: 1\n'));
    assert.ok(!isConfigText('# iommu-lens: 1\nname: x\n'));
    assert.ok(!isConfigText('name: iommu-lens: 1\n'));
    assert.ok(!isConfigText('Some notes about iommu-lens\n'));
    assert.ok(!isConfigText(''));
  });

  it('looks at the head of a large document only', () => {
    assert.ok(isConfigText(`iommu-lens: 1\n${'# pad\n'.repeat(100_000)}`));
    assert.ok(!isConfigText(`${'# pad\n'.repeat(100_000)}iommu-lens: 1\n`));
  });

  it('blank: nothing but white space', () => {
    assert.ok(isBlank(''));
    assert.ok(isBlank(' \n\t\n'));
    assert.ok(!isBlank('#'));
  });
});

describe('views: iommuLens.files and the schema association', () => {
  const WS = 'file:///home/dev/machine';
  const DEFAULT = ['**/*.iommu.yaml', '**/*.iommu.yml', '**/*.iommu.json'];

  it('a URI is tried relative to its workspace folder and by its own path, decoded', () => {
    assert.deepEqual(uriPaths(`${WS}/boards/a%20b.lens.yaml`, [WS, 'file:///other']), ['boards/a b.lens.yaml', 'home/dev/machine/boards/a b.lens.yaml']);
    assert.deepEqual(uriPaths('untitled:Untitled-1', [WS]), ['Untitled-1']);
    assert.deepEqual(uriPaths('vscode-remote://host:8080/srv/x.iommu.json?q#f', ['file:///srv']), ['srv/x.iommu.json']);
    // A folder URI that is a prefix of another folder's name is not that folder.
    assert.deepEqual(uriPaths(`${WS}-2/a.yaml`, [WS]), ['home/dev/machine-2/a.yaml']);
  });

  it('globs as the setting writes them: workspace-relative, any depth, dot folders, exclude', () => {
    assert.ok(matchesFiles(`${WS}/a.iommu.yaml`, [WS], DEFAULT));
    assert.ok(matchesFiles(`${WS}/.boards/deep/a.iommu.yml`, [WS], DEFAULT));
    assert.ok(!matchesFiles(`${WS}/a.lens.yaml`, [WS], DEFAULT));
    assert.ok(matchesFiles(`${WS}/boards/a.lens.yaml`, [WS], ['boards/*.lens.yaml']));
    assert.ok(!matchesFiles(`${WS}/other/a.lens.yaml`, [WS], ['boards/*.lens.yaml']));
    assert.ok(!matchesFiles(`${WS}/node_modules/x/a.iommu.yaml`, [WS], DEFAULT, '**/node_modules/**'));
    assert.ok(matchesFiles(`${WS}/src/a.iommu.yaml`, [WS], DEFAULT, '**/node_modules/**'));
    assert.ok(!matchesFiles(`${WS}/a.iommu.yaml`, [WS], []));
  });

  const source = (globs: string[], loaded: string[] = []): SchemaContributorSource => ({
    globs: () => globs,
    exclude: () => '**/node_modules/**',
    folders: () => [WS],
    isLoadedConfig: (r) => loaded.includes(r),
    content: () => Promise.resolve('{"title":"IOMMU Lens config"}'),
  });

  it('the YAML contributor names the schema for what the setting names, and only that', async () => {
    let globs = [...DEFAULT];
    const c = schemaContributor({ ...source([]), globs: () => globs });
    assert.equal(c.requestSchema(`${WS}/boards/a.iommu.yaml`), SCHEMA_URI);
    assert.equal(c.requestSchema(`${WS}/boards/a.lens.yaml`), undefined);
    assert.equal(c.requestSchema(`${WS}/node_modules/p/a.iommu.yaml`), undefined);
    assert.equal(c.requestSchema(`${WS}/docker-compose.yaml`), undefined);
    // The setting changes: the next request follows it.
    globs = ['**/*.lens.yaml'];
    assert.equal(c.requestSchema(`${WS}/boards/a.lens.yaml`), SCHEMA_URI);
    assert.equal(c.requestSchema(`${WS}/boards/a.iommu.yaml`), undefined);
    // The schema's text for the schema's URI; nothing for another contributor's URI.
    assert.equal(await c.requestSchemaContent(SCHEMA_URI), '{"title":"IOMMU Lens config"}');
    assert.equal(c.requestSchemaContent('kubernetes://schema/v1'), undefined);
  });

  it('an untitled config (the example) has the schema while it is loaded as one', () => {
    const c = schemaContributor(source(DEFAULT, ['untitled:Untitled-1']));
    assert.equal(c.requestSchema('untitled:Untitled-1'), SCHEMA_URI);
    assert.equal(c.requestSchema('untitled:Untitled-2'), undefined);
  });

  it('json.schemas: an entry for the JSON globs, others kept, ours replaced, none when no glob names JSON', () => {
    const theirs = { fileMatch: ['/tsconfig.json'], url: 'https://json.schemastore.org/tsconfig' };
    const once = jsonSchemaSettings([theirs], [...DEFAULT, 'boards/*.lens.json']);
    assert.deepEqual(once, [theirs, { fileMatch: ['**/*.iommu.json', 'boards/*.lens.json'], url: SCHEMA_URI }]);
    const again = jsonSchemaSettings(once, ['**/*.{yaml,json}']);
    assert.deepEqual(again, [theirs, { fileMatch: ['**/*.{yaml,json}'], url: SCHEMA_URI }]);
    assert.deepEqual(jsonSchemaSettings(again, ['**/*.iommu.yaml', '**/*.iommu.YML']), [theirs]);
  });
});
