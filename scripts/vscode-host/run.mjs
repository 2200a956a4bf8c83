#!/usr/bin/env node
// Runs the integration suite (mocha) inside a real VS Code extension host: code-server 4.100.3
// (VS Code 1.100.3) opened in Debian's chromium through playwright-core; then, optionally, a
// playwright UI module against the same workbench. See shared/reference/vscode-host.md.
//
//   node scripts/vscode-host/run.mjs --suite out/test/integration --workspace examples \
//        [--ui out/test/ui/smoke.ui.js ...] [--screenshots artifacts/screenshots]
//        [--extension <folder, default: the project> | --vsix <file>] [--grep <re>] [--timeout <seconds, 300>]
//        [--keep-temp] [--copy-workspace] [--runner-config both|file]
//
// --vsix installs a packaged extension with code-server's --install-extension (what users get:
// the minified bundle and only the files the package lists) instead of copying a folder.
// --ui may be given more than once; the modules run in order against the same workbench.
// Prints mocha's output as it runs, and closes with `N passed, N failed[, N skipped]` (the UI
// module counts as one more test). Exits 1 if anything failed or the host did not start.
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync,
  readSync, closeSync, statSync, readdirSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureCodeServer, ROOT, SetupError } from './setup.mjs';

const require = createRequire(import.meta.url);
const RUNNER_SRC = join(ROOT, 'test', 'integration', 'runner-extension');
const { resolveSuite } = require(join(RUNNER_SRC, 'suite-files.js'));

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
// Files of the extension under test that an installed .vsix would hold, when its manifest has no
// `files` list (vsce packs that list, with package.json and the README).
const EXTENSION_FILES = ['package.json', 'package.nls.json', 'dist', 'media', 'schema', 'examples', 'README.md', 'CHANGELOG.md', 'LICENSE'];

const log = (msg) => console.log(`[host] ${msg}`);
const secs = (t0) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// For races against a deadline: does not keep the process alive once everything else is done.
const deadline = (ms) => new Promise((r) => setTimeout(r, ms).unref());

class HostError extends Error {}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      suite: { type: 'string' },
      workspace: { type: 'string' },
      screenshots: { type: 'string', default: 'artifacts/screenshots' },
      ui: { type: 'string', multiple: true },
      extension: { type: 'string', default: ROOT },
      vsix: { type: 'string' },
      grep: { type: 'string' },
      timeout: { type: 'string', default: '300' },
      'keep-temp': { type: 'boolean', default: false },
      'copy-workspace': { type: 'boolean', default: false },
      // How the runner extension gets its configuration: both (default), or only the file
      // (checks the fallback used when a host does not pass the environment on).
      'runner-config': { type: 'string', default: 'both' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help || !values.suite || !values.workspace) {
    console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 15).join('\n'));
    process.exit(values.help ? 0 : 2);
  }
  return values;
}

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

function installExtensionUnderTest(from, extensionsDir) {
  const manifest = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8'));
  const id = `${manifest.publisher}.${manifest.name}`;
  const main = manifest.main ? resolve(from, manifest.main) : undefined;
  if (main && !existsSync(main) && !existsSync(`${main}.js`)) {
    throw new HostError(`${id}: its main ${relative(process.cwd(), main)} does not exist; build it first (npm run build)`);
  }
  const dest = join(extensionsDir, `${id}-${manifest.version}`);
  mkdirSync(dest, { recursive: true });
  // A copy, like an installed .vsix: the extension cannot lean on the project's node_modules,
  // and VS Code maps its files (by real path) to the extension.
  const files = Array.isArray(manifest.files) ? ['package.json', 'README.md', ...manifest.files] : EXTENSION_FILES;
  for (const f of files.flatMap((f) => expandStar(from, f))) {
    if (existsSync(join(from, f))) cpSync(join(from, f), join(dest, f), { recursive: true, dereference: true });
  }
  return { id, dest, version: manifest.version };
}

