// Starts the local service on loopback in a temp folder, with a manual clock,
// and checks after the run that no Azurite of these tests is left running.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ConnectionFile } from '../../../src/core/clearance/api';
import { ManualClock } from '../../../src/emulator/clock';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../../src/emulator/server';
import { ServiceClient } from './serviceClient';

export interface Harness {
  dir: string;
  clock: ManualClock;
  emulator: RunningEmulator;
  connection: ConnectionFile;
  client: ServiceClient;
  logs: string[];
  /** A client for another integration of the default tenant (or of `tenantId`). */
  integration(name: string, tenantId?: string): Promise<ServiceClient>;
  stop(): Promise<void>;
}

/** Every service folder the tests made: no Azurite may keep running on one. */
const locations: string[] = [];

export function tempLocation(prefix = 'clearance-emulator-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  locations.push(dir);
  return dir;
}

/** Azurite processes whose --location is under one of the tests' folders. */
export function azuritesLeft(): { pid: number; cmdline: string }[] {
  const left: { pid: number; cmdline: string }[] = [];
  for (const p of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    if (cmdline.includes('azurite') && locations.some((l) => cmdline.includes(l))) left.push({ pid: Number(p), cmdline });
  }
  return left;
}

/** Waits until `pid` is gone (true) or `ms` passed (false). */
export async function exited(pid: number, ms = 15000): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Root hook: runs once after every test file of the run.
after(async function () {
  this.timeout(20000);
  const left = azuritesLeft();
  for (const a of left) await exited(a.pid, 10000);
  const still = azuritesLeft();
  for (const a of still) process.kill(a.pid, 'SIGKILL');
  assert.deepEqual(
    still.map((a) => a.cmdline),
    [],
    'an Azurite process outlived its test',
  );
});

export async function startHarness(options: Partial<EmulatorOptions> = {}): Promise<Harness> {
  const dir = tempLocation();
  const clock = new ManualClock(new Date());
  const logs: string[] = [];
  const emulator = await startEmulator({ location: dir, clock, log: (l) => logs.push(l), ...options });
  const connection = JSON.parse(fs.readFileSync(emulator.connectionFilePath, 'utf8')) as ConnectionFile;
  const h: Harness = {
    dir,
    clock,
    emulator,
    connection,
    client: new ServiceClient(connection, clock),
    logs,
    // h.emulator, not emulator: a test may restart the service.
    integration: async (name, tenantId) => new ServiceClient(await h.emulator.createIntegration({ name, tenantId }), clock),
    stop: async () => {
      await h.emulator.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}
