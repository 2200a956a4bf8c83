// Entry point for @vscode/test-electron (its `extensionTestsPath`), used by
// scripts/vscode-host/run-electron.mjs on machines that can download desktop VS Code: runs the
// same mocha suite as the code-server harness (every *.test.js next to this compiled file).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.js') ? [join(dir, e.name)] : []))
    .sort();
}

export async function run(): Promise<void> {
  const mocha = new Mocha({
    ui: 'bdd',
    color: true,
    timeout: 20_000,
    grep: process.env.IOMMU_LENS_TEST_GREP || undefined,
  });
  for (const file of testFiles(__dirname)) mocha.addFile(file);
  await mocha.loadFilesAsync();
  const failures = await new Promise<number>((resolve) => mocha.run(resolve));
  if (failures > 0) throw new Error(`${failures} integration test(s) failed`);
}
