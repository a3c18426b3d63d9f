// docs/running-as-a-service.md promises a systemd unit that starts the role at
// boot. This test holds the page to it: it takes the one ```ini block of the page,
// checks the directives the page explains, and runs the unit's ExecStart= command
// line as systemd would (no terminal, stdin from /dev/null, a minimal environment,
// the unit's UMask=, working directory /) with the documented paths swapped for a
// throw-away world: the local service on loopback and a sample site with real
// video. The bundled runner (dist/cli.js, what the page installs) is built first
// when it is missing or older than the sources. Once the control socket answers
// with the account, the test stops the role as `systemctl stop` does (SIGTERM to
// the main process) and expects a clean stop: exit code 0, "stopped" in the log,
// the site lock released and no socket left. A documented command line that does
// not run (a flag the runner does not know exits 2) fails the test.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ControlClient, controlPathFor } from '../../../src/core/control';
import type { PublicRoleState } from '../../../src/core/role/role';
import { SiteLock, siteLockFileFor } from '../../../src/core/role/siteLock';
import { DEBIAN_FFMPEG } from '../../../src/core/site';
import { startWorld, type World } from '../role/world';

const ROOT = path.resolve(__dirname, '../../..');
const DOC = path.join(ROOT, 'docs/running-as-a-service.md');
const DIST_CLI = path.join(ROOT, 'dist/cli.js');
/** systemd's PATH for system services (systemd.exec(5), "Environment variables in spawned processes"). */
const SYSTEMD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

// ---------------------------------------------------------------------------
// The unit, as systemd reads it (systemd.syntax(7), systemd.service(5))

type Unit = Map<string, Map<string, string[]>>;

/** The one ```ini block of the page. */
function unitBlock(markdown: string): string {
  const blocks = [...markdown.matchAll(/^```ini[ \t]*\n([\s\S]*?)^```[ \t]*$/gm)].map((m) => m[1]);
  assert.equal(blocks.length, 1, `docs/running-as-a-service.md must hold exactly one \`\`\`ini block (the unit); found ${blocks.length}`);
  return blocks[0];
}

/** Sections → keys → values in order; a backslash at the end of a line joins the next (replaced by a space); an empty assignment resets the list. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i].trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i].trim()}`;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = unit.get(header[1]) ?? new Map<string, string[]>();
      unit.set(header[1], section);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(section && eq > 0, `not a unit file line: ${JSON.stringify(line)}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    section.set(key, value === '' ? [] : [...(section.get(key) ?? []), value]);
  }
  return unit;
}

function one(unit: Unit, section: string, key: string): string {
  const values = unit.get(section)?.get(key) ?? [];
  assert.equal(values.length, 1, `the unit must set ${key}= once in [${section}]; found ${JSON.stringify(values)}`);
  return values[0];
}

function optional(unit: Unit, section: string, key: string): string | undefined {
  const values = unit.get(section)?.get(key) ?? [];
  return values.at(-1);
}

/** An ExecStart= line split into words: whitespace between words, "…" and '…' quoting, backslash escapes. */
function commandWords(line: string): string[] {
  assert.ok(!/^[-@+!:]/.test(line), `the test does not model ExecStart= prefixes (${line.slice(0, 1)})`);
  assert.ok(!/\$/.test(line), 'the test does not expand $VARIABLES in ExecStart= (no Environment= either): write the values out');
  assert.ok(!/%[^%]/.test(line), 'the test does not expand %-specifiers in ExecStart=: write the paths out');
  const words: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"') word += line[++i];
      else word += c;
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (c === '\\') word = (word ?? '') + line[++i];
    else word = (word ?? '') + c;
  }
  assert.equal(quote, undefined, `unbalanced quote in ExecStart=${line}`);
  if (word !== undefined) words.push(word);
  return words.map((w) => w.replaceAll('%%', '%'));
}

/** A systemd time span in seconds ("120", "120s", "2min", "2min 30s"). */
function timeSpanSeconds(value: string): number {
  const units: Record<string, number> = { '': 1, s: 1, sec: 1, second: 1, seconds: 1, m: 60, min: 60, minute: 60, minutes: 60, h: 3600, hr: 3600, hour: 3600, hours: 3600, ms: 0.001, msec: 0.001 };
  let total = 0;
  const rest = value.replace(/(\d+(?:\.\d+)?)\s*([a-z]*)/g, (_, n: string, unit: string) => {
    assert.ok(unit in units, `time unit ${JSON.stringify(unit)} in ${value}`);
    total += Number(n) * units[unit];
    return '';
  });
  assert.equal(rest.trim(), '', `not a time span: ${value}`);
  return total;
}

