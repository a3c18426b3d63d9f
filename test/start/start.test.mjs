// The first minute, as a newcomer lives it (issue 11): the repository copied to
// a temporary folder, `npm start -- --code-server --port 0` run there on a
// machine with no ffmpeg (the system one hidden from the test's process tree:
// an overlay over its folder in a private mount namespace), so the npm-shipped
// binary is used and named in the log. Then, in the console as a person sees it
// (Playwright in Chromium): the published cameras, a demo request's toast
// within two minutes, Approve in the toast, the request Completed. Ctrl+C (a
// SIGINT to npm's process group, as a terminal sends it) must leave no process
// behind (the detached role included), release the site lock, and close the
// role's socket. Then the same copy is started again: reuse, a second start
// refused, `npm run role`, ports in use, --fresh, a bad flag.
//
//   node test/start/start.test.mjs        prints `start: N passed, N failed`
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { descendants, launchChromium } from '../../scripts/code-server.mjs';
import { Workbench } from '../e2e/workbench.mjs';
import {
  ROOT, alive, copyRepository, ffmpegFolders, noFfmpegWrapper, psArgs, seenPids as everyPid, sleep, startRun, stop, until,
} from './harness.mjs';

// Without code-server installed yet, the first start installs it (about 2 minutes more).
const CODE_SERVER_READY = existsSync(path.join(ROOT, '.vscode-test', 'code-server', '.installed.json'));
const FIRST_READY_TIMEOUT_MS = Number(process.env.CLEARANCE_START_TIMEOUT_MS ?? (CODE_SERVER_READY ? 5 : 9) * 60_000);
const READY_TIMEOUT_MS = 2 * 60_000;
const REQUEST_TIMEOUT_MS = 2 * 60_000;
const FAILURES = path.join(ROOT, 'test-results');
const SHOTS = path.join(FAILURES, 'start-screenshots');
const SCREENSHOTS = path.join(ROOT, 'media', 'screenshots');

const results = [];

async function check(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push(true);
    console.log(`ok   ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return true;
  } catch (err) {
    results.push(false);
    console.log(`FAIL ${name}\n     ${String(err.message).split('\n').slice(0, 14).join('\n     ')}`);
    return false;
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

function get(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`GET ${url} timed out`)));
  });
}

function connects(target) {
  return new Promise((resolve) => {
    const socket = net.connect(target);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
    socket.setTimeout(2000, () => { socket.destroy(); resolve(false); });
  });
}
const portOpen = (port) => connects({ host: '127.0.0.1', port });
const portOf = (url) => Number(new URL(url).port);
/** A digest of the integration's private key: compared between runs, never printed. */
const keyHash = (file) => createHash('sha256').update(String(JSON.parse(readFileSync(file, 'utf8')).ServicePrincipalKey?.d)).digest('hex');
const mode = (file) => statSync(file).mode & 0o777;

function recordingFiles(siteFolder) {
  const dir = path.join(siteFolder, 'recordings');
  return readdirSync(dir).flatMap((cam) => readdirSync(path.join(dir, cam)).map((f) => path.join(dir, cam, f)));
}

/** A port some other process listens on, for the "port in use" checks. */
function occupyPort() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => resolve({ port: srv.address().port, close: () => new Promise((r) => srv.close(r)) }));
  });
}

async function checkStopped(label, run, signal, { ports, location, role, group }) {
  const lockFile = path.join(location, 'site', '.clearance-role.lock');
  const result = await stop(run, signal, { group, extra: role?.pid ? [role.pid] : [] });
  await check(`${label}: ${signal}${group ? ' to the process group (Ctrl+C)' : ''} stops it cleanly (${result.seconds.toFixed(1)} s)`, () => {
    assert(/stopped\./.test(run.output()), `no "stopped." line in the output:\n${run.output().slice(-1500)}`);
    if (!group) assert(result.exit.code === 0, `exit ${result.exit.code ?? result.exit.signal}`);
  });
  await check(`${label}: no process is left (${result.tree.length} were running${role ? ', the detached role included' : ''})`, () => {
    assert(result.tree.length > 1, 'nothing was started?');
    const left = result.left.map((p) => `${p} ${psArgs(p)}`);
    assert(left.length === 0, `still running:\n${left.join('\n')}`);
    const leftovers = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(location));
    assert(leftovers.length === 0, `processes still name the data folder:\n${leftovers.join('\n')}`);
  });
  await check(`${label}: ports closed (${ports.join(', ')}), runtime file and password file gone`, async () => {
    const open = [];
    for (const p of ports) if (await portOpen(p)) open.push(p);
    assert(open.length === 0, `still listening: ${open.join(', ')}`);
    assert(!existsSync(path.join(location, 'service', 'emulator.json')), 'service/emulator.json is still there');
    assert(!existsSync(path.join(location, 'run', 'admin.password')), 'run/admin.password is still there');
  });
  if (role) {
    await check(`${label}: the site lock is released and the role's socket refuses connections`, async () => {
      assert(!existsSync(lockFile), `the lock file is still there: ${existsSync(lockFile) ? readFileSync(lockFile, 'utf8') : ''}`);
      const roleLog = readFileSync(path.join(location, 'site', '.clearance-role', 'role.log'), 'utf8').trim().split('\n').slice(-25).join('\n');
      assert(/SIGTERM: stopping/.test(roleLog) && /stopped$/.test(roleLog), `the role did not stop cleanly; its log ends:\n${roleLog}`);
      assert(role.controlPath, 'READY named no control socket');
      assert(!(await connects(role.controlPath)), `${role.controlPath} still accepts connections`);
    });
  }
}

