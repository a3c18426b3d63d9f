// The headless runner as an operator runs it: `clearance-role run` as a child
// process against the local service on loopback and a sample site with real
// video, steered with `clearance-role approve|deny|select|verify` (which reach
// the runner over its control socket, or open the role themselves when no
// runner holds the site).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { verifyTrailText, type ActivityRecord, type ActivityType } from '../../../src/core/audit/activityTrail';
import { PROXY_PASSWORD_SECRET_KEY } from '../../../src/core/config/roleProperties';
import { FileSecretStore } from '../../../src/core/config/secretStore';
import { pathSegmentFor } from '../../../src/core/site';
import { cli, MAIN, ROOT, samplePasswordFiles, type Done } from './cliProcess';
import { AREAS, CAMERAS, startWorld, waitFor, type World } from '../role/world';



class Runner {
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly proc: ChildProcess;

  constructor(args: string[]) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'run', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop()!;
      this.lines.push(...parts);
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** The first line from `from` on matching `re`. */
  line(re: RegExp, from = 0): Promise<{ index: number; text: string }> {
    return waitFor(`a runner line like ${re}\n${this.lines.slice(-20).join('\n')}\n${this.stderr}`, () => {
      const index = this.lines.findIndex((l, i) => i >= from && re.test(l));
      return index >= 0 ? { index, text: this.lines[index] } : undefined;
    });
  }

  lastPoll(): number {
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const m = /poll (\d+):/.exec(this.lines[i]);
      if (m) return Number(m[1]);
    }
    return 0;
  }

  /** It has not exited (yet). */
  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Kills it unless it has exited already. */
  async kill(): Promise<void> {
    if (this.running) this.proc.kill('SIGKILL');
    await this.exited;
  }

  async signal(signal: NodeJS.Signals): Promise<number | null> {
    this.proc.kill(signal);
    return this.exited;
  }
}


function json<T>(done: Done): T {
  assert.equal(done.code, 0, `exit ${done.code}: ${done.stderr}${done.stdout}`);
  return JSON.parse(done.stdout) as T;
}

interface RequestView {
  requestId: string;
  status: string;
  cameras: { id: string; outcome?: string; evidenceId?: string; files?: { name: string; bytes: number; sha256: string }[] }[];
}

