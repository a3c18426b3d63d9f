// `npm start` from the outside, as an operator runs it: scripts/start.mjs as a
// child process on a throw-away data folder. It must bring up the console
// (code-server) and the local service, keep the connection file owner-only,
// reuse account and sample site on the next start, start over with --fresh,
// and leave no process or open port behind after Ctrl-C / SIGTERM.
//
//   node test/start/start.test.mjs        prints `start: N passed, N failed`
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { descendants } from '../../scripts/code-server.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const START = path.join(ROOT, 'scripts', 'start.mjs');
// The first start may install code-server into .vscode-test/ (minutes); later ones take seconds.
const FIRST_READY_TIMEOUT_MS = Number(process.env.CLEARANCE_START_TIMEOUT_MS ?? 8 * 60_000);
const READY_TIMEOUT_MS = 2 * 60_000;
const STOP_TIMEOUT_MS = 60_000;

const results = [];
const everyPid = new Set();

function check(name, fn) {
  try {
    fn();
    results.push(true);
    console.log(`ok   ${name}`);
  } catch (err) {
    results.push(false);
    console.log(`FAIL ${name}\n     ${String(err.message).split('\n').slice(0, 8).join('\n     ')}`);
  }
}

async function checkAsync(name, fn) {
  try {
    await fn();
    results.push(true);
    console.log(`ok   ${name}`);
  } catch (err) {
    results.push(false);
    console.log(`FAIL ${name}\n     ${String(err.message).split('\n').slice(0, 8).join('\n     ')}`);
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}


function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Runs start.mjs; resolves when it printed READY (or rejects with its output). */
function startConsole(args, timeoutMs) {
  const child = spawn(process.execPath, [START, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  everyPid.add(child.pid);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { out += d; });
  const exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no READY line within ${timeoutMs / 1000} s:\n${out.slice(-3000)}`)), timeoutMs);
    const poll = setInterval(() => {
      const m = /^READY (\{.*\})$/m.exec(out);
      if (m) {
        clearInterval(poll);
        clearTimeout(timer);
        for (const p of descendants(child.pid)) everyPid.add(p);
        resolve(JSON.parse(m[1]));
      }
    }, 200);
    exit.then(({ code, signal }) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`start.mjs exited (${code ?? signal}) before READY:\n${out.slice(-3000)}`));
    });
  });
  ready.catch(() => {});
  return { child, ready, exit, output: () => out };
}

/** Sends a signal and waits for start.mjs to exit; answers the pids of its tree taken just before. */
async function stop(run, signal) {
  const tree = descendants(run.child.pid);
  for (const p of tree) everyPid.add(p);
  run.child.kill(signal);
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ code: 'timeout' }), STOP_TIMEOUT_MS);
  });
  const result = await Promise.race([run.exit, timeout]);
  clearTimeout(timer);
  // Processes that exit on their own need a moment to be reaped by their parent.
  const deadline = Date.now() + 10_000;
  while (tree.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  return { ...result, tree, left: tree.filter(alive) };
}

function get(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'] ?? '', body }));
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`GET ${url} timed out`)));
  });
}

function portOpen(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
    socket.setTimeout(2000, () => { socket.destroy(); resolve(false); });
  });
}

const portOf = (url) => Number(new URL(url).port);
/** A digest of the integration's private key: compared between runs, never printed. */
const keyHash = (file) => createHash('sha256').update(String(JSON.parse(readFileSync(file, 'utf8')).ServicePrincipalKey?.d)).digest('hex');

function recordingFiles(siteFolder) {
  const dir = path.join(siteFolder, 'recordings');
  return readdirSync(dir).flatMap((cam) => readdirSync(path.join(dir, cam)).map((f) => path.join(dir, cam, f)));
}

async function checkStopped(label, run, signal, ports, location) {
  const result = await stop(run, signal);
  check(`${label}: ${signal} ends npm start with exit code 0`, () => {
    assert(result.code === 0, `exit ${result.code ?? result.signal}\n${run.output().slice(-1500)}`);
    assert(/stopped\./.test(run.output()), 'no "stopped." line in the output');
  });
  check(`${label}: no process of its tree is left (${result.tree.length} were running)`, () => {
    assert(result.tree.length > 0, 'start.mjs had no child processes: nothing was started?');
    const left = result.left.map((p) => `${p} ${spawnSync('ps', ['-o', 'args=', '-p', String(p)], { encoding: 'utf8' }).stdout.trim()}`);
    assert(left.length === 0, `still running:\n${left.join('\n')}`);
  });
  await checkAsync(`${label}: its ports are closed (${ports.join(', ')})`, async () => {
    const open = [];
    for (const p of ports) if (await portOpen(p)) open.push(p);
    assert(open.length === 0, `still listening: ${open.join(', ')}`);
  });
  check(`${label}: the service's runtime file is removed`, () => {
    assert(!existsSync(path.join(location, 'service', 'emulator.json')), 'service/emulator.json is still there');
  });
}

