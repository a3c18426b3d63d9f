// The local Clearance service: life cycle and composition. Layers, as in
// Azurite: protocol (http.ts router), handlers (token service, key store,
// document store, agent service), persistence (metadata journal + Azurite).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { BlobPutsResponse, ConnectionFile, EncryptionKeyResponse } from '../core/clearance/api';
import {
  Accounts,
  DEFAULT_INTEGRATION_NAME,
  DEFAULT_TENANT_ID,
  INTEGRATION_NAME,
  TENANT_ID,
  connectionFileName,
  refreshConnectionFiles,
  serviceAddresses,
  writeConnectionFile,
  type IntegrationRecord,
  type TenantRecord,
} from './accounts';
import { AgentService, type CameraRecord, type JobRecord, type RequestRecord } from './agentService';
import { BlobGateway, DEV_ACCOUNT_KEY } from './blobGateway';
import { systemClock, type Clock } from './clock';
import { DemoRequester } from './demo';
import { DocumentStore, type CaseRecord, type EvidenceRecord, type ResourceRecord } from './documentStore';
import { FaultPlan, checkFaultSpec, type FaultSpec } from './faults';
import { errorReply, HttpError, notFound, parseBody, readBody, Router, serialise, type Reply, type RouteDef } from './http';
import { IdempotencyKeys, type IdempotencyRecord } from './idempotency';
import { MetadataStore } from './metadataStore';
import { TokenService, type Principal } from './tokenService';
import { bool, obj, optional, parse, str } from './validate';

export interface EmulatorOptions {
  /** Folder of all state: metadata journal, Azurite blobs, connection files. */
  location: string;
  /** Interface to bind; loopback unless told otherwise. */
  host?: string;
  /** 0: the port of the previous run when free, else any free port. */
  port?: number;
  clock?: Clock;
  /**
   * The document store's own clock (evidence creation times, the 24 h purge of incomplete
   * evidence); `clock` unless given. Lets a test age evidence past its purge while tokens
   * and request leases, renewed all along in a real day, stay valid.
   */
  evidenceClock?: Clock;
  /** Lifetime of issued access tokens. */
  tokenLifetimeSeconds?: number;
  /** Faults active from the start. */
  faults?: FaultSpec[];
  /** File a realistic video request every N seconds (registry cameras). */
  demoSeconds?: number;
  /** How soon a completed discovery job recurs. */
  discoveryIntervalSeconds?: number;
  /** Largest request body accepted (413 beyond). */
  bodyLimitBytes?: number;
  log?: (line: string) => void;
}

export interface EmulatorUrls {
  tokenUrl: string;
  openIdConfiguration: string;
  documentStore: string;
  keyStore: string;
  agentService: string;
  registry: string;
  admin: string;
  blob: string;
}

/** One route of the service's own router (the blob gateway speaks Azure's protocol). */
export interface RouteInfo {
  name: string;
  method: string;
  path: string;
  auth: boolean;
}

export interface RunningEmulator {
  baseUrl: string;
  /** Every route the service answers, for docs and tests. */
  routes: RouteInfo[];
  /** Process id of the Azurite child (gone after stop()). */
  azuritePid: number | undefined;
  urls: EmulatorUrls;
  /** The ready connection file of the default integration. */
  connectionFilePath: string;
  tenantId: string;
  faults: FaultPlan;
  /** What the blob front received per blob since the last reset (as GET /admin/api/v1/blob/puts); readable after stop(). */
  blobPuts(): BlobPutsResponse;
  /** Azurite's own URL and the dev account, for service-side reads in tests. */
  blob: { azuriteUrl: string; account: string; accountKey: string };
  /** Creates another integration and answers its connection file (not written to disk). */
  createIntegration(options: { name: string; tenantId?: string; disableEncryption?: boolean }): Promise<ConnectionFile>;
  /** The account's private encryption key (JWK), to decrypt blobs in tests. */
  tenantPrivateKey(tenantId?: string): crypto.JsonWebKey;
  stop(): Promise<void>;
}

/** Written at start, removed at stop: lets the CLI find a running service. */
export interface RuntimeFile {
  pid: number;
  azuritePid?: number;
  baseUrl: string;
  connectionFilePath: string;
  tenantId: string;
}

