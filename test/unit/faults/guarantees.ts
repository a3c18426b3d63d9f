// What every fault case checks once its request has settled, gathered as a list
// of problems (empty: nothing lost) and the figures docs/reliability.md reports.
import * as fs from 'node:fs';
import type { VideoRequest } from '../../../src/core/requests/videoRequest';
import { UPLOAD_RETRIES } from '../../../src/core/requests/videoRequestDesk';
import type { UploadJobSnapshot } from '../../../src/core/uploads/uploadJob';
import { FAULT_HTTP, type BlobTotals, type FaultWorld } from './faultWorld';

/** The routes an upload of a request uses: the ones whose retries are bounded here. */
export const UPLOAD_ROUTES = [
  'evidence.create',
  'resource.create',
  'blob.putBlock',
  'blob.putBlockList',
  'blob.get',
  'resource.complete',
  'evidence.complete',
] as const;

/** Tries of one call (HTTP client) × runs of one upload job (the request desk's retries). */
export const POLICY_FACTOR = FAULT_HTTP.retry.maxAttempts * (1 + UPLOAD_RETRIES);

export interface Expect {
  /** 'Completed', or 'givenBack' when the fault never ends (the request goes back to Pending with a reason). */
  outcome: 'Completed' | 'givenBack';
  /** Lives of the role's upload work (a restart of the role, or the desk picking the request up again), for the policy bound. */
  lives?: number;
  /** Extra requests allowed per fired fault on the same route (tight bound for faults that end). */
  perFault?: number;
  /** Extra requests allowed on each route beyond the tight bound (re-reads after a restart). */
  slack?: number;
  /** Times the upload starts over with new evidence (everything goes again): the tight bound is the fault-free run × (1 + this). */
  startOvers?: number;
}

export interface CaseFigures {
  name: string;
  status: string;
  seconds: number;
  parts: number;
  plainBytes: number;
  cipherBytes: number;
  bytesResent: number;
  blocksSentAgain: number;
  /** Requests per upload route beyond the fault-free run. */
  extra: Record<string, number>;
  /** Faults fired per route. */
  fired: Record<string, number>;
  /** Retries the role's HTTP client logged, per route (method + last path segment). */
  httpRetries: Record<string, number>;
  uploadRetries: number;
  evidenceItems: number;
  reason?: string;
  problems: string[];
}

export interface Observed {
  name: string;
  world: FaultWorld;
  request: VideoRequest;
  upload: UploadJobSnapshot | undefined;
  archive: string;
  seconds: number;
  counts: Record<string, number>;
  blobs: BlobTotals;
  /** Requests per route of a fault-free run of the same request. */
  baseline: Record<string, number>;
  fired: Record<string, number>;
  logs: string[];
  expect: Expect;
  /** Plain SHA-256 of the source files, by name (independent of what the role recorded). */
  sources?: Map<string, string>;
}

/** AES-CBC with PKCS#7 padding: what an encrypted part weighs at the blob store. */
function cipherLength(bytes: number): number {
  return (Math.floor(bytes / 16) + 1) * 16;
}

