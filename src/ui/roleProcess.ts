// Starting the role runner (`dist/cli.js run --detach`) from the extension host,
// finding ffmpeg for it, and following its log file. No `vscode` here: the
// caller passes the settings in, so this module runs (and is tested) in plain
// Node too.
//
// - The runner is started with the editor's own runtime, `process.execPath`,
//   with ELECTRON_RUN_AS_NODE=1: a desktop user may have no `node` on PATH
//   (docs/platform-notes.md §10).
// - Only the short-lived `--detach` parent has pipes to us (its one stdout
//   line, its error on stderr). The long-lived runner is spawned by that parent
//   detached, in its own session, with stdio ignored (src/cli/runner.ts
//   `detach`), so it inherits nothing of the extension host and survives the
//   window.
import { spawn } from 'node:child_process';
import { constants, promises as fs, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { roleLogFileFor, roleStateDirFor, SiteLock, siteLockFileFor } from '../core';

/** `<state>/role.log`: where `run --detach` logs (rotated to role.log.1 … at 5 MiB). */
export function roleLogFile(siteDir: string, stateDir?: string): string {
  return roleLogFileFor(roleStateDirFor(siteDir, stateDir));
}

// ---- ffmpeg --------------------------------------------------------------------------------

export type FfmpegResolution =
  | { path: string; source: 'setting' | 'PATH'; warning?: string }
  /** Nothing found: the runner tries /usr/bin/ffmpeg and the npm package itself, and fails to start without one. */
  | { path: undefined; source: 'none'; message: string; warning?: string };

export interface ResolveFfmpegEnv {
  /** Default process.env.PATH. */
  PATH?: string;
  /** Windows executable suffixes; default process.env.PATHEXT. */
  PATHEXT?: string;
  platform?: NodeJS.Platform;
}

/**
 * The ffmpeg to hand to the runner (`--ffmpeg`): the `clearance.ffmpegPath`
 * setting when it names an executable file, else `ffmpeg` found on PATH, else
 * none, with a message saying how to get one.
 */
export async function resolveFfmpeg(settingValue: string | undefined, env: ResolveFfmpegEnv = {}): Promise<FfmpegResolution> {
  const platform = env.platform ?? process.platform;
  let warning: string | undefined;
  const setting = settingValue?.trim();
  if (setting) {
    const file = expandHome(setting);
    if (path.isAbsolute(file) && (await isExecutableFile(file))) return { path: file, source: 'setting' };
    warning = path.isAbsolute(file)
      ? `The setting clearance.ffmpegPath is "${setting}", which is not an executable file; looking for ffmpeg on the PATH instead.`
      : `The setting clearance.ffmpegPath must be an absolute path; it is "${setting}". Looking for ffmpeg on the PATH instead.`;
  }
  const onPath = await findOnPath('ffmpeg', env.PATH ?? process.env.PATH ?? '', platform, env.PATHEXT ?? process.env.PATHEXT);
  if (onPath) return { path: onPath, source: 'PATH', ...(warning ? { warning } : {}) };
  return { path: undefined, source: 'none', message: ffmpegHowTo(platform, setting), ...(warning ? { warning } : {}) };
}

/** What to tell a user who has no ffmpeg. */
export function ffmpegHowTo(platform: NodeJS.Platform = process.platform, settingValue?: string): string {
  const other =
    platform === 'darwin' ? ' (on macOS: `brew install ffmpeg`)' : platform === 'win32' ? ' (on Windows: `winget install ffmpeg`)' : '';
  return (
    `ffmpeg was not found: ${settingValue ? `the setting clearance.ffmpegPath ("${settingValue}") is not an executable file` : 'the setting clearance.ffmpegPath is empty'} and there is no ffmpeg on the PATH. ` +
    'The role needs ffmpeg to export video and does not start without it. ' +
    `Install it with \`sudo apt-get install ffmpeg\` (Debian/Ubuntu)${other}, ` +
    'or set clearance.ffmpegPath to the absolute path of an ffmpeg binary, then start the role again.'
  );
}

function expandHome(p: string): string {
  const home = process.env.HOME ?? process.env.USERPROFILE;
  return home && (p === '~' || p.startsWith('~/') || p.startsWith('~\\')) ? path.join(home, p.slice(1)) : p;
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    if (!(await fs.stat(file)).isFile()) return false;
    await fs.access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first `name` in PATH's folders (on Windows with each PATHEXT suffix), like a shell would. */
export async function findOnPath(name: string, pathValue: string, platform: NodeJS.Platform = process.platform, pathExt?: string): Promise<string | undefined> {
  const delimiter = platform === 'win32' ? ';' : ':';
  const suffixes =
    platform === 'win32'
      ? ['', ...(pathExt ?? '.COM;.EXE;.BAT;.CMD').split(';').filter(Boolean).map((s) => s.toLowerCase())]
      : [''];
  for (const raw of pathValue.split(delimiter)) {
    // An empty entry means the working directory to a shell; the extension host's one is arbitrary: skip it.
    const dir = raw.trim().replace(/^"(.*)"$/, '$1');
    if (!dir || !path.isAbsolute(dir)) continue;
    for (const suffix of suffixes) {
      const file = path.join(dir, name + suffix);
      if (await isExecutableFile(file)) return file;
    }
  }
  return undefined;
}

// ---- starting the runner ---------------------------------------------------------------------

export interface StartRoleOptions {
  /** The extension's folder (context.extensionPath): the runner is its dist/cli.js. */
  extensionPath: string;
  siteDir: string;
  /** The runner's state folder; default <site>/.clearance-role. */
  stateDir?: string;
  /** `--ffmpeg`; without it the runner looks for /usr/bin/ffmpeg, then the npm package. */
  ffmpegPath?: string;
  /** More `run` options (e.g. `--verbose`, `--poll-interval 1` in tests). */
  extraArgs?: readonly string[];
  /** How long to wait for the runner to answer (the parent itself gives up after 120 s). */
  timeoutMs?: number;
  /** One line per step, for the output channel. */
  log: (line: string) => void;
}

export interface StartedRole {
  pid: number;
  logFile: string;
}

/** `run --detach` exited 3, or its runner did: another instance holds the site's lock. */
export class RoleAlreadyRunning extends Error {
  constructor(
    readonly siteDir: string,
    detail: string,
  ) {
    super(`Another role already holds this site (${siteDir})${detail ? `: ${detail}` : ''}. Only one role runs per site; attach to it, or stop it first.`);
    this.name = 'RoleAlreadyRunning';
  }
}

const OUTPUT_CAP = 64 * 1024;
const STARTED = /role running in the background \(pid (\d+)\); log (.+?); stop it with/;

/**
 * Starts the role for `siteDir` in the background and resolves once it answers
 * on its control socket, with its pid and log file. Rejects with the runner's
 * own error (RoleAlreadyRunning when the site is held).
 */
export async function startRoleProcess(opts: StartRoleOptions): Promise<StartedRole> {
  const cli = path.join(opts.extensionPath, 'dist', 'cli.js');
  if (!(await fs.stat(cli).catch(() => undefined))?.isFile()) {
    throw new Error(`The role runner ${cli} is missing from the extension (a development checkout builds it with \`npm run build\`).`);
  }
  const siteDir = path.resolve(opts.siteDir);
  const args = [
    cli,
    'run',
    '--site',
    siteDir,
    '--detach',
    ...(opts.stateDir ? ['--state', path.resolve(opts.stateDir)] : []),
    ...(opts.ffmpegPath ? ['--ffmpeg', opts.ffmpegPath] : []),
    ...(opts.extraArgs ?? []),
  ];
  opts.log(`starting the role: ${[process.execPath, ...args].map(quoteForLog).join(' ')}`);
  const timeoutMs = opts.timeoutMs ?? 150_000;

  const { code, signal, stdout, stderr } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const child = spawn(process.execPath, args, {
        // The runner resolves the npm ffmpeg package from its working directory: the extension's folder.
        cwd: opts.extensionPath,
        env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
        windowsHide: true,
      });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => (out = (out + chunk).slice(-OUTPUT_CAP)));
      child.stderr.on('data', (chunk: string) => (err = (err + chunk).slice(-OUTPUT_CAP)));
      const timer = setTimeout(() => {
        child.kill('SIGTERM');
        reject(new Error(`The role did not answer within ${Math.round(timeoutMs / 1000)} s; see ${roleLogFile(siteDir, opts.stateDir)}.`));
      }, timeoutMs);
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`Could not start the role runner (${process.execPath}): ${error.message}`));
      });
      child.on('close', (c, s) => {
        clearTimeout(timer);
        resolve({ code: c, signal: s, stdout: out, stderr: err });
      });
    },
  );

  const message = stderr.trim().replace(/^clearance-role: /, '');
  // The parent exits 3 when it sees the lock itself; when its runner does, it says "exited (code 3)".
  if (code === 3 || /\bexited \(code 3\)/.test(stderr)) {
    const holder = await SiteLock.holder(siteLockFileFor(siteDir)).catch(() => undefined);
    const detail = holder ? `${holder.purpose}, pid ${holder.pid} on ${holder.host}, since ${holder.startedAt}` : '';
    opts.log(`the role did not start: another instance holds ${siteDir}${detail ? ` (${detail})` : ''}`);
    throw new RoleAlreadyRunning(siteDir, detail);
  }
  if (code !== 0) {
    opts.log(`the role did not start (${code !== null ? `exit code ${code}` : `signal ${signal}`}): ${message || '(no output)'}`);
    throw new Error(`The role did not start: ${message || `the runner exited with ${code ?? signal}`}${startFailureHint(stderr, cli, siteDir, opts.ffmpegPath)}`);
  }
  const m = STARTED.exec(stdout);
  const started = m ? { pid: Number(m[1]), logFile: m[2] } : undefined;
  if (!started) {
    // Started (exit 0) but said something else: keep going with what we know.
    opts.log(`the role started, but its answer was not understood: ${stdout.trim() || '(no output)'}`);
    return { pid: 0, logFile: roleLogFile(siteDir, opts.stateDir) };
  }
  opts.log(`role running in the background (pid ${started.pid}); log ${started.logFile}`);
  return started;
}

