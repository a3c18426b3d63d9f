// The world of the fault tests: the local service on loopback (the shared fixture,
// kept whole so that it can be stopped and started again on the same port and
// folder), a sample site with one camera recorded for one minute, and what a
// test needs to read back at the service: evidence of a request, the decrypted
// SHA-256 of its resources, requests seen per route, bytes received per blob.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fetch from 'node-fetch';
import type { Evidence, Resource, VideoRequest as ServiceVideoRequest, VideoRequestCreate } from '../../../src/core/clearance/api';
import { generateSampleSite, resolveFfmpeg } from '../../../src/core/site';
import { STAGING_PREFIX } from '../../../src/core/uploads/uploadQueue';
import { systemClock } from '../../../src/emulator/clock';
import { startLocalService, type LocalService } from '../fixtures/service';
import { ServiceClient } from '../emulator/serviceClient';
import type { RoleOptions } from '../../../src/core/role/role';
import { CAMERAS, testRoleOptions, type World } from '../role/world';

/** The role's HTTP settings here: a short time limit (the timeout fault outlasts it) and three quick tries per call. */
export const FAULT_HTTP = { timeoutMs: 3000, retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 200 } };
/** The smallest block the queue accepts: every part is several blocks. */
export const FAULT_BLOCK_SIZE = 64 * 1024;

/** The role tests' options (testRoleOptions) with the HTTP settings and block size above. */
export function faultRoleOptions(world: Pick<World, 'dir' | 'siteDir' | 'ffmpeg'>, log?: (line: string) => void): RoleOptions {
  return { ...testRoleOptions(world as World), http: FAULT_HTTP, blockSize: FAULT_BLOCK_SIZE, ...(log ? { log } : {}) };
}

/** Blob bytes and Put Block counts received by the blob front, summed over every blob. */
export interface BlobTotals {
  putBlock: number;
  putBlockList: number;
  bytes: number;
  /** Put Blocks of a block id already received for the same blob. */
  blocksSentAgain: number;
}

export interface FaultWorld extends Pick<World, 'dir' | 'siteDir' | 'ffmpeg' | 'start' | 'at'> {
  svc: LocalService;
  client: ServiceClient;
  connectionFile: string;
  camera: string;
  fileRequest(body: VideoRequestCreate): Promise<ServiceVideoRequest>;
  /** Camera ids the service's registry lists. */
  registryIds(): Promise<string[]>;
  serviceRequest(requestId: string): Promise<ServiceVideoRequest>;
  /** Every evidence item at the service whose name carries `text` (a request's short id). */
  evidenceNamed(text: string): Promise<Evidence[]>;
  /** The resources of an evidence item, with the SHA-256 of each complete one's decrypted content. */
  resources(evidenceId: string): Promise<{ name: string; state: string; sha256?: string }[]>;
  /** Requests seen per route since the last reset, over every run of the service (restarts included). */
  routeCounts(): Record<string, number>;
  blobTotals(): BlobTotals;
  /** Forgets the counts above (and the service's own). */
  resetCounts(): Promise<void>;
  /** Moves the document store's clock on by `ms`: evidence ages (incomplete evidence is purged after 24 h). */
  ageEvidence(ms: number): void;
  /** Stops the service; `restart()` starts it again on the same port and folder. */
  stopService(): Promise<void>;
  restart(): Promise<void>;
  /** Staged files left in an archive folder (upload-<job>/…) by uploads whose id starts with `jobPrefix`. */
  stagedFiles(archive: string, jobPrefix?: string): string[];
  stop(): Promise<void>;
}

