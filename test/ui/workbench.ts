// What the UI checks share: the context scripts/vscode-host/run.mjs hands them, and the command
// palette.
import type { Page } from 'playwright-core';

export interface UiContext {
  page: Page;
  screenshotsDir: string;
  workspace: string;
  /** code-server's --user-data-dir (its Backups folder holds what hot exit restores). */
  userDataDir: string;
}

/**
 * Runs a command from the palette. Ctrl+Shift+P reaches the workbench only when the keyboard focus
 * is in it: a webview (the translation-path panel) keeps it in its own frame and the shortcut is
 * lost. So when the palette has not opened, the command center in the title bar is clicked
 * instead (its quick input takes `>` for commands as the palette does).
 */
export async function palette(page: Page, command: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  for (let attempt = 0; ; attempt++) {
    await page.keyboard.press('Escape');
    if (attempt === 0) await page.keyboard.press('Control+Shift+P');
    else await page.locator('.command-center-center').first().click();
    try {
      await input.waitFor({ state: 'visible', timeout: attempt < 2 ? 5_000 : 10_000 });
      break;
    } catch (e) {
      if (attempt >= 2) throw e;
    }
  }
  await input.fill(`>${command}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: command }).first().waitFor({ timeout: 10_000 });
  await page.keyboard.press('Enter');
}

/**
 * Answers the quick input (a pick: the row with this text; an input box: the text typed) once the
 * input asking `title` is up: a multi-step command replaces one input with the next, and typing
 * before the next has come would go into the one just answered.
 */
export async function answer(page: Page, text: string, kind: 'pick' | 'input', title?: string | RegExp): Promise<void> {
  const widget = page.locator('.quick-input-widget');
  if (title !== undefined) await widget.locator('.quick-input-title', { hasText: title }).waitFor({ state: 'visible', timeout: 20_000 });
  const input = widget.locator('input');
  await input.waitFor({ state: 'visible', timeout: 20_000 });
  await input.fill(text);
  if (kind === 'pick') await widget.locator('.quick-input-list .monaco-list-row', { hasText: text }).first().waitFor({ timeout: 20_000 });
  await page.keyboard.press('Enter');
  // The answered input is gone (or replaced by the next one, with another title).
  if (title !== undefined) await widget.locator('.quick-input-title', { hasText: title }).waitFor({ state: 'hidden', timeout: 20_000 });
}

/** Closes every editor; an unsaved one (an untitled example, a deleted file's editor) is not saved. */
export async function closeAllEditors(page: Page): Promise<void> {
  await palette(page, 'View: Close All Editors');
  const dontSave = page.locator('.monaco-dialog-box a.monaco-button', { hasText: "Don't Save" });
  const tabs = page.locator('.editor-group-container .tabs-container .tab');
  const end = Date.now() + 20_000;
  while ((await tabs.count()) > 0) {
    if (await dontSave.isVisible()) await dontSave.click();
    if (Date.now() > end) throw new Error(`editors still open after Close All Editors: ${(await tabs.allInnerTexts()).join(', ')}`);
    await page.waitForTimeout(100);
  }
}

/** IOMMU Lens's status-bar item (the shield, the active config's name, its problems). */
export function statusItem(page: Page) {
  return page.locator('.part.statusbar .statusbar-item', { has: page.locator('.codicon-shield') }).first();
}
