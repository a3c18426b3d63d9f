// The local service for the emulator tests: the shared fixture
// (../fixtures/service.ts) with a manual clock, and a client of the default
// integration on the same clock.
import type { ConnectionFile } from '../../../src/core/clearance/api';
import { ManualClock } from '../../../src/emulator/clock';
import type { EmulatorOptions, RunningEmulator } from '../../../src/emulator/server';
import { startLocalService } from '../fixtures/service';
import { ServiceClient } from './serviceClient';

export { azuritesLeft, exited, tempLocation } from '../fixtures/service';

export interface Harness {
  dir: string;
  clock: ManualClock;
  emulator: RunningEmulator;
  connection: ConnectionFile;
  client: ServiceClient;
  logs: string[];
  /** A client for another integration of the default tenant (or of `tenantId`). */
  integration(name: string, tenantId?: string): Promise<ServiceClient>;
  /** Stops the service and starts it again on the same folder and clock. */
  restart(): Promise<RunningEmulator>;
  stop(): Promise<void>;
}

export async function startHarness(options: Partial<Omit<EmulatorOptions, 'location' | 'log' | 'clock'>> = {}): Promise<Harness> {
  const clock = new ManualClock(new Date());
  const svc = await startLocalService({ prefix: 'clearance-emulator-', ...options, clock });
  const h: Harness = {
    dir: svc.dir,
    clock,
    get emulator() {
      return svc.emulator;
    },
    connection: svc.connection,
    client: new ServiceClient(svc.connection, clock),
    logs: svc.logs,
    // h.emulator, not emulator: a test may restart the service.
    integration: async (name, tenantId) => new ServiceClient(await h.emulator.createIntegration({ name, tenantId }), clock),
    restart: () => svc.restart(),
    stop: () => svc.stop(),
  };
  return h;
}
