// Every console command, inside the extension host, against a real role (a
// detached runner, started without an account) and the local service: each is
// run with arguments instead of dialogs and checked by its effect at the role.
// The site's names and the service's texts are hostile on purpose: they must
// reach every surface as plain text.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ControlClient, controlPathFor, RoleConnection, type ActivityRecord, type UploadJobSnapshot, type VideoRequest } from '../../../src/core';
import { generateSampleSite, readSamplePasswords, resolveFfmpeg, SAMPLE_CAMERA_IDS } from '../../../src/core/site';
import { EXTENSION_ID, node, startService, stopAll, until, walk, type Api, type Handle, type Tree } from './helpers';

const HOSTILE = '<img src=x onerror=alert(1)> [x](command:workbench.action.quit) $(zap)';
const LOBBY = SAMPLE_CAMERA_IDS['Lobby Entrance']!;
const PARKING = SAMPLE_CAMERA_IDS['Parking North']!;

/** What a hostile text may become on a surface: the same characters, no link, no icon, no HTML rendering. */
function assertPlain(where: string, value: string | vscode.MarkdownString | vscode.TreeItemLabel | undefined): void {
  if (value === undefined) return;
  if (value instanceof vscode.MarkdownString) {
    assert.notEqual(value.isTrusted, true, `${where}: a trusted MarkdownString would run command links`);
    assert.notEqual(value.supportHtml, true, `${where}: no HTML in a MarkdownString`);
    assert.doesNotMatch(value.value, /\]\(command:/, `${where}: no command link`);
    return;
  }
  const text = typeof value === 'string' ? value : value.label;
  assert.equal(typeof text, 'string', `${where} is plain text`);
}

function assertPlainItem(where: string, item: vscode.TreeItem): void {
  assertPlain(`${where} label`, item.label);
  assertPlain(`${where} description`, typeof item.description === 'string' ? item.description : undefined);
  assertPlain(`${where} tooltip`, item.tooltip);
  if (item.command) assert.match(item.command.command, /^clearance\./, `${where} runs only the console's own commands`);
}