export const RUNTIME_FILE = 'emulator.json';
const DEFAULT_BODY_LIMIT = 1024 * 1024;

export function connectionsDir(location: string): string {
  return path.join(location, 'connections');
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * After a crash of the service, its Azurite child notices the closed IPC channel
 * and shuts down on its own, saving its metadata: wait for that before a new
 * Azurite opens the same folder. Killed when it takes too long.
 */
async function awaitStaleAzurite(location: string, log: (line: string) => void): Promise<void> {
  let pid: number | undefined;
  try {
    pid = (JSON.parse(fs.readFileSync(path.join(location, RUNTIME_FILE), 'utf8')) as RuntimeFile).azuritePid;
  } catch {
    return;
  }
  if (!pid || !processAlive(pid)) return;
  let cmdline = '';
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    /* not Linux, or gone */
  }
  // A reused pid is someone else's process.
  if (cmdline && !cmdline.includes(path.join(location, 'blob'))) return;
  log(`waiting for the Azurite of the previous run (pid ${pid}) to finish`);
  for (let i = 0; i < 150 && processAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (processAlive(pid)) {
    log(`Azurite pid ${pid} did not stop: killing it`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
    for (let i = 0; i < 50 && processAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  }
}

/** The runtime file of a service running on `location`, if one runs. */
export function runningOn(location: string): RuntimeFile | undefined {
  try {
    const rt = JSON.parse(fs.readFileSync(path.join(location, RUNTIME_FILE), 'utf8')) as RuntimeFile;
    return processAlive(rt.pid) && rt.pid !== process.pid ? rt : undefined;
  } catch {
    return undefined;
  }
}

async function listen(server: http.Server, host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

interface ServiceState {
  lastPort: number;
  /** The blob front's port, kept across restarts like the service's own. */
  lastBlobPort?: number;
}

/** Opens the metadata of `location` and its collections. */
async function openState(location: string) {
  const meta = MetadataStore.open(location);
  try {
    return await loadState(meta);
  } catch (err) {
    await meta.close().catch(() => undefined);
    throw err;
  }
}

async function loadState(meta: MetadataStore) {
  return {
    meta,
    tenants: await meta.collection<TenantRecord>('tenants'),
    integrations: await meta.collection<IntegrationRecord>('integrations'),
    stsKeys: await meta.collection<{ kid: string; privateJwk: crypto.JsonWebKey }>('stsKeys'),
    usedAssertions: await meta.collection<{ expiresUtc: string }>('usedAssertions'),
    evidence: await meta.collection<EvidenceRecord>('evidence'),
    resources: await meta.collection<ResourceRecord>('resources'),
    cases: await meta.collection<CaseRecord>('cases'),
    jobs: await meta.collection<JobRecord>('jobs'),
    cameras: await meta.collection<CameraRecord>('cameras'),
    requests: await meta.collection<RequestRecord>('requests'),
    idempotency: await meta.collection<IdempotencyRecord>('idempotency'),
    service: await meta.collection<ServiceState>('service'),
  };
}

/**
 * Creates an integration while the service is not running (CLI `account
 * create`). Answers the connection file; the caller decides where it goes.
 */
export async function createAccountOffline(
  location: string,
  options: { name: string; tenantId?: string; disableEncryption?: boolean; baseUrl?: string },
): Promise<ConnectionFile> {
  if (runningOn(location)) throw new Error(`the service is running on ${location}: create the account through it`);
  const s = await openState(location);
  try {
    const accounts = new Accounts(s.tenants, s.integrations, systemClock);
    const port = s.service.get('state')?.lastPort ?? 0;
    const baseUrl = options.baseUrl ?? `http://127.0.0.1:${port}`;
    const { connection } = await accounts.createIntegration(options, serviceAddresses(baseUrl));
    return connection;
  } finally {
    await s.meta.close();
  }
}

/** Closes `server` and every connection it holds; resolves at once when it never listened. */
function closeServer(server: http.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Removes the runtime file of `location` when this process wrote it. */
function removeRuntimeFile(location: string): void {
  try {
    const rt = JSON.parse(fs.readFileSync(path.join(location, RUNTIME_FILE), 'utf8')) as RuntimeFile;
    if (rt.pid === process.pid) fs.rmSync(path.join(location, RUNTIME_FILE), { force: true });
  } catch {
    /* already gone, or not ours */
  }
}

/**
 * What a start has set up so far (journal, Azurite, HTTP server, runtime file,
 * demo), undone in reverse order when a later step fails.
 */
class StartUndo {
  private readonly steps: { what: string; undo: () => Promise<void> | void }[] = [];

  constructor(private readonly log: (line: string) => void) {}

  push(what: string, undo: () => Promise<void> | void): void {
    this.steps.push({ what, undo });
  }

  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step.undo();
      } catch (err) {
        this.log(`start failed; undoing it, ${step.what} failed too: ${(err as Error).message}`);
      }
    }
  }
}

export async function startEmulator(options: EmulatorOptions): Promise<RunningEmulator> {
  const location = path.resolve(options.location);
  const host = options.host ?? '127.0.0.1';
  const clock = options.clock ?? systemClock;
  const log = options.log ?? ((line: string) => console.log(`[clearance-emulator] ${line}`));
  const bodyLimit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const other = runningOn(location);
  if (other) throw new Error(`another service (pid ${other.pid}) already runs on ${location} at ${other.baseUrl}`);
  fs.mkdirSync(location, { recursive: true });
  await awaitStaleAzurite(location, log);

  const s = await openState(location);
  // Everything started from here on is stopped again should a later step fail.
  const started = new StartUndo(log);
  started.push('closing the metadata journal', () => s.meta.close());
  try {
    if (s.meta.openReport.tornTail) log('metadata journal: dropped a torn last line (an unacknowledged write from a crash)');
    const faults = new FaultPlan();
    for (const f of options.faults ?? []) faults.add(f);
    const accounts = new Accounts(s.tenants, s.integrations, clock);
    const tokens = new TokenService(accounts, s.stsKeys, s.usedAssertions, clock, options.tokenLifetimeSeconds ?? 3600);
    await tokens.init();

    const previousBlobPort = s.service.get('state')?.lastBlobPort;
    const blobs = await BlobGateway.start({ location, host, port: options.port === 0 || options.port === undefined ? previousBlobPort : 0, faults, log });
    started.push('stopping Azurite and the blob gateway', () => blobs.stop());
    const idempotency = new IdempotencyKeys(s.idempotency, clock);
    const documents = new DocumentStore({ accounts, evidence: s.evidence, resources: s.resources, cases: s.cases, blobs, idempotency, clock: options.evidenceClock ?? clock, log });
    const agents = new AgentService({
      jobs: s.jobs,
      cameras: s.cameras,
      requests: s.requests,
      documents,
      tenants: () => accounts.allTenants().map((t) => t.tenantId),
      clock,
      discoveryIntervalSeconds: options.discoveryIntervalSeconds ?? 3600,
      log,
    });

    const router = new Router<Principal>();
    let baseUrl = '';
    const tokenUrls = (req: http.IncomingMessage): string[] => {
      const urls = [`${baseUrl}/connect/token`];
      if (req.headers.host) urls.push(`http://${req.headers.host}/connect/token`);
      return urls;
    };
    const openIdConfiguration = (): Reply => ({
      status: 200,
      body: {
        issuer: `${baseUrl}/connect`,
        token_endpoint: `${baseUrl}/connect/token`,
        jwks_uri: `${baseUrl}/connect/.well-known/jwks`,
        grant_types_supported: ['urn:ietf:params:oauth:grant-type:jwt-bearer'],
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
        token_endpoint_auth_signing_alg_values_supported: ['RS256'],
        response_types_supported: ['token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      },
    });
    const tenantCheck = (p: Principal, t: string): void => {
      if (t !== p.tenantId) throw new HttpError(403, 'forbidden', `tenant ${t}: the token is for tenant ${p.tenantId}`);
    };

    const serviceRoutes: RouteDef<Principal>[] = [
      {
        name: 'token',
        method: 'POST',
        path: '/connect/token',
        auth: false,
        body: 'form',
        handler: async ({ req, body }) => ({ status: 200, body: await tokens.issue(body as Record<string, string>, tokenUrls(req)) }),
      },
      { name: 'openid.configuration', method: 'GET', path: '/connect/.well-known/openid-configuration', auth: false, handler: openIdConfiguration },
      { name: 'openid.configuration', method: 'GET', path: '/.well-known/openid-configuration', auth: false, handler: openIdConfiguration },
      { name: 'openid.jwks', method: 'GET', path: '/connect/.well-known/jwks', auth: false, handler: () => ({ status: 200, body: tokens.jwks() }) },
      {
        name: 'keystore.encryptionKey',
        method: 'GET',
        path: '/keystore/api/v1/tenant/:tenantId/keys/encryption',
        auth: true,
        handler: ({ params, principal }) => {
          tenantCheck(principal!, params.tenantId);
          const t = accounts.tenant(params.tenantId);
          if (!t) throw notFound(`tenant ${params.tenantId}`);
          const pem = crypto.createPublicKey({ key: t.encryptionPublicJwk, format: 'jwk' }).export({ format: 'pem', type: 'spki' }) as string;
          const body: EncryptionKeyResponse = {
            KeyId: t.encryptionKeyId,
            Algorithm: 'RSA-OAEP',
            Jwk: { ...t.encryptionPublicJwk, kid: t.encryptionKeyId, alg: 'RSA-OAEP', use: 'enc' },
            Pem: pem,
          };
          return { status: 200, body };
        },
      },
      {
        name: 'admin.faults.list',
        method: 'GET',
        path: '/admin/api/v1/faults',
        auth: true,
        handler: () => ({ status: 200, body: faults.list() }),
      },
      {
        name: 'admin.faults.add',
        method: 'POST',
        path: '/admin/api/v1/faults',
        auth: true,
        body: 'json',
        handler: ({ body }) => {
          const spec = checkFaultSpec(body);
          const f = faults.add(spec);
          log(`fault added: ${spec.route} ${spec.kind}${spec.count ? ` x${spec.count}` : ''}`);
          return { status: 201, body: f };
        },
      },
      {
        name: 'admin.faults.clear',
        method: 'DELETE',
        path: '/admin/api/v1/faults',
        auth: true,
        handler: () => {
          faults.clear();
          return { status: 204 };
        },
      },
      {
        name: 'admin.faults.remove',
        method: 'DELETE',
        path: '/admin/api/v1/faults/:faultId',
        auth: true,
        handler: ({ params }) => {
          if (!faults.remove(params.faultId)) throw notFound(`fault ${params.faultId}`);
          return { status: 204 };
        },
      },
      {
        name: 'admin.blob.puts',
        method: 'GET',
        path: '/admin/api/v1/blob/puts',
        auth: true,
        handler: () => ({ status: 200, body: blobs.stats.puts() }),
      },
      {
        name: 'admin.blob.puts.reset',
        method: 'DELETE',
        path: '/admin/api/v1/blob/puts',
        auth: true,
        handler: () => {
          blobs.stats.reset();
          return { status: 204 };
        },
      },
      {
        name: 'admin.blob.received',
        method: 'GET',
        path: '/admin/api/v1/blob/received',
        auth: true,
        handler: ({ query }) => {
          const blob = query.get('blob');
          if (blob !== null && (blob.length === 0 || blob.length > 1024)) throw new HttpError(400, 'invalid_request', 'blob: must be 1-1024 characters', { field: 'blob' });
          return { status: 200, body: blobs.stats.timeline(blob ?? undefined) };
        },
      },
      {
        name: 'admin.accounts.create',
        method: 'POST',
        path: '/admin/api/v1/tenant/:tenantId/integrations',
        auth: true,
        body: 'json',
        handler: async ({ params, principal, body }) => {
          tenantCheck(principal!, params.tenantId);
          const input = parse(
            obj({
              name: str({ max: 64, pattern: INTEGRATION_NAME, patternText: 'letters, digits, spaces, dots, dashes or underscores' }),
              disableEncryption: optional(bool()),
            }),
            body,
          );
          if (accounts.allIntegrations().some((i) => i.tenantId === params.tenantId && i.name === input.name)) {
            throw new HttpError(409, 'conflict', `name: an integration named "${input.name}" already exists`, { field: 'name' });
          }
          const { connection } = await accounts.createIntegration({ ...input, tenantId: params.tenantId }, serviceAddresses(baseUrl));
          return { status: 201, body: connection };
        },
      },
    ];
    router.add(...serviceRoutes, ...documents.routes(), ...agents.routes());

    let sweeping: Promise<void> | undefined;
    const sweep = async (): Promise<void> => {
      // One sweep at a time; concurrent requests wait for the running one.
      if (!sweeping) {
        sweeping = (async () => {
          await documents.sweep();
          await agents.sweep();
          await tokens.sweep();
          await idempotency.sweep();
        })().finally(() => (sweeping = undefined));
      }
      await sweeping;
    };

    const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
      let cutResponse = false;
      let reply: Reply;
      let oauthRoute = false;
      try {
        const url = new URL(req.url ?? '/', 'http://local');
        const { route, params } = router.match(req.method ?? 'GET', url.pathname);
        oauthRoute = route.name === 'token';
        const kinds = route.auth ? (['status', 'latency', 'reset', 'tokenExpiry'] as const) : (['status', 'latency', 'reset'] as const);
        const fired = route.name.startsWith('admin.faults') ? [] : faults.take(route.name, kinds);
        for (const f of fired) if (f.kind === 'latency') await new Promise((r) => setTimeout(r, f.latencyMs ?? 0));
        const terminal = fired.find((f) => f.kind !== 'latency');
        if (terminal?.kind === 'status') {
          req.resume();
          const status = terminal.status ?? 503;
          const headers: Record<string, string> = {};
          if (status !== 500 || terminal.retryAfterSeconds !== undefined) headers['retry-after'] = String(terminal.retryAfterSeconds ?? 1);
          const code = status === 429 ? 'too_many_requests' : status === 503 ? 'service_unavailable' : 'internal_error';
          throw new HttpError(status, code, `injected fault on ${route.name}`, { headers, oauth: oauthRoute });
        }
        cutResponse = terminal?.kind === 'reset';
        await sweep();
        let principal: Principal | undefined;
        if (route.auth) {
          principal = await tokens.verify(req.headers.authorization);
          if (terminal?.kind === 'tokenExpiry') {
            tokens.expireEarly(principal.tokenId);
            principal = await tokens.verify(req.headers.authorization);
          }
        }
        const raw = await readBody(req, bodyLimit);
        const body = parseBody(route.body ?? 'none', req, raw, oauthRoute);
        reply = await route.handler({ req, params, path: url.pathname, query: url.searchParams, body, principal, routeName: route.name });
      } catch (err) {
        reply = errorReply(err, log);
        if (err instanceof HttpError && err.status === 413) reply.headers = { ...reply.headers, connection: 'close' };
        if (oauthRoute && reply.body && typeof reply.body === 'object' && 'message' in reply.body) {
          const b = reply.body as { error: string; message: string };
          reply.body = { error: b.error, error_description: b.message };
        }
      }
      if (reply.stream) {
        const stream = reply.stream;
        res.writeHead(reply.status, { 'cache-control': 'no-store', ...reply.headers });
        try {
          await pipeline(stream, res);
        } catch (err) {
          log(`${req.method} ${req.url}: streamed answer broken off (${(err as Error).message})`);
          res.destroy();
        }
        return;
      }
      const { status, headers, payload } = serialise(reply);
      if (cutResponse && payload.length > 1) {
        // The route ran; its answer is cut in the middle, as by a dropped connection.
        res.writeHead(status, headers);
        res.write(payload.subarray(0, Math.floor(payload.length / 2)), () => res.socket?.destroy());
        return;
      }
      res.writeHead(status, headers);
      res.end(payload);
    };

    const server = http.createServer((req, res) => {
      handle(req, res).catch((err) => {
        log(`unexpected: ${(err as Error).message}`);
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end('{"error":"internal_error","message":"internal error"}');
        } else res.destroy();
      });
    });
    server.on('clientError', (_err, socket) => {
      if ((socket as Socket).writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    server.requestTimeout = 120000;

    const requested = options.port ?? 0;
    const previous = s.service.get('state')?.lastPort;
    started.push('closing the HTTP server', () => closeServer(server));
    if (requested === 0 && previous) {
      try {
        await listen(server, host, previous);
      } catch {
        await listen(server, host, 0);
      }
    } else await listen(server, host, requested);
    const addr = server.address() as AddressInfo;
    const hostPart = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    baseUrl = `http://${hostPart}:${addr.port}`;
    await s.service.put('state', { lastPort: addr.port, lastBlobPort: Number(new URL(blobs.publicUrl).port) });

    // The default account: one tenant and one ready connection file.
    const addresses = serviceAddresses(baseUrl);
    await accounts.ensureTenant(DEFAULT_TENANT_ID);
    const connDir = connectionsDir(location);
    const defaultFile = path.join(connDir, connectionFileName(DEFAULT_INTEGRATION_NAME));
    const hasDefault = accounts.allIntegrations().some((i) => i.tenantId === DEFAULT_TENANT_ID && i.name === DEFAULT_INTEGRATION_NAME);
    if (!hasDefault || !fs.existsSync(defaultFile)) {
      if (hasDefault) throw new Error(`${defaultFile} is missing; its private key exists nowhere else (delete ${location} to start over)`);
      const { connection } = await accounts.createIntegration({ name: DEFAULT_INTEGRATION_NAME, tenantId: DEFAULT_TENANT_ID }, addresses);
      writeConnectionFile(defaultFile, connection);
    }
    refreshConnectionFiles(connDir, addresses);
    await sweep();

    const runtime: RuntimeFile = { pid: process.pid, azuritePid: blobs.azuritePid, baseUrl, connectionFilePath: defaultFile, tenantId: DEFAULT_TENANT_ID };
    started.push('removing the runtime file', () => removeRuntimeFile(location));
    fs.writeFileSync(path.join(location, RUNTIME_FILE), JSON.stringify(runtime, null, 2) + '\n');

    const demo = options.demoSeconds ? new DemoRequester(agents, DEFAULT_TENANT_ID, options.demoSeconds, log) : undefined;
    if (demo) started.push('stopping the demo requester', () => demo.stop());
    demo?.start();

    const urls: EmulatorUrls = {
      tokenUrl: `${baseUrl}/connect/token`,
      openIdConfiguration: `${baseUrl}/connect/.well-known/openid-configuration`,
      documentStore: addresses.DocumentStoreBaseAddresses[0],
      keyStore: addresses.KeyStoreBaseAddresses[0],
      agentService: `${baseUrl}/agentservice/api/v1`,
      registry: `${addresses.DeviceServiceBaseAddresses[0]}/tenant/${DEFAULT_TENANT_ID}/registry/cameras`,
      admin: `${baseUrl}/admin/api/v1`,
      blob: blobs.publicUrl,
    };

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        demo?.stop();
        await closeServer(server);
        await blobs.stop();
        await s.meta.close();
        removeRuntimeFile(location);
      })();
      return stopping;
    };

    return {
      baseUrl,
      routes: router.list().map((r) => ({ name: r.name, method: r.method, path: r.path, auth: r.auth })),
      get azuritePid() {
        return blobs.azuritePid;
      },
      urls,
      connectionFilePath: defaultFile,
      tenantId: DEFAULT_TENANT_ID,
      faults,
      blobPuts: () => blobs.stats.puts(),
      blob: { azuriteUrl: blobs.azuriteUrl, account: 'devstoreaccount1', accountKey: DEV_ACCOUNT_KEY },
      createIntegration: async (o) => {
        if (o.tenantId !== undefined && !TENANT_ID.test(o.tenantId)) throw new Error('tenantId: invalid');
        return (await accounts.createIntegration(o, serviceAddresses(baseUrl))).connection;
      },
      tenantPrivateKey: (tenantId = DEFAULT_TENANT_ID) => {
        const t = accounts.tenant(tenantId);
        if (!t) throw new Error(`tenant ${tenantId} not found`);
        return t.encryptionPrivateJwk;
      },
      stop,
    };
  } catch (err) {
    await started.run();
    throw err;
  }
}
