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
