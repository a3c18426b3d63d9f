#!/usr/bin/env node
// clearance-emulator: the command line of the local Clearance service.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { ConnectionFile, VideoRequest, VideoRequestCreate } from '../core/clearance/api';
import { connectionFileName, DEFAULT_TENANT_ID, writeConnectionFile } from './accounts';
import { AdminClient } from './adminClient';
import { parseFaultFlag, type FaultSpec } from './faults';
import { connectionsDir, createAccountOffline, runningOn, startEmulator, type RunningEmulator } from './server';
import { InputError } from './validate';

const USAGE = `Usage:
  clearance-emulator [start] --location <dir> [--host 127.0.0.1] [--port 0] [--demo <seconds>]
                     [--token-lifetime <seconds>] [--fault <route>=<kind>[,count=N,retryAfter=S,ms=MS,status=S,code=C]]...
  clearance-emulator account create --name <integration> --location <dir> [--tenant <id>]
                     [--disable-encryption] [--out <file>]
  clearance-emulator request create (--location <dir> | --url <base> --connection <file>)
                     --camera <id> [--camera <id>...] --from <iso> --to <iso>
                     [--incident <iso>] [--comments <text>] [--case <caseId>]

Fault kinds: 429, 500, 503, latency (ms=), reset, tokenExpiry, blockReject (blob.putBlock).
Routes: token, evidence.create, resource.create, resource.complete, jobs.list, jobs.lock, ...,
        blob.putBlock, blob.putBlockList, blob.get; a "prefix.*" pattern or "*" for all.`;

class UsageError extends Error {}

function need(value: string | undefined, flag: string): string {
  if (!value) throw new UsageError(`${flag} is required`);
  return value;
}

function positiveInt(value: string | undefined, flag: string, allowZero = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new UsageError(`${flag} must be a ${allowZero ? 'non-negative' : 'positive'} integer`);
  return n;
}

