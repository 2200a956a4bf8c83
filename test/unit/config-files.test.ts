/** Which nameless (untitled) documents are configs (issue 8, item 6): src/views/config-files.ts. */
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isBlank, isConfigText } from '../../src/views/config-files';

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
