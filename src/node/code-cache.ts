/**
 * V8's code cache for the CLI bundle, kept between runs: a one-shot command spends about half of
 * its own time compiling the bundle (its top level, then each function it calls). The first run
 * of a command compiles as before and, when it exits, writes what V8 compiled to a cache file; the
 * next runs of that command hand the file to V8 with the bundle's source and skip the compiling.
 * The parts the bundle loads from its folder when first needed (a model's validator, the full
 * validator for a config with errors, the yaml package) are cached the same way, a file each.
 * (Node 22 has `module.enableCompileCache` for this; Node 20, which the package supports, has not.)
 *
 * A cache file is named by the bundle (its path, size and modification time), Node's version and
 * architecture, and the command (or the part): another build, another Node or another command reads another file,
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

/**
 * The cache file's name: what it caches (`label`: the command for the CLI bundle, `part.NAME` for
 * a part the bundle loads), then a hash of the bundle's path, size and time and of Node's version.
 */
export function cacheName(file: string, st: fs.Stats, label: string): string {
  return `${label}-${fnv([file, st.size, st.mtimeMs, process.version, process.arch].join('\0'))}.v8`;
}

/** The label of the CLI bundle's cache for a command: its name when it is a word, else `other`. */
function commandLabel(command: string | undefined): string {
  return command !== undefined && /^[a-z]{1,16}$/.test(command) ? command : 'other';
}

/** Makes the directory (the user's alone) or checks one that exists: owned by the user, writable by no one else, not a link. */
function usableDir(dir: string): boolean {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return ownedFile(fs.lstatSync(dir), true);
  } catch {
    return false;
  }
}

/** Whether a directory or file is the user's own and writable by no one else (Windows: any). */
function ownedFile(st: fs.Stats, dir: boolean): boolean {
  if (dir ? !st.isDirectory() : !st.isFile()) return false;
  return process.platform === 'win32' || (st.uid === process.getuid?.() && (st.mode & 0o022) === 0);
}

type Wrapped = (exports: unknown, require: NodeJS.Require | ((id: string) => unknown), module: unknown, filename: string, dirname: string) => void;

/**
 * Runs a CommonJS bundle as `require` would, its compiled code read from and written to the cache
 * in `dir` (no cache when undefined). The parts it requires from its own folder (`./yaml.js`,
 * `config-quick-smmuv3.js`...) go through the cache as well, each with a file of its own. Returns
 * how the bundle's cache was used; the bundle runs either way.
 */
export function runCached(bundle: string, dir: string | undefined, command: string | undefined): CacheUse {
  const cache = dir !== undefined && usableDir(dir) ? dir : undefined;
  const folder = path.dirname(bundle);
  const parts = new Map<string, { exports: unknown }>();
  /** `require` for a bundle or a part: files of the bundle's folder through the cache, anything else as Node requires it. */
  const requireFor = (file: string) => {
    const node = createRequire(file);
    return (id: string): unknown => {
      if (!id.startsWith('.') && !path.isAbsolute(id)) return node(id);
      const target = node.resolve(id);
      if (path.dirname(target) !== folder || !target.endsWith('.js')) return node(id);
      let mod = parts.get(target);
      if (mod === undefined) {
        mod = { exports: {} };
        parts.set(target, mod);
        try {
          run(target, `part.${path.basename(target, '.js')}`, mod);
        } catch (e) {
          // As Node's require: a part that threw is not kept, the next require runs it again.
          parts.delete(target);
          throw e;
        }
      }
      return mod.exports;
    };
  };
  const run = (file: string, label: string, mod: { exports: unknown }): CacheUse => {
    const source = fs.readFileSync(file, 'utf8');
    let target: string | undefined;
    let cachedData: Buffer | undefined;
    if (cache !== undefined) {
      target = path.join(cache, cacheName(file, fs.statSync(file), label));
      try {
        if (ownedFile(fs.lstatSync(target), false)) cachedData = fs.readFileSync(target);
      } catch {
        // No cache yet.
      }
    }
    // The wrapper and the arguments are Node's CommonJS ones, so the bundle sees what `require` gives it.
    const wrapper = `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;
    const script = new vm.Script(wrapper, { filename: file, cachedData });
    const use: CacheUse = target === undefined ? 'off' : cachedData === undefined ? 'cold' : script.cachedDataRejected === true ? 'rejected' : 'hit';
    if (target !== undefined && use !== 'hit') {
      const to = target;
      // At exit: by then V8 has compiled what this command runs, and the data holds it too.
      process.once('exit', () => save(script, to));
    }
    (script.runInThisContext() as Wrapped).call(mod.exports, mod.exports, requireFor(file), mod, file, path.dirname(file));
    return use;
  };
  return run(bundle, commandLabel(command), { exports: {} });
}

/** Writes the cache file (whole or not at all: a temporary file renamed), and removes the files of the same label for other bundles. */
function save(script: vm.Script, file: string): void {
  try {
    const data = script.createCachedData();
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, data, { mode: 0o600 });
    fs.renameSync(tmp, file);
    const name = /^(.*)-[0-9a-f]{8}\.v8$/.exec(path.basename(file));
    for (const f of fs.readdirSync(path.dirname(file))) {
      const other = /^(.*)-[0-9a-f]{8}\.v8$/.exec(f);
      if (other && name && other[1] === name[1] && f !== path.basename(file)) fs.rmSync(path.join(path.dirname(file), f), { force: true });
    }
  } catch {
    // A cache that cannot be written is no cache: the next run compiles again.
  }
}