/**
 * What to add to a start failure. The detached runner writes a fatal start
 * error (no site.json, no ffmpeg…) to its stderr, which is discarded, and not
 * to role.log: the parent then reports only "exited (code 1) before it
 * answered" with nothing after it.
 */
function startFailureHint(stderr: string, cli: string, siteDir: string, ffmpegPath: string | undefined): string {
  if (/ffmpeg was not found|FfmpegMissing/.test(stderr)) return `\n${ffmpegHowTo()}`;
  const m = /exited \(code (\d+|null)\) before it answered:\s*$/.exec(stderr.trim() + ' ');
  if (!m) return '';
  return (
    `\nThe runner stopped before writing why. Common causes: ${path.join(siteDir, 'site.json')} is missing or invalid` +
    (ffmpegPath ? '' : '; ffmpeg is missing (install it with `sudo apt-get install ffmpeg`, or set clearance.ffmpegPath)') +
    `. To see its error, run it in the foreground in a terminal: node ${quoteForLog(cli)} run --site ${quoteForLog(siteDir)}`
  );
}

function quoteForLog(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

// ---- is it running? ------------------------------------------------------------------------

/**
 * Whether a role instance holds the site and serves a control socket (a runner,
 * not a one-shot CLI command), from the site's lock file: no connection needed.
 */
export async function roleRunning(siteDir: string): Promise<boolean> {
  const holder = await SiteLock.holder(siteLockFileFor(siteDir)).catch(() => undefined);
  return !!holder?.controlPath;
}

/** Resolves true once no live process holds the site's lock (e.g. after `role.stop`), false after `timeoutMs`. */
export function waitForRoleExit(siteDir: string, timeoutMs = 120_000): Promise<boolean> {
  return SiteLock.waitForRelease(siteLockFileFor(siteDir), timeoutMs);
}

// ---- following the log ---------------------------------------------------------------------

export interface FollowLogOptions {
  /** How many of the newest lines to show first (from role.log.1 too when role.log is short). */
  lines?: number;
  /** Polling period; fs.watch on the folder only makes it quicker. */
  pollMs?: number;
  onLine: (line: string) => void;
  /** Something about the file itself (missing, rotated, unreadable). */
  onNote?: (note: string) => void;
}

export interface LogFollower {
  /** Resolves once the first lines are out. */
  readonly ready: Promise<void>;
  dispose(): void;
}

/** The newest bytes read from the end of a file to find its last lines. */
const TAIL_BYTES = 256 * 1024;
/** At most this much is read per pass, so a burst cannot stall the host. */
const READ_CHUNK = 1024 * 1024;

/**
 * `tail -F` for the role's log: prints the last lines, then every line
 * appended. Follows RotatingLog's rotation (role.log renamed to role.log.1, a
 * new role.log begun): what was appended to the old file before the rename is
 * read from role.log.1 first. A missing file is waited for.
 */
export function followLog(file: string, opts: FollowLogOptions): LogFollower {
  const want = opts.lines ?? 50;
  const pollMs = opts.pollMs ?? 500;
  const note = opts.onNote ?? (() => undefined);
  let disposed = false;
  let position = 0;
  let ino: number | undefined;
  let decoder = new StringDecoder('utf8');
  let partial = '';
  let running = false;
  let again = false;
  let missingNoted = false;
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;

  const emit = (text: string): void => {
    const parts = (partial + text).split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) if (!disposed) opts.onLine(p.replace(/\r$/, ''));
  };

  /** Reads `f` from `from` to `to` (end of file when undefined), emitting lines; returns where it stopped. */
  const readRange = async (f: string, from: number, to?: number): Promise<number> => {
    const handle = await fs.open(f, 'r');
    try {
      const end = to ?? (await handle.stat()).size;
      let at = from;
      const buf = Buffer.alloc(Math.min(READ_CHUNK, Math.max(0, end - from)) || 1);
      while (at < end && !disposed) {
        const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, end - at), at);
        if (bytesRead === 0) break;
        emit(decoder.write(buf.subarray(0, bytesRead)));
        at += bytesRead;
      }
      return at;
    } finally {
      await handle.close();
    }
  };

  const lastLines = async (f: string, n: number): Promise<{ lines: string[]; size: number; ino?: number }> => {
    const handle = await fs.open(f, 'r').catch(() => undefined);
    if (!handle) return { lines: [], size: 0 };
    try {
      const st = await handle.stat();
      const from = Math.max(0, st.size - TAIL_BYTES);
      const buf = Buffer.alloc(st.size - from);
      const { bytesRead } = await handle.read(buf, 0, buf.length, from);
      // Complete lines only: a line still being written is picked up by the follower.
      const text = buf.subarray(0, bytesRead).toString('utf8');
      const lastNl = text.lastIndexOf('\n');
      let lines = (lastNl >= 0 ? text.slice(0, lastNl) : '').split('\n');
      if (from > 0) lines = lines.slice(1); // the first one is cut
      lines = lines.filter((l) => l !== '').map((l) => l.replace(/\r$/, ''));
      return { lines: lines.slice(-n), size: from + (lastNl >= 0 ? Buffer.byteLength(text.slice(0, lastNl + 1)) : 0), ino: st.ino || undefined };
    } finally {
      await handle.close();
    }
  };

  const start = async (): Promise<void> => {
    const current = await lastLines(file, want);
    let shown = current.lines;
    if (shown.length < want) shown = [...(await lastLines(`${file}.1`, want - shown.length)).lines, ...shown];
    if (!current.ino && !shown.length) {
      note(`${file} does not exist yet; waiting for the role to write to it.`);
      missingNoted = true;
    }
    for (const l of shown) if (!disposed) opts.onLine(l);
    position = current.size;
    ino = current.ino;
  };

  const pass = async (): Promise<void> => {
    const st = await fs.stat(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
      return undefined;
    });
    if (!st) {
      if (!missingNoted && ino === undefined) {
        note(`${file} does not exist yet; waiting for the role to write to it.`);
        missingNoted = true;
      }
      return; // mid-rotation, or not written yet
    }
    const stIno = st.ino || undefined;
    const rotated = (ino !== undefined && stIno !== undefined && stIno !== ino) || st.size < position;
    if (rotated) {
      // What the old file got after our last read is now at the end of role.log.1.
      const old = await fs.stat(`${file}.1`).catch(() => undefined);
      const sameFile = old && (ino !== undefined && old.ino ? old.ino === ino : old.size >= position);
      if (old && sameFile && old.size > position) await readRange(`${file}.1`, position, old.size).catch(() => undefined);
      if (partial) emit('\n');
      decoder = new StringDecoder('utf8');
      position = 0;
      note(`log rotated: following the new ${path.basename(file)}`);
    }
    ino = stIno;
    if (st.size > position) position = await readRange(file, position);
  };

  const tick = (): void => {
    if (disposed) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    pass()
      .catch((error: unknown) => note(`cannot read ${file}: ${(error as Error).message}`))
      .finally(() => {
        running = false;
        if (again && !disposed) {
          again = false;
          tick();
        }
      });
  };

  const ready = start()
    .catch((error: unknown) => note(`cannot read ${file}: ${(error as Error).message}`))
    .then(() => {
      if (disposed) return;
      timer = setInterval(tick, pollMs);
      try {
        // The folder, not the file: the file is renamed away at each rotation.
        watcher = watch(path.dirname(file), (_event, name) => {
          if (!name || name.toString().startsWith(path.basename(file))) tick();
        });
        watcher.on('error', () => watcher?.close());
      } catch {
        // no watcher (folder missing, platform limits): polling alone
      }
      tick();
    });

  return {
    ready,
    dispose(): void {
      disposed = true;
      if (timer) clearInterval(timer);
      watcher?.close();
    },
  };
}
