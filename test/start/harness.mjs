// What the start test and the first-start bench share: a copy of the
// repository as a newcomer gets it, a process tree with no system ffmpeg in
// sight, and `npm start` runs with their READY line and a clean stop.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { descendants } from '../../scripts/code-server.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const STOP_TIMEOUT_MS = 60_000;
/** Every process seen in the trees of the runs: none may outlive a test. */
export const seenPids = new Set();

export function alive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return err.code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One wait for every test that drives processes and the workbench.
export { until } from '../e2e/journey.mjs';

export function psArgs(pid) {
  return spawnSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim();
}

// ---------------------------------------------------------------- the copy

/** The repository as a newcomer gets it (tracked and new files, no build, no data), with node_modules and .vscode-test linked back. */
export function copyRepository(dest, { link = ['node_modules', '.vscode-test'] } = {}) {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0').filter(Boolean);
  let n = 0;
  for (const rel of new Set(listed)) {
    const from = path.join(ROOT, rel);
    let st;
    try {
      st = statSync(from);
    } catch {
      continue; // deleted in the working tree
    }
    if (!st.isFile()) continue;
    mkdirSync(path.dirname(path.join(dest, rel)), { recursive: true });
    copyFileSync(from, path.join(dest, rel));
    n++;
  }
  for (const name of link) {
    mkdirSync(path.join(ROOT, name), { recursive: true });
    symlinkSync(path.join(ROOT, name), path.join(dest, name));
  }
  return n;
}

// ---------------------------------------------------------------- no ffmpeg

/** Folders on PATH (and /usr/bin, where the role would also look) that hold an ffmpeg. */
export function ffmpegFolders() {
  const dirs = new Set();
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/bin']) {
    if (!dir) continue;
    try {
      if (existsSync(path.join(dir, 'ffmpeg'))) dirs.add(execFileSync('realpath', [dir], { encoding: 'utf8' }).trim());
    } catch { /* not a folder */ }
  }
  return [...dirs];
}

/**
 * A wrapper that runs a command with no system ffmpeg in sight: in a private
 * mount namespace, each folder that holds one gets an overlay whose upper layer
 * has a whiteout in its place (PITFALLS.md). Root needs `unshare -m`; others an
 * unprivileged user namespace (`unshare -rm`). Answers undefined when impossible.
 */
export function noFfmpegWrapper(scratch) {
  const dirs = ffmpegFolders();
  if (dirs.length === 0) return { wrap: (cmd, args) => [cmd, args], hidden: [] };
  const script = [
    'set -e',
    ...dirs.map((dir, i) => {
      const base = path.join(scratch, `ffmpeg-hide-${i}`);
      return `mkdir -p ${base}/u ${base}/w && mknod ${base}/u/ffmpeg c 0 0 && mount -t overlay overlay -o lowerdir=${dir},upperdir=${base}/u,workdir=${base}/w ${dir}`;
    }),
    'exec "$@"',
  ].join('\n');
  const root = process.getuid?.() === 0;
  for (const flags of root ? [['-m'], ['-rm']] : [['-rm']]) {
    const wrap = (cmd, args) => ['unshare', [...flags, '--propagation', 'private', 'sh', '-c', script, 'sh', cmd, ...args]];
    for (let i = 0; i < dirs.length; i++) rmSync(path.join(scratch, `ffmpeg-hide-${i}`), { recursive: true, force: true });
    const [c, a] = wrap('sh', ['-c', 'command -v ffmpeg || true; ls /usr/bin/ffmpeg 2>/dev/null || true; echo probe-ok']);
    const probe = spawnSync(c, a, { encoding: 'utf8' });
    if (probe.status === 0 && probe.stdout.trim() === 'probe-ok') {
      for (let i = 0; i < dirs.length; i++) rmSync(path.join(scratch, `ffmpeg-hide-${i}`), { recursive: true, force: true });
      return { wrap, hidden: dirs };
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- starts

/** Runs a command in its own process group; resolves `ready` with the READY line's JSON. */
export function startRun(cmd, args, { cwd, timeoutMs, env }) {
  const child = spawn(cmd, args, { cwd, env: env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  seenPids.add(child.pid);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { out += d; });
  const exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  // The tree as it grows (a short-lived helper may come and go).
  const watcher = setInterval(() => {
    for (const p of descendants(child.pid)) seenPids.add(p);
  }, 1000);
  exit.then(() => clearInterval(watcher));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no READY line within ${timeoutMs / 1000} s:\n${out.slice(-3000)}`)), timeoutMs);
    const poll = setInterval(() => {
      const m = /^READY (\{.*\})$/m.exec(out);
      if (m) {
        clearInterval(poll);
        clearTimeout(timer);
        for (const p of descendants(child.pid)) seenPids.add(p);
        resolve(JSON.parse(m[1]));
      }
    }, 200);
    exit.then(({ code, signal }) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`exited (${code ?? signal}) before READY:\n${out.slice(-3000)}`));
    });
  });
  ready.catch(() => {});
  return { child, ready, exit, output: () => out };
}

/**
 * Ctrl+C as a terminal sends it (SIGINT to the foreground process group), or
 * another signal to the process alone; waits for every process of the tree
 * (and `extra`, e.g. the detached role) to be gone.
 */
export async function stop(run, signal, { group = false, extra = [] } = {}) {
  const tree = [run.child.pid, ...descendants(run.child.pid), ...extra];
  for (const p of tree) seenPids.add(p);
  try {
    process.kill(group ? -run.child.pid : run.child.pid, signal);
  } catch { /* gone */ }
  const started = Date.now();
  let timer;
  await Promise.race([run.exit, new Promise((r) => { timer = setTimeout(r, STOP_TIMEOUT_MS); })]);
  clearTimeout(timer);
  // npm returns at once on SIGINT; start.mjs and what it started take their time.
  while (tree.some(alive) && Date.now() - started < STOP_TIMEOUT_MS) await sleep(200);
  return { tree, left: tree.filter(alive), seconds: (Date.now() - started) / 1000, exit: await Promise.race([run.exit, sleep(0).then(() => ({ code: 'running' }))]) };
}
