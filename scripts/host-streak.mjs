#!/usr/bin/env node
// Runs the host suites (the integration suite and the UI checks in code-server, as `npm run
// test:host` does) N times in a row, stopping at the first failure: the "20 runs in a row green"
// check. It builds once (compiled tests and the development bundle), copies that build to a stage
// folder and runs every round from there, so edits and rebuilds in the project during the streak
// do not change what is tested. Each run's output goes to artifacts/streak/run-N.log; each run's
// result and time are printed as it ends, then the totals.
//
//   node scripts/host-streak.mjs [N, default 20] [--keep-stage]
//   npm run test:host:streak -- 20
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..');
const { values: opts, positionals } = parseArgs({ options: { 'keep-stage': { type: 'boolean', default: false } }, allowPositionals: true });
const runs = Number(positionals[0] ?? 20);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`the number of runs must be a positive integer, not ${positionals[0]}`);
  process.exit(2);
}

// What `npm run test:host` runs after building, relative to the project (here: the stage).
const HOST_ARGS = [
  'scripts/vscode-host/run.mjs', '--suite', 'out/test/integration', '--workspace', 'examples', '--copy-workspace',
  '--ui', 'out/test/ui/views.ui.js', '--ui', 'out/test/ui/package.ui.js', '--ui', 'out/test/ui/reload.ui.js',
];
// The build and what the host run reads of the project; node_modules and the code-server cache
// are linked, not copied.
const STAGED = ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE', 'out', 'dist', 'media', 'schema', 'examples', 'scripts', 'test/integration/runner-extension'];
const LINKED = ['node_modules', '.vscode-test'];

const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

function build() {
  for (const [what, cmd, args] of [
    ['compile tests', 'npx', ['tsc', '-p', 'tsconfig.test.json']],
    ['build', 'node', ['scripts/build.mjs']],
  ]) {
    const t0 = Date.now();
    const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) {
      console.error(`streak: ${what} failed (${r.status ?? r.signal}); no run started`);
      process.exit(1);
    }
    console.log(`streak: ${what} in ${secs(Date.now() - t0)}`);
  }
}

function stage() {
  const dir = mkdtempSync(join(tmpdir(), 'iommu-lens-streak-'));
  for (const f of STAGED) if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(dir, f), { recursive: true, dereference: true });
  for (const f of LINKED) symlinkSync(join(ROOT, f), join(dir, f));
  return dir;
}

/** One host run from the stage; resolves to its exit code and its closing "N passed, N failed" line. */
function hostRun(dir, logFile) {
  return new Promise((res) => {
    const out = createWriteStream(logFile);
    const child = spawn(process.execPath, HOST_ARGS, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    for (const s of [child.stdout, child.stderr]) {
      s.on('data', (d) => {
        out.write(d);
        text += d;
      });
    }
    const stop = () => child.kill('SIGTERM'); // run.mjs stops code-server and chromium on SIGTERM
    process.once('SIGINT', stop);
    child.on('close', (code) => {
      process.off('SIGINT', stop);
      out.end();
      const summary = text.trimEnd().split('\n').reverse().find((l) => /^\d+ passed, \d+ failed/.test(l)) ?? '(no summary)';
      const failures = text.split('\n').filter((l) => /^\s+\d+\) |\[host\] UI .* FAILED|\[host\] (FAILED|could not start)/.test(l));
      res({ code, summary, failures });
    });
  });
}

build();
const dir = stage();
const logs = join(ROOT, 'artifacts', 'streak');
mkdirSync(logs, { recursive: true });
console.log(`streak: ${runs} run(s) of the host suites from one build (stage ${dir}); logs in artifacts/streak/`);
const times = [];
let passed = 0;
const t0 = Date.now();
for (let i = 1; i <= runs; i++) {
  const started = Date.now();
  const log = join(logs, `run-${i}.log`);
  const r = await hostRun(dir, log);
  const ms = Date.now() - started;
  times.push(ms);
  const ok = r.code === 0;
  console.log(`run ${i}/${runs}: ${ok ? 'pass' : 'FAIL'} in ${secs(ms)}: ${r.summary}`);
  if (!ok) {
    for (const f of r.failures.slice(0, 10)) console.log(`  ${f.trim()}`);
    console.log(`  log: artifacts/streak/run-${i}.log; screenshots and code-server log in ${join(dir, 'artifacts')}`);
    break;
  }
  passed++;
}
const sorted = [...times].sort((a, b) => a - b);
const median = sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : 0;
console.log(
  `streak: ${passed} of ${runs} run(s) passed in a row` +
    `${passed < runs ? ` (stopped at run ${times.length})` : ''}; ` +
    `per run: median ${secs(median)}, min ${secs(sorted[0] ?? 0)}, max ${secs(sorted.at(-1) ?? 0)}; all ${secs(Date.now() - t0)}`,
);
if (!opts['keep-stage'] && passed === runs) rmSync(dir, { recursive: true, force: true });
process.exit(passed === runs ? 0 : 1);
