// The blob store: Azurite as a child process, fronted by a small pass-through
// proxy. Upload URIs point at the proxy so blob faults (block rejection, 503,
// resets, latency) can be injected on the real Azure Blob protocol; everything
// else is forwarded to Azurite untouched.
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import {
  BlobSASPermissions,
  BlobServiceClient,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
  type ContainerClient,
} from '@azure/storage-blob';
import { blobPathOf, BlobPutCounter } from './blobStats';
import type { FaultPlan } from './faults';

/** Azurite's well-known development account. */
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

// Runs Azurite's own entry point; when the emulator dies (even by SIGKILL) the
// IPC channel closes and Azurite shuts down cleanly, saving its metadata.
const AZURITE_WRAPPER = `
const log = console.log;
console.log = (...a) => { log(...a); if (String(a[0]).includes('successfully closed')) process.exit(0); };
process.on('SIGTERM', () => setTimeout(() => process.exit(0), 5000).unref());
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
require(process.argv[1]);
`;

function azuriteMain(): string {
  return require.resolve('azurite/dist/src/blob/main.js');
}

async function startAzurite(location: string, host: string, log: (m: string) => void): Promise<{ child: ChildProcess; url: string }> {
  const args = [
    '-e',
    AZURITE_WRAPPER,
    azuriteMain(),
    '--blobHost',
    host,
    '--blobPort',
    '0',
    '--location',
    path.join(location, 'blob'),
    '--disableTelemetry',
    '--skipApiVersionCheck',
    '--loose',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      // Rejected once it is gone: no Azurite outlives a failed start.
      void killAndWait(child).then(() => reject(new Error(`Azurite did not start within 30 s: ${out.slice(-500)}`)));
    }, 30000);
    child.once('error', (err) => {
      clearTimeout(timer);
      void killAndWait(child).then(() => reject(new Error(`Azurite could not be started: ${err.message}`)));
    });
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /successfully listens on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve({ child, url: m[1].replace(/\/+$/, '') });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
      log(`azurite: ${d.toString().trim()}`);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited with ${code ?? signal}: ${out.slice(-500)}`));
    });
  });
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGKILLs `child` and resolves once it is gone (at once when it never started or already ended). */
async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || hasExited(child)) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await gone;
}

/** Fault route name of one blob request. */
export function blobRouteName(method: string, query: URLSearchParams): string {
  const comp = query.get('comp');
  if (method === 'PUT' && comp === 'block') return 'blob.putBlock';
  if (method === 'PUT' && comp === 'blocklist') return 'blob.putBlockList';
  if (method === 'PUT') return 'blob.put';
  if (method === 'GET' || method === 'HEAD') return 'blob.get';
  return 'blob.other';
}

function azureError(status: number, code: string, message: string): { status: number; headers: Record<string, string>; body: string } {
  const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  return { status, headers: { 'content-type': 'application/xml', 'x-ms-error-code': code, 'content-length': String(Buffer.byteLength(body)) }, body };
}

const AZURE_STATUS_CODES: Record<number, [string, string]> = {
  429: ['ServerBusy', 'The server is busy.'],
  500: ['InternalError', 'The server encountered an internal error. Please retry the request.'],
  503: ['ServerBusy', 'The server is currently unable to receive requests. Please retry your request.'],
};

export class BlobGateway {
  readonly credential = new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_ACCOUNT_KEY);
  readonly service: BlobServiceClient;
  private readonly containers = new Map<string, ContainerClient>();
  /** What the gateway received per blob (admin route /admin/api/v1/blob/puts). */
  readonly stats: BlobPutCounter;

  private constructor(
    private readonly child: ChildProcess,
    /** Azurite's own URL (service-side access). */
    readonly azuriteUrl: string,
    private readonly proxy: http.Server,
    /** The proxy's URL, handed out in upload URIs. */
    readonly publicUrl: string,
    stats: BlobPutCounter,
  ) {
    this.stats = stats;
    this.service = new BlobServiceClient(`${azuriteUrl}/${DEV_ACCOUNT}`, this.credential);
  }

  /** `port`: the front's port (0: any free one), e.g. the previous run's, so upload URIs handed out before a restart still work. */
  static async start(options: { location: string; host: string; port?: number; faults: FaultPlan; log: (m: string) => void }): Promise<BlobGateway> {
    const { child, url } = await startAzurite(options.location, '127.0.0.1', options.log);
    const target = new URL(url);
    const stats = new BlobPutCounter();
    const proxy = http.createServer((req, res) => {
      forward(req, res, target, options.faults, stats).catch(() => res.destroy());
    });
    proxy.on('clientError', (_err, socket) => socket.destroy());
    const listenOn = (port: number) =>
      new Promise<void>((resolve, reject) => {
        proxy.once('error', reject);
        proxy.listen(port, options.host, () => {
          proxy.off('error', reject);
          resolve();
        });
      });
    try {
      if (options.port) {
        try {
          await listenOn(options.port);
        } catch {
          await listenOn(0); // taken meanwhile: URIs of the previous run go stale, as after a move
        }
      } else await listenOn(0);
    } catch (err) {
      await killAndWait(child);
      throw err;
    }
    const addr = proxy.address() as AddressInfo;
    const hostPart = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return new BlobGateway(child, url, proxy, `http://${hostPart}:${addr.port}`, stats);
  }

  /** Process id of the Azurite child. */
  get azuritePid(): number | undefined {
    return this.child.pid;
  }

  async container(tenantId: string): Promise<ContainerClient> {
    const name = `evidence-${tenantId.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`.slice(0, 63);
    let c = this.containers.get(name);
    if (!c) {
      c = this.service.getContainerClient(name);
      await c.createIfNotExists();
      this.containers.set(name, c);
    }
    return c;
  }

  /** Upload URI (create + write, no read) through the proxy. */
  uploadUri(containerName: string, blobName: string, startsOn: Date, expiresOn: Date): string {
    const sas = generateBlobSASQueryParameters(
      { containerName, blobName, permissions: BlobSASPermissions.parse('rcw'), startsOn, expiresOn, version: '2021-12-02' },
      this.credential,
    ).toString();
    return `${this.publicUrl}/${DEV_ACCOUNT}/${containerName}/${blobName.split('/').map(encodeURIComponent).join('/')}?${sas}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.proxy.close(() => resolve());
      this.proxy.closeAllConnections();
    });
    if (hasExited(this.child)) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 8000);
    await exited;
    clearTimeout(timer);
  }
}

async function forward(req: http.IncomingMessage, res: http.ServerResponse, target: URL, faults: FaultPlan, stats: BlobPutCounter): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://proxy');
  const route = blobRouteName(req.method ?? 'GET', url.searchParams);
  try {
    decodeURIComponent(url.pathname);
  } catch {
    // Azure answers this itself; Azurite would fail with a 500.
    req.resume();
    const r = azureError(400, 'InvalidUri', 'The requested URI does not represent any resource on the server.');
    res.writeHead(r.status, r.headers);
    res.end(r.body);
    return;
  }
  const blobPath = blobPathOf(url.pathname);
  if (blobPath !== undefined && route === 'blob.putBlock') {
    // Counted on arrival, whatever the answer: a block cut or rejected was still sent.
    stats.putBlock(blobPath, url.searchParams.get('blockid') ?? '');
  } else if (blobPath !== undefined && route === 'blob.putBlockList') stats.putBlockList(blobPath);
  const fired = faults.take(route, ['status', 'latency', 'reset', 'blockReject']);
  for (const f of fired) if (f.kind === 'latency') await new Promise((r) => setTimeout(r, f.latencyMs ?? 0));
  const terminal = fired.find((f) => f.kind !== 'latency');
  const declared = Number(req.headers['content-length'] ?? 0);
  // Attached only where the body is consumed: a 'data' listener starts the flow.
  const countBody = (): void => {
    if (blobPath !== undefined && route === 'blob.putBlock') req.on('data', (d: Buffer) => stats.received(blobPath, d.length));
  };

  if (terminal && (terminal.kind === 'status' || (terminal.kind === 'blockReject' && route === 'blob.putBlock'))) {
    countBody();
    req.resume();
    await new Promise((r) => req.once('end', r));
    const reply =
      terminal.kind === 'status'
        ? azureError(terminal.status ?? 503, ...(AZURE_STATUS_CODES[terminal.status ?? 503] ?? AZURE_STATUS_CODES[503]))
        : azureError(
            terminal.status ?? 400,
            terminal.code ?? 'Md5Mismatch',
            terminal.code && terminal.code !== 'Md5Mismatch'
              ? 'The block was rejected.'
              : 'The MD5 value specified in the request did not match with the MD5 value calculated by the server.',
          );
    if (terminal.kind === 'status' && (terminal.status !== 500 || terminal.retryAfterSeconds !== undefined)) reply.headers['retry-after'] = String(terminal.retryAfterSeconds ?? 1);
    res.writeHead(reply.status, reply.headers);
    res.end(reply.body);
    return;
  }
  if (terminal?.kind === 'reset' && declared > 0) {
    // Cut the upload in the middle of its body, before Azurite sees it.
    let seen = 0;
    countBody();
    req.on('data', (d: Buffer) => {
      seen += d.length;
      if (seen >= declared / 2) req.socket.destroy();
    });
    return;
  }

  const headers = { ...req.headers, host: target.host };
  const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    if (terminal?.kind === 'reset') {
      const total = Number(up.headers['content-length'] ?? 0);
      let sent = 0;
      up.on('data', (d: Buffer) => {
        const room = Math.max(0, Math.floor(total / 2) - sent);
        if (room > 0) res.write(d.subarray(0, room));
        sent += Math.min(room, d.length);
        if (sent >= Math.floor(total / 2)) {
          up.destroy();
          res.socket?.destroy();
        }
      });
      up.on('end', () => res.socket?.destroy());
      return;
    }
    up.pipe(res);
  });
  upstream.on('error', () => {
    if (!res.headersSent) {
      const r = azureError(502, 'BadGateway', 'The blob store is not reachable.');
      res.writeHead(r.status, r.headers);
      res.end(r.body);
    } else res.destroy();
  });
  countBody();
  req.pipe(upstream);
}