// ---------------------------------------------------------------- main

async function main() {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'clearance-start-test-'));
  const repo = path.join(scratch, 'repo');
  const location = path.join(repo, '.clearance-local');
  const env = { ...process.env };
  // The outer `npm test` must not steer the inner `npm start` (its prefix, its script).
  for (const k of Object.keys(env)) if (/^npm_/i.test(k)) delete env[k];
  let browser;
  let first;
  let ready;
  try {
    let files = 0;
    await check('the repository is copied to a temporary folder (no dist/, no data; node_modules and .vscode-test linked)', () => {
      files = copyRepository(repo);
      assert(files > 50 && existsSync(path.join(repo, 'package.json')) && !existsSync(path.join(repo, 'dist')), `${files} files copied`);
    });

    const hider = noFfmpegWrapper(scratch);
    await check(`no ffmpeg is visible to npm start's process tree (${hider?.hidden.length ? `hidden: ${hider.hidden.map((d) => `${d}/ffmpeg`).join(', ')}` : 'none on this machine'})`, () => {
      assert(hider, `cannot hide ${ffmpegFolders().map((d) => `${d}/ffmpeg`).join(', ')}: needs root or unprivileged user namespaces (unshare -rm)`);
    });

    // --- 1. the first start: npm start in the copy, a bare machine (no dist/, no ffmpeg).
    const [cmd, args] = (hider ?? { wrap: (c, a) => [c, a] }).wrap('npm', ['start', '--', '--code-server', '--port', '0']);
    const started = Date.now();
    first = startRun(cmd, args, { cwd: repo, timeoutMs: FIRST_READY_TIMEOUT_MS, env });
    if (!(await check('`npm start -- --code-server --port 0` in the copy prints READY', async () => {
      ready = await first.ready;
    }))) return;
    const readyAt = Date.now();
    console.log(`     READY after ${((readyAt - started) / 1000).toFixed(0)} s`);
    for (const line of first.output().split('\n').filter((l) => /^(build: done|sample site: \d+ cameras|role: running|ffmpeg:)/.test(l))) console.log(`     | ${line}`);

    await check('the log names the npm-shipped ffmpeg, and the role runs with it', () => {
      const out = first.output();
      const line = /^ffmpeg: .*$/m.exec(out)?.[0] ?? '(no ffmpeg line)';
      assert(/@ffmpeg-installer\//.test(line) && /npm-shipped/.test(line), `the log says: ${line}`);
      assert(ready.ffmpegFromNpm === true && ready.ffmpeg.includes(`${path.sep}@ffmpeg-installer${path.sep}`), `READY ffmpeg ${ready.ffmpeg}`);
      const roleArgs = readFileSync(`/proc/${ready.role?.pid}/cmdline`, 'utf8').split('\0');
      assert(roleArgs[roleArgs.indexOf('--ffmpeg') + 1] === ready.ffmpeg, `the role runs with ${roleArgs.join(' ')}`);
      assert(/build: dist\/ is missing, building/.test(out), 'the copy was not built');
    });

    await check('the summary names the console URL, that no password is needed, the passwords file; secrets are owner-only', () => {
      const out = first.output();
      for (const s of [ready.consoleUrl, ready.serviceUrl, ready.connectionFile, ready.siteFolder, ready.passwordsFile, 'no password is needed on loopback', 'SECRET', 'Ctrl+C']) {
        assert(out.includes(s), `the output does not mention ${s}`);
      }
      assert(/sample site: 12\/12 cameras recorded/.test(out) && /account created/.test(out), 'no progress line for the sample site, or no "account created"');
      assert(/about \d+ s left/.test(out), 'no estimate for the sample site');
      assert(ready.console === 'code-server' && new URL(ready.consoleUrl).hostname === '127.0.0.1', `console ${ready.console} ${ready.consoleUrl}`);
      for (const f of [ready.connectionFile, ready.passwordsFile, ready.ticketFile]) assert(existsSync(f) && mode(f) === 0o600, `${f} is not owner-only (${existsSync(f) ? mode(f).toString(8) : 'missing'})`);
      const connection = JSON.parse(readFileSync(ready.connectionFile, 'utf8'));
      assert(!out.includes(connection.ServicePrincipalKey.d), 'the private key was printed');
      for (const p of Object.values(JSON.parse(readFileSync(ready.passwordsFile, 'utf8')))) assert(!out.includes(p), 'a sample password was printed');
      const workspace = JSON.parse(readFileSync(path.join(location, '.vscode', 'settings.json'), 'utf8'));
      assert(workspace['clearance.site.folder'] === ready.siteFolder && workspace['clearance.signInTicketFile'] === ready.ticketFile, `workspace settings ${JSON.stringify(workspace)}`);
    });

    await check('the role runs detached with the account imported, and one area is published to the registry', () => {
      const lock = JSON.parse(readFileSync(path.join(ready.siteFolder, '.clearance-role.lock'), 'utf8'));
      assert(lock.pid === ready.role.pid && lock.purpose === 'runner' && alive(lock.pid), `lock ${JSON.stringify(lock)}`);
      assert(!descendants(first.child.pid).includes(lock.pid), 'the role is not detached');
      assert(ready.registryCameras === 5, `${ready.registryCameras} cameras in the registry`);
      assert(/account \S+ imported/.test(readFileSync(path.join(ready.siteFolder, '.clearance-role', 'role.log'), 'utf8')), 'the role log does not say the account was imported');
    });

    // --- 2. the console as a newcomer sees it.
    let wb;
    await check('the console URL opens the workbench, signed in as admin without typing anything, with "Main Building" published', async () => {
      browser = await launchChromium();
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      page.setDefaultTimeout(30_000);
      await page.goto(ready.consoleUrl);
      wb = new Workbench(page);
      await wb.waitForWorkbench();
      await wb.openViewContainer('Clearance');
      await wb.treeItem('Cameras', 'Main Building').waitFor({ state: 'visible', timeout: 90_000 });
      await until('"Main Building" checked', () => wb.isTreeItemChecked('Cameras', 'Main Building'), 20_000);
      await until('"Main Building" published', async () => /5 of 5 published/.test(await wb.treeItemDescription('Cameras', 'Main Building').textContent()), 30_000);
      for (const other of ['Parking', 'Harbor Annex (federated)']) assert(!(await wb.isTreeItemChecked('Cameras', other)), `${other} is checked`);
      await wb.statusBarItem('Clearance: sign in').waitFor({ state: 'hidden' });
      assert(!existsSync(ready.ticketFile), 'the one-time ticket file is still there');
      await wb.treeItem('Activities', /^admin signed in \(vscode/).waitFor({ state: 'visible', timeout: 20_000 });
    });

    let toastText = '';
    await check('within two minutes a demo request raises a toast with Approve and shows under Pending in the Requests view', async () => {
      assert(wb, 'no workbench');
      const toast = wb.notification(/New video request for/);
      await toast.waitFor({ state: 'visible', timeout: Math.max(5_000, REQUEST_TIMEOUT_MS - (Date.now() - readyAt)) });
      toastText = (await toast.locator('.notification-list-item-message').textContent()) ?? '';
      await wb.notificationButton(/New video request for/, 'Approve').waitFor({ state: 'visible' });
      await wb.treeItem('Requests', 'Pending').waitFor({ state: 'visible', timeout: 20_000 });
      const filed = /\[demo\] video request \S+ filed for (.*) \(/.exec(first.output());
      assert(filed, 'npm start did not log the demo request');
      for (const name of filed[1].split(', ')) assert(toastText.includes(name), `the toast "${toastText}" does not name ${name}`);
      console.log(`     ${toastText.trim()} (${((Date.now() - readyAt) / 1000).toFixed(0)} s after READY)`);
      await wb.screenshot(path.join(SHOTS, 'first-start.png'));
    });

    await check('Approve in the toast: the request ends Completed in the Requests view (exported with the npm ffmpeg, uploaded)', async () => {
      assert(toastText, 'no toast');
      await wb.notificationButton(/New video request for/, 'Approve').click();
      await wb.treeItem('Requests', 'Completed').waitFor({ state: 'visible', timeout: 120_000 });
      await wb.treeItem('Requests', 'Pending').waitFor({ state: 'hidden', timeout: 20_000 });
      const passwordFile = path.join(scratch, 'admin.password');
      writeFileSync(passwordFile, `${JSON.parse(readFileSync(ready.passwordsFile, 'utf8')).admin}\n`, { mode: 0o600 });
      const r = spawnSync(process.execPath, [path.join(repo, 'dist', 'cli.js'), 'requests', '--site', ready.siteFolder, '--user', 'admin', '--password-file', passwordFile], { encoding: 'utf8', timeout: 60_000 });
      const requests = JSON.parse(r.stdout || '[]');
      assert(requests.length === 1 && requests[0].status === 'Completed' && requests[0].cameras.every((c) => c.outcome === 'Exported' && c.evidenceId), `the role holds ${r.stdout || r.stderr}`);
    });
    await browser?.close();
    browser = undefined;

    await checkStopped('first start', first, 'SIGINT', {
      group: true,
      ports: [ready.consolePort, portOf(ready.serviceUrl), portOf(ready.blobUrl)],
      location,
      role: ready.role,
    });
    first = undefined;

    // --- 3. the next starts on the same copy (the system ffmpeg visible again: speed).
    const START = path.join(repo, 'scripts', 'start.mjs');
    const key = keyHash(ready.connectionFile);
    const recordings = new Map(recordingFiles(ready.siteFolder).map((f) => [f, statSync(f).mtimeMs]));
    const second = startRun(process.execPath, [START, '--no-open', '--demo', '0'], { cwd: repo, timeoutMs: READY_TIMEOUT_MS, env });
    let again;
    await check('a second start (--no-open) reuses the account, the connection file and the sample site', async () => {
      again = await second.ready;
      const out = second.output();
      assert(/account reused/.test(out) && /sample site: reusing/.test(out), 'no "account reused" or "sample site: reusing" line');
      assert(again.connectionFile === ready.connectionFile && keyHash(again.connectionFile) === key, 'another account');
      for (const [f, mtime] of recordings) assert(existsSync(f) && statSync(f).mtimeMs === mtime, `${f} was rewritten`);
      assert(again.role === null && again.console === 'none', `--no-open started ${JSON.stringify(again.role)} / ${again.console}`);
    });
    if (again) {
      await check('meanwhile, another npm start on the same folder refuses clearly; so does --fresh', async () => {
        for (const extra of [[], ['--fresh']]) {
          const r = spawnSync(process.execPath, [START, '--no-open', ...extra], { cwd: repo, encoding: 'utf8', timeout: 60_000, env });
          assert(r.status === 1 && /already runs on/.test(r.stderr), `${extra.join(' ')}: exit ${r.status}: ${r.stderr}`);
        }
        assert((await get(again.openIdConfiguration)).status === 200, 'the running service stopped answering');
      });
      await check('`npm run role` runs the headless role against the same service and site; Ctrl+C stops it and releases the lock', async () => {
        const role = startRun('npm', ['run', 'role'], { cwd: repo, timeoutMs: 1000, env });
        try {
          await until('the role running', () => /role running for Riverside Campus/.test(role.output()), 60_000);
          assert(/ffmpeg: /.test(role.output()) && /--connection/.test(role.output()), role.output().slice(-1500));
          const lock = JSON.parse(readFileSync(path.join(again.siteFolder, '.clearance-role.lock'), 'utf8'));
          const other = spawnSync('npm', ['run', 'role'], { cwd: repo, encoding: 'utf8', timeout: 60_000, env });
          assert(other.status !== 0 && /already runs for/.test(other.stderr), `a second npm run role: ${other.status} ${other.stderr}`);
          const result = await stop(role, 'SIGINT', { group: true, extra: [lock.pid] });
          assert(result.left.length === 0, `left: ${result.left.map((p) => `${p} ${psArgs(p)}`).join('\n')}`);
          assert(/stopped/.test(role.output()), `no "stopped" in ${role.output().slice(-800)}`);
          assert(!existsSync(path.join(again.siteFolder, '.clearance-role.lock')), 'the lock is still there');
        } finally {
          try { process.kill(-role.child.pid, 'SIGKILL'); } catch { /* gone */ }
        }
      });
      await checkStopped('second start', second, 'SIGTERM', { ports: [portOf(again.serviceUrl), portOf(again.blobUrl)], location });
    } else {
      second.child.kill('SIGKILL');
    }

    await check('a port in use is named with the option that changes it', async () => {
      const taken = await occupyPort();
      try {
        const s = spawnSync(process.execPath, [START, '--no-open', '--service-port', String(taken.port)], { cwd: repo, encoding: 'utf8', timeout: 60_000, env });
        assert(s.status === 1 && s.stderr.includes(`port ${taken.port}`) && s.stderr.includes('--service-port'), `service: exit ${s.status}: ${s.stderr}`);
        const c = spawnSync(process.execPath, [START, '--code-server', '--port', String(taken.port)], { cwd: repo, encoding: 'utf8', timeout: 60_000, env });
        assert(c.status === 1 && c.stderr.includes(`port ${taken.port}`) && c.stderr.includes('--port'), `console: exit ${c.status}: ${c.stderr}`);
      } finally {
        await taken.close();
      }
    });

    const fresh = startRun(process.execPath, [START, '--no-open', '--fresh', '--site-minutes', '1', '--demo', '0'], { cwd: repo, timeoutMs: READY_TIMEOUT_MS, env });
    await check('--fresh starts over: a new account (new private key) and a new sample site', async () => {
      const r = await fresh.ready;
      assert(/account created/.test(fresh.output()), 'no "account created" line');
      assert(keyHash(r.connectionFile) !== key, 'the private key is the old one');
      assert(recordingFiles(r.siteFolder).every((f) => !recordings.has(f) || statSync(f).mtimeMs !== recordings.get(f)), 'old recordings survived');
    });
    const freshStop = await stop(fresh, 'SIGTERM');
    await check('--fresh run stops cleanly', () => {
      assert(freshStop.exit.code === 0 && freshStop.left.length === 0, `exit ${freshStop.exit.code}, left ${freshStop.left.join(' ')}`);
    });

    await check('a bad flag stops with exit code 2, names the flag and creates nothing', () => {
      const elsewhere = path.join(scratch, 'never-created');
      const r = spawnSync(process.execPath, [START, '--location', elsewhere, '--port', '70000'], { cwd: repo, encoding: 'utf8' });
      assert(r.status === 2 && /--port must be a port number/.test(r.stderr), `exit ${r.status}: ${r.stderr}`);
      assert(!existsSync(elsewhere), `${elsewhere} was created`);
    });
  } finally {
    await browser?.close().catch(() => {});
    if (first) {
      // A failed first start: keep its output and logs for a look.
      mkdirSync(FAILURES, { recursive: true });
      writeFileSync(path.join(FAILURES, 'start-npm-start.log'), first.output());
      for (const [from, to] of [[path.join(location, 'logs', 'service.log'), 'start-service.log'], [path.join(location, 'site', '.clearance-role', 'role.log'), 'start-role.log']]) {
        if (existsSync(from)) copyFileSync(from, path.join(FAILURES, to));
      }
      console.log(`     output and logs: ${path.relative(ROOT, FAILURES)}/start-*.log`);
      try { process.kill(-first.child.pid, 'SIGINT'); } catch { /* gone */ }
      await sleep(15_000);
    }
    // Only processes of this test (a pid seen long ago may belong to someone else by now).
    const ours = (pid) => {
      let cwd = '';
      try {
        cwd = execFileSync('readlink', [`/proc/${pid}/cwd`], { encoding: 'utf8' }).trim();
      } catch { /* gone */ }
      return cwd.startsWith(scratch) || psArgs(pid).includes(scratch);
    };
    const left = [...everyPid].filter((p) => alive(p) && ours(p));
    for (const p of left) {
      try {
        process.kill(p, 'SIGKILL');
      } catch { /* gone */ }
    }
    if (left.length) console.log(`(killed ${left.length} leftover processes: ${left.join(' ')})`);
    rmSync(scratch, { recursive: true, force: true, maxRetries: 3 });
  }
}

const started = Date.now();
main()
  .catch((err) => {
    results.push(false);
    console.log(`FAIL start test crashed: ${err.stack ?? err.message}`);
  })
  .finally(() => {
    const passed = results.filter(Boolean).length;
    const failed = results.length - passed;
    // The screenshot of the first minute reaches the README's folder only from a run where everything passed.
    if (failed === 0 && existsSync(path.join(SHOTS, 'first-start.png'))) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      copyFileSync(path.join(SHOTS, 'first-start.png'), path.join(SCREENSHOTS, 'first-start.png'));
    }
    console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
    console.log(`start: ${passed} passed, ${failed} failed`);
    process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
  });
