// The operator's journey in the real workbench, as a second workbench session of
// the e2e run: a local Clearance service (dist/emulator.js) and a sample site
// with real video are set up outside the UI; then, as an operator would, the
// role is started from the Command Palette, a site user signs in, the account's
// connection file is imported through the file dialog, cameras are ticked in the
// Cameras view, a video request filed at the service raises a toast whose
// Approve button exports and uploads the video, and the Activities view shows
// the trail. Each step asserts what the operator sees and what the service (or
// the role) holds. Everything lives in one scratch folder, removed at the end;
// the role and the service are stopped even when a step fails.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serviceApi } from '../../scripts/service-api.mjs';
import { httpStatus, launchChromium, startCodeServer, workbenchUrl } from '../../scripts/code-server.mjs';
import { ROOT } from '../../scripts/vscode-offline.mjs';
import { scanForSecrets, sessionHashesOf } from './secretScan.mjs';
import { Workbench } from './workbench.mjs';

export const EMULATOR = path.join(ROOT, 'dist', 'emulator.js');
export const CLI = path.join(ROOT, 'dist', 'cli.js');
const SITE_MINUTES = 2;
/** A site user's display name with markup and a script: the site's directory is input too (see panels.mjs). */
/** The proxy password the panels set (panels.mjs): the scan at the end looks for it everywhere. */
export const PROXY_SECRET = 'E2e-Proxy-Secret-77';
export const HOSTILE_DISPLAY_NAME = `Tom <img src=x onerror="window.__pwned=1;document.title='pwned'"> Brooks <b>bold</b>`;

/** Resolves with the probe's first truthy value; throws naming `what` after `ms`. */
export async function until(what, probe, ms = 30_000, everyMs = 250) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs a Node script to its end: exit code and output. */
export function node(args, { timeoutMs = 120_000 } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** The local service: `emulator.js start --port 0`, ready once it prints its READY line. */
async function startService(location) {
  const child = spawn(process.execPath, [EMULATOR, 'start', '--location', location, '--port', '0'], {
    cwd: ROOT,
    // With an IPC channel the service stops on its own when this process goes away.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const ready = new Promise((resolve, reject) => {
    const collect = (chunk) => {
      output += chunk;
      if (output.length > 400_000) output = output.slice(-200_000);
    };
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      collect(chunk);
      const line = /^READY (.*)$/m.exec(output);
      if (line) resolve(JSON.parse(line[1]));
    });
    child.stderr.setEncoding('utf8').on('data', collect);
    exited.then((code) => reject(new Error(`the local service exited (${code}) before it was ready:\n${output.slice(-2000)}`)));
  });
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`the local service was not ready within 90 s:\n${output.slice(-2000)}`)), 90_000).unref());
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(r, 20_000, false))]);
    if (!done) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  try {
    const info = await Promise.race([ready, timeout]);
    return { ...info, child, stop, output: () => output };
  } catch (err) {
    await stop();
    throw err;
  }
}

const lockFileOf = (site) => path.join(site, '.clearance-role.lock');

