// Proves the harness: this file runs inside a real VS Code extension host (code-server through
// scripts/vscode-host/run.mjs, or desktop VS Code through scripts/vscode-host/run-electron.mjs).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

describe('integration harness smoke', () => {
  it('runs inside VS Code 1.100', () => {
    assert.ok(vscode.version.startsWith('1.100'), `vscode.version is ${vscode.version}`);
  });

  it('has the IOMMU Lens extension installed', () => {
    const ext = vscode.extensions.getExtension<unknown>('iommu-lens.iommu-lens');
    assert.ok(ext !== undefined, 'extension iommu-lens.iommu-lens is not installed in this host');
    assert.equal((ext.packageJSON as { name?: unknown }).name, 'iommu-lens');
  });
});