async function main() {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'clearance-start-test-'));
  const location = path.join(scratch, 'local');
  const common = ['--location', location, '--site-minutes', '1', '--demo', '5'];
  try {
    // --- 1. first start: everything is created, the console is served by code-server.
    const first = startConsole([...common, '--port', '0', '--code-server'], FIRST_READY_TIMEOUT_MS);
    let ready;
    try {
      ready = await first.ready;
      results.push(true);
      console.log(`ok   first start prints READY (console ${ready.consoleUrl?.slice(0, 40)}…)`);
    } catch (err) {
      results.push(false);
      console.log(`FAIL first start prints READY\n     ${err.message.split('\n').join('\n     ')}`);
      first.child.kill('SIGTERM');
      await first.exit;
      return;
    }

    check('the summary names the console, the service, the secret connection file and the site', () => {
      const out = first.output();
      for (const s of [ready.consoleUrl, ready.serviceUrl, ready.connectionFile, ready.siteFolder, 'SECRET', 'Ctrl+C']) {
        assert(out.includes(s), `the output does not mention ${s}`);
      }
      assert(/sample site: 12\/12 cameras recorded/.test(out), 'no progress line for the sample site');
      assert(/account created/.test(out), 'no "account created" line');
    });

    await checkAsync('the console URL serves the VS Code workbench of this run, with the extension under development', async () => {
      assert(ready.console === 'code-server', `console kind ${ready.console}`);
      const url = new URL(ready.consoleUrl);
      assert(url.hostname === '127.0.0.1' && ready.consolePort > 0 && portOf(ready.consoleUrl) === ready.consolePort, `console URL ${ready.consoleUrl}`);
      const payload = JSON.parse(url.searchParams.get('payload') ?? '[]');
      const dev = payload.find(([k]) => k === 'extensionDevelopmentPath')?.[1] ?? '';
      assert(dev.endsWith(ROOT), `extensionDevelopmentPath ${dev} is not the project`);
      const res = await get(ready.consoleUrl);
      assert(res.status === 200 && res.type.startsWith('text/html'), `GET console: ${res.status} ${res.type}`);
      assert(res.body.includes('workbench.js') && res.body.includes('workbench-web-configuration'), 'the page is not the workbench');
      assert(res.body.includes(path.join(location, 'vscode', 'user-data')), 'the workbench does not use the profile in the data folder');
    });

    await checkAsync('the local service answers /.well-known/openid-configuration', async () => {
      const res = await get(ready.openIdConfiguration);
      assert(res.status === 200, `status ${res.status}: ${res.body.slice(0, 200)}`);
      const config = JSON.parse(res.body);
      assert(config.token_endpoint === `${ready.serviceUrl}/connect/token`, `token_endpoint ${config.token_endpoint}`);
      assert(config.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:jwt-bearer'), 'no jwt-bearer grant');
    });

    await checkAsync('the blob store (Azurite behind the service) listens', async () => {
      assert(ready.blobUrl && (await portOpen(portOf(ready.blobUrl))), `blob URL ${ready.blobUrl} does not answer`);
    });

    check('the connection file is owner-only (0600) and points at the running service', () => {
      const mode = statSync(ready.connectionFile).mode & 0o777;
      assert(mode === 0o600, `mode ${mode.toString(8)}`);
      const connection = JSON.parse(readFileSync(ready.connectionFile, 'utf8'));
      assert(connection.TenantId && connection.ServicePrincipalId, 'no TenantId / ServicePrincipalId');
      assert(connection.SecurityTokenServiceBaseAddresses?.[0] === `${ready.serviceUrl}/connect`, 'token service address is not the running service');
      assert(typeof connection.ServicePrincipalKey?.d === 'string' && connection.ServicePrincipalKey.d.length > 100, 'no private key in the connection file');
      for (const secret of [connection.ServicePrincipalKey.d, connection.APIKey]) {
        assert(!first.output().includes(secret), 'a secret of the connection file was printed');
      }
    });

    check('the sample site is complete and the settings point clearance.site.folder at it', () => {
      const site = JSON.parse(readFileSync(path.join(ready.siteFolder, 'site.json'), 'utf8'));
      assert(site.cameras.length === 12, `${site.cameras.length} cameras`);
      const files = recordingFiles(ready.siteFolder).filter((f) => f.endsWith('.mp4'));
      assert(files.length >= 12, `${files.length} recording files`);
      assert(!existsSync(`${ready.siteFolder}.partial`), 'site.partial is left over');
      const workspace = JSON.parse(readFileSync(path.join(location, '.vscode', 'settings.json'), 'utf8'));
      assert(workspace['clearance.site.folder'] === ready.siteFolder, `workspace setting ${workspace['clearance.site.folder']}`);
      const user = JSON.parse(readFileSync(path.join(location, 'vscode', 'user-data', 'User', 'settings.json'), 'utf8'));
      assert(user['clearance.site.folder'] === ready.siteFolder, `code-server user setting ${user['clearance.site.folder']}`);
    });

    const firstKey = keyHash(ready.connectionFile);
    const recordings = new Map(recordingFiles(ready.siteFolder).map((f) => [f, statSync(f).mtimeMs]));
    await checkStopped('first start', first, 'SIGINT', [ready.consolePort, portOf(ready.serviceUrl), portOf(ready.blobUrl)], location);

    // --- 2. second start (no console): account, connection file and site are reused.
    const second = startConsole([...common, '--no-open'], READY_TIMEOUT_MS);
    let again;
    await checkAsync('second start (--no-open) prints READY', async () => {
      again = await second.ready;
      assert(again.console === 'none' && again.consoleUrl === null, `console ${again.console}`);
    });
    if (again) {
      check('second start reuses the account, the connection file and the sample site', () => {
        assert(/account reused/.test(second.output()), 'no "account reused" line');
        assert(/sample site: reusing/.test(second.output()), 'no "sample site: reusing" line');
        assert(again.connectionFile === ready.connectionFile, `another connection file: ${again.connectionFile}`);
        assert(keyHash(again.connectionFile) === firstKey, 'the integration has a new private key: the account was not reused');
        for (const [f, mtime] of recordings) assert(existsSync(f) && statSync(f).mtimeMs === mtime, `${f} was rewritten`);
      });
      await checkAsync('a second npm start on the same folder refuses clearly and changes nothing', async () => {
        const r = spawnSync(process.execPath, [START, ...common, '--no-open'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
        assert(r.status === 1, `exit ${r.status}`);
        assert(/already runs on/.test(r.stderr) && r.stderr.includes(String(JSON.parse(readFileSync(path.join(location, 'service', 'emulator.json'), 'utf8')).pid)),
          `stderr: ${r.stderr}`);
        const res = await get(again.openIdConfiguration);
        assert(res.status === 200, 'the running service stopped answering');
      });
      await checkStopped('second start', second, 'SIGTERM', [portOf(again.serviceUrl), portOf(again.blobUrl)], location);
    } else {
      second.child.kill('SIGKILL');
    }

    // --- 3. --fresh: a new account (new private key), a new site.
    const fresh = startConsole([...common, '--no-open', '--fresh'], READY_TIMEOUT_MS);
    await checkAsync('--fresh starts over with a new connection file and a new sample site', async () => {
      const r = await fresh.ready;
      assert(/account created/.test(fresh.output()), 'no "account created" line');
      assert(keyHash(r.connectionFile) !== firstKey, 'the private key is the old one');
      assert(recordingFiles(r.siteFolder).every((f) => !recordings.has(f) || statSync(f).mtimeMs !== recordings.get(f)), 'old recordings survived');
    });
    const freshStop = await stop(fresh, 'SIGTERM');
    check('--fresh run stops cleanly', () => {
      assert(freshStop.code === 0 && freshStop.left.length === 0, `exit ${freshStop.code}, left ${freshStop.left.join(' ')}`);
    });

    // --- 4. bad input changes nothing.
    check('a bad flag stops with exit code 2, names the flag and creates nothing', () => {
      const elsewhere = path.join(scratch, 'never-created');
      const r = spawnSync(process.execPath, [START, '--location', elsewhere, '--port', '70000'], { cwd: ROOT, encoding: 'utf8' });
      assert(r.status === 2, `exit ${r.status}`);
      assert(/--port must be a port number/.test(r.stderr), `stderr: ${r.stderr}`);
      assert(!existsSync(elsewhere), `${elsewhere} was created`);
    });
  } finally {
    const left = [...everyPid].filter(alive);
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
    console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
    console.log(`start: ${passed} passed, ${failed} failed`);
    process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
  });
