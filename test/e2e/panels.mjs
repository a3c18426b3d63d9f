// The console's webview panels in the real workbench, as more checks of the
// journey's session (journey.mjs): its role, local service and signed-in admin
// are reused. Each check drives a panel as the operator would (palette
// commands, typing into the form, clicking its buttons) and then asserts both
// what the operator sees and what the role holds: the role is read through its
// control socket (properties.get, notifications.get, signed in as admin like
// any console), the CLI (requests, activities) and its trail. Webviews are
// iframes inside iframes; Workbench.webviewFrame finds a panel's own page, and
// Playwright's CSS locators pierce the open shadow roots of @vscode-elements.
/* global document, window -- page functions, run in the browser by Playwright */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { EMULATOR, HOSTILE_DISPLAY_NAME, PROXY_SECRET, node, roleLock, until } from './journey.mjs';

const TITLES = {
  properties: 'Clearance Role Properties',
  notifications: 'Clearance Request Notifications',
  request: 'Clearance Video Request',
  activities: 'Clearance Activities Report',
};
// Markup, a script and a command link: the panel must show all of it as plain text.
const HOSTILE_COMMENT = `<img src=x onerror="document.title='pwned'"> <script>document.title='pwned'</script> [x](command:workbench.action.quit)`;
// More strings from the service: a requester's name and the reason of a cancel at the service.
const HOSTILE_REQUESTER = `<svg onload="window.__pwned=1">eve@clearance.local</svg>`;
const HOSTILE_REASON = `</td></tr><script>window.__pwned=1</script><img src=x onerror="window.__pwned=1;document.title='pwned'"> changed mind`;
const SECOND_COMMENT = 'Second request <b onmouseover="window.__pwned=1">zebra-7</b>';

/**
 * What in a panel's page came from markup it should have shown as text: any element with an
 * inline handler, an <img>, <svg> or <b> anywhere (open shadow roots included), a script
 * neither signed by the panel's nonce nor VS Code's, and the flags the payloads set.
 */
function markupFromInput() {
  const found = [];
  const walk = (root) => {
    for (const e of root.querySelectorAll('*')) {
      const handlers = [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => a.name);
      if (handlers.length) found.push(`<${e.localName} ${handlers.join(' ')}>`);
      if (['img', 'b'].includes(e.localName) || (e.localName === 'svg' && e.closest('[data-user], dd, td'))) found.push(`<${e.localName}>`);
      if (e.localName === 'script' && (e.textContent.includes('pwned') || (e.src && !e.nonce))) found.push('<script>');
      if (e.shadowRoot) walk(e.shadowRoot);
    }
  };
  walk(document);
  if (window.__pwned) found.push('window.__pwned set');
  if (document.title === 'pwned') found.push('document.title changed');
  return found;
}

/** Every text of a page, shadow roots included, as the operator reads it. */
function visibleText() {
  const parts = [];
  const walk = (root) => {
    for (const e of root.querySelectorAll('*')) {
      if (e.shadowRoot) walk(e.shadowRoot);
      for (const n of e.childNodes) if (n.nodeType === 3) parts.push(n.textContent);
    }
  };
  walk(document);
  return parts.join(' ');
}

