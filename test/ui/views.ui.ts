// UI checks in the browser workbench, run by scripts/vscode-host/run.mjs --ui after the
// integration suite, in the same window: the IOMMU Lens container and its Regions tree, the
// Translate command driven from the command palette with its quick picks, and screenshots of the
// views kept as artifacts (artifacts/screenshots, not committed).
import * as assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { answer, closeAllEditors, palette, type UiContext } from './workbench';


export default async function viewsUi({ page, screenshotsDir }: UiContext): Promise<void> {
  mkdirSync(screenshotsDir, { recursive: true });
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 30_000 });
  await page.keyboard.press('Escape');
  // Close what the integration suite left open so the views have the room.
  await closeAllEditors(page);

  // The activity-bar entry opens the container (a click would close it if it were open already).
  const entry = page.locator('.part.activitybar a.action-label[aria-label^="IOMMU Lens"]');
  await entry.waitFor({ state: 'visible', timeout: 20_000 });
  const sidebarTitle = page.locator('.part.sidebar .composite.title', { hasText: /IOMMU LENS/i });
  if (!(await sidebarTitle.isVisible())) await entry.click();
  await sidebarTitle.waitFor({ state: 'visible', timeout: 10_000 });
  // Widen the side bar so labels and descriptions fit, as a user would.
  const bar = await page.locator('.part.sidebar').boundingBox();
  if (bar && bar.width < 500) {
    await page.mouse.move(bar.x + bar.width + 1, bar.y + 300);
    await page.mouse.down();
    await page.mouse.move(bar.x + 560, bar.y + 300, { steps: 5 });
    await page.mouse.up();
  }
  const regions = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Regions' }) });
  await regions.locator('.monaco-list-row', { hasText: 'an505.iommu.yaml' }).waitFor({ timeout: 20_000 });
  // Expand mpc0 and its NS index (with the twistie: a click on the label reveals the config line).
  const expand = async (text: string) => {
    const row = regions.locator('.monaco-list-row', { hasText: text }).first();
    await row.waitFor({ timeout: 10_000 });
    if ((await row.getAttribute('aria-expanded')) !== 'true') await row.locator('.monaco-tl-twistie').click();
  };
  await expand('mpc0');
  await regions.locator('.monaco-list-row', { hasText: '1: NS' }).first().waitFor({ timeout: 10_000 });
  const rows = await regions.locator('.monaco-list-row').allInnerTexts();
  for (const want of ['mpc0', 'mpc1', 'mpc2', 'tz-mpc, 4 MiB, 2 indexes']) {
    assert.ok(rows.some((r) => r.includes(want)), `Regions view lacks "${want}": ${rows.join(' | ')}`);
  }
  await expand('1: NS');
  await expand('Mappings');
  await regions.locator('.monaco-list-row', { hasText: 'mpc0-downstream' }).first().waitFor({ timeout: 10_000 });
  await page.screenshot({ path: join(screenshotsDir, 'regions.png') });

  // Translate from the palette: config, initiator, access, attributes, address.
  await palette(page, 'IOMMU: Translate Address...');
  await answer(page, 'an505.iommu.yaml', 'pick', 'which config?');
  await answer(page, 'cpu-ns', 'pick', 'from which initiator?');
  await answer(page, 'read', 'pick', 'which access?');
  await answer(page, 'ns', 'input', '(3/4): attributes');
  await answer(page, '0x8010', 'input', '(4/4): address');
  const toast = page.locator('.notification-toast', { hasText: 'ssram-0 + 0x8010' });
  await toast.waitFor({ state: 'visible', timeout: 10_000 });
  await page.screenshot({ path: join(screenshotsDir, 'translate-answer.png') });
  await toast.locator('a.monaco-button', { hasText: 'Step Through' }).click();
  const steps = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Translation Steps' }) });
  // Wait for the command's own end (the view's message says which step is current), not for a
  // row that exists as soon as the translation does.
  await steps.locator('.pane-body', { hasText: 'step 1 of 9' }).waitFor({ timeout: 10_000 });
  await steps.locator('.monaco-list-row', { hasText: 'attrs to index' }).first().waitFor({ timeout: 10_000 });
  await page.keyboard.press('Escape');
  for (let i = 2; i <= 3; i++) {
    await palette(page, 'IOMMU: Next Translation Step');
    await steps.locator('.pane-body', { hasText: `step ${i} of 9` }).waitFor({ timeout: 10_000 });
  }
  // The view's message names the current step (the rows may be scrolled out of a small view).
  await steps.locator('.pane-body', { hasText: 'step 3 of 9' }).waitFor({ timeout: 10_000 });
  const message = await steps.locator('.pane-body').innerText();
  assert.match(message, /step 3 of 9: mpc0: block 32 \(0x8000\) is LUT word 1 bit 0/);
  await page.screenshot({ path: join(screenshotsDir, 'steps.png') });
  // The README's picture (media/screenshots/views.jpg is a copy of one of these).
  await page.screenshot({ path: join(screenshotsDir, 'views.jpg'), type: 'jpeg', quality: 60, clip: { x: 0, y: 0, width: 1200, height: 880 } });

  // The Notifiers view with the refused registration of the table example.
  const notifiers = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Notifiers' }) });
  const header = notifiers.locator('.pane-header');
  if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
  await notifiers.locator('.monaco-list-row', { hasText: 'net0/vhost' }).first().waitFor({ timeout: 10_000 });
  await page.screenshot({ path: join(screenshotsDir, 'notifiers.png') });

  // The translation-path panel on the SMMUv3 example, opened from Translate's answer.
  await closeAllEditors(page);
  await palette(page, 'IOMMU: Translate Address...');
  await answer(page, 'virt-smmuv3.iommu.yaml', 'pick', 'which config?');
  await answer(page, 'net0', 'pick', 'from which initiator?');
  await answer(page, 'read', 'pick', 'which access?');
  await answer(page, 'requester-id=0x20', 'input', '(3/4): attributes');
  await answer(page, '0x2000_0000', 'input', '(4/4): address');
  const virtToast = page.locator('.notification-toast', { hasText: 'ram + 0x30_0000' });
  await virtToast.waitFor({ state: 'visible', timeout: 10_000 });
  await virtToast.locator('a.monaco-button', { hasText: 'Show Path' }).click();
  // The page lives in nested iframes; wait until it has drawn the STE box.
  let drawn = false;
  for (let i = 0; i < 100 && !drawn; i++) {
    for (const f of page.frames()) {
      if ((await f.locator('.box', { hasText: 'STE fetch' }).count().catch(() => 0)) > 0) drawn = true;
    }
    if (!drawn) await page.waitForTimeout(200);
  }
  assert.ok(drawn, 'the path panel drew the STE fetch');
  await page.keyboard.press('Escape');
  // Room for the path: no side bar, no second editor group.
  await palette(page, 'View: Close Primary Side Bar');
  await page.keyboard.press('Escape');
  await page.waitForTimeout(800);
  await page.screenshot({ path: join(screenshotsDir, 'path-panel.png') });
  // The README's picture of the panel (media/screenshots/path-panel.jpg is a copy of this one).
  await page.screenshot({ path: join(screenshotsDir, 'path-panel.jpg'), type: 'jpeg', quality: 60 });
}
