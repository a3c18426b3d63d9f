// A small world for the role tests: the local service on loopback (the shared
// fixture ../fixtures/service.ts with the real clock, discovery jobs every second), a sample site with real H.264 recordings of two
// cameras (one minute each, tiny frames), and a client acting as the requester.
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import fetch from 'node-fetch';
import type { AgentJob, Resource, VideoRequest as ServiceVideoRequest, VideoRequestCreate } from '../../../src/core/clearance/api';
import type { RoleProperties } from '../../../src/core/config/roleProperties';
import { FileSecretStore } from '../../../src/core/config/secretStore';
import type { RoleOptions } from '../../../src/core/role/role';
import { generateSampleSite, LocalFolderSite, resolveFfmpeg, SAMPLE_CAMERA_IDS, SAMPLE_SITE_FILE } from '../../../src/core/site';
import { systemClock } from '../../../src/emulator/clock';
import type { RunningEmulator } from '../../../src/emulator/server';
import { startLocalService } from '../fixtures/service';
import { ServiceClient } from '../emulator/serviceClient';

export const CAMERAS = {
  lobby: SAMPLE_CAMERA_IDS['Lobby Entrance']!,
  reception: SAMPLE_CAMERA_IDS['Reception Desk']!,
  parkingNorth: SAMPLE_CAMERA_IDS['Parking North']!,
};
export const AREAS = {
  main: SAMPLE_SITE_FILE.areas.find((a) => a.name === 'Main Building')!.id,
  parking: SAMPLE_SITE_FILE.areas.find((a) => a.name === 'Parking')!.id,
};

export interface World {
  dir: string;
  siteDir: string;
  ffmpeg: string;
  emulator: RunningEmulator;
  client: ServiceClient;
  connectionFile: string;
  /** First recorded moment; Lobby Entrance and Parking North are recorded for one minute from here. */
  start: Date;
  at(seconds: number): string;
  fileRequest(body: VideoRequestCreate): Promise<ServiceVideoRequest>;
  serviceRequest(requestId: string): Promise<ServiceVideoRequest>;
  registryIds(): Promise<string[]>;
  fileThumbnail(cameraId: string): Promise<AgentJob>;
  job(jobId: string): Promise<AgentJob>;
  /** SHA-256 of the plain file of each complete resource of an evidence item, by resource name, as the service gives it back. */
  evidenceHashes(evidenceId: string): Promise<Map<string, string>>;
  stop(): Promise<void>;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startWorld(name: string): Promise<World> {
  const svc = await startLocalService({ prefix: `clearance-${name}-`, serviceFolder: 'service', clock: systemClock, discoveryIntervalSeconds: 1, keepLogs: false });
  const { dir, emulator } = svc;
  try {
    const ffmpeg = resolveFfmpeg();
    const start = new Date(Math.floor((Date.now() - 30 * 60_000) / 1000) * 1000);
    const siteDir = path.join(dir, 'site');
    await generateSampleSite({
      folder: siteDir,
      ffmpegPath: ffmpeg,
      start,
      durationMinutes: 1,
      segmentMinutes: 0.5,
      cameras: [CAMERAS.lobby, CAMERAS.parkingNorth],
      width: 160,
      height: 90,
    });
    const client = new ServiceClient(svc.connection, systemClock);
    const tenant = emulator.tenantId;
    const agent = `${emulator.urls.agentService}/tenant/${tenant}`;
    return {
      dir,
      siteDir,
      ffmpeg,
      emulator,
      client,
      connectionFile: emulator.connectionFilePath,
      start,
      at: (seconds) => new Date(start.getTime() + seconds * 1000).toISOString(),
      fileRequest: (body) => client.ok<ServiceVideoRequest>('POST', `${emulator.urls.admin}/tenant/${tenant}/requests`, body),
      serviceRequest: (id) => client.ok<ServiceVideoRequest>('GET', `${agent}/requests/${id}`),
      registryIds: async () => (await client.ok<{ id: string }[]>('GET', emulator.urls.registry)).map((c) => c.id).sort(),
      fileThumbnail: (cameraId) => client.ok<AgentJob>('POST', `${emulator.urls.admin}/tenant/${tenant}/jobs/thumbnail`, { cameraId }),
      job: (jobId) => client.ok<AgentJob>('GET', `${agent}/jobs/${jobId}`),
      evidenceHashes: async (evidenceId) => {
        const ds = `${emulator.urls.documentStore}/tenant/${tenant}/evidence/${evidenceId}/resource`;
        const resources = await client.ok<Resource[]>('GET', ds);
        const out = new Map<string, string>();
        for (const r of resources) {
          if (r.State !== 'Complete') continue;
          const res = await fetch(`${ds}/${r.ResourceId}/content`, { headers: { authorization: `Bearer ${client.token}` } });
          if (res.status !== 200) throw new Error(`content of ${r.Name}: ${res.status} ${await res.text()}`);
          out.set(r.Name, createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex'));
        }
        return out;
      },
      stop: () => svc.stop(),
    };
  } catch (error) {
    await svc.stop();
    throw error;
  }
}

/**
 * The options the role tests open a Role with: state in the world's folder,
 * throttling off, quick polls and retries, short export parts.
 */
export function testRoleOptions(world: World): RoleOptions {
  const stateDir = path.join(world.dir, 'state');
  const properties: RoleProperties = {
    pollingIntervalSeconds: 30,
    archiveDestinationFolder: path.join(world.dir, 'archive'),
    proxy: { enabled: false, host: '', port: 8080, username: '' },
    throttlingEnabled: false,
    maximumBandwidthMbps: 10,
  };
  return {
    stateDir,
    site: new LocalFolderSite(world.siteDir, world.ffmpeg),
    secrets: new FileSecretStore(path.join(stateDir, 'secrets.json')),
    properties,
    lockFile: path.join(world.siteDir, '.clearance-role.lock'),
    pollIntervalMs: 200,
    maxExportPartMs: 10_000,
    // Quick retries, so that a poll against a failing service fails fast.
    http: { retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 50 } },
  };
}
