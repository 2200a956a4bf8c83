#!/usr/bin/env node
// Installs code-server 4.100.3 (VS Code 1.100.3 with a real Node extension host) into
// .vscode-test/code-server, following shared/reference/vscode-host.md, and makes sure Debian's
// chromium is there to drive it. Idempotent: a marker file records a finished install, so a
// second run returns at once; a half-finished install (no marker) is removed and redone.
//
//   node scripts/vscode-host/setup.mjs [--force]
//
// Also importable: `await ensureCodeServer()` returns the paths the launcher needs.
import { spawnSync } from 'node:child_process';
import {
  existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, lstatSync, unlinkSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const CODE_SERVER_VERSION = '4.100.3';
export const VSCODE_VERSION = '1.100.3';
export const CHROMIUM = '/usr/bin/chromium';
const RG = '/usr/bin/rg';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, '..', '..');
export const CACHE = join(ROOT, '.vscode-test', 'code-server');
const MARKER = join(CACHE, '.iommu-lens-setup.json');
const LOCK = join(ROOT, '.vscode-test', 'code-server.lock');
export const CODE_SERVER_PKG = join(CACHE, 'node_modules', 'code-server');
export const CODE_SERVER_ENTRY = join(CODE_SERVER_PKG, 'out', 'node', 'entry.js');
const VSCODE_DIR = join(CODE_SERVER_PKG, 'lib', 'vscode');

// Native modules of lib/vscode that the server or the extension host load at start; each must
// load after the rebuild. (kerberos is left out: code-server only uses it for proxy auth.)
const REQUIRED_NATIVE = ['node-pty', '@vscode/spdlog', '@parcel/watcher', 'native-watchdog'];

const log = (msg) => console.log(`[setup] ${msg}`);
const secs = (t0) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

export class SetupError extends Error {
  name = 'SetupError';
}

