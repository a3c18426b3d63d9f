// UI tests: a person's view of the console. code-server serves the workbench
// with the extension loaded as a development extension (or installed from the
// packaged .vsix named by CLEARANCE_VSIX); headless Chromium clicks through it.
// Each check is one test; a failing check leaves a screenshot in test-results/.
// A second session (journey.mjs) then walks the operator's journey against a
// running role and the local Clearance service, and goes on through the
// console's webview panels (panels.mjs) with the same role and sign-in.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchChromium, startCodeServer, workbenchUrl } from '../../scripts/code-server.mjs';
import { ROOT, ensureCodeServer, ensureDebianPackages } from '../../scripts/vscode-offline.mjs';
import { runJourney } from './journey.mjs';
import { runPanels } from './panels.mjs';
import { Workbench } from './workbench.mjs';

// Screenshots land in test-results/ first and reach media/screenshots/ (the README's evidence) only when every check passed.
const SCREENSHOTS = path.join(ROOT, 'media', 'screenshots');
const FAILURES = path.join(ROOT, 'test-results');
const SHOTS = path.join(FAILURES, 'screenshots');
const VIEWPORT = { width: 1280, height: 800 };
const OVERALL_TIMEOUT_MS = Number(process.env.CLEARANCE_E2E_TIMEOUT_MS ?? 6 * 60_000);
// A scratch copy of the extension may replace the project (to see the checks fail).
const extensionDir = path.resolve(process.env.CLEARANCE_EXTENSION_DIR ?? ROOT);
const VIEWS = ['Cameras', 'Requests', 'Uploads', 'Activities'];

const results = [];

function slug(name) {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
}

/** PNG width and height from the IHDR chunk. */
function pngSize(file) {
  const b = readFileSync(file);
  if (b.toString('latin1', 1, 4) !== 'PNG') throw new Error(`${file} is not a PNG`);
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

/** Runs one check; true when it passed. `wb` may be undefined (no workbench yet): then there is no screenshot. */
async function check(wb, name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
    return true;
  } catch (err) {
    results.push({ name, ok: false });
    let where = '';
    if (wb) {
      mkdirSync(FAILURES, { recursive: true });
      const shot = path.join(FAILURES, `e2e-${slug(name)}.png`);
      if (await wb.page.screenshot({ path: shot }).then(() => true, () => false)) where = `\n     screenshot: ${path.relative(ROOT, shot)}`;
    }
    console.log(`FAIL ${name} (${Date.now() - started} ms)\n     ${String(err?.message ?? err).split('\n').slice(0, 6).join('\n     ')}${where}`);
    return false;
  }
}

async function runChecks(wb) {
  await check(wb, 'the workbench shows the Clearance entry in the activity bar', async () => {
    await wb.waitForWorkbench();
    await wb.activityBarItem('Clearance').waitFor({ state: 'visible' });
  });

  await check(wb, 'the extension activates without an error notification', async () => {
    await wb.statusBarItem(/Clearance/).waitFor({ state: 'visible', timeout: 30_000 });
    const failures = await wb.notificationTexts(/Activating extension .* failed|clearance.*(cannot|could not|error)/i);
    if (failures.length) throw new Error(`error notification: ${failures.join(' | ')}`);
  });

  await check(wb, 'clicking the Clearance icon opens the Clearance side bar', async () => {
    await wb.openViewContainer('Clearance');
    const title = (await wb.sideBarTitle().textContent())?.trim();
    if (!/^clearance$/i.test(title ?? '')) throw new Error(`side bar title is "${title}"`);
  });

  await check(wb, `the four view headers ${VIEWS.join(', ')} are visible in order`, async () => {
    for (const v of VIEWS) await wb.viewHeader(v).waitFor({ state: 'visible' });
    const shown = await wb.viewHeaderTitles();
    if (JSON.stringify(shown) !== JSON.stringify(VIEWS)) {
      throw new Error(`view headers are ${JSON.stringify(shown)}`);
    }
  });

  await check(wb, 'the welcome views say that no site folder is set, with the way to set it', async () => {
    await wb.welcomeText('No site folder is set.').waitFor({ state: 'visible' });
    await wb.welcomeText("Video requests from investigators appear here once you are signed in to your site's role.").waitFor({ state: 'visible' });
    const buttons = await wb.welcomeButtons('Open Settings').count();
    if (buttons < 1) throw new Error('no "Open Settings" button in the welcome views');
  });

  await check(wb, 'screenshot of the empty console, console-empty.png (1280x800)', async () => {
    const file = path.join(SHOTS, 'console-empty.png');
    await wb.screenshot(file, { blur: true });
    const { width, height } = pngSize(file);
    if (width !== VIEWPORT.width || height !== VIEWPORT.height) throw new Error(`screenshot is ${width}x${height}`);
  });

  await check(wb, 'pressing "Open Settings" opens the site folder setting', async () => {
    await wb.welcomeButtons('Open Settings').first().click();
    await wb.page.locator('.settings-editor').first().waitFor({ state: 'visible' });
    await wb.page.getByText('Site: Folder').first().waitFor({ state: 'visible' });
    await wb.screenshot(path.join(SHOTS, 'site-folder-setting.png'));
    await wb.page.keyboard.press('Control+W');
  });

  await check(wb, 'Clearance: Show Account from the Command Palette tells the operator what is missing: the site folder', async () => {
    await wb.runCommand('Clearance: Show Account');
    await wb.notification(/no site folder is set/i).waitFor({ state: 'visible' });
  });
}