export async function startFaultWorld(name: string): Promise<FaultWorld> {
  let evidenceAge = 0;
  const evidenceClock = { now: () => new Date(Date.now() + evidenceAge) };
  const svc = await startLocalService({ prefix: `clearance-faults-${name}-`, serviceFolder: 'service', clock: systemClock, evidenceClock, discoveryIntervalSeconds: 1, keepLogs: false });
  const { dir } = svc;
  try {
    const ffmpeg = resolveFfmpeg();
    const start = new Date(Math.floor((Date.now() - 30 * 60_000) / 1000) * 1000);
    const siteDir = path.join(dir, 'site');
    // 320x180: a 10 s part is a few 64 KiB blocks, so faults land in the middle of a file.
    await generateSampleSite({ folder: siteDir, ffmpegPath: ffmpeg, start, durationMinutes: 1, segmentMinutes: 1, cameras: [CAMERAS.lobby], width: 320, height: 180, fps: 10 });
    let client = new ServiceClient(svc.connection, systemClock);
    const tenant = svc.emulator.tenantId;
    const admin = () => `${svc.emulator.urls.admin}/tenant/${tenant}`;
    const agent = () => `${svc.emulator.urls.agentService}/tenant/${tenant}`;
    const ds = () => `${svc.emulator.urls.documentStore}/tenant/${tenant}`;
    // Counts of earlier runs of the service (before a restart).
    let carried: Record<string, number> = {};
    let carriedBlobs: { putBlock: number; putBlockList: number; bytes: number; ids: Map<string, number> } = { putBlock: 0, putBlockList: 0, bytes: 0, ids: new Map() };
    let stopped = false;
    const add = (a: Record<string, number>, b: Record<string, number>) => {
      const out = { ...a };
      for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
      return out;
    };
    // Read in-process: still there once the service stopped.
    const mergedBlobs = () => {
      const merged = { putBlock: carriedBlobs.putBlock, putBlockList: carriedBlobs.putBlockList, bytes: carriedBlobs.bytes, ids: new Map(carriedBlobs.ids) };
      if (stopped) return merged;
      for (const [blob, s] of Object.entries(svc.emulator.blobPuts().blobs)) {
        merged.putBlock += s.putBlock;
        merged.putBlockList += s.putBlockList;
        merged.bytes += s.bytes;
        for (const [id, n] of Object.entries(s.blockIds)) merged.ids.set(`${blob}#${id}`, (merged.ids.get(`${blob}#${id}`) ?? 0) + n);
      }
      return merged;
    };
    const world: FaultWorld = {
      dir,
      siteDir,
      ffmpeg,
      svc,
      get client() {
        return client;
      },
      connectionFile: svc.emulator.connectionFilePath,
      camera: CAMERAS.lobby,
      start,
      at: (seconds) => new Date(start.getTime() + seconds * 1000).toISOString(),
      fileRequest: (body) => client.ok<ServiceVideoRequest>('POST', `${admin()}/requests`, body),
      registryIds: async () => (await client.ok<{ id: string }[]>('GET', svc.emulator.urls.registry)).map((c) => c.id),
      serviceRequest: (id) => client.ok<ServiceVideoRequest>('GET', `${agent()}/requests/${id}`),
      evidenceNamed: async (text) => (await client.ok<Evidence[]>('GET', `${ds()}/evidence`)).filter((e) => e.Name.includes(text)),
      resources: async (evidenceId) => {
        const base = `${ds()}/evidence/${evidenceId}/resource`;
        const out: { name: string; state: string; sha256?: string }[] = [];
        for (const r of await client.ok<Resource[]>('GET', base)) {
          if (r.State !== 'Complete') {
            out.push({ name: r.Name, state: r.State });
            continue;
          }
          // The service decrypts with the account's key: this is the plain file as the investigator gets it.
          const res = await fetch(`${base}/${r.ResourceId}/content`, { headers: { authorization: `Bearer ${client.token}` } });
          if (res.status !== 200) throw new Error(`content of ${r.Name}: ${res.status} ${await res.text()}`);
          out.push({ name: r.Name, state: r.State, sha256: createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex') });
        }
        return out;
      },
      routeCounts: () => (stopped ? { ...carried } : add(carried, svc.emulator.faults.requestCounts())),
      blobTotals: () => {
        const m = mergedBlobs();
        let again = 0;
        for (const n of m.ids.values()) again += Math.max(0, n - 1);
        return { putBlock: m.putBlock, putBlockList: m.putBlockList, bytes: m.bytes, blocksSentAgain: again };
      },
      ageEvidence: (ms) => {
        evidenceAge += ms;
      },
      resetCounts: async () => {
        carried = {};
        carriedBlobs = { putBlock: 0, putBlockList: 0, bytes: 0, ids: new Map() };
        svc.emulator.faults.resetRequestCounts();
        await client.call('DELETE', `${svc.emulator.urls.admin}/blob/puts`);
      },
      stopService: async () => {
        if (stopped) return;
        // Stopped first: requests in flight until the last moment are counted too.
        await svc.emulator.stop();
        carriedBlobs = mergedBlobs();
        carried = add(carried, svc.emulator.faults.requestCounts());
        stopped = true;
      },
      restart: async () => {
        if (!stopped) await world.stopService();
        const before = svc.emulator.baseUrl;
        const blobBefore = svc.emulator.urls.blob;
        await svc.restart();
        stopped = false;
        if (svc.emulator.baseUrl !== before || svc.emulator.urls.blob !== blobBefore) {
          throw new Error(`the service came back elsewhere: ${svc.emulator.baseUrl} ${svc.emulator.urls.blob} (was ${before} ${blobBefore})`);
        }
        client = new ServiceClient(svc.connection, systemClock);
      },
      stagedFiles: (archive, jobPrefix = '') => {
        if (!fs.existsSync(archive)) return [];
        return fs
          .readdirSync(archive)
          .filter((n) => n.startsWith(`${STAGING_PREFIX}${jobPrefix}`))
          .flatMap((n) => {
            const d = path.join(archive, n);
            const files = (fs.readdirSync(d, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(d, f)).isFile());
            return files.length ? files.map((f) => `${n}/${f}`) : [`${n}/`];
          });
      },
      // Stops the service (once more is harmless) and removes its folder.
      stop: () => svc.stop(),
    };
    return world;
  } catch (error) {
    await svc.stop();
    throw error;
  }
}
