// UI checks of what a first-time user meets, run by scripts/vscode-host/run.mjs --ui after the
// integration suite (and views.ui), in the same window: the walkthrough (its steps, and its first
// button opening the example), and a long replay's progress notification, cancelled from its
// Cancel button. Screenshots go to artifacts/screenshots (walkthrough.jpg and progress.jpg are
// the README's pictures, copied to media/screenshots).
import * as assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { closeAllEditors, palette, statusItem, type UiContext } from './workbench';


async function pick(page: Page, text: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 30_000 });
  await input.fill(text);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: text }).first().waitFor({ timeout: 20_000 });
  await page.keyboard.press('Enter');
}

export default async function packageUi({ page, screenshotsDir, workspace }: UiContext): Promise<void> {
  mkdirSync(screenshotsDir, { recursive: true });
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 30_000 });
  await closeAllEditors(page);

  // The walkthrough, as the Welcome page lists it.
  await palette(page, 'Welcome: Open Walkthrough...');
  await pick(page, 'Get started with IOMMU Lens');
  const walkthrough = page.locator('.gettingStartedContainer');
  await walkthrough.locator('.getting-started-category', { hasText: 'Get started with IOMMU Lens' }).or(walkthrough.locator('h2', { hasText: 'Get started with IOMMU Lens' })).first().waitFor({ timeout: 20_000 });
  for (const step of ['Open the example config', 'Translate an address', 'Step through the translation', 'Run the scenario', 'Schema checks in YAML (optional)']) {
    await walkthrough.locator('.getting-started-step', { hasText: step }).first().waitFor({ timeout: 10_000 });
  }
  // The first step is open; its button runs Open Example Config, which opens an untitled copy.
  const first = walkthrough.locator('.getting-started-step', { hasText: 'Open the example config' }).first();
  await first.locator('.monaco-button, a', { hasText: 'Open Example Config' }).first().waitFor({ timeout: 10_000 });
  await page.waitForTimeout(1000); // the step's markdown pane renders
  await page.screenshot({ path: join(screenshotsDir, 'walkthrough.png') });
  await page.screenshot({ path: join(screenshotsDir, 'walkthrough.jpg'), type: 'jpeg', quality: 60, clip: { x: 0, y: 0, width: 1200, height: 760 } });
  await first.locator('.monaco-button, a', { hasText: 'Open Example Config' }).first().click();
  await page.locator('.tabs-container .tab', { hasText: /Untitled|an505/ }).first().waitFor({ timeout: 15_000 });

  // A long replay that cannot end before its Cancel click: the example's remapper over 1 PiB is
  // 274,877,906,944 translations page by page, and the launcher (scripts/vscode-host/run.mjs)
  // lifts iommuLens.replayMaxSteps, the cap that would otherwise end it after 16,777,216 (the
  // notification's total shows that the cap is lifted: hours of work at any speed).
  const dual = readFileSync(join(workspace, 'dual-regime.iommu.yaml'), 'utf8');
  let long = dual;
  for (const [from, to] of [
    [/size: 16MiB /, 'size: 1PiB '],
    [/^ {2}gpu0: .*\n/m, ''],
    [/(user-watch: .*), replay: true \}/, '$1 }'],
  ] as const) {
    const next = long.replace(from, to);
    assert.notEqual(next, long, `the fixture's edit ${String(from)} changed nothing`);
    long = next;
  }
  writeFileSync(join(workspace, 'long-replay.iommu.yaml'), long);
  // Open it (Quick Open): the command then works on the active editor's config, once the watcher
  // has loaded it (the status bar names it).
  await palette(page, 'Go to File...');
  await pick(page, 'long-replay.iommu.yaml');
  await page.locator('.tabs-container .tab', { hasText: 'long-replay.iommu.yaml' }).first().waitFor({ timeout: 15_000 });
  await statusItem(page).filter({ hasText: 'long-replay.iommu.yaml' }).waitFor({ timeout: 20_000 });
  await palette(page, 'IOMMU: Replay Notifier');
  await pick(page, 'user-watch');
  const toast = page.locator('.notification-toast', { hasText: 'replaying user-watch' });
  await toast.waitFor({ state: 'visible', timeout: 20_000 });
  await toast.locator('.notification-list-item-message', { hasText: /of 274,877,906,944 translations/ }).waitFor({ timeout: 20_000 });
  await page.screenshot({ path: join(screenshotsDir, 'progress.png') });
  const box = await toast.boundingBox();
  assert.ok(box, 'the progress notification has no box');
  await page.screenshot({
    path: join(screenshotsDir, 'progress.jpg'),
    type: 'jpeg',
    quality: 70,
    clip: { x: Math.max(0, box.x - 440), y: Math.max(0, box.y - 260), width: Math.min(1440, box.width + 460), height: box.height + 280 },
  });
  // Cancel stops the replay and says where it stopped.
  await toast.locator('.monaco-button, a', { hasText: 'Cancel' }).first().click();
  const cancelled = page.locator('.notification-toast', { hasText: /Replay of user-watch cancelled after [\d]+ of 274877906944 translations/ });
  await cancelled.waitFor({ state: 'visible', timeout: 20_000 });
}
