/**
 * V8's code cache for the CLI bundle, kept between runs: a one-shot command spends about half of
 * its own time compiling the bundle (its top level, then each function it calls). The first run
 * of a command compiles as before and, when it exits, writes what V8 compiled to a cache file; the
 * next runs of that command hand the file to V8 with the bundle's source and skip the compiling.
 * (Node 22 has `module.enableCompileCache` for this; Node 20, which the package supports, has not.)
 *
 * A cache file is named by the bundle (its path, size and modification time), Node's version and
 * architecture, and the command: another build, another Node or another command reads another file,
 * and V8 rejects data made for another source or V8 (its own checks), which the run then replaces.
 * The directory is the user's own cache directory, never a shared one such as /tmp: code read from
 * there runs as the user, so a directory that others can write, or that the user does not own, is
 * not used. Nothing here changes what a command prints or its exit status; when the cache cannot
 * be read or written, the bundle is compiled as without it.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';

/** Whether a run read an accepted cache, compiled without one, or had V8 reject the one it read. */
export type CacheUse = 'hit' | 'cold' | 'rejected' | 'off';

/**
 * The directory for the cache: `IOMMU_LENS_CACHE_DIR` when set (empty: no cache), else the
 * platform's per-user cache directory (XDG_CACHE_HOME or ~/.cache, ~/Library/Caches, LOCALAPPDATA).
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home: () => string = os.homedir): string | undefined {
  const own = env.IOMMU_LENS_CACHE_DIR;
  if (own !== undefined) return own === '' ? undefined : own;
  try {
    if (platform === 'win32') return env.LOCALAPPDATA ? path.join(env.LOCALAPPDATA, 'iommu-lens', 'cache') : undefined;
    if (platform === 'darwin') return path.join(home(), 'Library', 'Caches', 'iommu-lens');
    const xdg = env.XDG_CACHE_HOME;
    return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(home(), '.cache'), 'iommu-lens');
  } catch {
    return undefined;
  }
}

/** FNV-1a, 32 bits, as 8 hex digits: a file name, not a secret. */
function fnv(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** The cache file's name for a bundle and a command (letters only, else `other`). */
export function cacheName(bundle: string, st: fs.Stats, command: string | undefined): string {
  const cmd = command !== undefined && /^[a-z]{1,16}$/.test(command) ? command : 'other';
  return `${cmd}-${fnv([bundle, st.size, st.mtimeMs, process.version, process.arch].join('\0'))}.v8`;
}

/** Makes the directory (the user's alone) or checks one that exists: owned by the user, writable by no one else, not a link. */
function usableDir(dir: string): boolean {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    if (!st.isDirectory()) return false;
    if (process.platform === 'win32') return true;
    return st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/**
 * Runs a CommonJS bundle as `require` would, its compiled code read from and written to the cache
 * in `dir` (no cache when undefined). Returns how the cache was used; the bundle runs either way.
 */
export function runCached(bundle: string, dir: string | undefined, command: string | undefined): CacheUse {
  const source = fs.readFileSync(bundle, 'utf8');
  let file: string | undefined;
  let cachedData: Buffer | undefined;
  if (dir !== undefined && usableDir(dir)) {
    file = path.join(dir, cacheName(bundle, fs.statSync(bundle), command));
    try {
      const st = fs.lstatSync(file);
      if (st.isFile() && (process.platform === 'win32' || (st.uid === process.getuid?.() && (st.mode & 0o022) === 0))) cachedData = fs.readFileSync(file);
    } catch {
      // No cache yet.
    }
  }
  // The wrapper and the arguments are Node's CommonJS ones, so the bundle sees what `require` gives it.
  const wrapper = `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;
  const script = new vm.Script(wrapper, { filename: bundle, cachedData });
  const use: CacheUse = file === undefined ? 'off' : cachedData === undefined ? 'cold' : script.cachedDataRejected === true ? 'rejected' : 'hit';
  if (file !== undefined && use !== 'hit') {
    const target = file;
    // At exit: by then V8 has compiled what this command runs, and the data holds it too.
    process.once('exit', () => save(script, target));
  }
  const fn = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void;
  const mod = { exports: {} as unknown, filename: bundle };
  fn.call(mod.exports, mod.exports, createRequire(bundle), mod, bundle, path.dirname(bundle));
  return use;
}

/** Writes the cache file (whole or not at all: a temporary file renamed), and removes this command's files for other bundles. */
function save(script: vm.Script, file: string): void {
  try {
    const data = script.createCachedData();
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, data, { mode: 0o600 });
    fs.renameSync(tmp, file);
    const dir = path.dirname(file);
    const prefix = path.basename(file).replace(/-[0-9a-f]{8}\.v8$/, '-');
    for (const f of fs.readdirSync(dir)) if (f.startsWith(prefix) && /^[a-z]+-[0-9a-f]{8}\.v8$/.test(f) && f !== path.basename(file)) fs.rmSync(path.join(dir, f), { force: true });
  } catch {
    // A cache that cannot be written is no cache: the next run compiles again.
  }
}
