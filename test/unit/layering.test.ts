/**
 * The engine is pure TypeScript: it must run in a web worker, so it imports nothing from `vscode`
 * and nothing from Node's built-ins. And the VS Code layer holds no translation logic, so no
 * IOMMU model lives in src/extension.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';

// out/test/unit -> the repository root.
const ROOT = path.resolve(__dirname, '..', '..', '..');

function tsFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.isFile() && /\.(c|m)?tsx?$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Strips comments so that a module named in a comment is not taken for an import. */
function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/** Every module specifier: import/export ... from 'x', import 'x', import('x'), require('x'). */
export function specifiers(src: string): string[] {
  const code = stripComments(src);
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'"`;]*?\bfrom\s*(['"`])([^'"`]+)\1/g,
    /\bimport\s*(['"`])([^'"`]+)\1/g,
    /\bimport\s*\(\s*(['"`])([^'"`]+)\1\s*\)/g,
    // Also covers `import x = require('y')`.
    /\brequire\s*\(\s*(['"`])([^'"`]+)\1\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[2]!);
  return out;
}

const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, m.split('/')[0]!]));

export function forbidden(spec: string): string | undefined {
  if (spec === 'vscode' || spec.startsWith('vscode/')) return 'vscode';
  if (spec.startsWith('node:')) return 'a Node built-in';
  const top = spec.split('/')[0]!;
  if (NODE_BUILTINS.has(spec) || NODE_BUILTINS.has(top)) return 'a Node built-in';
  return undefined;
}

const EXTENDS_IOMMU = /\bclass\s+\w+(?:\s*<[^>]*>)?\s+extends\s+(?:[\w$]+\.)?IOMMUMemoryRegion\b/;

describe('layering', () => {
  it('the model-class detector matches subclasses of IOMMUMemoryRegion only (self-check)', () => {
    assert.ok(EXTENDS_IOMMU.test('export class MyIommu extends IOMMUMemoryRegion {'));
    assert.ok(EXTENDS_IOMMU.test('class X<T> extends engine.IOMMUMemoryRegion {'));
    assert.ok(!EXTENDS_IOMMU.test('class View extends vscode.TreeItem {'));
    assert.ok(!EXTENDS_IOMMU.test(stripComments('// class X extends IOMMUMemoryRegion')));
  });

  it('the import scanner catches every form it must (self-check)', () => {
    const src = [
      "import * as vscode from 'vscode';",
      'import { readFileSync } from "fs";',
      "import type { X } from 'node:path';",
      "import 'os';",
      "const cp = require('child_process');",
      "const n = require ( 'net' );",
      "const c = await import('crypto');",
      "export { inspect } from 'util';",
      "import ee = require('events');",
      "import { Buffer } from 'buffer';",
      "import { Readable } from 'stream/promises';",
      "import { URL } from 'url';",
      "import { Worker } from 'worker_threads';",
      "import { hex } from './hex';",
      '// require("fs") in a comment is fine',
      "/* import 'vscode' */",
    ].join('\n');
    const specs = specifiers(src);
    assert.deepEqual(
      specs.filter((s) => forbidden(s)).sort(),
      ['buffer', 'child_process', 'crypto', 'events', 'fs', 'net', 'node:path', 'os', 'stream/promises', 'url', 'util', 'vscode', 'worker_threads'].sort(),
    );
    assert.ok(specs.includes('./hex'));
    assert.equal(forbidden('./hex'), undefined);
    assert.equal(forbidden('yaml'), undefined);
    assert.equal(forbidden('fast-check'), undefined);
  });

  it('no file under src/engine imports vscode or a Node built-in', () => {
    const files = tsFiles(path.join(ROOT, 'src', 'engine'));
    assert.ok(files.length >= 15, `expected the engine sources under ${ROOT}/src/engine, found ${files.length}`);
    const bad: string[] = [];
    for (const f of files) {
      const src = fs.readFileSync(f, 'utf8');
      for (const s of specifiers(src)) {
        const why = forbidden(s);
        if (why) bad.push(`${path.relative(ROOT, f)}: '${s}' is ${why}`);
      }
      // Globals that only Node has are as bad as the imports.
      const code = stripComments(src);
      if (/\b(?:process\.(?:env|argv|cwd|platform)|__dirname|__filename|Buffer\.(?:from|alloc))\b/.test(code)) {
        bad.push(`${path.relative(ROOT, f)}: uses a Node-only global`);
      }
    }
    assert.deepEqual(bad, []);
  });

  it('src/extension (when it exists) defines no IOMMU region model', () => {
    const files = tsFiles(path.join(ROOT, 'src', 'extension'));
    const bad = files.filter((f) => EXTENDS_IOMMU.test(stripComments(fs.readFileSync(f, 'utf8'))));
    assert.deepEqual(bad.map((f) => path.relative(ROOT, f)), []);
  });
});