async function main() {
  const vsix = process.env.CLEARANCE_VSIX ? path.resolve(process.env.CLEARANCE_VSIX) : undefined;
  if (vsix && !existsSync(vsix)) throw new Error(`CLEARANCE_VSIX=${vsix} does not exist`);
  if (!vsix && !existsSync(path.join(extensionDir, 'dist', 'extension.js'))) throw new Error('dist/extension.js is missing: run node scripts/build.mjs first');
  ensureDebianPackages();
  await ensureCodeServer();
  rmSync(SHOTS, { recursive: true, force: true });

  const scratch = mkdtempSync(path.join(os.tmpdir(), 'clearance-e2e-'));
  const workspace = path.join(scratch, 'workspace');
  mkdirSync(workspace, { recursive: true });
  let server;
  let browser;
  const started = Date.now();
  const overall = setTimeout(() => {
    console.log(`e2e: gave up after ${OVERALL_TIMEOUT_MS / 1000} s`);
    console.log(`e2e: ${results.filter((r) => r.ok).length} passed, ${results.filter((r) => !r.ok).length + 1} failed`);
    process.exit(1);
  }, OVERALL_TIMEOUT_MS);
  try {
    server = await startCodeServer({ folder: workspace, vsix });
    console.log(`code-server ${server.url} ready; extension ${vsix ? `installed from ${path.relative(ROOT, vsix)}` : 'loaded as a development extension'}`);
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: VIEWPORT });
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (err) => console.error(`[workbench page error] ${err.message}`));
    const url = workbenchUrl(server, { folder: workspace, extensionDevelopmentPath: vsix ? undefined : extensionDir });
    await page.goto(url);
    await runChecks(new Workbench(page));
  } finally {
    await browser?.close().catch(() => {});
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
  // The second session: the operator's journey against a running role and the local service, then the panels.
  try {
    await runJourney({ check, shots: SHOTS, failures: FAILURES, viewport: VIEWPORT, vsix, extensionDir, more: runPanels });
  } finally {
    clearTimeout(overall);
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  if (failed === 0 && existsSync(SHOTS)) {
    mkdirSync(SCREENSHOTS, { recursive: true });
    for (const f of readdirSync(SHOTS)) copyFileSync(path.join(SHOTS, f), path.join(SCREENSHOTS, f));
    console.log(`screenshots saved to ${path.relative(ROOT, SCREENSHOTS)}/: ${readdirSync(SHOTS).join(', ')}`);
  }
  console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));

main().catch((err) => {
  console.error(`e2e: ${err.message}`);
  console.log(`e2e: ${results.filter((r) => r.ok).length} passed, ${results.filter((r) => !r.ok).length + 1} failed`);
  process.exitCode = 1;
});