/** The runner's arguments after the program that ExecStart= starts (node + dist/cli.js, or clearance-role). */
function runnerArgs(words: string[]): string[] {
  assert.ok(path.isAbsolute(words[0] ?? ''), `ExecStart= must start with an absolute path; found ${JSON.stringify(words[0])}`);
  let rest = words;
  if (rest[0] === '/usr/bin/env') rest = rest.slice(1); // env finds the next word on systemd's PATH
  const program = path.basename(rest[0] ?? '');
  if (program === 'node') {
    assert.ok(rest[1]?.endsWith('/dist/cli.js'), `ExecStart= runs node on ${JSON.stringify(rest[1])}, not on the bundled runner dist/cli.js`);
    return rest.slice(2);
  }
  assert.equal(program, 'clearance-role', `the test knows how to run node …/dist/cli.js or clearance-role, not ${JSON.stringify(rest[0])}`);
  return rest.slice(1);
}

/** The value of --flag (as "--flag value" or "--flag=value"). */
function flagValue(args: string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) return args[i + 1];
    if (args[i].startsWith(`${flag}=`)) return args[i].slice(flag.length + 1);
  }
  return undefined;
}

const isUnder = (p: string, dir: string): boolean => p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);

// ---------------------------------------------------------------------------
// Running the command line as systemd would

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

class Service {
  stdout = '';
  stderr = '';
  exit: Exit | undefined;
  readonly exited: Promise<Exit>;
  private readonly proc: ChildProcess;

  /** Starts `argv` with the unit's umask, cwd and a systemd-like environment; stdin is /dev/null, stdout and stderr go to "the journal" (here: strings). */
  constructor(argv: string[], opts: { cwd: string; umask: string; home: string }) {
    const env: NodeJS.ProcessEnv = {
      PATH: SYSTEMD_PATH,
      LANG: 'C.UTF-8',
      HOME: opts.home,
      USER: os.userInfo().username,
      LOGNAME: os.userInfo().username,
      SHELL: '/usr/sbin/nologin',
      INVOCATION_ID: randomBytes(16).toString('hex'),
      // Not set by systemd; passed on only so that the test and the role agree on os.tmpdir() (where a long socket path would go).
      ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
    };
    // The shell sets UMask= and then becomes the runner (exec: same pid, as systemd's main process).
    this.proc = spawn('/bin/sh', ['-c', 'umask "$0" && exec "$@"', opts.umask, ...argv], { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.setEncoding('utf8').on('data', (c: string) => (this.stdout += c));
    this.proc.stderr!.setEncoding('utf8').on('data', (c: string) => (this.stderr += c));
    this.exited = new Promise((resolve) =>
      this.proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      }),
    );
  }

  get pid(): number {
    return this.proc.pid!;
  }

  signal(signal: NodeJS.Signals): void {
    this.proc.kill(signal);
  }

  /** As systemd's stop: SIGTERM, then SIGKILL once TimeoutStopSec= has passed. */
  async stop(timeoutSeconds: number): Promise<{ exit: Exit; killed: boolean }> {
    if (this.exit) return { exit: this.exit, killed: false };
    this.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutSeconds * 1000)));
    const first = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (first !== 'late') return { exit: first, killed: false };
    this.signal('SIGKILL');
    return { exit: await this.exited, killed: true };
  }

  async kill(): Promise<void> {
    if (!this.exit) this.signal('SIGKILL');
    await this.exited;
  }
}

