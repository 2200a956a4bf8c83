// UI smoke check, run by scripts/vscode-host/run.mjs --ui out/test/ui/smoke.ui.js against the
// same workbench the integration suite ran in: the workbench is up, and a screenshot of it is
// kept as an artifact.
import * as assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';

export interface UiContext {
  page: Page;
  screenshotsDir: string;
  workspace: string;
}

export default async function smokeUi({ page, screenshotsDir }: UiContext): Promise<void> {
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 30_000 });
  // The activity bar and status bar are drawn once the workbench has restored its parts.
  await page.locator('.part.activitybar').waitFor({ state: 'visible', timeout: 30_000 });
  await page.locator('.part.statusbar').waitFor({ state: 'visible', timeout: 30_000 });
  mkdirSync(screenshotsDir, { recursive: true });
  const file = join(screenshotsDir, 'workbench.png');
  const png = await page.screenshot({ path: file });
  assert.ok(png.length > 1000, `screenshot ${file} is suspiciously small (${png.length} bytes)`);
}
