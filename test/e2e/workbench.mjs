// What a person sees in the VS Code workbench, as Playwright locators. Kept in
// one place so a VS Code update that renames a CSS class breaks one file.
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export class Workbench {
  /** @param {import('playwright-core').Page} page */
  constructor(page) {
    this.page = page;
  }

  async waitForWorkbench() {
    await this.page.locator('.monaco-workbench .part.activitybar').waitFor({ state: 'visible', timeout: 60_000 });
  }

  activityBarItem(name) {
    return this.page.locator(`.part.activitybar .action-label[aria-label="${name}"], .part.activitybar .action-label[aria-label^="${name} ("]`).first();
  }

  async openViewContainer(name) {
    await this.activityBarItem(name).click();
    await this.sideBarTitle().filter({ hasText: new RegExp(`^\\s*${name}\\s*$`, 'i') }).waitFor({ state: 'visible' });
  }

  sideBarTitle() {
    return this.page.locator('.part.sidebar > .composite.title .title-label h2');
  }

  /** Header of a view in the side bar, by its name (e.g. "Cameras"). */
  viewHeader(name) {
    return this.page.locator(`.part.sidebar .pane-header[aria-label="${name} Section"]`);
  }

  /** View names as written in package.json (textContent, before CSS upper-cases them). */
  async viewHeaderTitles() {
    return this.page.locator('.part.sidebar .pane-header h3.title').evaluateAll((els) => els.map((e) => e.textContent?.trim()));
  }

  welcomeText(text) {
    return this.page.locator('.part.sidebar .welcome-view-content').getByText(text, { exact: true }).first();
  }

  welcomeButtons(label) {
    return this.page.locator('.part.sidebar .welcome-view-content a.monaco-button', { hasText: label });
  }

  statusBarItem(text) {
    return this.page.locator('.part.statusbar .statusbar-item', { hasText: text }).first();
  }

  quickInput() {
    return this.page.locator('.quick-input-widget');
  }

  async quickInputValue() {
    return this.page.locator('.quick-input-widget .quick-input-box input').inputValue();
  }

  async quickInputTitle() {
    return this.page.locator('.quick-input-widget .quick-input-title').textContent();
  }

  /** Runs a command through the Command Palette by its "Category: Title" label. */
  async runCommand(label) {
    await this.page.locator('.monaco-workbench').focus().catch(() => {});
    await this.page.keyboard.press('F1');
    const input = this.page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible' });
    await input.fill(`>${label}`);
    await this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: label }).first().waitFor({ state: 'visible' });
    await this.page.keyboard.press('Enter');
  }

  notification(text) {
    return this.page.locator('.notifications-toasts .notification-toast', { hasText: text }).first();
  }

  async notificationTexts(text) {
    return this.page.locator('.notifications-toasts .notification-toast', { hasText: text }).allTextContents();
  }

  /**
   * Screenshot without a hover tooltip from the last click in it; `blur` also
   * drops the focus outline (it would close an open quick input).
   */
  async screenshot(file, { blur = false } = {}) {
    mkdirSync(path.dirname(file), { recursive: true });
    await this.page.mouse.move(900, 600);
    if (blur) await this.page.locator(':focus').evaluateAll((els) => els.forEach((e) => e.blur()));
    await this.page.locator('.monaco-hover, .workbench-hover-container').first().waitFor({ state: 'hidden', timeout: 3_000 }).catch(() => {});
    await this.page.waitForTimeout(300);
    await this.page.screenshot({ path: file });
  }
}
