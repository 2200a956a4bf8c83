#!/usr/bin/env node
// The project's test command (`npm test`): type-check, lint (typescript-eslint), build, unit tests (mocha), the CLI on the
// examples, then the integration and UI suites inside a real VS Code host (code-server driven by
// Debian's chromium; scripts/vscode-host/setup.mjs installs what is missing). Each stage's output
// streams through; the last line totals the tests of every suite as `N passed, N failed`.
//   node scripts/test.mjs [--unit-only] [--skip-host]
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({ options: { 'unit-only': { type: 'boolean' }, 'skip-host': { type: 'boolean' } } });
const totals = { passed: 0, failed: 0, skipped: 0 };
// What failed, repeated just above the totals: a log that keeps only its tail still names it.
const failures = [];
const t0 = Date.now();

function run(title, cmd, args, parse) {
  return new Promise((resolve) => {
    const started = Date.now();
    console.log(`\n=== ${title}: ${[cmd, ...args].join(' ')}`);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let out = '';
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      out += d;
    });
    child.stderr.on('data', (d) => {
      process.stderr.write(d);
      out += d;
    });
    child.on('close', (code) => {
      const ok = code === 0;
      if (parse) parse(out, ok);
      console.log(`=== ${title}: ${ok ? 'ok' : `FAILED (exit ${code})`} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      resolve(ok);
    });
  });
}

// mocha's spec reporter: "  423 passing (16s)", "  1 failing", "  2 pending".
function mochaCounts(out, ok) {
  const n = (re) => Number(re.exec(out)?.[1] ?? 0);
  const passed = n(/^\s*(\d+) passing/m);
  const failed = n(/^\s*(\d+) failing/m);
  totals.passed += passed;
  totals.failed += failed || (ok || passed ? 0 : 1);
  totals.skipped += n(/^\s*(\d+) pending/m);
  if (failed) failures.push(...mochaFailures(out));
}

// The spec reporter's failure list: "  1) suite\n       title:\n     Error: message\n  at ...".
// Each failure keeps its title lines and its message, up to its stack.
function mochaFailures(out) {
  const start = out.search(/^\s*\d+ failing/m);
  if (start < 0) return [];
  const blocks = out.slice(start).split(/^(?=\s{2}\d+\) )/m).slice(1);
  return blocks.map((b) => {
    const lines = b.split('\n');
    const stack = lines.findIndex((l) => /^\s+at /.test(l));
    return lines.slice(0, stack < 0 ? 12 : Math.min(stack, 12)).filter((l) => l.trim()).map((l) => l.trimEnd()).join('\n');
  });
}

// The host runner closes with "N passed, N failed[, N skipped]".
function hostCounts(out, ok) {
  // The integration suite reports as mocha's spec reporter does; a UI script or the host itself in a line of its own.
  failures.push(...mochaFailures(out), ...out.split('\n').filter((l) => /^\[host\] (UI .* FAILED|FAILED|could not start the host)/.test(l)).map((l) => l.slice(0, 400)));
  const m = /^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$/m.exec(out.split('\n').filter(Boolean).slice(-3).join('\n'));
  if (!m) {
    totals.failed += 1;
    return;
  }
  totals.passed += Number(m[1]);
  totals.failed += Number(m[2]) || (ok ? 0 : 1);
  totals.skipped += Number(m[3] ?? 0);
}

// scripts/package-test.mjs closes with "N passed, N failed".
function packageCounts(out, ok) {
  const m = /^(\d+) passed, (\d+) failed\s*$/m.exec(out);
  totals.passed += Number(m?.[1] ?? 0);
  totals.failed += m ? Number(m[2]) || (ok ? 0 : 1) : 1;
}

// A stage that is not a test suite counts as one test.
const one = (_out, ok) => (ok ? totals.passed++ : totals.failed++);

const stages = [
  ['type-check', 'npx', ['tsc', '-p', '.', '--noEmit'], one],
  ['lint', 'npx', ['eslint', '--max-warnings', '0', '.'], one],
  ['build', 'node', ['scripts/build.mjs'], one],
  ['compile tests', 'npx', ['tsc', '-p', 'tsconfig.test.json'], one],
  ['unit tests', 'npx', ['mocha'], mochaCounts],
];
if (!opts['unit-only']) {
  stages.push(
    ['check the examples', 'node', ['bin/iommu-lens.js', 'check', 'examples/an505.iommu.yaml', 'examples/dual-regime.iommu.yaml', 'examples/virt-smmuv3.iommu.yaml', 'examples/q35-intel-iommu.iommu.yaml', 'examples/q35-intel-iommu-no-cm.iommu.yaml', 'examples/q35-intel-iommu-flts.iommu.yaml', 'examples/virtio-iommu.iommu.yaml'], one],
    ['run the examples\' scenarios', 'node', ['bin/iommu-lens.js', 'run', 'examples/an505.iommu.yaml'], one],
    ['', 'node', ['bin/iommu-lens.js', 'run', 'examples/dual-regime.iommu.yaml'], one],
    ['', 'node', ['bin/iommu-lens.js', 'run', 'examples/virt-smmuv3.iommu.yaml'], one],
    ['', 'node', ['bin/iommu-lens.js', 'run', 'examples/q35-intel-iommu.iommu.yaml'], one],
    ['', 'node', ['bin/iommu-lens.js', 'run', 'examples/q35-intel-iommu-no-cm.iommu.yaml'], one],
    ['', 'node', ['bin/iommu-lens.js', 'run', 'examples/q35-intel-iommu-flts.iommu.yaml'], one],
    ['', 'node', ['bin/iommu-lens.js', 'run', 'examples/virtio-iommu.iommu.yaml'], one],
    ['', 'node', ['bin/iommu-lens.js', 'run', '--check-shadows', 'examples/virtio-iommu.iommu.yaml'], one],
  );
  // npm pack (prepack: the production bundle), the tarball installed in a scratch folder and its
  // CLI run; then the .vsix the host suite installs.
  stages.push(['package: npm pack, the installed CLI, the .vsix', 'node', ['scripts/package-test.mjs', ...(opts['skip-host'] ? ['--no-vsix'] : [])], packageCounts]);
  if (!opts['skip-host']) {
    stages.push([
      'integration and UI in VS Code (code-server), the .vsix installed',
      'node',
      [
        'scripts/vscode-host/run.mjs', '--suite', 'out/test/integration', '--workspace', 'examples', '--copy-workspace',
        '--vsix', 'artifacts/iommu-lens.vsix', '--ui', 'out/test/ui/views.ui.js', '--ui', 'out/test/ui/package.ui.js',
        '--ui', 'out/test/ui/reload.ui.js',
      ],
      hostCounts,
    ]);
  }
}

let failedStage = false;
for (const [title, cmd, args, parse] of stages) {
  const ok = await run(title || 'run the examples\' scenarios', cmd, args, parse);
  if (!ok) {
    failedStage = true;
    failures.push(`stage failed: ${title || 'run the examples\' scenarios'}: ${[cmd, ...args].join(' ')}`);
  }
  // Without a build or compiled tests nothing after them means anything.
  if (!ok && (title === 'build' || title === 'compile tests')) break;
}
// Packing left the production bundle in dist/: put the development one (with source maps) back.
if (!opts['unit-only']) await run('build (development bundle again)', 'node', ['scripts/build.mjs']);
console.log(`\nall stages: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
if (failures.length) console.log(`\nwhat failed:\n${failures.join('\n\n')}\n`);
console.log(`${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
process.exit(failedStage || totals.failed ? 1 : 0);
