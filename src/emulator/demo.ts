// The demo requester: files a realistic video request every N seconds for
// cameras of the registry, as an investigator would.
import type { AgentService } from './agentService';

const COMMENTS = [
  'Shoplifting reported at the main entrance; please export the footage around the incident.',
  'Vehicle collision in the parking lot, need both approaches.',
  'Assault reported by staff near the loading dock.',
  'Suspicious package left unattended; looking for who dropped it.',
  'Break-in attempt on the rear door overnight.',
  'Lost child reunited; confirm which exit they used.',
];

export class DemoRequester {
  private timer: NodeJS.Timeout | undefined;
  private warned = false;

  constructor(
    private readonly agents: AgentService,
    private readonly tenantId: string,
    private readonly everySeconds: number,
    private readonly log: (m: string) => void,
    private readonly random: () => number = Math.random,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.fileOne(), this.everySeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Files one request; answers false when the registry is still empty. */
  async fileOne(now = new Date()): Promise<boolean> {
    const cameras = this.agents.registry(this.tenantId);
    if (cameras.length === 0) {
      if (!this.warned) this.log('demo: the registry has no cameras yet; waiting for a discovery result');
      this.warned = true;
      return false;
    }
    const pick = [...cameras].sort(() => this.random() - 0.5).slice(0, 1 + Math.floor(this.random() * Math.min(3, cameras.length)));
    const incident = new Date(now.getTime() - (5 + Math.floor(this.random() * 115)) * 60000);
    incident.setUTCSeconds(0, 0);
    const before = (2 + Math.floor(this.random() * 8)) * 60000;
    const after = (2 + Math.floor(this.random() * 13)) * 60000;
    try {
      await this.agents.fileRequest(this.tenantId, {
        cameras: pick.map((c) => c.id),
        fromUtc: new Date(incident.getTime() - before).toISOString(),
        toUtc: new Date(incident.getTime() + after).toISOString(),
        incidentTimeUtc: incident.toISOString(),
        comments: COMMENTS[Math.floor(this.random() * COMMENTS.length)],
        requester: 'investigator@clearance.local',
      });
      return true;
    } catch (err) {
      this.log(`demo: could not file a request: ${(err as Error).message}`);
      return false;
    }
  }
}