async function start(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      location: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      demo: { type: 'string' },
      'token-lifetime': { type: 'string' },
      fault: { type: 'string', multiple: true },
    },
  });
  const location = path.resolve(values.location ?? '.clearance-emulator');
  const port = positiveInt(values.port, '--port', true);
  if (port !== undefined && port > 65535) throw new UsageError('--port must be at most 65535');
  const faults: FaultSpec[] = (values.fault ?? []).map((f) => parseFaultFlag(f));
  const demoSeconds = positiveInt(values.demo, '--demo');
  const tokenLifetimeSeconds = positiveInt(values['token-lifetime'], '--token-lifetime');

  // Listening from the start: a signal (or the parent going away) while the
  // service starts stops it once the start settled, instead of killing the
  // process with its HTTP server, Azurite child and journal half set up.
  const service: { emulator?: RunningEmulator } = {};
  let pending: string | undefined;
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    if (!service.emulator) {
      pending ??= signal;
      return;
    }
    stopping = true;
    console.log(`${signal}: stopping…`);
    service.emulator.stop().then(
      () => process.exit(0),
      (err: Error) => {
        console.error(`stop failed: ${err.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // Started with an IPC channel (by a test or the extension): stop when the parent is gone.
  if (process.connected) process.on('disconnect', () => shutdown('parent gone'));

  // A failed start has stopped whatever it had started (server, Azurite, journal).
  const emulator = await startEmulator({ location, host: values.host, port, demoSeconds, tokenLifetimeSeconds, faults });
  service.emulator = emulator;
  try {
    announce(emulator, location, faults);
  } catch (err) {
    stopping = true;
    await emulator.stop();
    throw err;
  }
  if (pending) shutdown(pending);
}

function announce(emulator: RunningEmulator, location: string, faults: FaultSpec[]): void {
  const u = emulator.urls;
  console.log(
    [
      `Clearance local service is running (data in ${location})`,
      `  base URL         ${emulator.baseUrl}`,
      `  token service    ${u.tokenUrl}`,
      `  OpenID config    ${u.openIdConfiguration}`,
      `  document store   ${u.documentStore}`,
      `  key store        ${u.keyStore}`,
      `  agent service    ${u.agentService}`,
      `  registry         ${u.registry}`,
      `  admin            ${u.admin}`,
      `  blob (Azurite)   ${u.blob}`,
      `  connection file  ${emulator.connectionFilePath}`,
      faults.length ? `  faults           ${faults.map((f) => `${f.route}:${f.kind}`).join(', ')}` : '',
      `Press Ctrl+C to stop.`,
    ]
      .filter(Boolean)
      .join('\n'),
  );
  // One machine-readable line for scripts and tests.
  console.log(`READY ${JSON.stringify({ baseUrl: emulator.baseUrl, connectionFilePath: emulator.connectionFilePath, pid: process.pid })}`);
}

function readConnection(file: string): ConnectionFile {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as ConnectionFile;
  } catch (err) {
    throw new UsageError(`cannot read connection file ${file}: ${(err as Error).message}`);
  }
}

async function accountCreate(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      name: { type: 'string' },
      location: { type: 'string' },
      tenant: { type: 'string' },
      'disable-encryption': { type: 'boolean' },
      out: { type: 'string' },
    },
  });
  const name = need(values.name, '--name');
  const location = path.resolve(need(values.location, '--location'));
  const tenantId = values.tenant ?? DEFAULT_TENANT_ID;
  const running = runningOn(location);
  let connection: ConnectionFile;
  if (running) {
    const client = new AdminClient(readConnection(running.connectionFilePath), running.baseUrl);
    connection = await client.call<ConnectionFile>('POST', `/admin/api/v1/tenant/${encodeURIComponent(tenantId)}/integrations`, {
      name,
      disableEncryption: values['disable-encryption'] ?? false,
    });
  } else {
    connection = await createAccountOffline(location, { name, tenantId, disableEncryption: values['disable-encryption'] ?? false });
  }
  const out = path.resolve(values.out ?? path.join(connectionsDir(location), connectionFileName(name)));
  writeConnectionFile(out, connection);
  console.log(`integration ${connection.ServicePrincipalId}@${connection.TenantId} created; connection file: ${out}`);
}

async function requestCreate(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      location: { type: 'string' },
      url: { type: 'string' },
      connection: { type: 'string' },
      camera: { type: 'string', multiple: true },
      from: { type: 'string' },
      to: { type: 'string' },
      incident: { type: 'string' },
      comments: { type: 'string' },
      case: { type: 'string' },
    },
  });
  let baseUrl = values.url;
  let connectionFile = values.connection;
  if (values.location) {
    const running = runningOn(path.resolve(values.location));
    if (!running) throw new UsageError(`no service is running on ${values.location}`);
    baseUrl ??= running.baseUrl;
    connectionFile ??= running.connectionFilePath;
  }
  if (!baseUrl || !connectionFile) throw new UsageError('give --location <dir>, or --url <base> with --connection <file>');
  const connection = readConnection(connectionFile);
  const body: VideoRequestCreate = {
    cameras: values.camera ?? [],
    fromUtc: need(values.from, '--from'),
    toUtc: need(values.to, '--to'),
    incidentTimeUtc: values.incident,
    comments: values.comments,
    caseId: values.case,
  };
  if (body.cameras.length === 0) throw new UsageError('--camera is required (repeat it for several cameras)');
  const client = new AdminClient(connection, baseUrl);
  const created = await client.call<VideoRequest>('POST', `/admin/api/v1/tenant/${encodeURIComponent(connection.TenantId)}/requests`, body);
  console.log(`video request ${created.requestId} filed (${created.status}) for ${created.cameras.join(', ')}`);
}

export async function main(argv: string[]): Promise<void> {
  const [a, b] = argv;
  if (a === '--help' || a === '-h' || a === 'help') {
    console.log(USAGE);
    return;
  }
  if (a === 'account' && b === 'create') return accountCreate(argv.slice(2));
  if (a === 'request' && b === 'create') return requestCreate(argv.slice(2));
  if (a === 'start') return start(argv.slice(1));
  if (a === undefined || a.startsWith('--')) return start(argv);
  throw new UsageError(`unknown command: ${argv.slice(0, 2).join(' ')}`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: Error) => {
    const usage = err instanceof UsageError || err instanceof InputError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    console.error(`clearance-emulator: ${err.message}`);
    if (usage) console.error(`\n${USAGE}`);
    process.exit(usage ? 2 : 1);
  });
}
