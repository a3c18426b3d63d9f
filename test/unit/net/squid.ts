// A real forward proxy for the network tests: Debian's squid (5.7 here) on a free
// loopback port, started from a generated configuration in a temp folder, with Basic
// authentication against a password file written here (an `$apr1$` hash, which
// basic_ncsa_auth accepts), no caching, and an access log the tests read: one line per
// request squid answered, with the request line's URL as the client sent it.
//
// squid is not an npm package: CI installs it through .ci/run. When it is missing, the
// tests fail (never skip) with the install command.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const SQUID_BINARY = '/usr/sbin/squid';
export const SQUID_NCSA_AUTH = '/usr/lib/squid/basic_ncsa_auth';
export const SQUID_INSTALL = 'apt-get install -y squid';

/** One line of squid's access log (our own logformat, see below). */
export interface SquidLogLine {
  /** Client's source port: one per TCP connection to the proxy. */
  clientPort: number;
  /** squid's result code, e.g. TCP_MISS, TCP_TUNNEL, TCP_DENIED, NONE_NONE. */
  result: string;
  /** Status squid sent to the client (0 when none). */
  status: number;
  method: string;
  /** The request URL as the client sent it (`http://…` absolute form, `host:port` for CONNECT). */
  url: string;
  /** Authenticated user name, or '-'. */
  user: string;
  raw: string;
}

export interface Squid {
  port: number;
  /** The temp folder: configuration, password file, logs, pid. */
  dir: string;
  /** The access log so far (squid writes a line when a transaction ends). */
  accessLog(): SquidLogLine[];
  /** Waits until the access log holds at least `count` lines (or throws after `timeoutMs`). */
  waitForLog(count: number, timeoutMs?: number): Promise<SquidLogLine[]>;
  /** squid's own log (cache.log), for failure messages. */
  cacheLog(): string;
  stop(): Promise<void>;
}

export interface SquidOptions {
  username: string;
  password: string;
  /** Prefix of the temp folder's name. */
  prefix?: string;
}

/** Throws the install command when squid (or its NCSA helper) is missing. */
export function requireSquid(): void {
  for (const file of [SQUID_BINARY, SQUID_NCSA_AUTH]) {
    try {
      fs.accessSync(file, fs.constants.X_OK);
    } catch {
      throw new Error(`squid is not installed (${file} is missing); these tests need a real forward proxy. Run: ${SQUID_INSTALL}`);
    }
  }
}

/** Starts squid on 127.0.0.1 and resolves once its port accepts connections. */
export async function startSquid(options: SquidOptions): Promise<Squid> {
  requireSquid();
  if (/[\s:]/.test(options.username)) throw new Error('a Basic user name holds no ":" or white space');
  let lastError: Error | undefined;
  // The port is free when picked but squid binds it a moment later: try another one if taken.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), options.prefix ?? 'clearance-squid-'));
    try {
      return await startIn(dir, await freePort(), options);
    } catch (error) {
      fs.rmSync(dir, { recursive: true, force: true });
      lastError = error as Error;
      if (!/bind|in use/i.test(lastError.message)) break;
    }
  }
  throw lastError ?? new Error('squid did not start');
}

