// IOMMU Lens test runner: an extension that, once the workbench has started, runs the compiled
// mocha integration suite inside this extension host (so the tests get the real `vscode` API)
// and writes the results where scripts/vscode-host/run.mjs reads them.
//
// It does nothing unless configured, by either
//   - environment variables (inherited by the extension host from code-server):
//       IOMMU_LENS_TEST_SUITE    suite: a folder of *.test.js, a file or a glob
//       IOMMU_LENS_TEST_RESULTS  where to write the results JSON
//       IOMMU_LENS_PROJECT_ROOT  the project, whose node_modules holds mocha
//       IOMMU_LENS_TEST_GREP, IOMMU_LENS_TEST_TIMEOUT (optional)
//   - or run-config.json in this extension's folder, with keys suite, results, projectRoot,
//     grep, timeout (the launcher writes it too, for hosts that do not pass the environment on).
//
// Results: { passed, failed, pending, failures: [{ title, error }], output, configSource,
// vscodeVersion, files }. While it runs, mocha's output is appended to `<results>.log`.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');
const vscode = require('vscode');
const { resolveSuite } = require('./suite-files');

function readConfig(extensionPath) {
  const env = process.env;
  if (env.IOMMU_LENS_TEST_SUITE) {
    return {
      source: 'env',
      suite: env.IOMMU_LENS_TEST_SUITE,
      results: env.IOMMU_LENS_TEST_RESULTS,
      projectRoot: env.IOMMU_LENS_PROJECT_ROOT,
      grep: env.IOMMU_LENS_TEST_GREP || undefined,
      timeout: env.IOMMU_LENS_TEST_TIMEOUT ? Number(env.IOMMU_LENS_TEST_TIMEOUT) : undefined,
    };
  }
  const file = path.join(extensionPath, 'run-config.json');
  if (fs.existsSync(file)) {
    return { source: 'file', ...JSON.parse(fs.readFileSync(file, 'utf8')) };
  }
  return undefined;
}

function writeResults(resultsPath, results) {
  const tmp = `${resultsPath}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(results, null, 2));
  fs.renameSync(tmp, resultsPath); // atomic: the launcher never reads half a file
}

function errorText(err) {
  if (err === undefined || err === null) return 'unknown error';
  if (err instanceof Error) return err.stack || `${err.name}: ${err.message}`;
  return typeof err === 'string' ? err : util.inspect(err);
}

async function runSuite(config) {
  const lines = [];
  const logPath = `${config.results}.log`;
  const emit = (text) => {
    lines.push(text);
    fs.appendFileSync(logPath, `${text}\n`);
  };
  const results = {
    passed: 0,
    failed: 0,
    pending: 0,
    failures: [],
    output: '',
    configSource: config.source,
    vscodeVersion: vscode.version,
    files: [],
  };
  const fail = (title, err) => {
    results.failed += 1;
    results.failures.push({ title, error: errorText(err) });
    emit(`${title}: ${errorText(err)}`);
  };

  emit(`[runner] VS Code ${vscode.version}, config from ${config.source === 'env' ? 'the environment' : 'run-config.json'}`);
  let Mocha;
  try {
    Mocha = require(require.resolve('mocha', { paths: [config.projectRoot] }));
    results.files = resolveSuite(config.suite, config.projectRoot);
    if (results.files.length === 0) throw new Error(`no test files in ${config.suite}`);
  } catch (err) {
    fail('loading the suite', err);
    return finish();
  }
  emit(`[runner] ${results.files.length} file(s): ${results.files.map((f) => path.relative(config.projectRoot, f)).join(', ')}`);

  const Base = Mocha.reporters.Base;
  const savedLog = Base.consoleLog;
  const savedColors = Base.useColors;
  Base.consoleLog = (...args) => emit(util.format(...args));
  Base.useColors = false;
  try {
    const mocha = new Mocha({
      ui: 'bdd',
      reporter: 'spec',
      color: false,
      timeout: config.timeout ?? 20000,
      grep: config.grep,
    });
    for (const f of results.files) mocha.addFile(f);
    await mocha.loadFilesAsync();
    await new Promise((resolve) => {
      const runner = mocha.run(() => resolve());
      runner.on('fail', (test, err) => {
        results.failures.push({ title: test.fullTitle(), error: errorText(err) });
      });
      runner.on('end', () => {
        results.passed = runner.stats?.passes ?? 0;
        results.failed = runner.stats?.failures ?? results.failures.length;
        results.pending = runner.stats?.pending ?? 0;
      });
    });
  } catch (err) {
    fail('running the suite', err);
  } finally {
    Base.consoleLog = savedLog;
    Base.useColors = savedColors;
  }
  return finish();

  function finish() {
    results.output = lines.join('\n');
    writeResults(config.results, results);
    return results;
  }
}

async function activate(context) {
  let config;
  try {
    config = readConfig(context.extensionPath);
  } catch (err) {
    console.error('[iommu-lens test runner] unreadable run-config.json', err);
    return;
  }
  if (!config || !config.results) return; // not under the launcher: stay idle

  if (fs.existsSync(config.results)) return; // already ran (e.g. the window reloaded)
  if (fs.existsSync(`${config.results}.log`)) {
    // A previous extension host started this run and went away before finishing.
    writeResults(config.results, {
      passed: 0,
      failed: 1,
      pending: 0,
      failures: [{ title: 'extension host', error: 'the extension host restarted while the suite was running' }],
      output: fs.readFileSync(`${config.results}.log`, 'utf8'),
      configSource: config.source,
      vscodeVersion: vscode.version,
      files: [],
    });
    return;
  }
  // Do not hold up activation: run once the host is idle.
  setTimeout(() => {
    runSuite(config).catch((err) => {
      try {
        writeResults(config.results, {
          passed: 0,
          failed: 1,
          pending: 0,
          failures: [{ title: 'test runner', error: errorText(err) }],
          output: errorText(err),
          configSource: config.source,
          vscodeVersion: vscode.version,
          files: [],
        });
      } catch (writeErr) {
        console.error('[iommu-lens test runner] cannot write results', writeErr);
      }
    });
  }, 0);
}

function deactivate() {}

module.exports = { activate, deactivate };
