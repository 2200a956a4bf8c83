/**
 * The CLI's code cache (src/node/code-cache.ts): a bundle run through it behaves as `require`
 * would run it, the first run writes the cache and later ones use it, a cache V8 rejects or made
 * for another build is replaced, and a directory others could write is never read. Each run is a
 * process of its own, as the CLI is.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheDir } from '../../src/node/code-cache';

const CODE_CACHE = require.resolve('../../src/node/code-cache');

/** Runs `bundle` through runCached in a process of its own; its output and how it used the cache. */
function run(bundle: string, dir: string | undefined, command = 'translate', env: Record<string, string> = {}): { out: string; use: string; status: number | null } {
  const script = `const use = require(${JSON.stringify(CODE_CACHE)}).runCached(${JSON.stringify(bundle)}, ${JSON.stringify(dir)}, ${JSON.stringify(command)}); process.on('exit', () => process.stderr.write('use=' + use));`;
  const p = spawnSync(process.execPath, ['-e', script, 'x', command], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { out: p.stdout, use: /use=(\w+)/.exec(p.stderr)?.[1] ?? p.stderr, status: p.status };
}

describe('CLI: the code cache', () => {
  let scratch: string;
  beforeEach(() => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lens-cache-test-'));
  });
  afterEach(() => fs.rmSync(scratch, { recursive: true, force: true }));

  /** A bundle that reports what it was given, and loads a part beside it as the CLI's bundle does. */
  function bundle(extra = ''): string {
    const file = path.join(scratch, 'bundle.js');
    fs.writeFileSync(path.join(scratch, 'part.js'), 'module.exports = 42;\n');
    fs.writeFileSync(
      file,
      `"use strict";
function strict() { return this === undefined; }
const part = require("./part.js");
module.exports.loaded = true;
process.exitCode = 3;
console.log(JSON.stringify({ strict: strict(), part, file: __filename, dir: __dirname, exportsIsThis: this === module.exports, args: process.argv.slice(2) }));${extra}
`,
    );
    return file;
  }

  it('runs the bundle as require would: its file, its folder, require beside it, strict mode, exit status', () => {
    const b = bundle();
    const r = run(b, path.join(scratch, 'cache'));
    assert.equal(r.status, 3);
    assert.deepEqual(JSON.parse(r.out), { strict: true, part: 42, file: b, dir: scratch, exportsIsThis: true, args: ['translate'] });
  });

  it('writes the cache on the first run of a command and uses it on the next; another command has its own', () => {
    const b = bundle();
    const dir = path.join(scratch, 'cache');
    const first = run(b, dir);
    assert.equal(first.use, 'cold');
    // The bundle's file, and one for the part it loaded from its folder.
    const files = fs.readdirSync(dir).sort();
    assert.equal(files.length, 2, files.join(', '));
    assert.match(files[0]!, /^part\.part-[0-9a-f]{8}\.v8$/);
    assert.match(files[1]!, /^translate-[0-9a-f]{8}\.v8$/);
    for (const f of files) assert.ok(fs.statSync(path.join(dir, f)).size > 0);
    assert.equal((fs.statSync(dir).mode & 0o777).toString(8), '700');
    const stamp = files.map((f) => fs.statSync(path.join(dir, f)).mtimeMs);
    const second = run(b, dir);
    assert.equal(second.use, 'hit');
    assert.equal(second.out, first.out);
    // Both were read, neither written again.
    assert.deepEqual(files.map((f) => fs.statSync(path.join(dir, f)).mtimeMs), stamp);
    assert.equal(run(b, dir, 'tree').use, 'cold');
    assert.equal(fs.readdirSync(dir).length, 3);
  });

  it('replaces a cache V8 rejects, and one made for another build of the bundle', () => {
    const b = bundle();
    const dir = path.join(scratch, 'cache');
    run(b, dir);
    const name = fs.readdirSync(dir).find((f) => f.startsWith('translate-'));
    fs.writeFileSync(path.join(dir, name!), Buffer.alloc(4096, 7), { mode: 0o600 });
    const r = run(b, dir);
    assert.equal(r.use, 'rejected');
    assert.equal((JSON.parse(r.out) as { part: number }).part, 42);
    assert.equal(run(b, dir).use, 'hit');
    // Another build: another file, and the old one goes.
    bundle('\nconsole.log("rebuilt");');
    fs.utimesSync(b, new Date(), new Date(Date.now() + 5000));
    const rebuilt = run(b, dir);
    assert.equal(rebuilt.use, 'cold');
    assert.match(rebuilt.out, /rebuilt/);
    const after = fs.readdirSync(dir).filter((f) => f.startsWith('translate-'));
    assert.equal(after.length, 1);
    assert.notEqual(after[0], name);
    assert.equal(run(b, dir).use, 'hit');
  });

  it('never reads a directory that others can write, nor works without one', function () {
    if (process.platform === 'win32') this.skip();
    const b = bundle();
    const dir = path.join(scratch, 'shared');
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o777);
    const r = run(b, dir);
    assert.equal(r.use, 'off');
    assert.equal((JSON.parse(r.out) as { part: number }).part, 42);
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.equal(run(b, undefined).use, 'off');
  });

  it('the directory: IOMMU_LENS_CACHE_DIR (empty: none), else the platform\'s per-user cache directory', () => {
    const home = () => '/home/u';
    assert.equal(cacheDir({ IOMMU_LENS_CACHE_DIR: '/c' }, 'linux', home), '/c');
    assert.equal(cacheDir({ IOMMU_LENS_CACHE_DIR: '' }, 'linux', home), undefined);
    assert.equal(cacheDir({}, 'linux', home), path.join('/home/u', '.cache', 'iommu-lens'));
    assert.equal(cacheDir({ XDG_CACHE_HOME: '/x' }, 'linux', home), path.join('/x', 'iommu-lens'));
    assert.equal(cacheDir({ XDG_CACHE_HOME: 'relative' }, 'linux', home), path.join('/home/u', '.cache', 'iommu-lens'));
    assert.equal(cacheDir({}, 'darwin', home), path.join('/home/u', 'Library', 'Caches', 'iommu-lens'));
    assert.equal(cacheDir({ LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' }, 'win32', home), path.join('C:\\Users\\u\\AppData\\Local', 'iommu-lens', 'cache'));
    assert.equal(cacheDir({}, 'win32', home), undefined);
  });

  it('the installed command prints the same with and without its cache (the built CLI)', function () {
    const bin = path.join(__dirname, '..', '..', '..', 'bin', 'iommu-lens.js');
    if (!fs.existsSync(path.join(path.dirname(bin), '..', 'dist', 'cli-start.js'))) this.skip();
    const example = path.join(path.dirname(bin), '..', 'examples', 'virt-smmuv3.iommu.yaml');
    const args = [bin, 'translate', example, '--from', 'net0', '--addr', '0x2000_0000', '--steps'];
    const dir = path.join(scratch, 'cache');
    const runs = ['', dir, dir].map((d) => spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, IOMMU_LENS_CACHE_DIR: d } }));
    for (const r of runs) {
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, runs[0]!.stdout);
      assert.equal(r.stderr, '');
    }
    assert.deepEqual(fs.readdirSync(dir).filter((f) => !f.startsWith('part.')).length, 1);
  });

  it('a part that throws is not kept: the next require runs it again, as with Node\'s require', () => {
    const b = path.join(scratch, 'bundle.js');
    fs.writeFileSync(path.join(scratch, 'flaky.js'), 'globalThis.runs = (globalThis.runs ?? 0) + 1; if (globalThis.runs === 1) throw new Error("first"); module.exports = globalThis.runs;\n');
    fs.writeFileSync(b, 'let first; try { require("./flaky.js"); } catch (e) { first = e.message; }\nconsole.log(JSON.stringify([first, require("./flaky.js"), require("./flaky.js")]));\n');
    assert.deepEqual(JSON.parse(run(b, path.join(scratch, 'cache')).out), ['first', 2, 2]);
  });
});