/** Waits until the role answers role.state (no sign-in needed) with `ready`; fails at once when the process exits first. */
async function untilAnswers(service: Service, socketPath: string, ready: (s: PublicRoleState) => boolean, details: () => string, timeoutMs = 120_000): Promise<PublicRoleState> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    if (service.exit) {
      throw new Error(`the documented command line exited (code ${service.exit.code}, signal ${service.exit.signal}) before its control socket answered\n${details()}`);
    }
    try {
      const client = await ControlClient.connect(socketPath, { client: 'systemd-unit-test', timeoutMs: 10_000 });
      try {
        const state = await client.request<PublicRoleState>('role.state', undefined, undefined, { timeoutMs: 10_000 });
        if (ready(state)) return state;
        last = state;
      } finally {
        await client.close();
      }
    } catch (error) {
      last = error;
    }
    if (Date.now() > until) throw new Error(`the role did not answer on ${socketPath} within ${timeoutMs / 1000} s (last: ${last instanceof Error ? last.message : JSON.stringify(last)})\n${details()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The newest mtime of the files under `dir` (or of `dir` itself when it is a file). */
function newestMtime(p: string): number {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = 0;
  for (const entry of fs.readdirSync(p)) newest = Math.max(newest, newestMtime(path.join(p, entry)));
  return newest;
}

/** Builds dist/ (scripts/build.mjs) unless dist/cli.js is newer than everything it is built from. */
function ensureBundledRunner(): void {
  const inputs = ['src', 'package.json', 'package-lock.json', 'scripts/build.mjs'].map((p) => path.join(ROOT, p)).filter((p) => fs.existsSync(p));
  const built = fs.existsSync(DIST_CLI) ? fs.statSync(DIST_CLI).mtimeMs : 0;
  if (built > Math.max(...inputs.map(newestMtime))) return;
  const build = spawnSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, `node scripts/build.mjs failed:\n${build.stdout}\n${build.stderr}`);
  assert.ok(fs.existsSync(DIST_CLI), 'the build made no dist/cli.js');
}

// ---------------------------------------------------------------------------

describe('docs/running-as-a-service.md: the systemd unit starts and stops the role', function () {
  this.timeout(300_000);
  let doc: string;
  let unit: Unit;
  let documented: string[]; // the runner's arguments as the page writes them
  let world: World;
  let service: Service | undefined;

  /** The documented site, connection file and everything else, swapped for the test's own. */
  let argv: string[];
  let siteDir: string;
  let stateDir: string;
  let logFile: string | undefined;
  let cwd: string;
  let umask: string;

  before(async function () {
    if (process.platform === 'win32') this.skip();
    doc = fs.readFileSync(DOC, 'utf8');
    unit = parseUnit(unitBlock(doc));
    documented = runnerArgs(commandWords(one(unit, 'Service', 'ExecStart')));
    ensureBundledRunner();
    world = await startWorld('systemd-unit');

    const docSite = flagValue(documented, '--site');
    const docConnection = flagValue(documented, '--connection');
    assert.ok(docSite && path.isAbsolute(docSite), `ExecStart= must give --site an absolute path; found ${JSON.stringify(docSite)}`);
    assert.ok(docConnection && path.isAbsolute(docConnection), `ExecStart= must give --connection the account's connection file (absolute); found ${JSON.stringify(docConnection)}`);
    const elsewhere = path.join(world.dir, 'root'); // any other documented absolute path lands in here
    const mapPath = (p: string): string => {
      if (p === docConnection) return world.connectionFile;
      if (isUnder(p, docSite)) return path.join(world.siteDir, path.relative(docSite, p));
      const mapped = path.join(elsewhere, p);
      fs.mkdirSync(path.dirname(mapped), { recursive: true, mode: 0o700 });
      return mapped;
    };
    const mapWord = (w: string): string => {
      if (w.startsWith('/')) return mapPath(w);
      const eq = /^(--[a-z-]+)=(\/.*)$/.exec(w);
      return eq ? `${eq[1]}=${mapPath(eq[2])}` : w;
    };
    const args = documented.map(mapWord);
    // Without /usr/bin/ffmpeg, the runner needs to be told where ffmpeg is (the page says so); the test's own then.
    if (flagValue(args, '--ffmpeg') === undefined && !isExecutable(DEBIAN_FFMPEG)) args.push('--ffmpeg', world.ffmpeg);
    argv = [process.execPath, DIST_CLI, ...args];
    siteDir = path.resolve(flagValue(args, '--site')!);
    stateDir = path.resolve(flagValue(args, '--state') ?? path.join(siteDir, '.clearance-role'));
    const log = flagValue(args, '--log-file');
    logFile = log === undefined ? undefined : path.resolve(log);
    const dir = optional(unit, 'Service', 'WorkingDirectory');
    cwd = dir === undefined || dir === '~' ? '/' : mapPath(dir.replace(/^-/, ''));
    umask = optional(unit, 'Service', 'UMask') ?? '0022';
  });

  after(async () => {
    await service?.kill();
    // A runner killed above leaves its lock behind; it is stale (its pid is gone), and the world's folder goes anyway.
    await world?.stop();
  });

  it('has the directives the page explains, and the runner may write everything it writes', () => {
    assert.equal(one(unit, 'Service', 'Type'), 'simple');
    assert.ok(one(unit, 'Service', 'User').length > 0);
    assert.ok(!documented.includes('--detach'), 'a unit runs the foreground runner: --detach would fork away from systemd');
    assert.equal(one(unit, 'Service', 'Restart'), 'on-failure');
    assert.equal(one(unit, 'Service', 'KillSignal'), 'SIGTERM');
    assert.ok(timeSpanSeconds(one(unit, 'Service', 'TimeoutStopSec')) >= 30, 'TimeoutStopSec= leaves time for a clean stop');
    assert.equal(one(unit, 'Service', 'NoNewPrivileges'), 'yes');
    assert.equal(one(unit, 'Service', 'ProtectSystem'), 'strict');
    assert.equal(one(unit, 'Service', 'PrivateTmp'), 'yes');
    assert.equal(one(unit, 'Service', 'UMask'), '0077');
    assert.ok((unit.get('Install')?.get('WantedBy') ?? []).join(' ').split(/\s+/).includes('multi-user.target'), 'WantedBy=multi-user.target');

    // ProtectSystem=strict: only ReadWritePaths= can be written. The role writes its lock into the site
    // folder, its state into the state folder, and its log.
    const writable = (unit.get('Service')?.get('ReadWritePaths') ?? []).flatMap((v) => v.split(/\s+/)).map((p) => p.replace(/^-/, ''));
    const docSite = flagValue(documented, '--site')!;
    const written = [docSite, flagValue(documented, '--state') ?? path.join(docSite, '.clearance-role')];
    const docLog = flagValue(documented, '--log-file');
    if (docLog) written.push(path.dirname(docLog));
    for (const p of written) assert.ok(writable.some((w) => isUnder(p, w)), `${p} is written by the role but not under ReadWritePaths= (${writable.join(' ')})`);
    // PrivateTmp=yes: a socket that falls back to /tmp (a long state path) is out of every console's reach.
    const docState = written[1];
    assert.equal(controlPathFor(docState, 'linux'), path.join(docState, 'control.sock'), 'the documented state path is short enough for the socket to stay in it');

    // The page names the unit file and uses the same name for systemctl and journalctl.
    const file = /`\/etc\/systemd\/system\/([\w@.-]+\.service)`/.exec(doc)?.[1];
    assert.ok(file, 'the page says where the unit file goes');
    const name = file.replace(/\.service$/, '');
    for (const command of ['systemctl daemon-reload', `systemctl enable --now ${name}`, `systemctl status ${name}`, `journalctl -u ${name}`]) {
      assert.ok(doc.includes(command), `the page shows \`${command}\``);
    }
  });

  it('runs the documented ExecStart= line as systemd would: it serves its socket with the account, and SIGTERM stops it cleanly', async () => {
    const readLog = (): string => (logFile ? (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '') : service!.stdout);
    const details = (): string =>
      `command: ${argv.join(' ')}\nstderr: ${service!.stderr.trim()}\nstdout: ${service!.stdout.trim().split('\n').slice(-15).join('\n')}\nlog: ${readLog().trim().split('\n').slice(-15).join('\n')}`;
    const socketPath = controlPathFor(stateDir);
    const lockFile = siteLockFileFor(siteDir);

    service = new Service(argv, { cwd, umask, home: world.dir });
    const state = await untilAnswers(service, socketPath, (s) => s.status === 'running' && s.accountId !== null, details);
    assert.equal(state.accountId, world.emulator.tenantId, 'the account of the documented --connection file');
    const holder = await SiteLock.holder(lockFile);
    assert.equal(holder?.pid, service.pid, 'the runner (systemd main process) holds the site');
    assert.equal(holder?.purpose, 'runner');
    assert.equal(holder?.controlPath, socketPath, 'consoles find the socket through the lock file');

    const { exit, killed } = await service.stop(timeSpanSeconds(one(unit, 'Service', 'TimeoutStopSec')));
    assert.ok(!killed, `the role did not stop within TimeoutStopSec=; systemd would SIGKILL it\n${details()}`);
    assert.deepEqual(exit, { code: 0, signal: null }, `a clean stop exits 0\n${details()}`);
    const lines = readLog().split('\n').filter((l) => l.trim() !== '');
    assert.ok(lines.some((l) => /\bSIGTERM: stopping$/.test(l)), `the log says SIGTERM: stopping\n${details()}`);
    assert.match(lines.at(-1) ?? '', /^\S+ stopped$/, `the log ends with a clean "stopped"\n${details()}`);
    assert.ok(lines.some((l) => /role running for .*; account /.test(l)), 'the log says what runs');
    if (logFile) assert.equal(service.stdout, '', 'with --log-file, the role logs nothing to stdout (the journal)');
    assert.doesNotMatch(service.stderr, /clearance-role:/, 'no error reached the journal');
    assert.equal(await SiteLock.holder(lockFile), undefined, 'the site lock is released');
    assert.ok(!fs.existsSync(socketPath), `no socket is left at ${socketPath}`);
  });

  it('would fail on a documented command line that does not run: an unknown flag exits 2 before the socket answers', async () => {
    const wrong = new Service([...argv, '--no-such-flag'], { cwd, umask, home: world.dir });
    const error = await untilAnswers(wrong, controlPathFor(stateDir), () => true, () => wrong.stderr).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    await wrong.kill();
    assert.match(error?.message ?? 'it answered', /exited \(code 2, signal null\) before its control socket answered/);
    assert.match(wrong.stderr, /Unknown option '--no-such-flag'/);
  });
});

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
