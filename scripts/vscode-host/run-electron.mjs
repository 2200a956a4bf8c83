#!/usr/bin/env node
// Runs the integration suite in desktop VS Code through @vscode/test-electron, for machines that
// can download VS Code (this project's own machines cannot: use run.mjs there).
//   npm run compile-tests && npm run build && node scripts/vscode-host/run-electron.mjs [--workspace examples] [--vscode 1.100.3|stable]
import { runTests } from '@vscode/test-electron';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './setup.mjs';

const { values } = parseArgs({
  options: {
    workspace: { type: 'string', default: 'examples' },
    // The manifest's minimum; the smoke test checks for 1.100.
    vscode: { type: 'string', default: '1.100.3' },
  },
});

// The suite writes files into its workspace: give it a copy.
const workspace = join(mkdtempSync(join(tmpdir(), 'iommu-lens-electron-')), 'workspace');
cpSync(resolve(values.workspace), workspace, { recursive: true });

try {
  await runTests({
    version: values.vscode,
    extensionDevelopmentPath: ROOT,
    extensionTestsPath: join(ROOT, 'out', 'test', 'integration', 'electron-index.js'),
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
  });
} catch (err) {
  console.error(`integration tests failed: ${err?.message ?? err}`);
  process.exit(1);
}
