// UI check of Reload Window (issue 8, item 6), run by scripts/vscode-host/run.mjs --ui last, as it
// reloads the workbench. Open Example Config opens an untitled document; hot exit restores it
// after the reload, and the restored example must load as the example: its text in the editor,
// the status bar naming it with no error, and its Regions root holding the example's MPCs (not
// an empty config in error). Screenshots: reload-before.png, reload-after.png.
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { closeAllEditors, palette, statusItem, type UiContext } from './workbench';

/** Hot exit's backups of untitled documents (code-server keeps them under the user data folder). */
function untitledBackups(userDataDir: string): string[] {
  const root = join(userDataDir, 'User', 'Backups');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((ws) => {
    const dir = join(root, ws, 'untitled');
    return existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8')) : [];
  });
}

async function until(what: string, f: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function showRegions(page: Page) {
  const entry = page.locator('.part.activitybar a.action-label[aria-label^="IOMMU Lens"]');
  await entry.waitFor({ state: 'visible', timeout: 20_000 });
  const sidebarTitle = page.locator('.part.sidebar .composite.title', { hasText: /IOMMU LENS/i });
  if (!(await sidebarTitle.isVisible())) await entry.click();
  await sidebarTitle.waitFor({ state: 'visible', timeout: 10_000 });
  return page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Regions' }) });
}

export default async function reloadUi({ page, screenshotsDir, userDataDir }: UiContext): Promise<void> {
  mkdirSync(screenshotsDir, { recursive: true });
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 30_000 });
  await closeAllEditors(page);

  await palette(page, 'IOMMU: Open Example Config');
  // The example loaded: the status bar names the active editor's config (the tab names the same
  // document), with no error (the example has warnings).
  const activeTab = page.locator('.tabs-container .tab.active').first();
  await activeTab.waitFor({ timeout: 20_000 });
  let name = '';
  const end = Date.now() + 20_000;
  for (;;) {
    name = (await statusItem(page).innerText().catch(() => '')).trim().split(/\s+/)[0] ?? '';
    if (name && (await activeTab.innerText()).includes(name)) break;
    if (Date.now() > end) throw new Error(`the status bar names ${name || 'nothing'}, not the active editor's config (${await activeTab.innerText()})`);
    await page.waitForTimeout(100);
  }
  await statusItem(page).locator('.codicon-check, .codicon-warning').first().waitFor({ timeout: 20_000 });
  await page.screenshot({ path: join(screenshotsDir, 'reload-before.png') });
  // Hot exit restores what it backed up: wait for the example's backup before reloading.
  await until('the untitled example backed up', () => untitledBackups(userDataDir).some((b) => b.includes('\niommu-lens: 1\n')), 30_000);

  const loaded = page.waitForEvent('load', { timeout: 60_000 });
  await palette(page, 'Developer: Reload Window');
  await loaded;
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 90_000 });
  // The restored editor holds the example's text.
  await page.locator('.editor-instance .view-lines', { hasText: 'iommu-lens: 1' }).first().waitFor({ timeout: 30_000 });
  // The extension loaded it under the name it had, with no error (a restored empty document
  // showed the same name with $(error) 1 on a red background).
  await statusItem(page).filter({ hasText: name }).waitFor({ timeout: 30_000 });
  await page.screenshot({ path: join(screenshotsDir, 'reload-after.png') });
  assert.equal(await statusItem(page).locator('.codicon-error').count(), 0, `the status bar shows an error: ${await statusItem(page).innerText()}`);
  await statusItem(page).locator('.codicon-check, .codicon-warning').first().waitFor({ timeout: 5_000 });
  // Its Regions root is the example (its MPCs), once. With every root collapsed first, the only
  // MPC rows are the example's.
  const regions = await showRegions(page);
  await regions.locator('.monaco-list-row[aria-level="1"]').first().waitFor({ timeout: 20_000 });
  await regions.hover();
  await regions.locator('.pane-header .action-label[aria-label="Collapse All"]').click();
  await regions.locator('.monaco-list-row[aria-level="2"]').first().waitFor({ state: 'detached', timeout: 10_000 });
  const root = regions.locator('.monaco-list-row[aria-level="1"]', { hasText: name });
  await root.first().waitFor({ timeout: 20_000 });
  assert.equal(await root.count(), 1, `Regions lists ${name} more than once`);
  if ((await root.getAttribute('aria-expanded')) !== 'true') await root.locator('.monaco-tl-twistie').click();
  await regions.locator('.monaco-list-row[aria-level="2"]', { hasText: 'tz-mpc, 4 MiB, 2 indexes' }).first().waitFor({ timeout: 10_000 });
  await page.screenshot({ path: join(screenshotsDir, 'reload-after.png') });
}