export function roleLock(site) {
  try {
    return JSON.parse(readFileSync(lockFileOf(site), 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The journey: `check(wb, name, fn)` records each step; after a failed step the
 * rest are recorded as failed without running (each depends on the one before).
 * `more`, when given, runs further checks in the same session once the journey is
 * through (the panels, panels.mjs), with the journey's role, service and sign-in.
 * @param {{check: Function, shots: string, viewport: {width: number, height: number}, vsix?: string, extensionDir: string, more?: (session: object) => Promise<void>}} o
 */
export async function runJourney({ check, shots, failures, viewport, vsix, extensionDir, more }) {
  const startedAt = Date.now();
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'clearance-e2e-journey-'));
  const serviceDir = path.join(scratch, 'service');
  const site = path.join(scratch, 'site');
  const workspace = path.join(scratch, 'workspace');
  const passwordFile = path.join(scratch, 'admin.password');
  let broken = false;
  let keepLogs = false;
  let wb;
  let service;
  let server;
  let browser;
  let api;
  let passwords;
  let model;
  let siteStart;
  let requestId;
  let exportedFiles;

  // Last resort when the run is cut short (the overall timeout exits the process): no role or service is
  // left behind, and a detached sweeper removes the scratch folder once they have stopped writing to it.
  const onExit = () => {
    const pids = [];
    const lock = roleLock(site);
    if (lock?.pid && alive(lock.pid)) {
      process.kill(lock.pid, 'SIGTERM');
      pids.push(lock.pid);
    }
    if (service && service.child.exitCode === null) {
      service.child.kill('SIGTERM');
      pids.push(service.child.pid);
    }
    const sweep = `const pids = ${JSON.stringify(pids)}; const end = Date.now() + 60000;
      const alive = (p) => { try { process.kill(p, 0); return true; } catch { return false; } };
      (function wait() { if (pids.some(alive) && Date.now() < end) return setTimeout(wait, 200);
        require('node:fs').rmSync(${JSON.stringify(scratch)}, { recursive: true, force: true, maxRetries: 3 }); })();`;
    spawn(process.execPath, ['-e', sweep], { detached: true, stdio: 'ignore' }).unref();
  };
  process.on('exit', onExit);

  const step = async (name, fn) => {
    if (broken) {
      await check(wb, name, async () => {
        throw new Error('not run: an earlier step of the journey failed');
      });
      return;
    }
    if (!(await check(wb, name, fn))) broken = true;
  };
  const cli = async (...args) => {
    const r = await node([CLI, ...args, '--site', site, '--user', 'admin', '--password-file', passwordFile]);
    if (r.code !== 0) throw new Error(`clearance-role ${args[0]} failed (${r.code}): ${r.err || r.out}`);
    return r.out;
  };
  const cliJson = async (...args) => JSON.parse(await cli(...args));
  const errorToasts = async () => wb.notificationTexts(/failed|error|cannot|could not/i);
  const noErrorToast = async () => {
    const errors = await errorToasts();
    if (errors.length) throw new Error(`error notification: ${errors.join(' | ')}`);
  };
  const camerasOf = (filter) => model.cameras.filter(filter);

  try {
    await step('journey 1: set-up: the local service answers, a sample site with real video and its users\' passwords (one display name holding markup), the workspace names the site', async () => {
      siteStart = new Date(Math.floor((Date.now() - (SITE_MINUTES + 1) * 60_000) / 1000) * 1000);
      // The service and the site (one camera recorded, small frames: quick on two cores) are made at the same time.
      const [started, made] = await Promise.allSettled([
        startService(serviceDir),
        node(
          [path.join(ROOT, 'scripts', 'make-sample-site.mjs'), '--folder', site, '--minutes', String(SITE_MINUTES), '--segment-minutes', '1', '--cameras', '1', '--width', '160', '--height', '90', '--start', siteStart.toISOString()],
          { timeoutMs: 180_000 },
        ),
      ]);
      if (started.status === 'fulfilled') service = started.value;
      else throw started.reason;
      if (made.status === 'rejected') throw made.reason;
      if (made.value.code !== 0) throw new Error(`the sample site was not made (${made.value.code}): ${made.value.err || made.value.out}`);
      if ((await httpStatus(`${service.baseUrl}/.well-known/openid-configuration`)) !== 200) throw new Error(`the service does not answer on ${service.baseUrl}`);
      if (!existsSync(service.connectionFilePath)) throw new Error(`no connection file at ${service.connectionFilePath}`);
      // tbrooks's display name carries markup: every surface that lists site users must show it as text.
      const siteFile = path.join(site, 'site.json');
      const siteJson = JSON.parse(readFileSync(siteFile, 'utf8'));
      siteJson.users.find((u) => u.name === 'tbrooks').displayName = HOSTILE_DISPLAY_NAME;
      writeFileSync(siteFile, `${JSON.stringify(siteJson, null, 2)}\n`, { mode: statSync(siteFile).mode & 0o777 });
      model = JSON.parse(readFileSync(siteFile, 'utf8'));
      const lobby = model.cameras.find((c) => c.name === 'Lobby Entrance');
      const recordings = readdirSync(path.join(site, 'recordings'), { recursive: true }).filter((f) => String(f).endsWith('.mp4'));
      if (!lobby || recordings.length < SITE_MINUTES) throw new Error(`the site has ${recordings.length} recording file(s) and ${lobby ? 'a' : 'no'} Lobby Entrance camera`);
      passwords = JSON.parse(readFileSync(path.join(site, 'sample-passwords.json'), 'utf8'));
      if (!passwords.admin) throw new Error('sample-passwords.json has no password for admin');
      writeFileSync(passwordFile, `${passwords.admin}\n`, { mode: 0o600 });
      mkdirSync(path.join(workspace, '.vscode'), { recursive: true });
      writeFileSync(path.join(workspace, '.vscode', 'settings.json'), `${JSON.stringify({ 'clearance.site.folder': site }, null, 2)}\n`);
      api = await serviceApi(service.connectionFilePath, service.baseUrl);
      const registry = await api.registry();
      if (registry.length !== 0) throw new Error(`the new service's registry is not empty: ${JSON.stringify(registry)}`);
    });

    await step('journey 2: "Clearance: Start Role" from the palette starts the site\'s role in its own process; the console attaches and asks to sign in', async () => {
      server = await startCodeServer({ folder: workspace, vsix });
      browser = await launchChromium();
      const page = await browser.newPage({ viewport });
      page.setDefaultTimeout(20_000);
      page.on('pageerror', (err) => console.error(`[workbench page error] ${err.message}`));
      await page.goto(workbenchUrl(server, { folder: workspace, extensionDevelopmentPath: vsix ? undefined : extensionDir }));
      wb = new Workbench(page);
      await wb.waitForWorkbench();
      await wb.openViewContainer('Clearance');
      await wb.viewWelcomeText('Cameras', 'No Clearance role is running for this site.').waitFor({ state: 'visible', timeout: 60_000 });
      await wb.statusBarItem('Clearance: role not running').waitFor({ state: 'visible' });
      await wb.runCommand('Clearance: Start Role');
      await wb.viewWelcomeText('Cameras', 'The role is running. Sign in as a site user to see and steer it.').waitFor({ state: 'visible', timeout: 90_000 });
      await wb.statusBarItem('Clearance: sign in').waitFor({ state: 'visible' });
      const lock = roleLock(site);
      if (lock?.purpose !== 'runner' || !alive(lock.pid)) throw new Error(`the site lock is ${JSON.stringify(lock)}, not a running runner`);
      if (lock.pid === server.pid) throw new Error('the role runs inside code-server');
      await noErrorToast();
    });

    await step('journey 3: "Clearance: Sign In…" from the palette: pick admin, type the password; the views and the status bar show the signed-in console', async () => {
      await wb.runCommand('Clearance: Sign In…');
      await wb.quickPickItem('admin').waitFor({ state: 'visible' });
      for (const user of ['mchen', 'jrivera', 'tbrooks']) await wb.quickPickItem(user).waitFor({ state: 'visible' });
      await wb.quickPickItem('admin').click();
      await wb.page.locator('.quick-input-widget .quick-input-title', { hasText: 'Password of admin' }).waitFor({ state: 'visible' });
      if ((await wb.quickInputBox().getAttribute('type')) !== 'password') throw new Error('the password box does not hide what is typed');
      await wb.quickInputBox().fill(passwords.admin);
      await wb.page.keyboard.press('Enter');
      await wb.notification('Signed in to the Clearance role as Administrator.').waitFor({ state: 'visible' });
      // Signed in, the Cameras view shows the site's cameras (so not its "No account connected." welcome); the others lead to the account.
      await wb.viewWelcomeText('Cameras', 'The role is running. Sign in as a site user to see and steer it.').waitFor({ state: 'hidden' });
      await wb.treeItem('Cameras', model.areas[0].name).waitFor({ state: 'visible' });
      await wb.viewWelcomeText('Requests', 'Video requests from investigators appear here once an account is connected.').waitFor({ state: 'visible' });
      await wb.viewWelcomeText('Uploads', 'Evidence uploads appear here once an account is connected.').waitFor({ state: 'visible' });
      await wb.statusBarItem('Clearance: sign in').waitFor({ state: 'hidden' });
      // Nothing in flight and nothing pending: the status bar entry reads just "Clearance" (a shield before it).
      await wb.statusBarItem(/^\s*Clearance\s*$/).waitFor({ state: 'visible' });
      // The Activities view is the role's trail: the sign-in is recorded there.
      await wb.treeItem('Activities', /^admin signed in \(vscode\)/).waitFor({ state: 'visible' });
    });

    await step('journey 4: "Clearance: Import Connection File…": the path typed into the file dialog; "Account … connected", the role goes online', async () => {
      await wb.runCommand('Clearance: Import Connection File…');
      await wb.page.locator('.quick-input-widget .quick-input-title', { hasText: 'Import Clearance Connection File' }).waitFor({ state: 'visible' });
      // The simple file dialog opens on the workspace folder: once it lists it, type the path over it.
      await wb.quickPickItem('.vscode').waitFor({ state: 'visible' });
      if ((await wb.quickInputBox().inputValue()) !== `${workspace}/`) throw new Error(`the file dialog opened on ${await wb.quickInputBox().inputValue()}`);
      await wb.quickInputBox().fill(service.connectionFilePath);
      await wb.quickPickItem(path.basename(service.connectionFilePath)).waitFor({ state: 'visible' });
      await wb.page.keyboard.press('Enter');
      await wb.quickInput().waitFor({ state: 'hidden' });
      await wb.notification(new RegExp(`Account ${api.tenantId} connected`)).waitFor({ state: 'visible' });
      await wb.viewWelcomeText('Requests', 'No video requests. The role checks Clearance for new ones at every polling interval.').waitFor({ state: 'visible' });
      await wb.viewWelcomeText('Uploads', 'No uploads in the queue.').waitFor({ state: 'visible' });
      // The role starts with the account and signs in to the service: both recorded in the trail.
      await wb.treeItem('Activities', new RegExp(`^Signed in to Clearance account ${api.tenantId} as `)).waitFor({ state: 'visible', timeout: 60_000 });
      await wb.treeItem('Activities', /^Role started for /).waitFor({ state: 'visible' });
      const status = await cliJson('status');
      if (status.account !== api.tenantId || status.status !== 'running' || status.connection !== 'online') throw new Error(`the role's status: ${JSON.stringify(status)}`);
      await noErrorToast();
    });

    await step('journey 5: the Cameras view shows federation › areas › cameras; ticking an area and a camera of another area publishes exactly those cameras to the service', async () => {
      const area = model.areas.find((a) => a.name === 'Main Building');
      const other = model.areas.find((a) => a.name === 'Parking');
      const camera = camerasOf((c) => c.areaId === other.id)[0];
      const federation = model.federations[0];
      // Room for the whole tree: the other views fold up while the operator picks cameras.
      for (const v of ['Requests', 'Uploads', 'Activities']) await wb.setViewExpanded(v, false);
      for (const root of [federation.name, area.name, other.name]) await wb.treeItem('Cameras', root).waitFor({ state: 'visible', timeout: 30_000 });
      await wb.expandTreeItem('Cameras', federation.name);
      await wb.treeItem('Cameras', model.areas.find((a) => a.federationId === federation.id).name).waitFor({ state: 'visible' });
      await wb.expandTreeItem('Cameras', area.name);
      await wb.treeItem('Cameras', 'Lobby Entrance').waitFor({ state: 'visible' });
      await wb.treeItemCheckbox('Cameras', area.name).click();
      await until(`${area.name} checked`, () => wb.isTreeItemChecked('Cameras', area.name), 20_000);
      await until('Lobby Entrance checked with its area', () => wb.isTreeItemChecked('Cameras', 'Lobby Entrance'), 20_000);
      // Tick the next box once the first change has settled (its cameras read "published"). A box ticked
      // sooner can be lost: every registry change refreshes the whole Cameras tree (CamerasTree has no
      // structure()), and VS Code drops a check box change for an element it no longer knows; the box
      // springs back and the role never hears of it.
      await until('Lobby Entrance published', async () => (await wb.treeItemDescription('Cameras', 'Lobby Entrance').textContent()) === 'published', 60_000);
      await wb.expandTreeItem('Cameras', other.name);
      await wb.treeItem('Cameras', camera.name).waitFor({ state: 'visible' });
      await wb.treeItemCheckbox('Cameras', camera.name).click();
      await until(`${camera.name} checked`, () => wb.isTreeItemChecked('Cameras', camera.name), 20_000);
      if (await wb.isTreeItemChecked('Cameras', other.name)) throw new Error(`${other.name} is checked though only one of its cameras is`);
      const expected = [...camerasOf((c) => c.areaId === area.id), camera].map((c) => c.id).sort();
      let seen = [];
      await until(`the service's registry to list exactly ${expected.length} cameras`, async () => {
        seen = (await api.registry()).map((c) => c.id).sort();
        return JSON.stringify(seen) === JSON.stringify(expected);
      }, 90_000, 500).catch(async (err) => {
        const role = await cliJson('status').catch((e) => ({ error: e.message }));
        throw new Error(`${err.message}; it lists ${JSON.stringify(seen)}; the role holds ${JSON.stringify({ selection: role.selection, registryCameras: role.registryCameras, publishPending: role.publishPending, error: role.error })}`);
      });
      await until(`${camera.name} published in the view`, async () => (await wb.treeItemDescription('Cameras', camera.name).textContent()) === 'published', 20_000);
      if (!(await wb.isTreeItemChecked('Cameras', camera.name))) throw new Error(`${camera.name} is no longer checked`);
      const names = (await api.registry()).map((c) => c.name).sort();
      const wanted = [...camerasOf((c) => c.areaId === area.id), camera].map((c) => c.name).sort();
      if (JSON.stringify(names) !== JSON.stringify(wanted)) throw new Error(`the registry's names are ${JSON.stringify(names)}`);
      await noErrorToast();
      // The toasts so far (signed in, account connected) would cover the screenshots.
      await wb.clearNotifications();
      await wb.screenshot(path.join(shots, 'cameras.png'), { blur: true });
    });

    await step('journey 6: a video request filed at the service raises one toast with Approve and Open, and shows under Pending in the Requests view', async () => {
      for (const v of ['Requests', 'Uploads', 'Activities']) await wb.setViewExpanded(v, true);
      await wb.setViewExpanded('Cameras', false);
      const notified = await cliJson('notify', '--notify-user', 'admin');
      if (notified.notificationUserIds?.length !== 1) throw new Error(`the notification list is ${JSON.stringify(notified)}`);
      const lobby = model.cameras.find((c) => c.name === 'Lobby Entrance');
      const at = (s) => new Date(siteStart.getTime() + s * 1000).toISOString();
      const filed = await node([EMULATOR, 'request', 'create', '--location', serviceDir, '--camera', lobby.id, '--from', at(10), '--to', at(40), '--comments', 'Bag left at the north doors']);
      if (filed.code !== 0) throw new Error(`filing the request failed: ${filed.err || filed.out}`);
      requestId = /video request (\S+) filed/.exec(filed.out)?.[1];
      if (!requestId) throw new Error(`no request id in ${JSON.stringify(filed.out)}`);
      // The operator need not wait for the next poll (every 30 s by default): Check Now.
      await wb.runCommand('Clearance: Check for Video Requests Now');
      const toast = wb.notification(/New video request for Lobby Entrance/);
      await toast.waitFor({ state: 'visible', timeout: 60_000 });
      await wb.notificationButton(/New video request for Lobby Entrance/, 'Approve').waitFor({ state: 'visible' });
      await wb.notificationButton(/New video request for Lobby Entrance/, 'Open').waitFor({ state: 'visible' });
      await wb.treeItem('Requests', 'Pending').waitFor({ state: 'visible' });
      await wb.treeItem('Requests', 'Lobby Entrance').waitFor({ state: 'visible' });
      const toasts = await wb.notificationTexts(/New video request/);
      if (toasts.length !== 1) throw new Error(`${toasts.length} request toasts`);
      const atService = await api.request(requestId);
      if (!['Pending', 'Processing'].includes(atService.status)) throw new Error(`the service holds the request as ${atService.status}`);
      await wb.screenshot(path.join(shots, 'requests.png'), { blur: true });
    });

    await step('journey 7: Approve in the toast: the upload shows in the Uploads view and ends in its history; the request ends Completed in the view and at the service', async () => {
      await wb.notificationButton(/New video request for Lobby Entrance/, 'Approve').click();
      const title = new RegExp(`^\\s*Request \\S+ — Lobby Entrance\\s*$`);
      const progress = new Set();
      await until('the upload in the Uploads view', async () => {
        const rows = await wb.treeRows('Uploads');
        for (const r of rows) if (/\d+%/.test(r.description)) progress.add(r.description);
        return rows.some((r) => title.test(r.label) || r.label === 'History');
      }, 90_000, 100);
      await until('the upload in the history', async () => {
        const rows = await wb.treeRows('Uploads');
        for (const r of rows) if (/\d+%/.test(r.description)) progress.add(r.description);
        return rows.some((r) => r.label === 'History');
      }, 90_000, 100);
      if (progress.size) console.log(`     progress seen: ${[...progress].join(' | ')}`);
      await wb.expandTreeItem('Uploads', 'History');
      await wb.treeItem('Uploads', title).waitFor({ state: 'visible' });
      const description = await wb.treeItemDescription('Uploads', title).textContent();
      if (!/^completed · /.test(description ?? '')) throw new Error(`the finished upload reads "${description}"`);
      await wb.treeItem('Requests', 'Completed').waitFor({ state: 'visible', timeout: 60_000 });
      await wb.expandTreeItem('Requests', 'Completed');
      await wb.treeItem('Requests', 'Lobby Entrance').waitFor({ state: 'visible' });
      await wb.treeItem('Requests', 'Pending').waitFor({ state: 'hidden' });
      await until('the request Completed at the service', async () => (await api.request(requestId)).status === 'Completed', 60_000, 500);
      await noErrorToast();
      await wb.screenshot(path.join(shots, 'uploads.png'), { blur: true });
    });

    await step('journey 8: the service holds the evidence; decrypted, its SHA-256 equals that of the file the role exported', async () => {
      const request = (await cliJson('requests')).find((r) => r.requestId === requestId);
      const camera = request?.cameras?.[0];
      if (request?.status !== 'Completed' || camera?.outcome !== 'Exported' || !camera.evidenceId || !camera.files?.length) {
        throw new Error(`the role's request: ${JSON.stringify(request)}`);
      }
      // The request at the service names the same evidence.
      const filed = await api.request(requestId);
      if (JSON.stringify(filed.evidenceIds) !== JSON.stringify([camera.evidenceId])) throw new Error(`the service's request names evidence ${JSON.stringify(filed.evidenceIds)}, the role ${camera.evidenceId}`);
      const evidence = await api.evidence(camera.evidenceId);
      if (evidence.State !== 'Complete') throw new Error(`the evidence is ${evidence.State}`);
      const resources = await api.resources(camera.evidenceId);
      if (resources.length !== camera.files.length || resources.some((r) => r.State !== 'Complete')) {
        throw new Error(`the evidence has ${JSON.stringify(resources.map((r) => [r.Name, r.State]))} for ${camera.files.length} exported file(s)`);
      }
      const atService = (await Promise.all(resources.map((r) => api.contentSha256(camera.evidenceId, r.ResourceId)))).sort();
      const exported = camera.files.map((f) => f.sha256).sort();
      if (JSON.stringify(atService) !== JSON.stringify(exported)) throw new Error(`SHA-256 at the service ${atService.join(', ')} ≠ exported ${exported.join(', ')}`);
      exportedFiles = camera.files;
    });

    await step('journey 9: the Activities view shows the trail, newest first: the approval, the export, the upload and the request completed', async () => {
      for (const v of ['Cameras', 'Requests', 'Uploads']) await wb.setViewExpanded(v, false);
      const short = requestId.slice(0, 8);
      const wanted = [
        new RegExp(`^Video request ${short}\\S*: Pending → Processing \\(approved by admin\\)`),
        new RegExp(`^Exported Lobby Entrance .* for request ${short}`),
        new RegExp(`^Video request ${short}\\S*: Processing → Completed`),
      ];
      let rows = [];
      await until('the trail records in the Activities view', async () => {
        rows = await wb.treeRows('Activities');
        return wanted.every((w) => rows.some((r) => w.test(r.label)));
      }, 30_000).catch((err) => {
        throw new Error(`${err.message}; it shows ${JSON.stringify(rows.map((r) => r.label))}`);
      });
      const index = (w) => rows.findIndex((r) => w.test(r.label));
      if (!(index(wanted[2]) < index(wanted[1]) && index(wanted[1]) < index(wanted[0]))) throw new Error(`not newest first: ${JSON.stringify(rows.map((r) => r.label))}`);
      await wb.screenshot(path.join(shots, 'activities.png'), { blur: true });
      // What the view shows is the role's trail, and its export record names the exported files.
      const trail = await cliJson('activities');
      const summaries = new Set(trail.map((r) => r.summary));
      const unknown = rows.filter((r) => !summaries.has(r.label));
      if (unknown.length) throw new Error(`rows not in the role's trail: ${JSON.stringify(unknown)}`);
      const record = trail.find((r) => r.type === 'exportCompleted' && r.requestId === requestId);
      if (JSON.stringify(record?.files) !== JSON.stringify(exportedFiles)) throw new Error(`the trail's export record lists ${JSON.stringify(record?.files)}, the request ${JSON.stringify(exportedFiles)}`);
      // Verify Activity Trail from the palette: the hash chain is intact.
      await wb.runCommand('Clearance: Verify Activity Trail');
      await wb.notification(/The activity trail verifies: \d+ record\(s\), chain intact\./).waitFor({ state: 'visible' });
    });

    if (more) {
      await more({
        // Each check of theirs runs only after a journey that went through; a failed one keeps the logs too.
        check: async (name, fn) => {
          const ok = await check(wb, name, broken ? async () => { throw new Error('not run: a step of the journey failed'); } : fn);
          if (!ok) keepLogs = true;
          return ok;
        },
        wb, api, model, siteStart, site, scratch, serviceDir, shots, passwords, passwordFile, requestId, cli, cliJson, noErrorToast, workspace,
      });
    }
  } finally {
    // A failed journey leaves the role's log and the service's output beside its screenshots.
    if ((broken || keepLogs) && failures) {
      mkdirSync(failures, { recursive: true });
      const roleLog = path.join(site, '.clearance-role', 'role.log');
      if (existsSync(roleLog)) writeFileSync(path.join(failures, 'e2e-journey-role.log'), readFileSync(roleLog));
      if (service) writeFileSync(path.join(failures, 'e2e-journey-service.log'), service.output());
      console.log(`     logs: ${path.relative(ROOT, failures)}/e2e-journey-role.log, e2e-journey-service.log`);
    }
    // The browser's profile, copied while it runs (Playwright deletes it on close), for the scan below.
    const profileCopy = path.join(scratch, 'browser-profile');
    if (browser) {
      for (const name of readdirSync(os.tmpdir()).filter((n) => n.startsWith('playwright_chromiumdev_profile-'))) {
        const dir = path.join(os.tmpdir(), name);
        try {
          if (statSync(dir).mtimeMs >= startedAt) cpSync(dir, path.join(profileCopy, name), { recursive: true, filter: (src) => !/Singleton/.test(src) });
        } catch (err) {
          console.log(`     (the browser profile ${dir} could not be copied whole: ${err.message})`);
        }
      }
    }
    await check(wb, 'journey 10: the role, the workbench and the local service stop', async () => {
      const problems = [];
      const lock = roleLock(site);
      if (lock?.pid && alive(lock.pid)) {
        const stopped = passwords ? await node([CLI, 'stop', '--site', site, '--user', 'admin', '--password-file', passwordFile]) : { code: -1 };
        if (stopped.code !== 0) {
          problems.push(`clearance-role stop failed (${stopped.code}): ${stopped.err ?? ''}`);
          process.kill(lock.pid, 'SIGTERM');
        }
        await until('the role to exit', () => !alive(lock.pid), 60_000).catch((err) => {
          problems.push(err.message);
          process.kill(lock.pid, 'SIGKILL');
        });
        if (existsSync(lockFileOf(site))) problems.push('the site lock is still there');
      }
      await browser?.close().catch(() => {});
      await server?.stop();
      if (service) {
        await service.stop();
        if (existsSync(path.join(serviceDir, 'emulator.json'))) problems.push('the service left its runtime file behind');
      }
      if (problems.length) throw new Error(problems.join('; '));
    });
    await check(wb, 'journey 11: security: every file the run wrote (site, role state, workspace, workbench storage, the browser\'s profile, logs) holds no private key, API key, password, proxy password, access token or session token outside its owner-only holders', async () => {
      if (broken) throw new Error('not run: a step of the journey failed');
      const stateDir = path.join(site, '.clearance-role');
      const sessionHashes = sessionHashesOf(path.join(stateDir, 'sessions.jsonl'));
      if (sessionHashes.size === 0) throw new Error(`no session hashes in ${path.join(stateDir, 'sessions.jsonl')}: the scan could not look for session tokens`);
      const scan = scanForSecrets({
        roots: [scratch, ...(server?.userDataDir ? [path.dirname(server.userDataDir)] : [])],
        skip: [serviceDir],
        holders: [path.join(stateDir, 'secrets.json'), path.join(site, 'sample-passwords.json'), passwordFile],
        connectionFile: service.connectionFilePath,
        passwords,
        extraSecrets: { 'proxy password': PROXY_SECRET },
        sessionHashes,
      });
      console.log(`     searched ${scan.files} files (${(scan.bytes / 2 ** 20).toFixed(1)} MiB) for ${scan.needles} encodings of secrets, ${scan.tokensChecked} token-like strings hashed against ${sessionHashes.size} session hashes; owner-only holders: ${scan.holders.map((h) => path.relative(scratch, h)).join(', ')}`);
      if (!existsSync(profileCopy)) throw new Error('the browser\'s profile was not found to search');
      const problems = [...scan.holderProblems, ...scan.findings];
      if (problems.length) throw new Error(`${problems.length} finding(s): ${problems.slice(0, 12).join('; ')}`);
    });
    process.off('exit', onExit);
    rmSync(scratch, { recursive: true, force: true, maxRetries: 3 });
  }
}
