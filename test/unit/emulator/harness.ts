// Starts the local service on loopback in a temp folder, with a manual clock.
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
  stop(): Promise<void>;
}

export async function startHarness(options: Partial<EmulatorOptions> = {}): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clearance-emulator-'));
  const clock = new ManualClock(new Date());
  const logs: string[] = [];
  const emulator = await startEmulator({ location: dir, clock, log: (l) => logs.push(l), ...options });
  const connection = JSON.parse(fs.readFileSync(emulator.connectionFilePath, 'utf8')) as ConnectionFile;
  return {
    dir,
    clock,
    emulator,
    connection,
    client: new ServiceClient(connection, clock),
    logs,
    stop: async () => {
      await emulator.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