/** WCAG contrast of two CSS colours (rgb/rgba). */
function contrast(a, b) {
  const lum = (c) => {
    const [r, g, bl] = c.match(/[\d.]+/g).slice(0, 3).map(Number).map((v) => {
      const x = v / 255;
      return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/**
 * Product defects that keep a part of these checks from passing today. That part is left
 * out, the check's name says so, and the run ends by listing them. Remove an entry once its
 * defect is fixed; CLEARANCE_E2E_RUN_KNOWN_DEFECTS=1 runs the parts anyway (to see them fail, or pass).
 */
export const KNOWN_DEFECTS = {};
const skip = (key) => !process.env.CLEARANCE_E2E_RUN_KNOWN_DEFECTS && KNOWN_DEFECTS[key];

/**
 * A console of the role's own, over its control socket (docs/control-protocol.md):
 * hello, session.signIn as a site user, then requests by id. For what the role holds
 * that no scripted CLI command prints (its properties, its notification list).
 */
async function openRoleProbe(site, user, password) {
  const controlPath = roleLock(site)?.controlPath;
  if (!controlPath) throw new Error(`the site lock names no control socket: ${JSON.stringify(roleLock(site))}`);
  const socket = net.createConnection(controlPath);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const waiting = new Map();
  let buffer = '';
  let nextId = 1;
  socket.setEncoding('utf8').on('data', (chunk) => {
    buffer += chunk;
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      if (!line.trim()) continue;
      const m = JSON.parse(line);
      const w = (m.type === 'reply' || m.type === 'welcome') && waiting.get(m.id);
      if (!w) continue;
      waiting.delete(m.id);
      if (m.type === 'welcome' || m.ok) w.resolve(m.result ?? m);
      else w.reject(new Error(`${m.error?.code}: ${m.error?.message}`));
    }
  });
  socket.on('close', () => {
    for (const w of waiting.values()) w.reject(new Error('the role closed the control socket'));
    waiting.clear();
  });
  let session;
  const send = (message) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      socket.write(`${JSON.stringify({ ...message, id })}\n`);
    });
  const request = (command, args) => send({ type: 'request', command, ...(args ? { args } : {}), ...(session ? { session } : {}) });
  await send({ type: 'hello', protocol: 1, client: 'e2e' });
  session = (await request('session.signIn', { user, password })).session;
  return {
    request,
    close: async () => {
      await request('session.signOut').catch(() => {});
      socket.end();
    },
  };
}

/** Everything a page holds as text: its markup, every open shadow root, every field's value. */
function pageText() {
  const parts = [document.documentElement.outerHTML];
  const walk = (root) => {
    for (const e of root.querySelectorAll('*')) {
      if (typeof e.value === 'string' && e.value) parts.push(e.value);
      if (e.shadowRoot) {
        parts.push(e.shadowRoot.innerHTML);
        walk(e.shadowRoot);
      }
    }
  };
  walk(document);
  return parts.join('\n');
}

/** The panel page's Content-Security-Policy, and whether an inline script it did not sign runs. */
async function cspOf(frame) {
  return frame.evaluate(() => {
    const csp = document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.getAttribute('content') ?? '';
    const s = document.createElement('script');
    s.textContent = 'window.__inline = 1';
    document.body.append(s);
    const ran = window.__inline;
    s.remove();
    return { csp, ran };
  });
}

function assertStrictCsp(title, { csp, ran }, { media = false } = {}) {
  const problems = [];
  if (!/script-src 'nonce-[A-Za-z0-9+/=]+'/.test(csp)) problems.push("no script-src 'nonce-…'");
  if (/unsafe-inline|unsafe-eval/.test(csp)) problems.push('unsafe-inline or unsafe-eval');
  if (!/default-src 'none'/.test(csp)) problems.push("no default-src 'none'");
  if (media && !/media-src /.test(csp)) problems.push('no media-src for its video');
  if (ran !== undefined) problems.push(`an inline script ran (window.__inline = ${ran})`);
  if (problems.length) throw new Error(`${title}: ${problems.join('; ')} — CSP "${csp}"`);
}

/**
 * @param {{check: (name: string, fn: () => Promise<void>) => Promise<boolean>, wb: import('./workbench.mjs').Workbench,
 *   api: object, model: object, siteStart: Date, site: string, scratch: string, serviceDir: string, shots: string,
 *   passwords: Record<string, string>, noErrorToast: () => Promise<void>}} s
 */
export async function runPanels(s) {
  const { check, wb, model, site, scratch, serviceDir, shots, noErrorToast } = s;
  const user = (name) => model.users.find((u) => u.name === name);
  const lobby = model.cameras.find((c) => c.name === 'Lobby Entrance');
  // What the CLI reads (its activities, requests and status commands), over the probe's one session.
  const trail = () => role('activities.query', {});
  const requests = () => role('requests.list', {});
  const roleLog = () => {
    const file = path.join(site, '.clearance-role', 'role.log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  };
  let probe;
  /** A command at the role, as admin over its control socket. */
  const role = async (command, args) => {
    probe ??= await openRoleProbe(site, 'admin', s.passwords.admin);
    return probe.request(command, args);
  };
  let reviewId;
  // The new request's range: 30 s inside the recordings (the site records from siteStart for two minutes).
  const review = { from: new Date(s.siteStart.getTime() + 70_000).toISOString(), to: new Date(s.siteStart.getTime() + 100_000).toISOString() };
  let reviewFiles;
  const opened = new Set();

  /** A panel's page: the palette command when it is not open yet, a click on its tab when it is. */
  const show = async (kind, command) => {
    if (opened.has(kind) && (await wb.editorTab(TITLES[kind]).count())) await wb.editorTab(TITLES[kind]).click();
    else await wb.runCommand(command);
    opened.add(kind);
    return wb.webviewFrame(TITLES[kind]);
  };
  /** The panel's banner of a kind ('ok', or 'ok|warning': applied, with the role's warnings listed). */
  const banner = (frame, kind, text) => frame.locator(kind.split('|').map((k) => `.banner.${k}`).join(', '), { hasText: text }).first();

  try {
    await check('panel 1: Role Properties shows the role\'s values; a polling interval below its limit is refused at the field and the role keeps its own; a valid one is applied and recorded', async () => {
      const held = await role('properties.get');
      await wb.clearNotifications();
      let f = await show('properties', 'Clearance: Open Role Properties');
      const shown = await f.evaluate(() => Object.fromEntries([...document.querySelectorAll('vscode-textfield[id], vscode-checkbox[id]')].map((e) => [e.id, e.localName === 'vscode-checkbox' ? e.checked : e.value])));
      const p = held.properties;
      const expected = {
        pollingIntervalSeconds: String(p.pollingIntervalSeconds),
        archiveDestinationFolder: p.archiveDestinationFolder,
        'proxy.enabled': p.proxy.enabled,
        'proxy.host': p.proxy.host,
        'proxy.port': String(p.proxy.port),
        'proxy.username': p.proxy.username,
        throttlingEnabled: p.throttlingEnabled,
        maximumBandwidthMbps: String(p.maximumBandwidthMbps),
        'proxy.password': '',
      };
      for (const [k, v] of Object.entries(expected)) if (shown[k] !== v) throw new Error(`the form shows ${k} = ${JSON.stringify(shown[k])}, the role holds ${JSON.stringify(v)}`);
      if (!(await f.locator('#account-id').textContent())?.includes(s.api.tenantId)) throw new Error(`the account line reads "${await f.locator('#account-id').textContent()}"`);
      if (await f.locator('h1 .dirty').count()) throw new Error('the title is marked unsaved before anything was typed');
      const changesBefore = (await trail()).filter((r) => r.type === 'configurationChanged').length;

      // Below the minimum: the role refuses, the error shows at the field.
      await f.locator('#pollingIntervalSeconds input').fill('2');
      await f.locator('h1 .dirty').waitFor({ state: 'attached' });
      await f.locator('vscode-button#apply').click();
      const error = f.locator('#pollingIntervalSeconds-error');
      await until('the error at the polling interval', async () => ((await error.textContent()) ?? '').trim(), 20_000);
      const errorText = (await error.textContent()).trim();
      if (!/5/.test(errorText)) throw new Error(`the field's error says "${errorText}", not its minimum`);
      if ((await f.locator('vscode-textfield#pollingIntervalSeconds').getAttribute('invalid')) === null) throw new Error('the field is not marked invalid');
      if ((await role('properties.get')).properties.pollingIntervalSeconds !== p.pollingIntervalSeconds) throw new Error('the role took the refused interval');
      if ((await trail()).filter((r) => r.type === 'configurationChanged').length !== changesBefore) throw new Error('a refused change was recorded as a configuration change');

      // A valid one: applied, said in the banner, held and recorded by the role.
      await f.locator('#pollingIntervalSeconds input').fill('45');
      if (await error.textContent().then((t) => t.trim())) throw new Error('the field\'s error stays while the operator types a new value');
      await f.locator('vscode-button#apply').click();
      await banner(f, 'ok', 'Applied: pollingIntervalSeconds').waitFor({ state: 'visible' });
      await f.locator('h1 .dirty').waitFor({ state: 'detached' });
      const now = await role('properties.get');
      if (now.properties.pollingIntervalSeconds !== 45) throw new Error(`the role holds a polling interval of ${now.properties.pollingIntervalSeconds}`);
      const record = (await trail()).filter((r) => r.type === 'configurationChanged').at(-1);
      if (record?.details?.['pollingIntervalSeconds.after'] !== '45' || record.details['pollingIntervalSeconds.before'] !== String(p.pollingIntervalSeconds) || record.user !== 'admin') {
        throw new Error(`the trail's last configuration change is ${JSON.stringify(record)}`);
      }
      await wb.screenshot(path.join(shots, 'panel-properties.png'), { blur: true });
    });

    await check('panel 2: Role Properties keeps what was typed, unsaved, across hide and show (the proxy password typed is not kept: it never enters the webview state); Revert goes back to the role\'s values', async () => {
      let f = await show('properties', 'Clearance: Open Role Properties');
      await f.locator('#pollingIntervalSeconds input').fill('50');
      await f.locator('vscode-checkbox[id="proxy.enabled"] label').click();
      await f.locator('vscode-textfield[id="proxy.host"]:not([disabled])').waitFor({ state: 'attached' });
      await f.locator('[id="proxy.host"] input').fill('127.0.0.1');
      await f.locator('[id="proxy.password"] input').fill('typed-and-not-applied');
      await f.locator('h1 .dirty').waitFor({ state: 'attached' });
      // Another editor tab in front (the Request Notifications panel), then back.
      await wb.runCommand('Clearance: Open Request Notifications');
      opened.add('notifications');
      await wb.webviewFrame(TITLES.notifications);
      const hidden = f;
      f = await show('properties');
      console.log(`     the properties page was ${hidden.isDetached() ? 'discarded while hidden and restored from its state' : 'kept while hidden'}`);
      await f.locator('h1 .dirty').waitFor({ state: 'attached' });
      const kept = {
        polling: await f.locator('#pollingIntervalSeconds input').inputValue(),
        proxy: await f.locator('vscode-checkbox[id="proxy.enabled"]').evaluate((e) => e.checked),
        host: await f.locator('[id="proxy.host"] input').inputValue(),
        password: await f.locator('[id="proxy.password"] input').inputValue(),
      };
      if (kept.polling !== '50' || kept.proxy !== true || kept.host !== '127.0.0.1') throw new Error(`after hide and show the form holds ${JSON.stringify(kept)}`);
      if (hidden.isDetached() && kept.password !== '') throw new Error('the typed proxy password came back from the webview state');
      if (hidden.isDetached()) await banner(f, 'info', 'Your unsaved changes were kept.').waitFor({ state: 'visible' });
      if ((await f.evaluate(pageText)).includes('typed-and-not-applied') && hidden.isDetached()) throw new Error('the restored page holds the typed proxy password');
      await f.locator('vscode-button#revert').click();
      await f.locator('h1 .dirty').waitFor({ state: 'detached' });
      const reverted = { polling: await f.locator('#pollingIntervalSeconds input').inputValue(), proxy: await f.locator('vscode-checkbox[id="proxy.enabled"]').evaluate((e) => e.checked) };
      if (reverted.polling !== '45' || reverted.proxy !== false) throw new Error(`after Revert the form holds ${JSON.stringify(reverted)}`);
      if ((await role('properties.get')).properties.pollingIntervalSeconds !== 45) throw new Error('the role\'s polling interval changed without Apply');
    });

    await check('panel 3: a proxy with a password set through Role Properties: the role holds it (the reopened form says "A proxy password is set"), the password is nowhere in the page, the trail or the log; the proxy turned off again', async () => {
      let f = await show('properties', 'Clearance: Open Role Properties');
      await f.locator('vscode-checkbox[id="proxy.enabled"] label').click();
      await f.locator('vscode-textfield[id="proxy.password"]:not([disabled])').waitFor({ state: 'attached' });
      await f.locator('[id="proxy.host"] input').fill('127.0.0.1');
      await f.locator('[id="proxy.port"] input').fill('3128');
      await f.locator('[id="proxy.username"] input').fill('u');
      await f.locator('[id="proxy.password"] input').fill(PROXY_SECRET);
      await f.locator('vscode-button#apply').click();
      await banner(f, 'ok|warning', 'proxy password').waitFor({ state: 'visible' });
      const said = (await banner(f, 'ok|warning', 'Applied:').textContent()).trim();
      if (!said.includes('the bandwidth cap still applies while the proxy is used')) throw new Error(`the banner does not list the role's warning: "${said}"`);
      for (const field of ['proxy.enabled', 'proxy.host', 'proxy.port', 'proxy.username']) if (!said.includes(field)) throw new Error(`the banner says "${said}"`);
      if (await f.locator('[id="proxy.password"] input').inputValue()) throw new Error('the password field still holds the password after Apply');
      if ((await f.evaluate(pageText)).includes(PROXY_SECRET)) throw new Error('the proxy password is in the page after Apply');
      await f.locator('#proxy-password-state', { hasText: 'A proxy password is set' }).waitFor({ state: 'visible' });
      const held = await role('properties.get');
      const proxy = held.properties.proxy;
      if (!held.proxyPasswordSet || !proxy.enabled || proxy.host !== '127.0.0.1' || proxy.port !== 3128 || proxy.username !== 'u') throw new Error(`the role holds ${JSON.stringify(held)}`);
      const records = await trail();
      if (!records.some((r) => r.type === 'configurationChanged' && r.summary === 'Proxy password changed')) throw new Error('no "Proxy password changed" record in the trail');
      if (JSON.stringify(records).includes(PROXY_SECRET)) throw new Error('the proxy password is in the activity trail');
      if (roleLog().includes(PROXY_SECRET)) throw new Error('the proxy password is in the role\'s log');

      // Reopened, the form loads from the role: it says a password is set, and holds none.
      await wb.runCommand('View: Close Editor');
      await wb.editorTab(TITLES.properties).waitFor({ state: 'detached' });
      opened.delete('properties');
      f = await show('properties', 'Clearance: Open Role Properties');
      await f.locator('#proxy-password-state', { hasText: 'A proxy password is set' }).waitFor({ state: 'visible' });
      if ((await f.evaluate(pageText)).includes(PROXY_SECRET)) throw new Error('the reopened page holds the proxy password');
      if (!(await f.locator('vscode-checkbox[id="proxy.enabled"]').evaluate((e) => e.checked))) throw new Error('the reopened form shows the proxy off');

      // Off again, so that the role reaches the service directly.
      await f.locator('vscode-checkbox[id="proxy.enabled"] label').click();
      await f.locator('vscode-button#apply').click();
      await banner(f, 'ok|warning', 'Applied: proxy.enabled').waitFor({ state: 'visible' });
      if ((await role('properties.get')).properties.proxy.enabled) throw new Error('the role still uses the proxy');
      await wb.runCommand('Clearance: Check for Video Requests Now');
      await until('the role online again', async () => (await role('role.snapshot', { recent: 0 })).connection.state === 'online', 60_000, 500);
      await noErrorToast();
    });

    await check('panel 4: Request Notifications: searching "mchen" leaves only that user; checked and applied, the role\'s notification list holds mchen', async () => {
      const mchen = user('mchen');
      const before = (await role('notifications.get')).userIds;
      if (before.includes(mchen.id)) throw new Error(`mchen is on the list already: ${JSON.stringify(before)}`);
      const f = await show('notifications', 'Clearance: Open Request Notifications');
      const boxes = f.locator('#users vscode-checkbox');
      await until(`${model.users.length} site users listed`, async () => (await boxes.count()) === model.users.length, 20_000);
      const checked = await boxes.evaluateAll((els) => els.filter((e) => e.checked).map((e) => e.dataset.user));
      const expected = before.map((id) => model.users.find((u) => u.id === id)?.name).sort();
      if (JSON.stringify(checked.sort()) !== JSON.stringify(expected)) throw new Error(`checked: ${JSON.stringify(checked)}, the role's list: ${JSON.stringify(expected)}`);
      await f.locator('#search input').fill('mchen');
      await until('only mchen listed', async () => JSON.stringify(await boxes.evaluateAll((els) => els.map((e) => e.dataset.user))) === '["mchen"]', 10_000);
      await f.locator('vscode-checkbox[data-user="mchen"] label').click();
      await f.locator('h1 .dirty').waitFor({ state: 'attached' });
      await f.locator('vscode-button#apply').click();
      await banner(f, 'ok', `${before.length + 1} user(s) are told of new video requests.`).waitFor({ state: 'visible' });
      await f.locator('h1 .dirty').waitFor({ state: 'detached' });
      const after = (await role('notifications.get')).userIds;
      if (!after.includes(mchen.id) || !before.every((id) => after.includes(id))) throw new Error(`the role's notification list is ${JSON.stringify(after)}`);
      const record = (await trail()).filter((r) => r.type === 'configurationChanged' && r.details?.field === 'requestNotifications').at(-1);
      if (!record?.details?.after?.split(' ').includes(mchen.id)) throw new Error(`the trail's last notification change is ${JSON.stringify(record)}`);
      await wb.screenshot(path.join(shots, 'panel-notifications.png'), { blur: true });
    });

    await check('panel 5: a new request opened in the request panel (palette, quick pick) shows its hostile comment as plain text: no markup, no script, no link', async () => {
      const filed = await node([EMULATOR, 'request', 'create', '--location', serviceDir, '--camera', lobby.id, '--from', review.from, '--to', review.to, '--comments', HOSTILE_COMMENT]);
      if (filed.code !== 0) throw new Error(`filing the request failed: ${filed.err || filed.out}`);
      reviewId = /video request (\S+) filed/.exec(filed.out)?.[1];
      if (!reviewId) throw new Error(`no request id in ${JSON.stringify(filed.out)}`);
      await wb.runCommand('Clearance: Check for Video Requests Now');
      await until('the new request at the role', async () => (await requests()).some((r) => r.requestId === reviewId && r.status === 'Pending'), 60_000, 500);
      await wb.notification(/New video request for Lobby Entrance/).waitFor({ state: 'visible', timeout: 30_000 });
      await wb.clearNotifications();

      await wb.runCommand('Clearance: Open Video Request Details');
      await wb.page.locator('.quick-input-widget .quick-input-title', { hasText: 'Open a video request' }).waitFor({ state: 'visible' });
      // Both requests are for Lobby Entrance: the operator narrows the pick by the comment.
      await wb.quickInputBox().fill('onerror');
      const rows = wb.page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
      await until('one request in the quick pick', async () => (await rows.count()) === 1, 10_000);
      await wb.page.keyboard.press('Enter');
      opened.add('request');
      const f = await wb.webviewFrame(TITLES.request);
      await f.locator('h1', { hasText: 'Video request · ' }).waitFor({ state: 'visible' });
      const facts = await f.evaluate(() => Object.fromEntries([...document.querySelectorAll('dl.facts dt')].map((dt) => [dt.textContent, dt.nextElementSibling?.textContent ?? ''])));
      if (facts.Request !== reviewId) throw new Error(`the panel shows request ${facts.Request}, not ${reviewId}`);
      if (facts.Comments !== HOSTILE_COMMENT || !facts.Comments.includes('<img src=x')) throw new Error(`the comments read ${JSON.stringify(facts.Comments)}`);
      const page = await f.evaluate(() => ({
        title: document.title,
        images: document.querySelectorAll('img').length,
        links: document.querySelectorAll('a').length,
        // The panel's bundle (by nonce) and the script VS Code puts into every webview; none of the comment's.
        scripts: [...document.scripts].filter((e) => e.textContent.includes('pwned') || (e.src && !e.nonce)).length,
      }));
      if (page.title === 'pwned' || page.images || page.links || page.scripts) throw new Error(`the comment became markup: ${JSON.stringify(page)}`);
      if ((await wb.page.title()) === 'pwned') throw new Error('the workbench title was changed by the comment');
      if (skip('reviewPlayback')) await wb.screenshot(path.join(shots, 'panel-request.png'), { blur: true });
    });

    await check(`panel 6: "Review video" in the request panel: the role cuts the camera's clip of the requested range (trail: requestReviewed)${skip('reviewPlayback') ? '; playing it in the panel LEFT OUT, known product defect (see the end of the run)' : ', the panel plays it'}`, async () => {
      if (!reviewId) throw new Error('not run: no request was opened in the panel');
      let f = await show('request');
      const requested = (Date.parse(review.to) - Date.parse(review.from)) / 1000;
      await f.locator(`vscode-button.review[data-camera="${lobby.id}"]`).click();
      let reviewed;
      await until('the requestReviewed record in the trail', async () => {
        reviewed = (await trail()).find((r) => r.type === 'requestReviewed' && r.requestId === reviewId);
        return reviewed;
      }, 90_000, 500);
      if (!reviewed.cameras?.includes(lobby.id) || !reviewed.summary.includes('Lobby Entrance') || reviewed.user !== 'admin') throw new Error(`the trail's review record is ${JSON.stringify(reviewed)}`);
      // The clip the role cut: its first frame at the requested start, as long as the range, in the role's review folder.
      const d = reviewed.details ?? {};
      if (Math.abs(Date.parse(d.clipStartUtc) - Date.parse(review.from)) > 2000) throw new Error(`the clip starts at ${d.clipStartUtc}, the request at ${review.from}`);
      if (!(Math.abs(d.clipSeconds - requested) <= 1.5)) throw new Error(`the clip lasts ${d.clipSeconds} s for a requested ${requested} s`);
      const folder = path.join(site, '.clearance-role', 'review');
      const clips = existsSync(folder) ? readdirSync(folder, { recursive: true }).map(String).filter((x) => x.endsWith(`${lobby.id}.mp4`)) : [];
      const sums = clips.map((x) => createHash('sha256').update(readFileSync(path.join(folder, x))).digest('hex'));
      if (!sums.includes(d.clipSha256)) throw new Error(`no clip with SHA-256 ${d.clipSha256} in ${folder}: ${JSON.stringify(clips)}`);

      if (skip('reviewPlayback')) {
        // The panel's page may reload when the clip's folder is allowed; the checks that follow find it again.
        await until('the request panel rendered again', async () => f.isDetached() || (await f.locator('#review-video, .banner.error').count()) > 0, 30_000);
        await wb.webviewFrame(TITLES.request);
        return;
      }
      const video = f.locator('#review-video');
      await video.waitFor({ state: 'attached', timeout: 30_000 }).catch(async (err) => {
        if (f.isDetached()) throw new Error('the request panel\'s page was reloaded when the clip was cut: the player never shows');
        throw new Error(`${err.message.split('\n')[0]}; the banner says "${await f.locator('.banner').first().textContent().catch(() => '')}"`);
      });
      const meta = await until('the review video\'s metadata', () =>
        f.evaluate(() => {
          const v = document.getElementById('review-video');
          if (v.error) return { error: `MediaError ${v.error.code} ${v.error.message}` };
          return v.readyState >= 1 && Number.isFinite(v.duration) ? { duration: v.duration } : undefined;
        }), 30_000);
      if (meta.error) throw new Error(`the review video does not load: ${meta.error} (src ${await video.getAttribute('src')}; CSP "${(await cspOf(f)).csp}")`);
      const played = await f.evaluate(() => {
        const v = document.getElementById('review-video');
        v.muted = true;
        return v.play().then(() => 'playing', (e) => `${e.name}: ${e.message}`);
      });
      if (played !== 'playing') throw new Error(`the review video does not play: ${played}`);
      await until('the review video to advance past 0.5 s', () => f.evaluate(() => document.getElementById('review-video').currentTime > 0.5), 20_000);
      const clip = await f.locator('#player').evaluate((e) => ({ camera: e.dataset.camera, clipStart: e.dataset.clipStart, duration: Number(e.dataset.duration) }));
      if (clip.camera !== lobby.id) throw new Error(`the player shows camera ${clip.camera}`);
      if (Math.abs(meta.duration - requested) > 1.5) throw new Error(`the video lasts ${meta.duration.toFixed(2)} s for a requested ${requested} s (the panel says ${clip.duration} s)`);
      if (Math.abs(meta.duration - clip.duration) > 1.5) throw new Error(`the video lasts ${meta.duration.toFixed(2)} s, the panel says ${clip.duration} s`);
      if (Math.abs(Date.parse(clip.clipStart) - Date.parse(review.from)) > 2000) throw new Error(`the player's clip starts at ${clip.clipStart}, the request at ${review.from}`);
      const position = (await f.locator('#review-position').textContent())?.trim();
      if (!/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/.test(position ?? '')) throw new Error(`the position under the player reads "${position}"`);
      await f.evaluate(() => document.getElementById('review-video').pause());
      await wb.screenshot(path.join(shots, 'panel-request.png'), { blur: true });
    });

    await check('panel 7: Approve in the request panel: the request ends Completed (panel, Requests view, role) and the panel lists the files sent with their SHA-256', async () => {
      if (!reviewId) throw new Error('not run: no request was opened in the panel');
      let f = await show('request');
      await f.locator('vscode-button#approve').click();
      let request;
      await until('the request Completed at the role', async () => {
        request = (await requests()).find((r) => r.requestId === reviewId);
        return request?.status === 'Completed';
      }, 120_000, 500).catch((err) => {
        throw new Error(`${err.message}; the role holds ${JSON.stringify(request)}`);
      });
      const camera = request.cameras[0];
      if (camera?.outcome !== 'Exported' || !camera.files?.length) throw new Error(`the role's request: ${JSON.stringify(request)}`);
      reviewFiles = camera.files;
      f = await wb.webviewFrame(TITLES.request);
      await f.locator('h1', { hasText: 'Video request · Completed' }).waitFor({ state: 'visible', timeout: 30_000 });
      await f.locator('h2', { hasText: 'Files sent' }).waitFor({ state: 'visible' });
      await until('every file verified by the service in the panel', async () => {
        const cells = await f.locator('#files tbody tr td:last-child').allTextContents();
        return cells.length === reviewFiles.length && cells.every((c) => c === 'verified');
      }, 30_000);
      const hashes = (await f.locator('#files td.hash').allTextContents()).map((h) => h.trim()).sort();
      if (JSON.stringify(hashes) !== JSON.stringify(reviewFiles.map((x) => x.sha256).sort())) throw new Error(`the panel lists SHA-256 ${hashes.join(', ')}, the role ${reviewFiles.map((x) => x.sha256).join(', ')}`);
      if (await f.locator('vscode-button#approve').count()) throw new Error('a Completed request still offers Approve');
      await wb.setViewExpanded('Requests', true);
      await until('the Requests view: both requests under Completed, none pending', async () => {
        const rows = await wb.treeRows('Requests');
        return !rows.some((r) => r.label === 'Pending') && rows.some((r) => r.label === 'Completed') && rows.filter((r) => r.label === 'Lobby Entrance').length === 2;
      }, 30_000);
      await noErrorToast();
    });

    await check('panel 8: "Save custody report…" in the request panel: the save dialog takes a path; the HTML and JSON name the request and its files\' SHA-256, with no script and the comment escaped', async () => {
      if (!reviewFiles) throw new Error('not run: the request did not complete');
      const f = await show('request');
      const target = path.join(scratch, 'custody-report.html');
      await f.locator('vscode-button#custody').click();
      await wb.page.locator('.quick-input-widget .quick-input-title', { hasText: 'Save the chain-of-custody report' }).waitFor({ state: 'visible' });
      // The simple dialog opens on the workspace folder with the report's own name; once it lists it, type the path over it.
      await wb.quickPickItem('.vscode').waitFor({ state: 'visible' });
      await until('the dialog to propose custody-<request>.html', async () => (await wb.quickInputBox().inputValue()).endsWith(`/workspace/custody-${reviewId.slice(0, 8)}.html`), 10_000);
      await wb.quickInputBox().fill(target);
      // Enter once the dialog lists the folder typed (before, it is still reading it).
      await wb.quickPickItem('workspace').waitFor({ state: 'visible' });
      await wb.page.keyboard.press('Enter');
      await wb.quickInput().waitFor({ state: 'hidden' });
      await banner(await wb.webviewFrame(TITLES.request), 'ok', `Custody report saved: ${target}`).waitFor({ state: 'visible' });
      const jsonFile = target.replace(/\.html$/, '.json');
      if (!existsSync(target) || !existsSync(jsonFile)) throw new Error(`the report files: ${target} ${existsSync(target)}, ${jsonFile} ${existsSync(jsonFile)}`);
      const html = readFileSync(target, 'utf8');
      const json = readFileSync(jsonFile, 'utf8');
      const problems = [];
      if (!html.includes(reviewId)) problems.push('the HTML does not name the request');
      for (const file of reviewFiles) if (!html.includes(file.sha256)) problems.push(`the HTML lacks SHA-256 ${file.sha256}`);
      if (/<script/i.test(html)) problems.push('the HTML holds a <script');
      if (html.includes('<img')) problems.push('the comment is markup in the HTML');
      if (!html.includes('&lt;img')) problems.push('the comment is not in the HTML, escaped');
      const report = JSON.parse(json);
      if (!json.includes(reviewId)) problems.push('the JSON does not name the request');
      for (const file of reviewFiles) if (!json.includes(file.sha256)) problems.push(`the JSON lacks SHA-256 ${file.sha256}`);
      if (report.request?.requestId !== reviewId) problems.push(`the JSON is the report of ${JSON.stringify(report.subject)}`);
      if (report.request?.comments !== HOSTILE_COMMENT) problems.push(`the JSON holds the comments ${JSON.stringify(report.request?.comments)}`);
      if (problems.length) throw new Error(problems.join('; '));
      // As a reader without the product sees it: the file in a browser tab.
      const context = await wb.page.context().browser().newContext({ viewport: wb.page.viewportSize(), javaScriptEnabled: true });
      const reader = await context.newPage();
      try {
        await reader.goto(`file://${target}`);
        await reader.getByText(reviewId).first().waitFor({ state: 'visible' });
        if ((await reader.title()) === 'pwned') throw new Error('the report ran the comment');
        await reader.screenshot({ path: path.join(shots, 'custody-report.png') });
      } finally {
        await context.close();
      }
    });

    await check('panel 9: Activities Report: the trail newest first; filtered by user admin, then by type requestReviewed; paging says "1–N of M"; Verify trail (the hash chain, and the anchors the service keeps: all match); the uploads chart', async () => {
      const f = await show('activities', 'Clearance: Open Activities Report');
      const rows = f.locator('#rows tr[data-seq]');
      const cells = () => rows.evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
      await until('records in the table', async () => (await rows.count()) > 0, 20_000);
      const all = await cells();
      const seqs = all.map((r) => Number(r[0]));
      if (seqs.some((q, i) => i > 0 && q >= seqs[i - 1])) throw new Error(`not newest first: ${seqs.join(', ')}`);
      const records = new Map((await trail()).map((r) => [r.seq, r]));
      const strangers = all.filter((r) => records.get(Number(r[0]))?.summary !== r[4] || records.get(Number(r[0]))?.type !== r[2]);
      if (strangers.length) throw new Error(`rows not in the role's trail: ${JSON.stringify(strangers.slice(0, 3))}`);
      const info = f.locator('#page-info');
      const paging = async () => /^1–([\d,]+) of ([\d,]+)$/.exec((await info.textContent())?.trim() ?? '')?.slice(1).map((n) => Number(n.replace(/,/g, '')));
      const [shownAll, totalAll] = (await paging()) ?? [];
      if (shownAll !== all.length || !(totalAll >= all.length)) throw new Error(`the paging reads "${await info.textContent()}" for ${all.length} rows`);

      await f.locator('#filter-user input').fill('admin');
      await f.locator('#filter-user input').press('Enter');
      await until('only admin\'s records', async () => {
        const now = await cells();
        const p = await paging();
        return now.length > 0 && now.every((r) => r[3] === 'admin') && p && p[1] < totalAll && p[0] === now.length;
      }, 20_000).catch(async (err) => {
        throw new Error(`${err.message}; the table shows users ${JSON.stringify([...new Set((await cells()).map((r) => r[3]))])}, paging "${await info.textContent()}"`);
      });

      await f.locator('#filter-types').click();
      await f.locator('#filter-types li.option', { hasText: /^\s*requestReviewed\s*$/ }).click();
      await until('only admin\'s requestReviewed records', async () => {
        const now = await cells();
        const p = await paging();
        return now.length > 0 && now.every((r) => r[2] === 'requestReviewed' && r[3] === 'admin') && p && p[0] === now.length && p[1] === now.length;
      }, 20_000).catch(async (err) => {
        throw new Error(`${err.message}; the table shows types ${JSON.stringify([...new Set((await cells()).map((r) => r[2]))])}, paging "${await info.textContent()}"`);
      });
      const reviewed = await cells();
      if (!reviewed.some((r) => r[4].includes(reviewId?.slice(0, 8) ?? '—'))) throw new Error(`no review of request ${reviewId} in ${JSON.stringify(reviewed)}`);

      await f.locator('vscode-button#verify').click();
      // The chain, and the trail against the anchors the service keeps in the evidence of the journey's uploads.
      const verified = banner(f, 'ok', /The activity trail verifies: [\d,]+ records, the hash chain is intact\./);
      await verified.waitFor({ state: 'visible' });
      const anchorLine = (await verified.locator('li').allTextContents()).find((l) => /anchor\(s\) checked at the service/.test(l)) ?? '';
      const anchors = /^(\d+) anchor\(s\) checked at the service: (\d+) match, 0 do not\.$/.exec(anchorLine.trim());
      if (!anchors || Number(anchors[1]) < 1 || anchors[1] !== anchors[2]) throw new Error(`the Verify banner's anchor line reads ${JSON.stringify(anchorLine)}`);
      await f.locator('#chart canvas').first().waitFor({ state: 'attached', timeout: 10_000 });
      if (!/uploads/.test((await f.locator('#chart').getAttribute('aria-label')) ?? '')) throw new Error(`the chart is labelled "${await f.locator('#chart').getAttribute('aria-label')}"`);
      await wb.screenshot(path.join(shots, 'panel-activities.png'), { blur: true });
    });

    await check(`panel 10: every panel's page in the workbench has a strict policy (scripts by nonce only, no unsafe-inline or unsafe-eval) and an inline script injected into it does not run${skip('reviewPlayback') ? ' (media-src of the request panel LEFT OUT, known product defect)' : '; the request panel allows media from its webview source'}`, async () => {
      const kinds = ['properties', 'notifications', 'request', 'activities'].filter((k) => opened.has(k));
      if (kinds.length !== 4) throw new Error(`only ${kinds.join(', ')} were opened`);
      for (const kind of kinds) {
        const f = await show(kind);
        assertStrictCsp(TITLES[kind], await cspOf(f), { media: kind === 'request' && !skip('reviewPlayback') });
      }
    });

    await check('panel 11: strings from outside are inert in every panel: a requester\'s name, comments and a cancel reason from the service, a user\'s display name from the site; each reads as plain text', async () => {
      const filed = await s.api.fileRequest({ cameras: [lobby.id], fromUtc: review.from, toUtc: review.to, comments: SECOND_COMMENT, requester: HOSTILE_REQUESTER });
      const hostileId = filed.requestId;
      await wb.runCommand('Clearance: Check for Video Requests Now');
      await until('the second request at the role', async () => (await requests()).some((r) => r.requestId === hostileId && r.status === 'Pending'), 60_000, 500);
      await s.api.cancelRequest(hostileId, HOSTILE_REASON);
      await wb.runCommand('Clearance: Check for Video Requests Now');
      await until('the second request canceled at the role', async () => (await requests()).some((r) => r.requestId === hostileId && r.status === 'Canceled'), 60_000, 500);
      await wb.clearNotifications();
      const problems = [];

      // The request panel, opened on the canceled request.
      // On a busy machine the quick pick may not take the text at once: Escape and once more.
      for (let attempt = 1; ; attempt++) {
        try {
          await wb.runCommand('Clearance: Open Video Request Details');
          await wb.page.locator('.quick-input-widget .quick-input-title', { hasText: 'Open a video request' }).waitFor({ state: 'visible' });
          await wb.quickInputBox().fill('zebra-7', { timeout: 10_000 });
          break;
        } catch (err) {
          if (attempt === 2) throw err;
          await wb.page.keyboard.press('Escape');
        }
      }
      await until('one request in the quick pick', async () => (await wb.page.locator('.quick-input-widget .quick-input-list .monaco-list-row').count()) === 1, 10_000);
      await wb.page.keyboard.press('Enter');
      let f = await wb.webviewFrame(TITLES.request);
      await until('the panel on the canceled request', async () => (await f.locator('dl.facts dd').first().textContent().catch(() => '')) === hostileId, 20_000);
      const facts = await f.evaluate(() => Object.fromEntries([...document.querySelectorAll('dl.facts dt')].map((dt) => [dt.textContent, dt.nextElementSibling?.textContent ?? ''])));
      if (facts.Requester !== HOSTILE_REQUESTER) problems.push(`the request panel's requester reads ${JSON.stringify(facts.Requester)}`);
      if (facts.Comments !== SECOND_COMMENT) problems.push(`the request panel's comments read ${JSON.stringify(facts.Comments)}`);
      if (!(await f.evaluate(visibleText)).includes(HOSTILE_REASON)) problems.push('the request panel does not show the cancel reason as text');

      // The Activities Report, filters cleared: the cancel's record, reason included, as text.
      f = await show('activities', 'Clearance: Open Activities Report');
      await f.locator('vscode-button#clear-filters').click();
      const canceled = f.locator('#rows tr[data-seq]', { hasText: 'canceled at the service' }).first();
      await canceled.waitFor({ state: 'visible', timeout: 20_000 }).catch(() => problems.push('the Activities Report lists no "canceled at the service" record'));
      if ((await canceled.count()) && !(await canceled.textContent()).includes(HOSTILE_REASON)) problems.push(`the cancel's row reads ${JSON.stringify(await canceled.textContent())}`);

      // Request Notifications: tbrooks's display name, in full, as the label of his box.
      f = await show('notifications', 'Clearance: Open Request Notifications');
      await f.locator('#search input').fill('');
      await until('every site user listed', async () => (await f.locator('#users vscode-checkbox').count()) === model.users.length, 10_000);
      const label = await f.locator('vscode-checkbox[data-user="tbrooks"]').evaluate((e) => e.shadowRoot?.textContent ?? '');
      if (!label.includes(HOSTILE_DISPLAY_NAME)) problems.push(`tbrooks's box reads ${JSON.stringify(label.trim())}`);

      for (const kind of ['properties', 'notifications', 'request', 'activities']) {
        const page = await show(kind, { properties: 'Clearance: Open Role Properties' }[kind]);
        const found = await page.evaluate(markupFromInput);
        if (found.length) problems.push(`${TITLES[kind]}: ${found.join(', ')}`);
      }
      if ((await wb.page.title()) === 'pwned') problems.push('the workbench title was changed');
      if (problems.length) throw new Error(problems.join('; '));
    });

    await check('panel 12: every panel follows the workbench theme: light, high contrast and dark each reach the page (its theme class and colours), with text at a readable contrast', async () => {
      const settingsFile = path.join(s.workspace, '.vscode', 'settings.json');
      const original = readFileSync(settingsFile, 'utf8');
      const themes = [
        { name: 'Default Light Modern', workbench: 'vs', page: 'vscode-light', min: 4.5 },
        { name: 'Default High Contrast', workbench: 'hc-black', page: 'vscode-high-contrast', min: 7 },
        { name: 'Default Dark Modern', workbench: 'vs-dark', page: 'vscode-dark', min: 4.5 },
      ];
      const seen = [];
      try {
        for (const theme of themes) {
          writeFileSync(settingsFile, `${JSON.stringify({ ...JSON.parse(original), 'workbench.colorTheme': theme.name }, null, 2)}\n`);
          await until(`the workbench in ${theme.name}`, async () => (await wb.page.locator('.monaco-workbench').getAttribute('class'))?.split(' ').includes(theme.workbench), 20_000, 250);
          for (const kind of ['properties', 'notifications', 'request', 'activities']) {
            const f = await show(kind);
            const look = await until(`${TITLES[kind]} in ${theme.name}`, async () => {
              const l = await f.evaluate(() => {
                const body = window.getComputedStyle(document.body);
                const h1 = document.querySelector('h1');
                return { classes: [...document.body.classList], color: h1 ? window.getComputedStyle(h1).color : body.color, background: body.backgroundColor, editor: body.getPropertyValue('--vscode-editor-background').trim() };
              });
              return l.classes.includes(theme.page) ? l : undefined;
            }, 20_000, 250);
            const ratio = contrast(look.color, look.background);
            if (!(ratio >= theme.min)) throw new Error(`${TITLES[kind]} in ${theme.name}: text ${look.color} on ${look.background}, contrast ${ratio.toFixed(2)} < ${theme.min}`);
            if (!look.editor) throw new Error(`${TITLES[kind]} in ${theme.name}: the page has no --vscode-editor-background`);
            seen.push({ theme: theme.name, kind, background: look.background, color: look.color });
          }
        }
      } finally {
        writeFileSync(settingsFile, original);
      }
      for (const kind of ['properties', 'notifications', 'request', 'activities']) {
        const backgrounds = new Set(seen.filter((x) => x.kind === kind).map((x) => x.background));
        if (backgrounds.size !== themes.length) throw new Error(`${TITLES[kind]}: the background did not follow the theme (${[...backgrounds].join(', ')})`);
      }
    });

    await check('panel 13: the keyboard alone: Role Properties (Tab to the polling interval, type, Tab to Apply, Enter) and Request Notifications (Tab to a user, Space, Tab to Apply, Enter) change what the role holds', async () => {
      // The deepest focused element (through shadow roots), by its host's id or data-user.
      const focused = (f) => f.evaluate(() => {
        const host = document.activeElement;
        return host ? host.dataset?.user || host.id || host.localName : '';
      });
      // Keys go where the workbench's focus is: the page must hold it (its activeElement stays set even when it does not).
      const pageHasFocus = (f, why) => until(`the panel's page to hold the keyboard focus (${why})`, () => f.evaluate(() => document.hasFocus()), 10_000, 100);
      const tabTo = async (f, target, limit = 40) => {
        await pageHasFocus(f, `before Tab to ${target}`);
        const path = [];
        for (let i = 0; i < limit; i++) {
          await wb.page.keyboard.press('Tab');
          const now = await focused(f);
          path.push(now);
          if (now === target) return;
        }
        throw new Error(`Tab never reached ${target}; it went through ${path.join(' → ')}`);
      };
      let f = await show('properties', 'Clearance: Open Role Properties');
      await wb.runCommand('Clearance: Open Role Properties'); // revealed from the palette: the focus goes into the page
      f = await wb.webviewFrame(TITLES.properties);
      await tabTo(f, 'pollingIntervalSeconds');
      await pageHasFocus(f, 'before typing the polling interval');
      // Cleared key by key: Ctrl+A in a webview may go to the workbench.
      await wb.page.keyboard.press('End');
      for (let i = 0; i < 6; i++) await wb.page.keyboard.press('Backspace');
      await wb.page.keyboard.type('55');
      const typed = await f.locator('#pollingIntervalSeconds input').inputValue();
      if (typed !== '55') throw new Error(`the field holds "${typed}" after typing 55 (the page ${(await f.evaluate(() => document.hasFocus())) ? 'holds' : 'does not hold'} the focus; focused: ${await focused(f)})`);
      await tabTo(f, 'apply');
      await wb.page.keyboard.press('Enter');
      await until('the role holds a polling interval of 55', async () => (await role('properties.get')).properties.pollingIntervalSeconds === 55, 20_000, 250).catch(async (err) => {
        throw new Error(`${err.message}; it holds ${(await role('properties.get')).properties.pollingIntervalSeconds}`);
      });

      const mchen = user('mchen');
      const before = (await role('notifications.get')).userIds;
      await wb.runCommand('Clearance: Open Request Notifications');
      f = await wb.webviewFrame(TITLES.notifications);
      await tabTo(f, 'mchen');
      await wb.page.keyboard.press('Space');
      await f.locator('h1 .dirty').waitFor({ state: 'attached', timeout: 10_000 });
      await tabTo(f, 'apply');
      await wb.page.keyboard.press('Enter');
      const expected = before.includes(mchen.id) ? 'off' : 'on';
      await until(`mchen ${expected} the role's notification list`, async () => (await role('notifications.get')).userIds.includes(mchen.id) === (expected === 'on'), 20_000, 250);
    });
  } finally {
    await probe?.close().catch(() => {});
    const left = Object.keys(KNOWN_DEFECTS).filter(skip);
    for (const key of left) console.log(`     KNOWN PRODUCT DEFECT, its checks left out (${key}): ${KNOWN_DEFECTS[key]}`);
  }
}