async function startIn(dir: string, port: number, options: SquidOptions): Promise<Squid> {
  const passwdFile = path.join(dir, 'passwd');
  const accessLogFile = path.join(dir, 'access.log');
  const cacheLogFile = path.join(dir, 'cache.log');
  fs.writeFileSync(passwdFile, `${options.username}:${apr1Hash(options.password)}\n`, { mode: 0o644 });
  fs.writeFileSync(accessLogFile, '', { mode: 0o644 });
  fs.writeFileSync(cacheLogFile, '', { mode: 0o644 });
  const config = [
    `http_port 127.0.0.1:${port}`,
    // %>p: the client's port (one per connection); %>ru: the URL of the client's request line.
    'logformat clearance %>p %Ss %>Hs %rm %>ru %un',
    `access_log stdio:${accessLogFile} clearance`,
    'buffered_logs off',
    `cache_log ${cacheLogFile}`,
    'cache_store_log none',
    `pid_filename ${path.join(dir, 'squid.pid')}`,
    `coredump_dir ${dir}`,
    'cache deny all',
    'cache_mem 8 MB',
    'workers 1',
    'max_filedescriptors 1024',
    `auth_param basic program ${SQUID_NCSA_AUTH} ${passwdFile}`,
    'auth_param basic children 2 startup=1 idle=1',
    'auth_param basic realm clearance-test-proxy',
    'auth_param basic credentialsttl 1 hour',
    'acl loopback src 127.0.0.0/8',
    'acl loopback_dst dst 127.0.0.0/8',
    'acl authenticated proxy_auth REQUIRED',
    'http_access deny !loopback',
    'http_access deny !loopback_dst', // the tests only ever reach loopback servers
    'http_access allow authenticated',
    'http_access deny all',
    // Loopback only, and a quick start and stop.
    'dns_nameservers 127.0.0.1',
    'pinger_enable off',
    'icp_port 0',
    'htcp_port 0',
    'snmp_port 0',
    'shutdown_lifetime 0 seconds',
    'visible_hostname clearance-test-squid',
    'client_persistent_connections on',
    'server_persistent_connections on',
    '',
  ].join('\n');
  const configFile = path.join(dir, 'squid.conf');
  fs.writeFileSync(configFile, config, { mode: 0o644 });
  // Run as root, squid drops to its effective user (Debian: proxy), which writes the logs.
  if (process.getuid?.() === 0) {
    const ids = systemUser('proxy');
    if (ids) for (const file of [dir, accessLogFile, cacheLogFile]) fs.chownSync(file, ids.uid, ids.gid);
  }

  const child = spawn(SQUID_BINARY, ['-N', '-f', configFile], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('error', (e) => (output += `\n${e.message}`));
  const cacheLog = (): string => safeRead(cacheLogFile);

  let probePort: number;
  try {
    probePort = await waitForPort(port, child, exited, 15_000);
  } catch (error) {
    await kill(child, exited);
    throw new Error(`squid did not start on 127.0.0.1:${port}: ${(error as Error).message}\n${output}\n${cacheLog().slice(-3000)}`);
  }

  const accessLog = (): SquidLogLine[] =>
    safeRead(accessLogFile)
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map(parseLine)
      .filter((l) => l.clientPort !== probePort);
  return {
    port,
    dir,
    accessLog,
    cacheLog,
    waitForLog: async (count, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const lines = accessLog();
        if (lines.length >= count) return lines;
        if (Date.now() > deadline) {
          throw new Error(`squid's access log holds ${lines.length} lines, expected ${count}:\n${lines.map((l) => l.raw).join('\n')}`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    stop: async () => {
      await kill(child, exited);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function parseLine(raw: string): SquidLogLine {
  const [clientPort = '0', result = '', status = '0', method = '', url = '', user = '-'] = raw.trim().split(/\s+/);
  return { clientPort: Number(clientPort), result, status: Number(status), method, url, user, raw };
}

async function kill(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Resolves with the local port of the probe that got through (squid logs that connection: leave it out). */
async function waitForPort(port: number, child: ChildProcess, exited: Promise<number | null>, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let gone: number | null | undefined;
  void exited.then((code) => (gone = code));
  for (;;) {
    if (gone !== undefined || child.exitCode !== null) throw new Error(`squid exited (code ${String(gone ?? child.exitCode)})`);
    const probe = await accepts(port);
    if (probe !== undefined) return probe;
    if (Date.now() > deadline) throw new Error(`the port did not accept connections within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function accepts(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      const local = socket.localPort;
      socket.destroy();
      resolve(local ?? 0);
    });
    socket.once('error', () => resolve(undefined));
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function systemUser(name: string): { uid: number; gid: number } | undefined {
  const line = safeRead('/etc/passwd')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function safeRead(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** An htpasswd-compatible Apache MD5 (`$apr1$`) hash, made by `openssl passwd -apr1` (password on stdin). */
function apr1Hash(password: string): string {
  const out = execFileSync('openssl', ['passwd', '-apr1', '-stdin'], { input: `${password}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
  const hash = out.toString('utf8').trim();
  if (!hash.startsWith('$apr1$')) throw new Error(`openssl passwd -apr1 gave no $apr1$ hash: ${hash.slice(0, 40)}`);
  return hash;
}
