// What a person sees in the VS Code workbench, as Playwright locators. Kept in
// one place so a VS Code update that renames a CSS class breaks one file.
/* global document -- page functions, run in the browser by Playwright */
import { mkdirSync } from 'node:fs';
import path from 'node:path';

/** A string as a whole-text RegExp (Playwright's hasText otherwise matches substrings); a RegExp as it is. */
function exactly(label) {
  if (label instanceof RegExp) return label;
  return new RegExp(`^\\s*${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`);
}

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
    // A focused webview (an iframe) may keep the keys: a second try first gives the focus back to the workbench.
    for (let attempt = 1; ; attempt++) {
      try {
        if (attempt > 1) {
          await this.page.keyboard.press('Escape');
          await this.page.locator('.part.statusbar').click({ position: { x: 2, y: 2 } }).catch(() => {});
        }
        await this.page.locator('.monaco-workbench').focus().catch(() => {});
        await this.page.keyboard.press('F1');
        const input = this.page.locator('.quick-input-widget .quick-input-box input').first();
        await input.waitFor({ state: 'visible', timeout: 10_000 });
        await input.fill(`>${label}`, { timeout: 10_000 });
        await this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: label }).first().waitFor({ state: 'visible', timeout: 10_000 });
        await this.page.keyboard.press('Enter');
        return;
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }
  }

  /** The quick input's text box (palette, quick pick, input box, simple file dialog). */
  quickInputBox() {
    return this.page.locator('.quick-input-widget .quick-input-box input');
  }

  /** A row of the open quick pick by its label (exact text, or a RegExp). */
  quickPickItem(label) {
    return this.page
      .locator('.quick-input-widget .quick-input-list .monaco-list-row')
      .filter({ has: this.page.locator('.label-name', { hasText: exactly(label) }) })
      .first();
  }

  /** A view's pane in the side bar: its header and its body. */
  viewPane(name) {
    return this.page.locator('.part.sidebar .pane').filter({ has: this.page.locator(`.pane-header[aria-label="${name} Section"]`) });
  }

  /** Welcome text of one view (a line of its viewsWelcome contents). */
  viewWelcomeText(view, text) {
    return this.viewPane(view).locator('.welcome-view-content').getByText(text, { exact: true }).first();
  }

  /** A row of a view's tree by its label (exact text, or a RegExp). */
  treeItem(view, label) {
    return this.viewPane(view)
      .locator('.monaco-list-row')
      .filter({ has: this.page.locator('.custom-view-tree-node-item .label-name', { hasText: exactly(label) }) })
      .first();
  }

  /** Every row of a view's tree now rendered: label and description. */
  async treeRows(view) {
    return this.viewPane(view)
      .locator('.monaco-list-row')
      .evaluateAll((rows) =>
        rows.map((r) => ({
          label: r.querySelector('.label-name')?.textContent?.trim() ?? '',
          description: r.querySelector('.label-description')?.textContent?.trim() ?? '',
          level: Number(r.getAttribute('aria-level') ?? 0),
        })),
      );
  }

  /** The description beside a tree row's label. */
  treeItemDescription(view, label) {
    return this.treeItem(view, label).locator('.label-description');
  }

  /** The check box of a tree row (TreeItem.checkboxState). */
  treeItemCheckbox(view, label) {
    return this.treeItem(view, label).locator('.custom-view-tree-node-item-checkbox');
  }

  /** Whether a tree row's check box is checked (aria-checked). */
  async isTreeItemChecked(view, label) {
    return (await this.treeItemCheckbox(view, label).getAttribute('aria-checked')) === 'true';
  }

  /** Opens a collapsed tree row (a click on its chevron) and waits until it is open. */
  async expandTreeItem(view, label) {
    const row = this.treeItem(view, label);
    await row.waitFor({ state: 'visible' });
    if ((await row.getAttribute('aria-expanded')) === 'false') await row.locator('.monaco-tl-twistie').click();
    await this.viewPane(view).locator('.monaco-list-row[aria-expanded="true"]').filter({ has: this.page.locator('.label-name', { hasText: exactly(label) }) }).first().waitFor({ state: 'visible' });
  }

  /** Collapses (or expands) a view's pane by its header. */
  async setViewExpanded(view, expanded) {
    const header = this.page.locator(`.part.sidebar .pane-header[aria-label="${view} Section"]`);
    // On the title: the middle of the header holds the view's action buttons.
    if (((await header.getAttribute('aria-expanded')) === 'true') !== expanded) await header.locator('h3.title').click();
    await this.page.locator(`.part.sidebar .pane-header[aria-label="${view} Section"][aria-expanded="${expanded}"]`).waitFor({ state: 'visible' });
  }

  /** A button of a notification toast. */
  notificationButton(text, button) {
    return this.notification(text).locator('.notification-list-item-buttons-container .monaco-button', { hasText: button }).first();
  }

  /** Notifications: Clear All Notifications, and waits until no toast is left. */
  async clearNotifications() {
    await this.runCommand('Notifications: Clear All Notifications');
    await this.page.locator('.notifications-toasts .notification-toast').first().waitFor({ state: 'hidden' });
  }

  notification(text) {
    return this.page.locator('.notifications-toasts .notification-toast', { hasText: text }).first();
  }

  async notificationTexts(text) {
    return this.page.locator('.notifications-toasts .notification-toast', { hasText: text }).allTextContents();
  }

  /** An editor tab by its title (a webview panel's title, a file name). */
  editorTab(title) {
    return this.page.locator('.part.editor .tabs-container .tab').filter({ has: this.page.locator('.label-name', { hasText: exactly(title) }) }).first();
  }

  /**
   * The document of a webview panel: webviews are an iframe (the host page) inside an iframe
   * whose inner `active-frame` holds the panel's own page. Found by its <title> and its
   * `#app`, once the page has rendered (no aria-busy left); a hidden panel has no frame.
   * @returns {Promise<import('playwright-core').Frame>}
   */
  async webviewFrame(title, { timeout = 30_000 } = {}) {
    const end = Date.now() + timeout;
    for (;;) {
      for (const frame of this.page.frames()) {
        if (frame.isDetached() || !/webview/i.test(frame.url())) continue;
        const ready = await frame
          .evaluate((t) => document.title === t && document.visibilityState === 'visible' && !!document.getElementById('app') && !document.getElementById('app').hasAttribute('aria-busy'), title)
          .catch(() => false);
        if (ready) return frame;
      }
      if (Date.now() > end) {
        const urls = this.page.frames().map((f) => f.url().replace(/\?.*$/, '')).join(', ');
        throw new Error(`no rendered webview "${title}" within ${timeout / 1000} s (frames: ${urls})`);
      }
      await this.page.waitForTimeout(200);
    }
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