describe('every console command, checked at the role', function () {
  this.timeout(240_000);
  let api: Api;
  let dir: string;
  let site: string;
  let root: string;
  let connectionFile: string;
  let passwords: Record<string, string>;
  let service: ReturnType<typeof spawn> | undefined;
  let siteStart: Date;
  let admin: { client: ControlClient; session: string } | undefined;
  const ask = <T>(command: string, args: unknown = {}): Promise<T> => admin!.client.request<T>(command, args, admin!.session);
  const trail = (): Promise<ActivityRecord[]> => ask<ActivityRecord[]>('activities.query', {});
  const at = (s: number): string => new Date(siteStart.getTime() + s * 1000).toISOString();
  const roleRequest = async (id: string) => (await ask<{ request: VideoRequest }>('requests.get', { request: id })).request;
  const job = async (id: string) => (await ask<UploadJobSnapshot[]>('uploads.list')).find((j) => j.id === id);
  const signInAs = async (user: string, password = passwords[user]!) => {
    if (api.role.state() === 'signedIn') await vscode.commands.executeCommand('clearance.signOut');
    await vscode.commands.executeCommand('clearance.signIn', { user, password });
    await until(`signed in as ${user}`, () => api.role.state() === 'signedIn' && api.role.signedInUser() === user);
  };
  const fileRequest = async (camera: string, comments: string): Promise<string> => {
    const filed = await node([path.join(root, 'dist', 'emulator.js'), 'request', 'create', '--location', path.join(dir, 'service'), '--camera', camera, '--from', at(5), '--to', at(15), '--comments', comments]);
    assert.equal(filed.code, 0, filed.out);
    const requestId = /video request (\S+) filed/.exec(filed.out)?.[1];
    assert.ok(requestId, filed.out);
    await until(`request ${requestId} in the Requests tree`, () => walk(api.trees.requests).some((h) => h.id === `request:${requestId}`), 60_000);
    return requestId;
  };
  const startRunner = async () => {
    const started = await node([path.join(root, 'dist', 'cli.js'), 'run', '--detach', '--site', site, '--poll-interval', '0.5']);
    assert.equal(started.code, 0, started.out);
    const client = await ControlClient.connect(controlPathFor(path.join(site, '.clearance-role')), { client: 'integration-test' });
    admin = { client, session: (await client.request<{ session: string }>('session.signIn', { user: 'admin', password: passwords.admin })).session };
  };

  before(async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    api = (await ext.activate()) as Api;
    root = ext.extensionPath;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clearance-commands-it-'));
    const local = await startService(root, path.join(dir, 'service'));
    service = local.process;
    connectionFile = local.connectionFile;
    site = path.join(dir, 'site');
    siteStart = new Date(Math.floor((Date.now() - 30 * 60_000) / 1000) * 1000);
    await generateSampleSite({ folder: site, ffmpegPath: resolveFfmpeg(), start: siteStart, durationMinutes: 1, segmentMinutes: 0.5, cameras: [LOBBY, PARKING], width: 160, height: 90 });
    // A camera name from the site is as untrusted as a comment from the service.
    const siteFile = path.join(site, 'site.json');
    const json = JSON.parse(fs.readFileSync(siteFile, 'utf8')) as { cameras: { id: string; name: string }[] };
    json.cameras.find((c) => c.id === PARKING)!.name = `Parking ${HOSTILE}`;
    fs.writeFileSync(siteFile, JSON.stringify(json, null, 2));
    passwords = await readSamplePasswords(site);
    await startRunner(); // no --connection: the account comes from the console
    await vscode.workspace.getConfiguration('clearance').update('role.startAutomatically', false, vscode.ConfigurationTarget.Global);
    await vscode.workspace.getConfiguration('clearance').update('site.folder', site, vscode.ConfigurationTarget.Global);
    await until('attached', () => api.role.state() === 'attached', 60_000);
  });

  after(async () => {
    await vscode.commands.executeCommand('clearance.signOut');
    const config = vscode.workspace.getConfiguration('clearance');
    for (const key of ['site.folder', 'role.startAutomatically', 'requests.pendingCallOutMinutes']) await config.update(key, undefined, vscode.ConfigurationTarget.Global);
    if (admin) {
      await ask('role.stop').catch(() => undefined);
      await admin.client.close();
    }
    await stopAll(site, service, dir);
  });

  it('imports the connection file from the command; a file over 1 MiB is refused and changes nothing; no key lands in settings', async () => {
    await signInAs('admin');
    const big = path.join(dir, 'big.json');
    fs.writeFileSync(big, `{"pad":"${'x'.repeat(1024 * 1024)}"}`);
    assert.equal(await vscode.commands.executeCommand('clearance.importConnectionFile', vscode.Uri.file(big)), undefined);
    assert.equal((await ask<{ account: unknown }>('account.show')).account, null, 'still no account');
    const account = await vscode.commands.executeCommand<{ accountId: string }>('clearance.importConnectionFile', vscode.Uri.file(connectionFile));
    assert.equal(account?.accountId, 'tenant-local');
    assert.equal((await ask<{ account: { accountId: string } }>('account.show')).account.accountId, 'tenant-local');
    const settings = JSON.stringify(vscode.workspace.getConfiguration('clearance'));
    assert.doesNotMatch(settings, /PRIVATE KEY|privateKey|"d":/, 'no private key in the settings');
    await until('the context key world to see the account', () => api.role.statusBar().tooltip.includes('tenant-local') || undefined, 10_000).catch(() => undefined);
  });

  it('shows the account, disconnects it only when confirmed, and imports it again', async () => {
    assert.equal((await vscode.commands.executeCommand<{ accountId: string }>('clearance.showAccount'))?.accountId, 'tenant-local');
    assert.match(api.role.statusBar().tooltip, /Role process \d+ running since \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{2}:\d{2} \(it keeps running when VS Code closes\)/);
    await vscode.commands.executeCommand('clearance.disconnectAccount', true);
    assert.equal((await ask<{ account: unknown }>('account.show')).account, null);
    assert.equal(await vscode.commands.executeCommand('clearance.showAccount'), undefined, 'no account to show');
    await vscode.commands.executeCommand('clearance.importConnectionFile', vscode.Uri.file(connectionFile));
    assert.equal((await ask<{ account: { accountId: string } }>('account.show')).account.accountId, 'tenant-local');
  });

  it('sets a user\'s password and clears a lockout as an administrator', async () => {
    await vscode.commands.executeCommand('clearance.setUserPassword', { user: 'tbrooks', password: 'Tb-new-password-1' });
    const probe = await ControlClient.connect(controlPathFor(path.join(site, '.clearance-role')), { client: 'integration-probe' });
    try {
      await probe.request('session.signIn', { user: 'tbrooks', password: 'Tb-new-password-1' });
      await assert.rejects(probe.request('session.signIn', { user: 'jrivera', password: 'wrong-password' }));
    } finally {
      await probe.close();
    }
    const jrivera = async () => (await ask<{ name: string; failures: number }[]>('users.list')).find((u) => u.name === 'jrivera')!;
    assert.equal((await jrivera()).failures, 1);
    assert.equal(await vscode.commands.executeCommand('clearance.clearLockout', { user: 'jrivera' }), true);
    assert.equal((await jrivera()).failures, 0);
    const records = await trail();
    assert.ok(records.some((r) => /tbrooks/.test(r.summary) && /password/i.test(r.summary)), 'the password change is in the trail');
    assert.ok(!JSON.stringify(records).includes('Tb-new-password-1'), 'never the password itself');
  });

  it('refuses an administrator\'s command to a user without the privilege, even through executeCommand, and changes nothing', async () => {
    await signInAs('mchen');
    const before = (await trail()).length;
    await vscode.commands.executeCommand('clearance.setUserPassword', { user: 'tbrooks', password: 'mchen-was-here-1' });
    await vscode.commands.executeCommand('clearance.disconnectAccount', true);
    const refused = (await trail()).slice(before).filter((r) => r.type === 'commandRefused');
    assert.deepEqual(refused.map((r) => /users\.setPassword|account\.disconnect/.exec(r.summary)?.[0]), ['users.setPassword', 'account.disconnect']);
    assert.equal((await ask<{ account: { accountId: string } }>('account.show')).account.accountId, 'tenant-local', 'the account stays');
    const probe = await ControlClient.connect(controlPathFor(path.join(site, '.clearance-role')), { client: 'integration-probe' });
    try {
      await probe.request('session.signIn', { user: 'tbrooks', password: 'Tb-new-password-1' });
    } finally {
      await probe.close();
    }
  });

  it('changes the signed-in user\'s own password', async () => {
    await vscode.commands.executeCommand('clearance.changePassword', { current: passwords.mchen, next: 'Mc-own-password-2' });
    await signInAs('mchen', 'Mc-own-password-2');
    passwords.mchen = 'Mc-own-password-2';
    await signInAs('admin');
  });

  it('shows the cameras as plain text, filters them by name and clears the filter', async () => {
    await vscode.commands.executeCommand('clearance.selectCameras');
    await until('the Cameras view visible', () => api.trees.cameras.view.visible);
    const all = await until('both cameras', () => {
      const handles = walk(api.trees.cameras).filter((h) => h.id.startsWith('camera:'));
      return handles.length >= 2 ? handles : undefined;
    });
    const parking = all.find((h) => h.id === `camera:${PARKING}`)!;
    const item = api.trees.cameras.getTreeItem(parking);
    assert.equal(item.label, `Parking ${HOSTILE}`, 'the name as the site gives it');
    for (const h of walk(api.trees.cameras)) assertPlainItem(h.id, api.trees.cameras.getTreeItem(h));
    await vscode.commands.executeCommand('clearance.filterCameras', 'onerror');
    assert.deepEqual(walk(api.trees.cameras).filter((h) => h.id.startsWith('camera:')).map((h) => h.id), [`camera:${PARKING}`]);
    await vscode.commands.executeCommand('clearance.clearCameraFilter');
    assert.equal(api.trees.cameras.currentFilter, undefined);
    const cameras = walk(api.trees.cameras).filter((h) => h.id === `camera:${LOBBY}` || h.id === `camera:${PARKING}`);
    assert.equal(cameras.length, 2, 'the filter is gone');
    await api.trees.cameras.applyCheckboxes(cameras.map((h) => [h, vscode.TreeItemCheckboxState.Checked] as const));
    await until('both published at the service', async () => {
      const published = (await ask<{ published?: { cameras: { id: string }[] } }>('registry.get')).published?.cameras.map((c) => c.id) ?? [];
      return published.includes(LOBBY) && published.includes(PARKING);
    }, 60_000);
  });

  it('denies one request and answers "video unavailable" to another; both reach the service', async () => {
    await ask('notifications.set', { users: ['admin'] });
    const denied = await fileRequest(LOBBY, `deny me ${HOSTILE}`);
    const unavailable = await fileRequest(LOBBY, `no video ${HOSTILE}`);
    for (const h of walk(api.trees.requests)) assertPlainItem(h.id, api.trees.requests.getTreeItem(h));
    await until('the toasts', () => api.role.toasts().includes(denied) && api.role.toasts().includes(unavailable));
    for (const text of api.role.toastTexts()) {
      assert.doesNotMatch(text, /\]\(/, 'no link in a toast');
      assert.doesNotMatch(text, /\$\(/, 'no icon in a toast');
    }
    await vscode.commands.executeCommand('clearance.denyRequest', { requestId: denied, reason: 'outside our retention' });
    await vscode.commands.executeCommand('clearance.videoUnavailable', { requestId: unavailable, reason: 'camera offline that night' });
    const settled = async (id: string, status: string) =>
      until(`${id} ${status} and acknowledged by the service`, async () => {
        const r = await roleRequest(id);
        return r.status === status && !r.pendingResult ? r : undefined;
      }, 60_000);
    assert.equal((await settled(denied, 'Denied')).denyReason, 'outside our retention');
    const none = await settled(unavailable, 'VideoUnavailable');
    assert.equal(none.decidedBy, 'admin');
    assert.ok(none.cameras.every((c) => c.outcome === 'Unavailable'));
    await until('both under their groups', () => walk(api.trees.requests).some((h) => h.id === 'requests:Denied') && walk(api.trees.requests).some((h) => h.id === 'requests:VideoUnavailable'));
  });

  it('opens a request in its review panel, which loads what the role holds, as plain text', async () => {
    const requestId = walk(api.trees.requests).find((h) => h.id.startsWith('request:'))!.id.slice('request:'.length);
    api.panels.get('request')?.dispose();
    await vscode.commands.executeCommand('clearance.openRequest', requestId);
    const panel = await until('the request panel', () => api.panels.get('request'));
    const loaded = await until('the webview loaded the request', () =>
      panel.posted.find((m) => m.type === 'reply' && m.ok && (m.result as { requestId?: string } | null)?.requestId === requestId), 60_000);
    const shown = loaded.result as { comments: string; requester?: string; may: { decide: boolean } };
    assert.equal(shown.requester, 'requester@clearance.local', 'who asked, as the service tells the role');
    assert.match(shown.comments, /<img src=x onerror=alert\(1\)>/, 'the comment as the service wrote it (the webview puts it in as text)');
    assert.equal(shown.may.decide, false, 'decided already');
    assert.doesNotMatch(panel.panel.webview.html, /onerror|command:/, 'no service text in the page itself');
    panel.dispose();
  });

  it('sends video and a snapshot to Clearance, into a new case with a hostile name', async () => {
    const video = await vscode.commands.executeCommand<UploadJobSnapshot>('clearance.exportVideo', {
      cameras: [LOBBY],
      from: at(10),
      to: at(20),
      caseTarget: { kind: 'new', name: `Case ${HOSTILE}` },
    });
    assert.ok(video?.id, 'an upload job');
    const snapshot = await vscode.commands.executeCommand<UploadJobSnapshot>('clearance.sendSnapshot', { cameras: [PARKING], at: at(12), caseTarget: { kind: 'none' } });
    assert.ok(snapshot?.id);
    for (const id of [video.id, snapshot.id]) {
      await until(`upload ${id} completed`, async () => (await job(id))?.state === 'completed', 120_000);
    }
    const cases = await ask<{ name: string }[]>('cases.list');
    assert.ok(cases.some((c) => c.name === `Case ${HOSTILE}`), 'the case, its name unchanged');
    await until('both in the Uploads tree', () => [video.id, snapshot.id].every((id) => walk(api.trees.uploads).some((h) => h.id.includes(id))));
    for (const h of walk(api.trees.uploads)) assertPlainItem(h.id, api.trees.uploads.getTreeItem(h));
    for (const h of walk(api.trees.activities)) assertPlainItem(h.id, api.trees.activities.getTreeItem(h));
    const refused = await vscode.commands.executeCommand('clearance.exportVideo', { cameras: [LOBBY], from: at(0), to: new Date(siteStart.getTime() + 25 * 3_600_000).toISOString() });
    assert.equal(refused, undefined, 'more than 24 h is refused');
  });

  it('pauses and resumes every upload', async () => {
    await ask('properties.set', { changes: { throttlingEnabled: true, maximumBandwidthMbps: 0.1 } });
    const video = (await vscode.commands.executeCommand<UploadJobSnapshot>('clearance.exportVideo', { cameras: [LOBBY], from: at(0), to: at(50) }))!;
    await until('the upload under way', async () => ['queued', 'uploading'].includes((await job(video.id))?.state ?? ''));
    const paused = await vscode.commands.executeCommand<number>('clearance.pauseAllUploads');
    assert.ok((paused ?? 0) >= 1, `paused ${paused}`);
    await until('paused at the role', async () => (await job(video.id))?.state === 'paused');
    const resumed = await vscode.commands.executeCommand<number>('clearance.resumeAllUploads');
    assert.ok((resumed ?? 0) >= 1, `resumed ${resumed}`);
    await ask('properties.set', { changes: { throttlingEnabled: false } });
    await until('completed after the resume', async () => (await job(video.id))?.state === 'completed', 120_000);
    await vscode.commands.executeCommand('clearance.clearFinishedUploads');
    assert.equal((await job(video.id)), undefined, 'finished uploads cleared at the role');
  });

  it('pauses, resumes and cancels one upload from its tree item; a finished one is not retried', async () => {
    await ask('properties.set', { changes: { throttlingEnabled: true, maximumBandwidthMbps: 0.1 } });
    try {
      const video = (await vscode.commands.executeCommand<UploadJobSnapshot>('clearance.exportVideo', { cameras: [LOBBY], from: at(0), to: at(50) }))!;
      await until('the upload in the Uploads tree', () => walk(api.trees.uploads).some((h) => h.id === `upload:${video.id}`));
      await vscode.commands.executeCommand('clearance.pauseUpload', video.id);
      await until('paused at the role', async () => (await job(video.id))?.state === 'paused');
      await vscode.commands.executeCommand('clearance.resumeUpload', video.id);
      await until('going again at the role', async () => ['queued', 'uploading'].includes((await job(video.id))?.state ?? ''));
      await vscode.commands.executeCommand('clearance.cancelUpload', video.id, true);
      await until('canceled at the role', async () => (await job(video.id))?.state === 'canceled', 60_000);
    } finally {
      await ask('properties.set', { changes: { throttlingEnabled: false } });
    }
    const done = (await ask<UploadJobSnapshot[]>('uploads.list')).find((j) => j.state === 'completed');
    if (done) {
      await until('the finished upload in the tree', () => walk(api.trees.uploads).some((h) => h.id === `upload:${done.id}`));
      await vscode.commands.executeCommand('clearance.retryUpload', done.id);
      assert.equal((await job(done.id))?.state, 'completed', 'a completed upload stays completed');
    }
  });

  it('saves the chain-of-custody report of a request from the command, and opens the Activities report', async () => {
    const requestId = walk(api.trees.requests).find((h) => h.id.startsWith('request:'))!.id.slice('request:'.length);
    const target = vscode.Uri.file(path.join(dir, 'custody.html'));
    const saved = await vscode.commands.executeCommand<{ html: string; json: string }>('clearance.custodyReport', requestId, target);
    assert.equal(saved?.html, target.fsPath);
    const html = fs.readFileSync(target.fsPath, 'utf8');
    assert.ok(html.includes(requestId), 'the report names the request');
    assert.doesNotMatch(html, /<script/i, 'no script in the report');
    assert.equal((JSON.parse(fs.readFileSync(saved!.json, 'utf8')) as { request?: { requestId?: string } }).request?.requestId, requestId);
    api.panels.get('activities')?.dispose();
    await vscode.commands.executeCommand('clearance.openActivitiesReport');
    const panel = await until('the activities panel', () => api.panels.get('activities'));
    await until('the webview asked for a page of the trail and got it', () =>
      panel.posted.some((m) => m.type === 'reply' && m.ok && typeof (m.result as { total?: unknown } | null)?.total === 'number'), 60_000);
    panel.dispose();
  });

  it('calls out a request pending longer than the setting when the console attaches', async () => {
    const waiting = await fileRequest(LOBBY, 'still waiting');
    await new Promise((r) => setTimeout(r, 4000));
    await vscode.workspace.getConfiguration('clearance').update('requests.pendingCallOutMinutes', 0.05, vscode.ConfigurationTarget.Global);
    const before = api.role.callOuts().length;
    await signInAs('admin');
    const said = await until('the call-out', () => api.role.callOuts().slice(before).find((t) => /pending for more than 0\.05 min/.test(t)));
    assert.match(said, /1 video request has been pending/);
    await vscode.commands.executeCommand('clearance.denyRequest', { requestId: waiting, reason: 'test over' });
  });

  it('a second client attached to the same role sees the same requests and uploads', async () => {
    const tokenFile = path.join(dir, 'second-window-session');
    const second = new RoleConnection({
      siteDir: site,
      client: 'vscode',
      sessions: { get: async () => (fs.existsSync(tokenFile) ? fs.readFileSync(tokenFile, 'utf8') : undefined), set: async (t) => (t ? fs.writeFileSync(tokenFile, t, { mode: 0o600 }) : fs.rmSync(tokenFile, { force: true })) },
    });
    try {
      await second.attach();
      await second.signIn('admin', passwords.admin);
      await until('the second client\'s state', () => second.role);
      const mine = (tree: Tree, prefix: string) => walk(tree).filter((h: Handle) => h.id.startsWith(prefix)).map((h) => h.id.slice(prefix.length)).sort();
      assert.deepEqual(second.role!.requests.map((r) => r.requestId).sort(), mine(api.trees.requests, 'request:'));
      const requestStatus = new Map(second.role!.requests.map((r) => [r.requestId, r.status]));
      for (const id of mine(api.trees.requests, 'request:')) {
        const group = walk(api.trees.requests).find((h) => h.id.startsWith('requests:') && api.trees.requests.getChildren(h).some((c) => c.id === `request:${id}`));
        assert.equal(group?.id, `requests:${requestStatus.get(id)}`, `request ${id} in the same status`);
      }
      const requestId = await fileRequest(LOBBY, 'seen by both');
      await until('the second client sees it too', () => second.role!.requests.some((r) => r.requestId === requestId));
      await vscode.commands.executeCommand('clearance.denyRequest', { requestId, reason: 'seen' });
      await until('the second client sees the decision', () => second.role!.requests.find((r) => r.requestId === requestId)?.status === 'Denied');
    } finally {
      await second.dispose();
    }
  });

  it('starts the local service in a terminal from a checkout (npm start)', async () => {
    const closed = new Promise<vscode.Terminal>((resolve) => {
      const sub = vscode.window.onDidCloseTerminal((t) => {
        if (t.name === 'Clearance Local Service') {
          sub.dispose();
          resolve(t);
        }
      });
    });
    const terminal = await vscode.commands.executeCommand<vscode.Terminal>('clearance.startLocalService', { npmStartArgs: ['--help'] });
    assert.equal(terminal?.name, 'Clearance Local Service');
    const done = await Promise.race([closed, new Promise<undefined>((r) => setTimeout(r, 60_000))]);
    assert.equal(done?.exitStatus?.code, 0, 'npm start -- --help ran in the checkout and ended well');
  });

  it('shows the log', async () => {
    await vscode.commands.executeCommand('clearance.showLog');
    await until('the Clearance output shown', () => vscode.window.visibleTextEditors.some((e) => e.document.uri.scheme === 'output') || vscode.workspace.textDocuments.some((d) => d.uri.scheme === 'output' && /Clearance/.test(d.uri.path)), 10_000);
  });

  it('opens the role properties panel under a strict policy; the webview loads them, follows changes, and never gets the proxy password', async () => {
    await ask('properties.setProxyPassword', { password: 'Pr0xy-secret-XYZ' });
    api.panels.get('properties')?.dispose(); // one left open by an earlier suite
    await vscode.commands.executeCommand('clearance.openProperties');
    const panel = await until('the properties panel', () => api.panels.get('properties'));
    const html = panel.panel.webview.html;
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1] ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-[A-Za-z0-9+/=]{16,}'(;|$)/, 'scripts by nonce only');
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.doesNotMatch(html, /<script(?![^>]*nonce=)/, 'every script tag carries the nonce');
    assert.equal(panel.panel.webview.options.enableCommandUris, false);
    const loaded = await until('the webview asked for the properties and got them', () =>
      panel.posted.find((m) => m.type === 'reply' && m.ok && typeof m.result === 'object' && m.result !== null && 'properties' in m.result), 60_000);
    assert.equal((loaded as { result: { proxyPasswordSet: boolean } }).result.proxyPasswordSet, true, 'it learns that a password is set');
    await ask('properties.set', { changes: { pollingIntervalSeconds: 45 } });
    await until('the change pushed to the panel', () =>
      panel.posted.some((m) => m.type === 'update' && (m.data as { properties?: { pollingIntervalSeconds?: number } }).properties?.pollingIntervalSeconds === 45));
    assert.ok(!JSON.stringify(panel.posted).includes('Pr0xy-secret-XYZ'), 'the proxy password never reaches the webview');
    panel.dispose();
    await ask('properties.setProxyPassword', { password: null });
  });

  it('opens the request notifications panel with the site users and who is told', async () => {
    api.panels.get('notifications')?.dispose();
    await vscode.commands.executeCommand('clearance.openNotifications');
    const panel = await until('the notifications panel', () => api.panels.get('notifications'));
    const loaded = await until('the users in the panel', () =>
      panel.posted.find((m) => m.type === 'reply' && m.ok && typeof m.result === 'object' && m.result !== null && 'users' in m.result), 60_000);
    const users = (loaded as { result: { users: { name: string; notified: boolean }[] } }).result.users;
    assert.deepEqual(users.filter((u) => u.notified).map((u) => u.name), ['admin'], 'admin, as set earlier in this suite');
    assert.ok(users.some((u) => u.name === 'mchen' && !u.notified));
    panel.dispose();
  });

  it('signs in by itself with a one-time ticket file, and deletes the file', async () => {
    const ticketFile = path.join(dir, 'admin.ticket');
    const made = await node([path.join(root, 'dist', 'cli.js'), 'users', 'sign-in-ticket', 'admin', '--site', site, '--out', ticketFile]);
    assert.equal(made.code, 0, made.out);
    await vscode.workspace.getConfiguration('clearance').update('signInTicketFile', ticketFile, vscode.ConfigurationTarget.Global);
    try {
      await vscode.commands.executeCommand('clearance.signOut');
      await until('signed in with the ticket', () => api.role.state() === 'signedIn' && api.role.signedInUser() === 'admin', 30_000);
      assert.equal(fs.existsSync(ticketFile), false, 'the ticket is used once');
      assert.ok((await trail()).some((r) => r.type === 'userSignedIn' && r.user === 'admin' && /one-time sign-in/.test(r.summary)), 'the trail says how');
    } finally {
      await vscode.workspace.getConfiguration('clearance').update('signInTicketFile', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it('stops the role when confirmed, and with an account connected starts it by itself when the site is set again', async () => {
    await vscode.commands.executeCommand('clearance.stopRole', true);
    await until('the role gone', () => !fs.existsSync(path.join(site, '.clearance-role.lock')), 60_000);
    await until('the console sees it', () => api.role.state() === 'detached', 30_000);
    await admin!.client.close();
    admin = undefined;
    const config = vscode.workspace.getConfiguration('clearance');
    await config.update('role.startAutomatically', true, vscode.ConfigurationTarget.Global);
    const before = api.role.callOuts().length;
    await config.update('site.folder', undefined, vscode.ConfigurationTarget.Global);
    await config.update('site.folder', site, vscode.ConfigurationTarget.Global);
    await until('started by itself', () => api.role.callOuts().slice(before).some((t) => t.startsWith('started the role')), 90_000);
    await until('attached again, signed in with the kept session', () => api.role.state() === 'signedIn', 90_000);
    const client = await ControlClient.connect(controlPathFor(path.join(site, '.clearance-role')), { client: 'integration-test' });
    admin = { client, session: (await client.request<{ session: string }>('session.signIn', { user: 'admin', password: passwords.admin })).session };
  });
});
