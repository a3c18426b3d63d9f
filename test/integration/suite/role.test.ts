// The console as a client of a real role, inside the extension host: the local
// service (dist/emulator.js) and a runner (dist/cli.js run --detach) in child
// processes on loopback, a sample site with real video, and the console attached
// through `clearance.site.folder`. Commands run with arguments instead of dialogs;
// each is checked by its effect at the role.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ControlClient, controlPathFor, type ActivityRecord } from '../../../src/core';
import { generateSampleSite, readSamplePasswords, resolveFfmpeg, SAMPLE_CAMERA_IDS, SAMPLE_SITE_FILE } from '../../../src/core/site';
import { EXTENSION_ID, node, startService, stopAll, until, walk, type Api } from './helpers';

describe('the console attached to a running role', function () {
  this.timeout(180_000);
  let api: Api;
  let dir: string;
  let site: string;
  let root: string;
  let passwords: Record<string, string>;
  let service: ReturnType<typeof spawn> | undefined;
  let siteStart: Date;
  let admin: { client: ControlClient; session: string } | undefined;
  const trail = async (): Promise<ActivityRecord[]> => admin!.client.request<ActivityRecord[]>('activities.query', {}, admin!.session);

  before(async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    api = (await ext.activate()) as Api;
    root = ext.extensionPath;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clearance-console-it-'));
    const local = await startService(root, path.join(dir, 'service'));
    service = local.process;
    const runtime = { connectionFilePath: local.connectionFile };
    site = path.join(dir, 'site');
    siteStart = new Date(Math.floor((Date.now() - 30 * 60_000) / 1000) * 1000);
    await generateSampleSite({ folder: site, ffmpegPath: resolveFfmpeg(), start: siteStart, durationMinutes: 1, segmentMinutes: 0.5, cameras: [SAMPLE_CAMERA_IDS['Lobby Entrance']!], width: 160, height: 90 });
    passwords = await readSamplePasswords(site);
    const started = await node([path.join(root, 'dist', 'cli.js'), 'run', '--detach', '--site', site, '--connection', runtime.connectionFilePath, '--poll-interval', '0.5']);
    assert.equal(started.code, 0, started.out);
    const client = await ControlClient.connect(controlPathFor(path.join(site, '.clearance-role')), { client: 'integration-test' });
    admin = { client, session: (await client.request<{ session: string }>('session.signIn', { user: 'admin', password: passwords.admin })).session };
    await vscode.workspace.getConfiguration('clearance').update('site.folder', site, vscode.ConfigurationTarget.Global);
  });

  after(async () => {
    await vscode.commands.executeCommand('clearance.signOut');
    await vscode.workspace.getConfiguration('clearance').update('site.folder', undefined, vscode.ConfigurationTarget.Global);
    if (admin) {
      await admin.client.request('role.stop', {}, admin.session).catch(() => undefined);
      await admin.client.close();
    }
    // A role started from the console in the last test is not the one `admin` reached.
    await stopAll(site, service, dir);
  });

  it('finds the site\'s role by its folder and asks to sign in', async () => {
    await api.role.reconnect();
    await until('attached', () => api.role.state() === 'attached');
    assert.match(api.role.statusBar().text, /sign in/i);
  });

  it('signs in as a site user; a wrong password is refused and recorded, and changes nothing', async () => {
    await vscode.commands.executeCommand('clearance.signIn', { user: 'admin', password: 'not-the-password' });
    assert.equal(api.role.state(), 'attached');
    assert.ok((await trail()).some((r) => r.type === 'signInRefused' && /wrong password/.test(r.summary)));
    await vscode.commands.executeCommand('clearance.signIn', { user: 'mchen', password: passwords.mchen });
    await until('signed in', () => api.role.state() === 'signedIn');
    assert.equal(api.role.signedInUser(), 'mchen');
    assert.ok((await trail()).some((r) => r.type === 'userSignedIn' && r.user === 'mchen' && /vscode/.test(r.summary)));
    assert.doesNotMatch(api.role.statusBar().text, /sign in/i);
    assert.match(api.role.statusBar().tooltip, /mchen|Maya/);
  });

  it('checks the privilege at the role even through executeCommand: mchen may not open the properties', async () => {
    const before = (await trail()).length;
    await vscode.commands.executeCommand('clearance.openProperties');
    const refused = (await trail()).slice(before).find((r) => r.type === 'commandRefused');
    assert.ok(refused, 'the role refused and recorded it');
    assert.match(refused.summary, /properties\.get refused to mchen/);
  });

  it('polls now, verifies the trail and exports it as CSV, as an administrator', async () => {
    await vscode.commands.executeCommand('clearance.signOut');
    assert.equal(api.role.state(), 'attached');
    await vscode.commands.executeCommand('clearance.signIn', { user: 'admin', password: passwords.admin });
    await until('signed in', () => api.role.state() === 'signedIn');
    const polls = async (): Promise<number> => (await admin!.client.request<{ connection: { poller: { polls: number } } }>('role.snapshot', {}, admin!.session)).connection.poller.polls;
    const pollsBefore = await polls();
    await vscode.commands.executeCommand('clearance.pollNow');
    assert.ok((await polls()) > pollsBefore, 'the role polled');
    const verified = await vscode.commands.executeCommand<{ ok: boolean; records: number }>('clearance.verifyActivityTrail');
    assert.equal(verified?.ok, true);
    assert.ok(verified.records > 5);
    const csv = vscode.Uri.file(path.join(dir, 'trail.csv'));
    await vscode.commands.executeCommand('clearance.exportActivitiesCsv', csv);
    const text = fs.readFileSync(csv.fsPath, 'utf8');
    assert.match(text, /userSignedIn/);
    assert.ok(!text.includes(passwords.admin) && !text.includes('not-the-password'), 'no password in the export');
  });

  it('shows the connected account', async () => {
    const account = await vscode.commands.executeCommand<{ accountId: string }>('clearance.showAccount');
    assert.equal(account?.accountId, 'tenant-local');
  });

  it('publishes an area checked in the Cameras tree; a camera of that area cannot be unchecked alone', async () => {
    const area = SAMPLE_SITE_FILE.areas.find((a) => a.name === 'Main Building')!;
    const lobby = SAMPLE_CAMERA_IDS['Lobby Entrance']!;
    const handles = await until('the camera tree', () => {
      const all = walk(api.trees.cameras);
      return all.some((h) => h.id === `area:${area.id}`) ? all : undefined;
    });
    await api.trees.cameras.applyCheckboxes([[handles.find((h) => h.id === `area:${area.id}`)!, vscode.TreeItemCheckboxState.Checked]]);
    const registry = async () => admin!.client.request<{ entries: { id: string }[]; published?: { cameras: { id: string }[] } }>('registry.get', {}, admin!.session);
    await until('published at the service', async () => (await registry()).published?.cameras.some((c) => c.id === lobby), 60_000);
    const selectionChanges = async (): Promise<number> => (await trail()).filter((r) => r.type === 'cameraSelectionChanged').length;
    const changesBefore = await selectionChanges();
    const camera = walk(api.trees.cameras).find((h) => h.id === `camera:${lobby}`)!;
    await api.trees.cameras.applyCheckboxes([[camera, vscode.TreeItemCheckboxState.Unchecked]]);
    assert.deepEqual((await registry()).entries.map((e) => e.id), [area.id], 'the refused change reached nothing');
    assert.equal(await selectionChanges(), changesBefore, 'nothing was recorded as changed');
  });

  it('shows a filed request in the Requests tree, approves it from there, and the upload ends in the Uploads history', async () => {
    const lobby = SAMPLE_CAMERA_IDS['Lobby Entrance']!;
    const at = (s: number): string => new Date(siteStart.getTime() + s * 1000).toISOString();
    // admin, signed in in this window, is told of new requests; mchen is not.
    await admin!.client.request('notifications.set', { users: ['admin'] }, admin!.session);
    const filed = await node([path.join(root, 'dist', 'emulator.js'), 'request', 'create', '--location', path.join(dir, 'service'), '--camera', lobby, '--from', at(5), '--to', at(20), '--comments', '<script>alert(1)</script> [x](command:workbench.action.quit)']);
    assert.equal(filed.code, 0, filed.out);
    const item = await until('the request in the tree', () => walk(api.trees.requests).find((h) => h.id.startsWith('request:')), 60_000);
    assert.ok(walk(api.trees.requests).some((h) => h.id === 'requests:Pending'), 'under Pending');
    const requestId = item.id.slice('request:'.length);
    await until('one toast for the notified user in this window', () => api.role.toasts().includes(requestId));
    assert.equal(api.role.toasts().filter((id) => id === requestId).length, 1);
    await vscode.commands.executeCommand('clearance.approveRequest', { requestId, confirmed: true });
    await until('Completed at the role', async () => {
      const list = await admin!.client.request<{ requestId: string; status: string }[]>('requests.list', {}, admin!.session);
      return list.find((r) => r.requestId === requestId)?.status === 'Completed';
    }, 90_000);
    await until('the request under Completed', () => walk(api.trees.requests).some((h) => h.id === 'requests:Completed'));
    await until('the upload in the history', () => walk(api.trees.uploads).some((h) => h.id === 'uploads:history'));
    assert.ok(walk(api.trees.activities).length > 0, 'the Activities tree shows the trail');
  });

  it('starts the role from VS Code (the editor\'s own runtime, detached) and attaches to it again', async () => {
    await admin!.client.request('role.stop', {}, admin!.session);
    await until('the console to see the role gone', () => api.role.state() === 'detached', 60_000);
    assert.match(api.role.statusBar().text, /role not running/);
    await vscode.commands.executeCommand('clearance.startRole');
    await until('the role back, and this window signed in again with its kept session', () => api.role.state() === 'signedIn', 90_000);
    const lock = JSON.parse(fs.readFileSync(path.join(site, '.clearance-role.lock'), 'utf8')) as { pid: number; purpose: string };
    assert.equal(lock.purpose, 'runner');
    assert.notEqual(lock.pid, process.pid, 'the role runs in its own process, not in the extension host');
    assert.ok(fs.readFileSync(path.join(site, '.clearance-role', 'role.log'), 'utf8').includes('role running for'));
  });
});
