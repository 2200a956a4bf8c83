#!/usr/bin/env node
// Packs the project as users get it and checks what was packed:
//   1. `npm pack` (its prepack builds the production bundle), then the tarball installed into a
//      scratch folder, and its `iommu-lens` run: --help, --version, check on the examples it
//      ships, demo;
//      and the README's `npm link --ignore-scripts` into a scratch prefix;
//   2. the .vsix (`vsce package`), whose file list must hold the extension bundle, manifest,
//      schema, media and examples and no sources; written to artifacts/iommu-lens.vsix for the
//      host suite (scripts/vscode-host/run.mjs --vsix).
// Prints one `ok`/`not ok` line per check and exits 1 if any failed.
//   node scripts/package-test.mjs [--vsix-out artifacts/iommu-lens.vsix] [--no-vsix]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './vscode-host/setup.mjs';

const { values: opts } = parseArgs({
  options: { 'vsix-out': { type: 'string', default: join('artifacts', 'iommu-lens.vsix') }, 'no-vsix': { type: 'boolean' } },
});
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
let failed = 0;
let passed = 0;
function check(title, fn) {
  try {
    fn();
    passed++;
    console.log(`ok - ${title}`);
  } catch (err) {
    failed++;
    console.log(`not ok - ${title}\n  ${String(err?.message ?? err).replace(/\n/g, '\n  ')}`);
  }
}
function sh(cmd, args, cwd, extra = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 64 << 20, ...extra });
  if (r.error) throw r.error;
  return r;
}
function ok(r, what) {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}:\n${(r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')}`);
  return r;
}
const assert = (cond, msg) => {
  if (!cond) throw new Error(msg);
};

const scratch = mkdtempSync(join(tmpdir(), 'iommu-lens-pack-'));
try {
  // 1. npm pack, install, run.
  let tarball;
  let packed = [];
  check('npm pack builds the production bundle and packs the files list', () => {
    const r = ok(sh('npm', ['pack', '--json', '--pack-destination', scratch], ROOT), 'npm pack');
    // npm prints the prepack script's output before the JSON.
    const info = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')))[0];
    tarball = join(scratch, info.filename);
    packed = info.files.map((f) => f.path);
    for (const f of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'bin/iommu-lens.js', 'dist/cli.js', 'dist/cli-start.js', 'dist/cli-live.js', 'dist/config-schema.js', 'dist/config-validator.js', 'dist/config-quick-smmuv3.js', 'dist/extension.js', 'dist/yaml.js', 'schema/iommu-lens.schema.json', 'examples/an505.iommu.yaml']) {
      assert(packed.includes(f), `the tarball lacks ${f}`);
    }
    const stray = packed.filter((f) => /^(src|test|out|bench|scripts|node_modules|\.vscode-test|artifacts)\/|\.map$|\.ts$/.test(f));
    assert(stray.length === 0, `the tarball holds files users do not need: ${stray.slice(0, 5).join(', ')}`);
    const cli = readFileSync(join(ROOT, 'dist', 'cli.js'), 'utf8');
    assert(!cli.includes('sourceMappingURL'), 'dist/cli.js is not the production build (it has a source map)');
  });
  const app = join(scratch, 'app');
  const bin = join(app, 'node_modules', '.bin', 'iommu-lens');
  check('the tarball installs into a scratch folder (no dependencies to fetch)', () => {
    assert(tarball, 'no tarball');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch', version: '1.0.0', private: true }));
    ok(sh('npm', ['install', '--no-audit', '--no-fund', '--offline', tarball], app), 'npm install <tarball>');
  });
  check('iommu-lens --help from the installed package', () => {
    const r = ok(sh(bin, ['--help'], app), 'iommu-lens --help');
    for (const c of ['check', 'tree', 'translate', 'notifiers', 'replay', 'run', 'demo', 'schema']) {
      assert(new RegExp(`^\\s+${c}\\b`, 'm').test(r.stdout), `--help does not list ${c}:\n${r.stdout}`);
    }
  });
  check('iommu-lens --version is the package version', () => {
    const r = ok(sh(bin, ['--version'], app), 'iommu-lens --version');
    assert(r.stdout.trim() === manifest.version, `--version printed ${JSON.stringify(r.stdout.trim())}, not ${manifest.version}`);
  });
  check('iommu-lens check on the examples the package ships', () => {
    const examples = join(app, 'node_modules', 'iommu-lens', 'examples');
    const files = ['an505.iommu.yaml', 'dual-regime.iommu.yaml', 'virt-smmuv3.iommu.yaml'].map((f) => join(examples, f));
    const r = ok(sh(bin, ['check', ...files], app), 'iommu-lens check');
    assert(/0 errors/.test(r.stderr), `check's summary: ${r.stderr.trim()}`);
  });
  // The parts the CLI loads only when needed, each its own file (scripts/build.mjs): the schema's
  // builder, the yaml package (a file the fast reader hands over), the full validator, the QEMU commands.
  check('iommu-lens loads its separately bundled parts from the installed package', () => {
    const schema = ok(sh(bin, ['schema'], app), 'iommu-lens schema');
    assert(schema.stdout === readFileSync(join(ROOT, 'schema', 'iommu-lens.schema.json'), 'utf8'), 'iommu-lens schema differs from schema/iommu-lens.schema.json');
    const bad = join(scratch, 'bad.iommu.yaml');
    writeFileSync(bad, 'iommu-lens: 1\nmemory: [\n');
    const r = sh(bin, ['check', bad], app);
    assert(r.status === 1 && /parse-error/.test(r.stdout), `check on a file with a syntax error: status ${r.status}\n${r.stdout}${r.stderr}`);
    const live = sh(bin, ['attach'], app);
    assert(live.status === 2 && /--qmp/.test(live.stderr), `attach without --qmp: status ${live.status}\n${live.stderr}`);
  });
  check('iommu-lens demo from the installed package', () => {
    const r = ok(sh(bin, ['demo'], app), 'iommu-lens demo');
    assert(/mpc0/.test(r.stdout) && /ssram-0/.test(r.stdout), `demo printed:\n${r.stdout.slice(0, 400)}`);
  });

  // The README's set-up puts the CLI on the PATH with `npm link --ignore-scripts`: here into a
  // scratch prefix rather than the machine's global one.
  check("the README's npm link puts iommu-lens on the PATH", () => {
    const prefix = join(scratch, 'prefix');
    ok(sh('npm', ['link', '--ignore-scripts', '--no-audit', '--no-fund'], ROOT, { env: { ...process.env, npm_config_prefix: prefix } }), 'npm link');
    const r = ok(sh('iommu-lens', ['--version'], scratch, { env: { ...process.env, PATH: `${join(prefix, 'bin')}:${process.env.PATH}` } }), 'iommu-lens --version');
    assert(r.stdout.trim() === manifest.version, `iommu-lens --version printed ${JSON.stringify(r.stdout.trim())}`);
  });

  // 2. The .vsix.
  if (!opts['no-vsix']) {
    const out = resolve(ROOT, opts['vsix-out']);
    mkdirSync(join(out, '..'), { recursive: true });
    check(`vsce packages the extension (${opts['vsix-out']})`, () => {
      const bundle = readFileSync(join(ROOT, 'dist', 'extension.js'), 'utf8');
      assert(!bundle.includes('sourceMappingURL'), 'dist/extension.js is not the production build (it has a source map)');
      const vsce = join(ROOT, 'node_modules', '.bin', 'vsce');
      ok(sh(vsce, ['package', '--no-dependencies', '--no-rewrite-relative-links', '--out', out], ROOT), 'vsce package');
      const ls = ok(sh(vsce, ['ls', '--no-dependencies'], ROOT), 'vsce ls').stdout.split('\n').filter(Boolean);
      for (const f of ['package.json', 'dist/extension.js', 'dist/config-validator.js', 'dist/config-quick-tz-mpc.js', 'dist/yaml.js', 'media/icon.png', 'schema/iommu-lens.schema.json', 'examples/an505.iommu.yaml', 'CHANGELOG.md']) {
        assert(ls.includes(f), `the .vsix lacks ${f}`);
      }
      const stray = ls.filter((f) => /^(src|test|out|node_modules)\/|\.map$/.test(f));
      assert(stray.length === 0, `the .vsix holds ${stray.slice(0, 5).join(', ')}`);
    });
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