function run(cmd, args, { cwd, env, allowFail = false } = {}) {
  const t0 = Date.now();
  log(`$ ${[cmd, ...args].join(' ')}${cwd ? `   (in ${cwd})` : ''}`);
  const r = spawnSync(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: 'inherit',
  });
  const ok = r.status === 0;
  log(`  ${ok ? 'done' : `exit ${r.status ?? r.signal ?? r.error?.message}`} in ${secs(t0)}`);
  if (!ok && !allowFail) {
    throw new SetupError(`command failed: ${[cmd, ...args].join(' ')} (${r.error?.message ?? `exit ${r.status}`})`);
  }
  return ok;
}

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Makes sure /usr/bin/chromium exists (and, where it can, /usr/bin/rg); fails loudly if not. */
export function ensureSystemPackages() {
  const missing = [];
  if (!existsSync(CHROMIUM)) missing.push('chromium');
  if (!existsSync(RG)) missing.push('ripgrep');
  if (missing.length === 0) return;

  if (!isRoot() || !existsSync('/usr/bin/apt-get')) {
    if (!existsSync(CHROMIUM)) {
      throw new SetupError(
        `${CHROMIUM} is missing and this script cannot install it (${isRoot() ? 'no apt-get' : 'not root'}).\n` +
          `Install it with:  sudo apt-get update && sudo apt-get install -y chromium ripgrep`,
      );
    }
    log(`ripgrep (${RG}) is missing and cannot be installed here: workspace search will not work in the host`);
    return;
  }
  const pkgs = ['chromium', 'ripgrep'];
  log(`missing: ${missing.join(', ')}; installing Debian packages ${pkgs.join(' ')} with apt-get`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  // Wait (up to 10 minutes) for a package manager that holds the lock instead of failing on it.
  const lock = ['-o', 'DPkg::Lock::Timeout=600'];
  run('apt-get', [...lock, 'update'], { env });
  run('apt-get', [...lock, 'install', '-y', ...pkgs], { env });
  if (!existsSync(CHROMIUM)) {
    throw new SetupError(`apt-get install chromium finished but ${CHROMIUM} is still missing`);
  }
}

function readMarker() {
  try {
    return JSON.parse(readFileSync(MARKER, 'utf8'));
  } catch {
    return undefined;
  }
}

export function isInstalled() {
  const m = readMarker();
  return (
    m !== undefined &&
    m.codeServer === CODE_SERVER_VERSION &&
    m.node === process.versions.modules &&
    existsSync(CODE_SERVER_ENTRY)
  );
}

function forceSymlink(target, path) {
  try {
    lstatSync(path);
    unlinkSync(path);
  } catch {
    /* absent */
  }
  symlinkSync(target, path);
}

function acquireLock() {
  mkdirSync(dirname(LOCK), { recursive: true });
  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    try {
      writeFileSync(LOCK, String(process.pid), { flag: 'wx' });
      return () => rmSync(LOCK, { force: true });
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(LOCK, 'utf8'));
      let alive = false;
      try {
        process.kill(pid, 0);
        alive = pid !== process.pid;
      } catch {
        alive = false;
      }
      if (!alive) {
        log(`removing stale lock of process ${pid}`);
        rmSync(LOCK, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new SetupError(`another setup (pid ${pid}) holds ${LOCK} for too long`);
      log(`waiting for another setup (pid ${pid}) to finish`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5000);
    }
  }
}

function checkNativeModules() {
  const bad = [];
  for (const m of REQUIRED_NATIVE) {
    if (!existsSync(join(VSCODE_DIR, 'node_modules', m))) continue; // not a dependency in this version
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(m)})`], {
      cwd: VSCODE_DIR,
      encoding: 'utf8',
    });
    if (r.status !== 0) bad.push(`${m}: ${(r.stderr || '').trim().split('\n').slice(0, 3).join(' | ')}`);
  }
  return bad;
}

/** Packages directly under lib/vscode/node_modules that have a native build or install script. */
function nativePackages() {
  const nm = join(VSCODE_DIR, 'node_modules');
  const dirs = [];
  for (const e of readdirSync(nm)) {
    if (e.startsWith('.')) continue;
    if (e.startsWith('@')) for (const s of readdirSync(join(nm, e))) dirs.push(`${e}/${s}`);
    else dirs.push(e);
  }
  return dirs.filter((d) => {
    let pkg;
    try {
      pkg = JSON.parse(readFileSync(join(nm, d, 'package.json'), 'utf8'));
    } catch {
      return false;
    }
    const s = pkg.scripts ?? {};
    return Boolean(s.preinstall || s.install || s.postinstall || existsSync(join(nm, d, 'binding.gyp')));
  });
}

function install() {
  const npm = 'npm';
  const quiet = ['--no-audit', '--no-fund', '--loglevel=error'];

  log(`removing any half-finished install in ${CACHE}`);
  rmSync(CACHE, { recursive: true, force: true });
  mkdirSync(CACHE, { recursive: true });
  // Own package.json, so npm installs here and never walks up to the project's.
  writeFileSync(
    join(CACHE, 'package.json'),
    JSON.stringify({ name: 'iommu-lens-vscode-host', private: true, description: 'cache, see scripts/vscode-host/setup.mjs' }, null, 2),
  );

  // 2. code-server itself, without its postinstall (it refuses root and downloads).
  run(npm, ['install', '--ignore-scripts', ...quiet, `code-server@${CODE_SERVER_VERSION}`], { cwd: CACHE });

  // 3. VS Code's own production dependencies.
  run(npm, ['install', '--omit=dev', '--ignore-scripts', ...quiet], { cwd: VSCODE_DIR });

  // 4. @vscode/ripgrep skips its GitHub download when bin/ exists: give it Debian's rg.
  const rgBin = join(VSCODE_DIR, 'node_modules', '@vscode', 'ripgrep', 'bin');
  mkdirSync(rgBin, { recursive: true });
  if (existsSync(RG)) {
    forceSymlink(RG, join(rgBin, 'rg'));
    log(`linked ${join(rgBin, 'rg')} -> ${RG}`);
  } else {
    log(`no ${RG}: left ${rgBin} empty (workspace search will not work)`);
  }

  // 5. Build the native modules (node-pty's script runs `npx node-gyp`, hence the yes). A plain
  // `npm rebuild` stops at the first failure, and kerberos fails without libkrb5-dev (it is only
  // used for proxy auth), so rebuild the packages that have build steps by name, kerberos only
  // when its headers are there, one by one if the batch fails.
  const native = nativePackages();
  const skipped = [];
  if (!existsSync('/usr/include/gssapi/gssapi.h') && native.includes('kerberos')) {
    native.splice(native.indexOf('kerberos'), 1);
    skipped.push('kerberos (no libkrb5-dev; only used for proxy auth)');
  }
  if (skipped.length) log(`not rebuilding: ${skipped.join(', ')}`);
  const rebuildEnv = { npm_config_yes: 'true' };
  if (!run(npm, ['rebuild', ...quiet, ...native], { cwd: VSCODE_DIR, env: rebuildEnv, allowFail: true })) {
    log('batch rebuild failed; rebuilding one package at a time');
    for (const name of native) {
      if (!run(npm, ['rebuild', ...quiet, name], { cwd: VSCODE_DIR, env: rebuildEnv, allowFail: true })) {
        log(`warning: ${name} did not build`);
      }
    }
  }
  const bad = checkNativeModules();
  if (bad.length) throw new SetupError(`native modules of VS Code failed to build or load:\n  ${bad.join('\n  ')}`);
  log(`native modules load: ${REQUIRED_NATIVE.join(', ')}`);

  // 6. The rest of code-server's postinstall.sh.
  forceSymlink('node_modules', join(VSCODE_DIR, 'node_modules.asar'));
  forceSymlink('code-linux.sh', join(VSCODE_DIR, 'bin', 'remote-cli', 'code-server'));
  forceSymlink('browser-linux.sh', join(VSCODE_DIR, 'bin', 'helpers', 'browser.sh'));
  log('linked node_modules.asar, bin/remote-cli/code-server, bin/helpers/browser.sh');
  run(npm, ['install', '--omit=dev', ...quiet], { cwd: join(VSCODE_DIR, 'extensions') });

  // 7. argon2 is loaded by code-server at start.
  run(npm, ['rebuild', 'argon2', ...quiet], { cwd: CACHE });

  if (!existsSync(CODE_SERVER_ENTRY)) throw new SetupError(`install finished but ${CODE_SERVER_ENTRY} is missing`);
  writeFileSync(
    MARKER,
    JSON.stringify(
      { codeServer: CODE_SERVER_VERSION, vscode: VSCODE_VERSION, node: process.versions.modules, finished: new Date().toISOString() },
      null,
      2,
    ),
  );
}

/** Installs what is missing; returns the paths the launcher uses. Throws SetupError on failure. */
export async function ensureCodeServer({ force = false } = {}) {
  const t0 = Date.now();
  ensureSystemPackages();
  if (!force && isInstalled()) {
    log(`code-server ${CODE_SERVER_VERSION} already installed in ${CACHE} (checked in ${secs(t0)})`);
    return { entry: CODE_SERVER_ENTRY, chromium: CHROMIUM };
  }
  const release = acquireLock();
  try {
    if (!force && isInstalled()) {
      log(`another process finished the install meanwhile (${secs(t0)})`);
    } else {
      log(`installing code-server ${CODE_SERVER_VERSION} (VS Code ${VSCODE_VERSION}) into ${CACHE}`);
      log('(npm 11 may warn about an unknown "nodedir" config here: harmless)');
      install();
      log(`code-server ${CODE_SERVER_VERSION} installed in ${secs(t0)}`);
    }
  } finally {
    release();
  }
  return { entry: CODE_SERVER_ENTRY, chromium: CHROMIUM };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const t0 = Date.now();
  try {
    await ensureCodeServer({ force: process.argv.includes('--force') });
    log(`setup finished in ${secs(t0)}`);
  } catch (e) {
    console.error(`[setup] FAILED after ${secs(t0)}: ${e instanceof SetupError ? e.message : e?.stack ?? e}`);
    process.exit(1);
  }
}