const READABLE = /^[\p{L}\p{N}\p{P}\p{Zs}<>=+|~^$`]+$/u;

/** Every guarantee of issue 13 for one settled request; figures for the report. */
export async function checkGuarantees(o: Observed): Promise<CaseFigures> {
  const problems: string[] = [];
  const { request, world, expect } = o;
  const camera = request.cameras[0];
  const files = camera?.files ?? [];
  const shortId = request.requestId.slice(0, 8);
  const evidence = await world.evidenceNamed(shortId);
  const service = await world.serviceRequest(request.requestId);
  let reason: string | undefined;

  if (expect.outcome === 'Completed') {
    if (request.status !== 'Completed') problems.push(`request ${request.status} at the role (${request.error ?? 'no error'})`);
    if (service.status !== 'Completed') problems.push(`request ${service.status} at the service`);
    if (files.length !== 5) problems.push(`${files.length} files exported, not 5`);
    if (evidence.length !== 1) problems.push(`${evidence.length} evidence items for the request (one camera)`);
    const item = evidence.find((e) => e.EvidenceId === camera?.evidenceId);
    if (!item) problems.push(`the request's evidence ${camera?.evidenceId} is not at the service`);
    else {
      if (item.State !== 'Complete') problems.push(`evidence ${item.EvidenceId} is ${item.State}`);
      const resources = await world.resources(item.EvidenceId);
      if (resources.length !== files.length) problems.push(`${resources.length} resources at the service for ${files.length} files`);
      const names = new Set(resources.map((r) => r.name));
      if (names.size !== resources.length) problems.push(`a resource name is there twice: ${resources.map((r) => r.name).join(', ')}`);
      for (const f of files) {
        const r = resources.find((x) => x.name === f.name);
        const source = o.sources?.get(f.name) ?? f.sha256;
        if (!r) problems.push(`${f.name} is missing at the service`);
        else if (r.state !== 'Complete') problems.push(`${f.name} is ${r.state} at the service`);
        else if (r.sha256 !== source) problems.push(`${f.name}: SHA-256 at the service ${r.sha256} ≠ source ${source}`);
        if (o.sources && o.sources.get(f.name) !== f.sha256) problems.push(`${f.name}: the role recorded ${f.sha256}, the source is ${o.sources.get(f.name)}`);
      }
    }
    const staged = world.stagedFiles(o.archive, request.requestId);
    if (staged.length) problems.push(`staging not empty after success: ${staged.join(', ')}`);
  } else {
    // The fault never ends: the request goes back to Pending (nothing sent), with a reason an operator can read.
    reason = request.error ?? '';
    if (request.status !== 'Pending') problems.push(`request ${request.status} at the role, not given back`);
    if (service.status !== 'Pending') problems.push(`request ${service.status} at the service, not Pending again`);
    if (!reason) problems.push('no reason given');
    else {
      if (!READABLE.test(reason)) problems.push(`the reason is not plain text: ${JSON.stringify(reason)}`);
      if (/\[object |undefined|null|\bat .*\.ts:\d+/.test(reason)) problems.push(`the reason leaks internals: ${reason}`);
      if (reason.length > 2000) problems.push(`the reason is ${reason.length} characters long`);
      if (/[?&]sig=/.test(reason)) problems.push('the reason holds a SAS');
    }
    if (evidence.length > 1) problems.push(`${evidence.length} evidence items for the request`);
    // The cause, where an operator looks for it: the upload's error at the role, and the reason the service was told.
    const cause = o.upload?.error ?? '';
    if (!cause) problems.push('the upload shows no error');
    else if (!READABLE.test(cause) || /\[object |undefined/.test(cause)) problems.push(`the upload's error is not plain text: ${JSON.stringify(cause)}`);
    const told = service.history.at(-1)?.reason ?? '';
    if (!told.includes(camera?.name ?? '?')) problems.push(`the service was told "${told}", which names no camera`);
    reason = `${reason} | upload: ${cause} | service: ${told}`;
  }

  // Retries stay bounded: per route, against the fault-free run of the same request.
  const extra: Record<string, number> = {};
  const lives = expect.lives ?? 1;
  for (const route of UPLOAD_ROUTES) {
    const seen = o.counts[route] ?? 0;
    const base = o.baseline[route] ?? 0;
    extra[route] = seen - base;
    const policy = Math.max(base, 1) * POLICY_FACTOR * lives;
    if (seen > policy) problems.push(`${route}: ${seen} requests, more than the policy allows (${policy} = ${Math.max(base, 1)} × ${POLICY_FACTOR} × ${lives})`);
    if (expect.outcome === 'Completed' && expect.perFault !== undefined) {
      const runs = 1 + (expect.startOvers ?? 0);
      const tight = base * runs + expect.perFault * (o.fired[route] ?? 0) + (expect.slack ?? 0);
      if (seen > tight) problems.push(`${route}: ${seen} requests, more than ${tight} (${base} without faults × ${runs} + ${expect.perFault} × ${o.fired[route] ?? 0} fired + ${expect.slack ?? 0})`);
    }
  }
  const plainBytes = files.reduce((n, f) => n + f.bytes, 0);
  const cipherBytes = (o.upload?.parts ?? []).reduce((n, p) => n + (p.encrypted ? cipherLength(p.bytes) : p.bytes), 0);
  const httpRetries: Record<string, number> = {};
  for (const line of o.logs) {
    const m = /^retrying (\S+) (\S+) in \d+ ms/.exec(line);
    if (!m) continue;
    const url = new URL(m[2]);
    // Logged URLs carry no query (a SAS): a blob call is known by its path.
    const key = url.pathname.startsWith('/devstoreaccount1/') ? `${m[1]} blob` : `${m[1]} …/${url.pathname.split('/').filter(Boolean).slice(-1)[0] ?? ''}`;
    httpRetries[key] = (httpRetries[key] ?? 0) + 1;
  }
  const uploadRetries = o.logs.filter((l) => /^upload \S+ failed .*; retry \d+ of \d+/.test(l)).length;
  return {
    name: o.name,
    status: request.status,
    seconds: o.seconds,
    parts: files.length,
    plainBytes,
    cipherBytes,
    bytesResent: cipherBytes ? Math.max(0, o.blobs.bytes - cipherBytes) : o.blobs.bytes,
    blocksSentAgain: o.blobs.blocksSentAgain,
    extra,
    fired: o.fired,
    httpRetries,
    uploadRetries,
    evidenceItems: evidence.length,
    ...(reason !== undefined ? { reason } : {}),
    problems,
  };
}

/** Appends the figures of a case to the report file (scripts/test-faults.mjs turns it into docs/reliability.md). */
export function report(figures: CaseFigures & { kind: string; mode: string; seed?: number; note?: string }): void {
  const file = process.env.CLEARANCE_FAULTS_REPORT;
  if (file) fs.appendFileSync(file, `${JSON.stringify(figures)}\n`);
}