describe('headless runner (clearance-role run as a child process)', function () {
  this.timeout(120_000);
  let world: World;
  let site: string;
  let propsFile: string;
  let runner: Runner | undefined;
  let passwordFiles: Record<string, string>;
  /** Signs in as a sample user: the name and the file with their password. */
  const as = (user: string): string[] => ['--user', user, '--password-file', passwordFiles[user]];
  const runArgs = (props = propsFile, extra: string[] = []) => ['--site', site, '--connection', world.connectionFile, '--properties', props, '--poll-interval', '0.3', '--max-part-seconds', '20', '--verbose', ...extra];
  const startRunner = async (props?: string, extra?: string[]): Promise<Runner> => {
    const r = new Runner(runArgs(props, extra));
    await r.line(/role running for/);
    return r;
  };
  const seen = async (r: Runner, requestId: string) => r.line(new RegExp(`new video request ${requestId.slice(0, 8)}`));
  const trailFile = () => path.join(site, '.clearance-role', 'trail', 'activity-trail.jsonl');
  const registryIs = (ids: string[]) => waitFor(`the registry to hold ${ids.length} camera(s)`, async () => JSON.stringify(await world.registryIds()) === JSON.stringify([...ids].sort()));
  const main = ['Lobby Entrance', 'Reception Desk', 'Elevator Bank', 'Stairwell East', 'Server Room'];
  let mainIds: string[];

  // Each test sets up what it needs when an earlier test has not left it behind (the
  // test run alone, with --grep); after the earlier tests these change nothing.
  /** A runner serving the site: started anew when a test has stopped it. */
  const ensureRunner = async (): Promise<void> => {
    if (!runner?.running) runner = await startRunner();
  };
  /** Main Building and Parking North selected (as the first test leaves it), and published. */
  const ensureSelection = async (): Promise<void> => {
    const { selection } = json<{ selection: { kind: string; id: string }[] }>(await cli('status', '--site', site, ...as('admin')));
    const has = (kind: string, id: string) => selection.some((e) => e.kind === kind && e.id === id);
    if (!has('area', AREAS.main)) assert.equal((await cli('select', 'add', '--area', 'Main Building', '--site', site, ...as('admin'))).code, 0);
    if (!has('camera', CAMERAS.parkingNorth)) assert.equal((await cli('select', 'add', '--camera', CAMERAS.parkingNorth, '--site', site, ...as('mchen'))).code, 0);
    await registryIs([...mainIds, CAMERAS.parkingNorth]);
  };
  /** The role knows of at least one video request. */
  const ensureRequest = async (): Promise<void> => {
    if (json<unknown[]>(await cli('requests', '--site', site, ...as('mchen'))).length > 0) return;
    await ensureSelection();
    const request = await world.fileRequest({ cameras: [CAMERAS.parkingNorth], fromUtc: world.at(0), toUtc: world.at(10) });
    await seen(runner!, request.requestId);
  };

  // The tests declared with `step` are the steps of one scenario whose trail records the
  // test "keeps a trail record of every step" counts. Each step runs once: in its own
  // test or, when that did not run (the trail test run alone), from the trail test.
  const steps = new Map<string, () => Promise<void>>();
  const stepsRun = new Set<string>();
  const runStep = async (title: string): Promise<void> => {
    stepsRun.add(title);
    await steps.get(title)!();
  };
  const step = (title: string, body: () => Promise<void>): void => {
    steps.set(title, body);
    it(title, () => runStep(title));
  };

  before(async () => {
    world = await startWorld('runner');
    site = world.siteDir;
    passwordFiles = await samplePasswordFiles(site, world.dir);
    propsFile = path.join(world.dir, 'properties.json');
    fs.writeFileSync(propsFile, JSON.stringify({ pollingIntervalSeconds: 30, archiveDestinationFolder: path.join(world.dir, 'archive'), throttlingEnabled: false, maximumBandwidthMbps: 10 }));
    const model = JSON.parse(fs.readFileSync(path.join(site, 'site.json'), 'utf8')) as { cameras: { id: string; name: string }[] };
    mainIds = main.map((n) => model.cameras.find((c) => c.name === n)!.id);
    runner = await startRunner();
  });
  after(async () => {
    if (runner) await runner.signal('SIGKILL');
    await world?.stop();
  });

  it('keeps the service registry in step with every change of the selection; one camera of a selected area cannot be removed', async () => {
    await ensureRunner();
    assert.equal((await cli('select', 'add', '--area', 'Main Building', '--site', site, ...as('admin'))).code, 0);
    await registryIs(mainIds);
    const refused = await cli('select', 'remove', '--camera', 'Lobby Entrance', '--site', site, ...as('admin'));
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /camera "Lobby Entrance" is part of area "Main Building".*remove the whole area/);
    const after = runner!.lines.length;
    await runner!.line(/registry: 5 camera\(s\) published/, after);
    assert.deepEqual(await world.registryIds(), [...mainIds].sort(), 'the refused change reached nothing');
    assert.equal((await cli('select', 'add', '--camera', CAMERAS.parkingNorth, '--site', site, ...as('mchen'))).code, 0);
    await registryIs([...mainIds, CAMERAS.parkingNorth]);
    assert.equal((await cli('select', 'remove', '--area', AREAS.main, '--site', site, ...as('admin'))).code, 0);
    await registryIs([CAMERAS.parkingNorth]);
    const denied = await cli('select', 'add', '--area', 'Main Building', '--site', site, ...as('tbrooks'));
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /PrivilegeDenied: User "tbrooks" lacks the privilege "View camera selection"/);
    assert.equal((await cli('select', 'add', '--area', 'Main Building', '--site', site, ...as('admin'))).code, 0);
    await registryIs([...mainIds, CAMERAS.parkingNorth]);
  });

  step('sees a new request within one polling interval; approved, it ends Completed with every part at the service matching the export', async () => {
    await ensureRunner();
    await ensureSelection();
    const pollBefore = runner!.lastPoll();
    const request = await world.fileRequest({ cameras: [CAMERAS.lobby], fromUtc: world.at(5), toUtc: world.at(50), comments: 'lobby incident' });
    const news = await seen(runner!, request.requestId);
    const pollLine = await runner!.line(/poll \d+:/, news.index);
    const pollSeen = Number(/poll (\d+):/.exec(pollLine.text)![1]);
    // The poll running when the request was filed may have listed jobs just before; the next one saw it.
    assert.ok(pollSeen <= pollBefore + 2, `filed after poll ${pollBefore}, seen by poll ${pollSeen}`);

    const approved = json<RequestView>(await cli('approve', request.requestId.slice(0, 8), '--site', site, ...as('mchen'), '--wait'));
    assert.equal(approved.status, 'Completed');
    const files = approved.cameras[0].files!;
    assert.equal(files.length, 3, '45 s in parts of at most 20 s');
    const remote = await world.serviceRequest(request.requestId);
    assert.equal(remote.status, 'Completed');
    assert.deepEqual(remote.evidenceIds, [approved.cameras[0].evidenceId]);
    assert.deepEqual(remote.cameraOutcomes.map((c) => c.outcome), ['Exported']);
    assert.ok(remote.caseId, 'the service filed the evidence in a case named after the request');
    const atService = await world.evidenceHashes(approved.cameras[0].evidenceId!);
    assert.deepEqual([...atService.entries()].sort(), files.map((f) => [f.name, f.sha256]).sort());
  });

  step('denies with a reason; reports video unavailable and partial completion', async () => {
    await ensureRunner();
    await ensureSelection();
    const deny = await world.fileRequest({ cameras: [CAMERAS.parkingNorth], fromUtc: world.at(0), toUtc: world.at(30) });
    const unavailable = await world.fileRequest({ cameras: [CAMERAS.reception], fromUtc: world.at(0), toUtc: world.at(30) });
    const partial = await world.fileRequest({ cameras: [CAMERAS.lobby, CAMERAS.reception], fromUtc: world.at(10), toUtc: world.at(20) });
    for (const r of [deny, unavailable, partial]) await seen(runner!, r.requestId);

    const noPrivilege = await cli('approve', deny.requestId, '--site', site, ...as('tbrooks'));
    assert.equal(noPrivilege.code, 1);
    assert.match(noPrivilege.stderr, /PrivilegeDenied/);
    assert.equal((await cli('deny', deny.requestId, '--site', site, ...as('jrivera'))).code, 2, 'deny needs a reason');
    const denied = json<RequestView>(await cli('deny', deny.requestId, '--site', site, ...as('jrivera'), '--reason', 'The parking camera faces away from the incident'));
    assert.equal(denied.status, 'Denied');
    const deniedRemote = await world.serviceRequest(deny.requestId);
    assert.equal(deniedRemote.status, 'Denied');
    assert.equal(deniedRemote.history.at(-1)?.reason, 'The parking camera faces away from the incident');

    assert.equal(json<RequestView>(await cli('approve', unavailable.requestId, '--site', site, ...as('admin'), '--wait')).status, 'VideoUnavailable');
    assert.equal((await world.serviceRequest(unavailable.requestId)).status, 'VideoUnavailable');

    const partly = json<RequestView>(await cli('approve', partial.requestId, '--site', site, ...as('admin'), '--wait'));
    assert.equal(partly.status, 'PartiallyCompleted');
    const partialRemote = await world.serviceRequest(partial.requestId);
    assert.equal(partialRemote.status, 'PartiallyCompleted');
    assert.deepEqual(partialRemote.cameraOutcomes.map((c) => [c.cameraId, c.outcome]), [[CAMERAS.lobby, 'Exported'], [CAMERAS.reception, 'Unavailable']]);

    const again = await cli('approve', partial.requestId, '--site', site, ...as('admin'));
    assert.equal(again.code, 1);
    assert.match(again.stderr, /IllegalRequestTransition: Video request .* is Partially completed; it cannot become Processing/);
  });

  step('reports partial completion when one camera\'s export fails; when every camera fails it gives the request back instead of claiming video unavailable', async () => {
    await ensureRunner();
    await ensureSelection();
    // Parking North's first recording still tells its length, but ffmpeg finds no track in it: its export fails.
    const dir = path.join(site, 'recordings', pathSegmentFor(CAMERAS.parkingNorth));
    const segment = path.join(dir, fs.readdirSync(dir).sort()[0]);
    const original = fs.readFileSync(segment);
    const broken = Buffer.from(original);
    const trak = broken.indexOf('trak');
    assert.ok(trak > 0);
    broken.write('free', trak, 'latin1');
    try {
      fs.writeFileSync(segment, broken);
      const partial = await world.fileRequest({ cameras: [CAMERAS.lobby, CAMERAS.parkingNorth], fromUtc: world.at(10), toUtc: world.at(20) });
      const failing = await world.fileRequest({ cameras: [CAMERAS.parkingNorth], fromUtc: world.at(10), toUtc: world.at(20) });
      for (const r of [partial, failing]) await seen(runner!, r.requestId);

      const partly = json<RequestView>(await cli('approve', partial.requestId, '--site', site, ...as('admin'), '--wait'));
      assert.equal(partly.status, 'PartiallyCompleted');
      assert.deepEqual(partly.cameras.map((c) => c.outcome), ['Exported', 'Failed']);
      const partialRemote = await world.serviceRequest(partial.requestId);
      assert.equal(partialRemote.status, 'PartiallyCompleted');
      assert.deepEqual(partialRemote.cameraOutcomes.map((c) => [c.cameraId, c.outcome]), [[CAMERAS.lobby, 'Exported'], [CAMERAS.parkingNorth, 'Failed']]);
      assert.match(partialRemote.cameraOutcomes[1].message ?? '', /export of camera .* failed/);

      const given = json<RequestView & { error?: string }>(await cli('approve', failing.requestId, '--site', site, ...as('admin'), '--wait'));
      assert.equal(given.status, 'Pending', 'to be approved again');
      assert.match(given.error ?? '', /Export or upload failed, nothing was sent/);
      assert.deepEqual(given.cameras.map((c) => c.outcome), [undefined], 'the failed camera is tried anew');
      const failedRemote = await world.serviceRequest(failing.requestId);
      assert.ok(!failedRemote.history.some((h) => h.status === 'VideoUnavailable'), JSON.stringify(failedRemote.history));
      assert.ok(failedRemote.history.some((h) => h.status === 'Pending' && /Export or upload failed/.test(h.reason ?? '')), JSON.stringify(failedRemote.history));
      // The runner takes the job again; once the recordings are readable, approving again sends them.
      await waitFor('the job locked again', async () => (await world.serviceRequest(failing.requestId)).status === 'Processing');
      fs.writeFileSync(segment, original);
      const retried = json<RequestView>(await cli('approve', failing.requestId, '--site', site, ...as('admin'), '--wait'));
      assert.equal(retried.status, 'Completed');
      assert.equal((await world.serviceRequest(failing.requestId)).status, 'Completed');
    } finally {
      fs.writeFileSync(segment, original);
    }
  });

  step('stops cleanly on SIGTERM, and refuses a request for a camera outside the selection', async () => {
    await ensureRunner();
    await ensureSelection();
    const code = await runner!.signal('SIGTERM');
    assert.equal(code, 0);
    assert.ok(runner!.lines.some((l) => /SIGTERM: stopping/.test(l)) && runner!.lines.at(-1)?.endsWith('stopped'));
    assert.equal(fs.existsSync(path.join(site, '.clearance-role.lock')), false);
    runner = undefined;

    // No runner: the command opens the role itself.
    assert.equal((await cli('select', 'remove', '--area', 'Main Building', '--site', site, ...as('admin'))).code, 0);
    assert.ok((await world.registryIds()).includes(CAMERAS.lobby), 'the service has not heard of the change yet');
    const request = await world.fileRequest({ cameras: [CAMERAS.lobby], fromUtc: world.at(0), toUtc: world.at(10) });
    runner = await startRunner();
    const remote = await waitFor('the refusal at the service', async () => {
      const r = await world.serviceRequest(request.requestId);
      return r.status === 'Denied' ? r : undefined;
    });
    assert.match(remote.history.at(-1)?.reason ?? '', /Lobby Entrance is not in the camera selection/);
    await registryIs([CAMERAS.parkingNorth]);
  });

  step('runs one role per site: a second runner refuses to start, and starts once the first is killed with SIGKILL', async () => {
    await ensureRunner();
    await ensureRequest();
    const second = new Runner(runArgs());
    try {
      assert.equal(await second.exited, 3);
      assert.match(second.stderr, new RegExp(`Another Clearance role instance \\(runner, pid ${runner!.pid}`));
    } finally {
      await second.kill();
    }
    assert.equal(await runner!.signal('SIGKILL'), null);
    assert.ok(fs.existsSync(path.join(site, '.clearance-role.lock')), 'a killed runner leaves its lock behind');
    const faster = path.join(world.dir, 'properties-2.json');
    fs.writeFileSync(faster, JSON.stringify({ ...JSON.parse(fs.readFileSync(propsFile, 'utf8')), maximumBandwidthMbps: 20 }));
    // The proxy password comes from a file, lands in the secret store and nowhere else.
    const password = 'pr0xy-Secret-42';
    const passwordFile = path.join(world.dir, 'proxy-password');
    fs.writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    runner = await startRunner(faster, ['--proxy-password-file', passwordFile]);
    await runner.line(/activity #\d+ configurationChanged: Role properties changed: maximumBandwidthMbps/);
    await runner.line(/proxy password stored \(from /);
    const stateDir = path.join(site, '.clearance-role');
    assert.equal(await new FileSecretStore(path.join(stateDir, 'secrets.json')).get(PROXY_PASSWORD_SECRET_KEY), password, 'trailing newline dropped');
    assert.ok(!runner.lines.join('\n').includes(password) && !runner.stderr.includes(password), 'never logged');
    for (const f of fs.readdirSync(stateDir, { recursive: true }) as string[]) {
      const file = path.join(stateDir, f);
      if (f === 'secrets.json' || !fs.statSync(file).isFile()) continue;
      assert.ok(!fs.readFileSync(file).includes(password), `not in ${f}`);
    }
    assert.equal((await cli('status', '--site', site)).code, 2, 'status names the user who asks');
    const nameAlone = await cli('status', '--site', site, '--user', 'admin');
    assert.equal(nameAlone.code, 2, '--user alone is not enough');
    assert.match(nameAlone.stderr, /no terminal to ask for the password on: give --password-file <file>/);
    const denied = await cli('requests', '--site', site, ...as('tbrooks'));
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /PrivilegeDenied: User "tbrooks" lacks the privilege "View request notifications"/);
    const status = json<{ status: string; connection: string }>(await cli('status', '--site', site, ...as('admin')));
    assert.equal(status.status, 'running');
    assert.ok(json<unknown[]>(await cli('requests', '--site', site, ...as('mchen'))).length > 0);
  });

  step('sends an operator export from the command line through the running role', async () => {
    await ensureRunner();
    const bad = await cli('export', '--site', site, ...as('mchen'), '--camera', 'Lobby Entrance', '--from', world.at(10), '--to', world.at(5));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /media\.to: must be after the start/);
    const sent = json<{ state: string; evidenceId: string; caseId: string; parts: { name: string; sha256: string }[] }>(
      await cli('export', '--site', site, ...as('mchen'), '--camera', 'Lobby Entrance', '--camera', 'Parking North', '--from', world.at(40), '--to', world.at(50), '--new-case', 'Lobby and parking, 10 s', '--wait'),
    );
    assert.equal(sent.state, 'completed');
    assert.ok(sent.caseId);
    assert.equal(sent.parts.length, 2);
    const atService = await world.evidenceHashes(sent.evidenceId);
    assert.deepEqual([...atService.entries()].sort(), sent.parts.map((p) => [p.name, p.sha256]).sort());
  });

  it('answers a pending request "video unavailable" from the command line, and pauses and resumes every upload', async () => {
    await ensureRunner();
    await ensureSelection();
    const request = await world.fileRequest({ cameras: [CAMERAS.lobby], fromUtc: world.at(0), toUtc: world.at(10) });
    await seen(runner!, request.requestId);
    assert.equal((await cli('unavailable', '--site', site, ...as('jrivera'))).code, 2, 'unavailable needs the request');
    const refused = await cli('unavailable', request.requestId, '--site', site, ...as('tbrooks'));
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /PrivilegeDenied: User "tbrooks" lacks the privilege "View request notifications"/);
    const reason = 'The lobby recorder was offline that morning';
    const answered = json<Omit<RequestView, 'cameras'> & { decidedBy?: string; cameras: { outcome?: string; message?: string }[] }>(
      await cli('unavailable', request.requestId.slice(0, 8), '--site', site, ...as('jrivera'), '--reason', reason),
    );
    assert.equal(answered.status, 'VideoUnavailable');
    assert.equal(answered.decidedBy, 'jrivera');
    assert.deepEqual(answered.cameras.map((c) => [c.outcome, c.message]), [['Unavailable', reason]]);
    const remote = await world.serviceRequest(request.requestId);
    assert.equal(remote.status, 'VideoUnavailable');
    assert.equal(remote.history.at(-1)?.reason, reason);

    // Every earlier upload has ended: nothing to pause or resume, and the counts say so.
    assert.deepEqual(json(await cli('pause-uploads', '--site', site, ...as('mchen'))), { paused: 0 });
    assert.deepEqual(json(await cli('resume-uploads', '--site', site, ...as('mchen'))), { resumed: 0 });
    const noEvidence = await cli('pause-uploads', '--site', site, ...as('tbrooks'));
    assert.equal(noEvidence.code, 1);
    assert.match(noEvidence.stderr, /PrivilegeDenied: User "tbrooks" lacks the privilege "Send evidence to Clearance"/);
  });

  it('keeps a trail record of every step', async function () {
    this.timeout(300_000); // run alone, it runs the whole scenario
    for (const title of steps.keys()) if (!stepsRun.has(title)) await runStep(title);
    await ensureRunner();
    assert.deepEqual(json<{ ok: boolean }>(await cli('verify', '--site', site, ...as('admin'))).ok, true);
    assert.equal(await runner!.signal('SIGTERM'), 0);
    runner = undefined;
    const records = fs.readFileSync(trailFile(), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ActivityRecord);
    const types = new Set(records.map((r) => r.type));
    const expected: ActivityType[] = [
      'privilegesCreated', 'accountImported', 'roleStarted', 'signIn', 'cameraSelectionChanged', 'registryPublished',
      'requestReceived', 'requestRefused', 'requestStatusChanged', 'exportCompleted', 'exportFailed', 'uploadQueued',
      'uploadCompleted', 'configurationChanged', 'roleStopped',
    ];
    assert.deepEqual(expected.filter((t) => !types.has(t)), []);
    const exported = records.filter((r) => r.type === 'exportCompleted');
    assert.ok(exported.every((r) => r.user && r.time && r.cameras?.length && r.files?.length && r.files.every((f) => f.name && f.bytes > 0 && /^[0-9a-f]{64}$/.test(f.sha256))));
    assert.equal(exported.filter((r) => r.requestId).length, 4, 'the approved request, the two partly completed ones, the one given back and approved again');
    assert.equal(exported.filter((r) => !r.requestId && r.user === 'mchen').length, 2, 'the operator export, one record per camera');
    const decisions = records.filter((r) => r.type === 'requestStatusChanged').map((r) => `${r.details?.from}→${r.details?.to}`);
    for (const step of ['Pending→Processing', 'Processing→Completed', 'Pending→Denied', 'Processing→VideoUnavailable', 'Processing→PartiallyCompleted', 'Processing→Pending']) {
      assert.ok(decisions.includes(step), step);
    }
    const selection = records.filter((r) => r.type === 'cameraSelectionChanged');
    assert.ok(selection.every((r) => r.user === 'admin' || r.user === 'mchen'));
  });

  it('verify detects an edited, a deleted and a reordered record', async () => {
    if (runner?.running) assert.equal(await runner.signal('SIGTERM'), 0);
    runner = undefined;
    const file = trailFile();
    // Enough records to tamper with (this test run alone): every command signs in, which is recorded.
    for (let i = 0; i < 10 && fs.readFileSync(file, 'utf8').trim().split('\n').length < 10; i++) json(await cli('verify', '--site', site, ...as('admin')));
    const text = fs.readFileSync(file, 'utf8');
    const lines = text.trim().split('\n');
    assert.ok(lines.length >= 10, `${lines.length} records`);
    const check = async (tampered: string[]) => {
      fs.writeFileSync(file, tampered.join('\n') + '\n');
      const done = await cli('verify', '--site', site, ...as('admin'));
      fs.writeFileSync(file, text);
      assert.equal(done.code, 1, done.stderr);
      return (JSON.parse(done.stdout) as { problems: { kind: string; seq?: number }[] }).problems;
    };
    const edited = lines.map((l, i) => (i === 5 ? JSON.stringify({ ...(JSON.parse(l) as ActivityRecord), summary: 'nothing happened here' }) : l));
    assert.deepEqual((await check(edited)).map((p) => [p.kind, p.seq]), [['edited', 6]]);
    const deleted = lines.filter((_, i) => i !== 7);
    assert.deepEqual((await check(deleted)).map((p) => [p.kind, p.seq]), [['deleted', 9]]);
    const reordered = [...lines];
    [reordered[8], reordered[9]] = [reordered[9], reordered[8]];
    assert.ok((await check(reordered)).some((p) => p.kind === 'reordered'));
    assert.deepEqual(verifyTrailText(text).problems, [], 'the original is untouched');
  });
});