/** Installs a .vsix the way a user would, with code-server's --install-extension. */
function installVsix(entry, vsix, extensionsDir, userDataDir, env) {
  const r = spawnSync(process.execPath, [entry, '--extensions-dir', extensionsDir, '--user-data-dir', userDataDir, '--install-extension', vsix], {
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new HostError(`code-server --install-extension ${vsix} failed (${r.status ?? r.signal}):\n${(r.stderr || r.stdout).trim()}`);
  const installed = JSON.parse(readFileSync(join(extensionsDir, 'extensions.json'), 'utf8'));
  const entryFor = installed.find((e) => e.identifier?.id === 'iommu-lens.iommu-lens');
  if (!entryFor) throw new HostError(`${vsix} installed, but iommu-lens.iommu-lens is not in the extensions' list`);
  return { id: entryFor.identifier.id, dest: entryFor.location?.path ?? '', version: entryFor.version };
}

function installRunner(extensionsDir, runConfig) {
  const manifest = JSON.parse(readFileSync(join(RUNNER_SRC, 'package.json'), 'utf8'));
  const folder = `${manifest.publisher}.${manifest.name}-${manifest.version}`;
  const dest = join(extensionsDir, folder);
  cpSync(RUNNER_SRC, dest, { recursive: true });
  // Once --install-extension has written the extensions dir's extensions.json, the server drops
  // ("marks as removed") every folder that list does not name: list the runner there too.
  const list = join(extensionsDir, 'extensions.json');
  if (existsSync(list)) {
    const entries = JSON.parse(readFileSync(list, 'utf8'));
    entries.push({
      identifier: { id: `${manifest.publisher}.${manifest.name}` },
      version: manifest.version,
      location: { $mid: 1, path: dest, scheme: 'file' },
      relativeLocation: folder,
      metadata: { installedTimestamp: Date.now(), source: 'resource' },
    });
    writeFileSync(list, JSON.stringify(entries));
  }
  // The second way of passing the configuration, should the environment not reach the host.
  writeFileSync(join(dest, 'run-config.json'), JSON.stringify(runConfig, null, 2));
  return dest;
}

function writeUserSettings(userDataDir) {
  const dir = join(userDataDir, 'User');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'settings.json'),
    JSON.stringify(
      {
        'security.workspace.trust.enabled': false,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'extensions.ignoreRecommendations': true,
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.enableExperiments': false,
        'workbench.welcomePage.walkthroughs.openOnInstall': false,
        'chat.disableAIFeatures': true,
        'git.enabled': false,
        // The UI check of a cancelled replay (test/ui/package.ui.ts) replays a region of 2^38 pages:
        // with no cap short of that, it cannot end before its Cancel click.
        'iommuLens.replayMaxSteps': Number.MAX_SAFE_INTEGER,
      },
      null,
      2,
    ),
  );
}

/** Prints what was appended to a file since the last call. */
function follower(file, write) {
  let offset = 0;
  let partial = '';
  return (flush = false) => {
    if (!existsSync(file)) return;
    const size = statSync(file).size;
    if (size > offset) {
      const fd = openSync(file, 'r');
      const buf = Buffer.alloc(size - offset);
      readSync(fd, buf, 0, buf.length, offset);
      closeSync(fd);
      offset = size;
      partial += buf.toString('utf8');
    }
    const cut = flush ? partial.length : partial.lastIndexOf('\n') + 1;
    if (cut > 0) {
      write(partial.slice(0, cut));
      partial = partial.slice(cut);
    }
  };
}

function tail(file, lines = 40) {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

function pickUiFunction(mod) {
  for (const c of [mod.default, mod.default?.default, mod.run, mod.default?.run]) {
    if (typeof c === 'function') return c;
  }
  return undefined;
}

async function main() {
  const t0 = Date.now();
  const opts = parseOptions();
  const timeoutMs = Number(opts.timeout) * 1000;
  if (!(timeoutMs > 0)) {
    console.error(`--timeout must be a number of seconds, not ${opts.timeout}`);
    process.exit(2);
  }
  let workspace = resolve(opts.workspace);
  const screenshotsDir = resolve(opts.screenshots);
  const artifacts = join(ROOT, 'artifacts');
  const serverLog = join(artifacts, 'code-server.log');
  const consoleLog = join(artifacts, 'browser-console.log');
  mkdirSync(artifacts, { recursive: true });

  const state = { server: undefined, browser: undefined, temp: undefined, page: undefined, cleaning: undefined };
  const cleanup = () =>
    (state.cleaning ??= (async () => {
      if (state.browser) {
        await Promise.race([state.browser.close().catch(() => {}), deadline(5000)]);
        const proc = state.browser.process?.();
        if (proc && proc.exitCode === null) proc.kill('SIGKILL');
      }
      if (state.server && state.server.exitCode === null && state.server.signalCode === null) {
        killGroup(state.server, 'SIGTERM');
        const exited = await Promise.race([new Promise((r) => state.server.once('exit', () => r(true))), deadline(5000)]);
        if (!exited) log('code-server did not stop on SIGTERM within 5 s: killing it');
      }
      // Whatever is left of its process group (extension host, pty host, file watcher).
      if (state.server) killGroup(state.server, 'SIGKILL');
      if (state.temp && !opts['keep-temp']) rmSync(state.temp, { recursive: true, force: true });
      else if (state.temp) log(`kept ${state.temp}`);
    })());
  // Last resort if the process dies some other way: never leave code-server behind.
  process.on('exit', () => {
    if (state.server && state.server.exitCode === null) killGroup(state.server, 'SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      state.interrupted = sig;
      console.error(`\n[host] ${sig}: stopping code-server and chromium`);
      cleanup().finally(() => process.exit(130));
    });
  }

  let failedToStart = true;
  let tailShown = false;
  let counts = { passed: 0, failed: 0, pending: 0 };
  try {
    if (!existsSync(workspace) || !statSync(workspace).isDirectory()) throw new HostError(`workspace folder not found: ${workspace}`);
    let files;
    try {
      files = resolveSuite(opts.suite, process.cwd());
    } catch (err) {
      throw new HostError(err.message);
    }
    if (files.length === 0) throw new HostError(`no *.test.js files in ${opts.suite} (compile the tests first: npm run compile-tests)`);
    const uiModules = (opts.ui ?? []).map((u) => resolve(u));
    for (const m of uiModules) if (!existsSync(m)) throw new HostError(`UI module not found: ${m}`);
    if (opts.vsix && !existsSync(resolve(opts.vsix))) throw new HostError(`.vsix not found: ${resolve(opts.vsix)} (npm run package, or node scripts/package-test.mjs)`);

    const { entry, chromium: chromiumPath } = await ensureCodeServer();

    state.temp = mkdtempSync(join(tmpdir(), 'iommu-lens-host-'));
    if (opts['copy-workspace']) {
      // Tests may then write into the workspace (broken configs, new files) without touching the repo.
      const copy = join(state.temp, 'workspace');
      cpSync(workspace, copy, { recursive: true });
      workspace = copy;
      process.env.IOMMU_LENS_TEST_WORKSPACE = copy;
    }
    const userDataDir = join(state.temp, 'user-data');
    const extensionsDir = join(state.temp, 'extensions');
    const results = join(state.temp, 'results.json');
    mkdirSync(extensionsDir, { recursive: true });
    writeUserSettings(userDataDir);
    const isolatedEnv = { ...process.env, XDG_CONFIG_HOME: join(state.temp, 'xdg-config'), XDG_DATA_HOME: join(state.temp, 'xdg-data') };
    const tInstall = Date.now();
    const ext = opts.vsix
      ? installVsix(entry, resolve(opts.vsix), extensionsDir, userDataDir, isolatedEnv)
      : installExtensionUnderTest(resolve(opts.extension), extensionsDir);
    const suiteAbs = resolve(opts.suite);
    const runConfig = { suite: suiteAbs, results, projectRoot: ROOT, grep: opts.grep, timeout: 20000 };
    installRunner(extensionsDir, runConfig);
    log(
      opts.vsix
        ? `extension under test ${ext.id} ${ext.version} installed from ${relative(process.cwd(), resolve(opts.vsix))} in ${secs(tInstall)}`
        : `extension under test ${ext.id} ${ext.version} copied from ${resolve(opts.extension)}`,
    );
    log(`suite: ${files.length} file(s) from ${opts.suite}; workspace: ${workspace}`);

    // code-server, in its own process group so that it and its children can be stopped together.
    const port = await freePort();
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('VSCODE_') || k === 'ELECTRON_RUN_AS_NODE') delete env[k];
    for (const k of Object.keys(env)) if (k.startsWith('IOMMU_LENS_TEST_')) delete env[k];
    if (opts['runner-config'] !== 'file') {
      Object.assign(env, {
        IOMMU_LENS_TEST_SUITE: suiteAbs,
        IOMMU_LENS_TEST_RESULTS: results,
        IOMMU_LENS_PROJECT_ROOT: ROOT,
        ...(opts.grep ? { IOMMU_LENS_TEST_GREP: opts.grep } : {}),
      });
    }
    // code-server keeps its config.yaml and state under these: keep them out of $HOME.
    env.XDG_CONFIG_HOME = join(state.temp, 'xdg-config');
    env.XDG_DATA_HOME = join(state.temp, 'xdg-data');
    const serverOut = createWriteStream(serverLog);
    const args = [
      entry,
      '--auth', 'none',
      '--bind-addr', `127.0.0.1:${port}`,
      '--extensions-dir', extensionsDir,
      '--user-data-dir', userDataDir,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      workspace,
    ];
    const tServer = Date.now();
    state.server = spawn(process.execPath, args, { env, cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    state.server.stdout.pipe(serverOut);
    state.server.stderr.pipe(serverOut);
    let serverExit;
    state.server.on('exit', (code, signal) => (serverExit = signal ?? code));
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => {
      if (serverExit !== undefined) throw new HostError(`code-server exited (${serverExit}) before it was ready`);
      try {
        return (await fetch(`${base}/healthz`)).ok;
      } catch {
        return false;
      }
    }, 60_000, 'code-server to answer /healthz');
    log(`code-server up on ${base} in ${secs(tServer)} (log: ${relative(process.cwd(), serverLog)})`);

    const { chromium } = require(require.resolve('playwright-core', { paths: [ROOT] }));
    const tBrowser = Date.now();
    state.browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: CHROMIUM_ARGS,
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
      // Chromium puts crash reports under $XDG_CONFIG_HOME/chromium: keep them out of $HOME.
      env: { ...process.env, XDG_CONFIG_HOME: join(state.temp, 'xdg-config-chromium') },
    });
    const context = await state.browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = (state.page = await context.newPage());
    const consoleOut = createWriteStream(consoleLog);
    page.on('console', (m) => consoleOut.write(`[${m.type()}] ${m.text()}\n`));
    page.on('pageerror', (e) => consoleOut.write(`[pageerror] ${e.stack ?? e}\n`));
    await page.goto(`${base}/?folder=${encodeURIComponent(workspace)}`, { waitUntil: 'domcontentloaded', timeout: 60_000 });
    await page.locator('.monaco-workbench').waitFor({ state: 'attached', timeout: 90_000 });
    log(`workbench open in chromium in ${secs(tBrowser)}`);
    failedToStart = false;

    // Relay mocha's output while waiting for the results file.
    const tSuite = Date.now();
    const relay = follower(`${results}.log`, (s) => process.stdout.write(s));
    await waitFor(async () => {
      relay();
      if (serverExit !== undefined) throw new HostError(`code-server exited (${serverExit}) while the suite ran`);
      return existsSync(results);
    }, timeoutMs, `the suite's results (${opts.timeout} s)`, 250);
    relay(true);
    const r = JSON.parse(readFileSync(results, 'utf8'));
    counts = { passed: r.passed, failed: r.failed, pending: r.pending };
    if (r.passed + r.failed + r.pending === 0) {
      counts.failed += 1;
      console.log('[host] the suite ran no test');
    }
    log(`suite finished in ${secs(tSuite)} (runner config from ${r.configSource === 'env' ? 'the environment' : 'run-config.json'})`);
    console.log(`integration: ${summary(counts)}`);

    for (const uiModule of uiModules) {
      const tUi = Date.now();
      const name = relative(process.cwd(), uiModule);
      try {
        const fn = pickUiFunction(await import(pathToFileURL(uiModule).href));
        if (!fn) throw new Error(`${name} exports no function (default or run)`);
        await fn({ page, screenshotsDir, workspace, userDataDir });
        counts.passed += 1;
        log(`UI ${name} passed in ${secs(tUi)}`);
      } catch (err) {
        counts.failed += 1;
        console.log(`[host] UI ${name} FAILED: ${err?.stack ?? err}`);
        await failureScreenshot(page, screenshotsDir, `ui-failure-${basename(uiModule, '.js')}.png`);
      }
    }
  } catch (err) {
    counts.failed += 1;
    if (state.interrupted) return; // the signal handler cleans up and exits
    console.error(`[host] ${failedToStart ? 'could not start the host' : 'FAILED'}: ${err instanceof HostError || err instanceof SetupError ? err.message : err?.stack ?? err}`);
    if (state.page) await failureScreenshot(state.page, screenshotsDir, 'host-failure.png');
    if (state.server) {
      tailShown = true;
      console.error(`[host] last lines of ${relative(process.cwd(), serverLog)}:\n${tail(serverLog)}`);
    }
  } finally {
    await cleanup();
  }
  const ok = counts.failed === 0 && !failedToStart;
  if (!ok && !tailShown && state.server) {
    console.log(`[host] code-server log: ${relative(process.cwd(), serverLog)}; browser console: ${relative(process.cwd(), consoleLog)}`);
  }
  log(`total ${secs(t0)}`);
  console.log(summary(counts));
  process.exitCode = ok ? 0 : 1;
}

function summary({ passed, failed, pending }) {
  return `${passed} passed, ${failed} failed${pending ? `, ${pending} skipped` : ''}`;
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* gone */
    }
  }
}

async function waitFor(check, timeoutMs, what, intervalMs = 500) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new HostError(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

async function failureScreenshot(page, dir, name) {
  try {
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, name), timeout: 10_000 });
    console.error(`[host] screenshot: ${relative(process.cwd(), join(dir, name))}`);
  } catch {
    /* the page may be gone */
  }
}

await main();

/** A `files` entry with `*` in its last part (as npm and vsce read it: `dist/config-quick-*.js`) as the files it names. */
function expandStar(from, entry) {
  if (!entry.includes('*')) return [entry];
  const dir = dirname(entry);
  const re = new RegExp(`^${basename(entry).split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
  return existsSync(join(from, dir)) ? readdirSync(join(from, dir)).filter((f) => re.test(f)).map((f) => join(dir, f)) : [];
}
