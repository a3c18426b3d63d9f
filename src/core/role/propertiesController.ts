// The role properties: the ones in force, how a change is checked, saved,
// applied to the parts it concerns (upload throttling, the bandwidth limit, the
// proxy of the HTTP client) and recorded, and the proxy password, which lives
// in the secret store and never in the properties or the trail.
import path from 'node:path';
import type Keyv from 'keyv';
import { ValidationError } from '../config/fieldErrors';
import { PROXY_PASSWORD_SECRET_KEY, prepareArchiveFolder, saveProxyPassword, validateRoleProperties, type RoleProperties } from '../config/roleProperties';
import type { SecretStore } from '../config/secretStore';
import { Emitter } from '../events';
import type { TokenBucket } from '../net/bandwidth';
import type { HttpClient } from '../net/httpClient';
import type { RoleProxy } from '../net/proxy';
import { ROLE_ACTOR } from '../requests/videoRequestDesk';
import type { UploadQueue } from '../uploads/uploadQueue';
import type { ActivityRecorder } from './activityRecorder';

const PROPERTIES_KEY = 'role.properties';
const FIELDS = ['pollingIntervalSeconds', 'archiveDestinationFolder', 'throttlingEnabled', 'maximumBandwidthMbps', 'proxy.enabled', 'proxy.host', 'proxy.port', 'proxy.username'];

export interface PropertiesControllerOptions {
  /** Where the properties last used are kept. */
  state: Keyv;
  secrets: SecretStore;
  http: HttpClient;
  /** Kept across a proxy change of the HTTP client. */
  extraCaFile?: string;
  bucket: TokenBucket;
  uploads: Pick<UploadQueue, 'setThrottling'>;
  recorder: ActivityRecorder;
  log: (line: string) => void;
  /** Overrides the polling interval property (tests and demos). */
  pollIntervalMs?: number;
}

export interface PropertiesChange {
  properties: RoleProperties;
  /** Names of the fields that changed. */
  changed: string[];
}

export class PropertiesController {
  private readonly events = new Emitter<PropertiesChange>();
  /** Fires once a change is applied and recorded. */
  readonly onDidChange = this.events.event;

  constructor(
    private readonly o: PropertiesControllerOptions,
    private props: RoleProperties,
  ) {}

  get current(): RoleProperties {
    return this.props;
  }

  /** The effective polling interval: the property, or the override. */
  get pollIntervalMs(): number {
    return this.o.pollIntervalMs ?? this.props.pollingIntervalSeconds * 1000;
  }

  dispose(): void {
    this.events.dispose();
  }

  /** At open: the first properties are saved; later ones that differ from those saved are applied and recorded. */
  async restore(): Promise<void> {
    const stored = (await this.o.state.get(PROPERTIES_KEY)) as RoleProperties | undefined;
    if (!stored) await this.o.state.set(PROPERTIES_KEY, this.props);
    else {
      const current = this.props;
      this.props = stored;
      await this.apply(current, ROLE_ACTOR);
    }
  }

  /** Changes role properties (a partial set); bad input changes nothing and names every field. */
  async change(who: string, changes: Record<string, unknown>): Promise<{ changed: string[]; warnings: string[] }> {
    const merged = { ...this.props, ...changes, proxy: { ...this.props.proxy, ...(changes.proxy as object | undefined) } };
    const checked = validateRoleProperties(merged);
    if (!checked.ok) throw new ValidationError('The role properties', checked.errors);
    const warnings = checked.warnings.map((w) => `${w.field}: ${w.message}`);
    if (checked.value.archiveDestinationFolder !== this.props.archiveDestinationFolder) {
      const archive = await prepareArchiveFolder(checked.value.archiveDestinationFolder);
      if (!archive.ok) throw new ValidationError('The role properties', archive.errors);
      warnings.push(...archive.warnings.map((w) => `${w.field}: ${w.message}`), 'archiveDestinationFolder: new uploads stage there after the role restarts');
    }
    const changed = await this.apply(checked.value, who);
    return { changed, warnings };
  }

  /** Stored only when it differs from the one kept; answers whether it did. */
  async hasProxyPassword(): Promise<boolean> {
    return (await this.o.secrets.get(PROXY_PASSWORD_SECRET_KEY)) !== undefined;
  }

  async adoptProxyPassword(who: string, password: string): Promise<{ changed: boolean }> {
    if ((await this.o.secrets.get(PROXY_PASSWORD_SECRET_KEY)) === password) return { changed: false };
    await this.setProxyPassword(who, password);
    return { changed: true };
  }

  /** A bad password is refused (field proxy.password) and nothing is stored. */
  async setProxyPassword(who: string, password: string | undefined): Promise<void> {
    if (password !== undefined && typeof password !== 'string') throw new ValidationError('The proxy password', [{ field: 'proxy.password', message: 'must be text' }]);
    const issues = await saveProxyPassword(this.o.secrets, password);
    if (issues.length) throw new ValidationError('The proxy password', issues);
    await this.reconfigureProxy(this.props);
    await this.o.recorder.proxyPasswordChanged(who, Boolean(password));
  }

  /** Applies and records changed properties; answers the names of the fields that changed. */
  private async apply(next: RoleProperties, who: string): Promise<string[]> {
    const before = this.props;
    const changed = FIELDS.filter((f) => readField(before, f) !== readField(next, f));
    if (changed.length === 0) return [];
    if (!(await this.o.state.set(PROPERTIES_KEY, next))) throw new Error('Could not save the role properties.');
    this.props = next;
    // Not awaited: it resolves once the uploads that go back in line have stopped.
    void this.o.uploads.setThrottling(next.throttlingEnabled).catch((e: unknown) => this.o.log(`upload throttling: ${(e as Error).message}`));
    this.o.bucket.setRateMbps(next.maximumBandwidthMbps);
    if (changed.some((f) => f.startsWith('proxy'))) await this.reconfigureProxy(next);
    await this.o.recorder.propertiesChanged(who, changed.map((field) => ({ field, before: readField(before, field), after: readField(next, field) })));
    this.events.fire({ properties: next, changed });
    return changed;
  }

  private async reconfigureProxy(properties: RoleProperties): Promise<void> {
    await this.o.http.reconfigure({ proxy: await proxyOf(properties, this.o.secrets), ...(this.o.extraCaFile ? { extraCaFile: this.o.extraCaFile } : {}) });
  }
}

/** The properties last used with this state, else the defaults with the archive folder in the state folder. */
export async function storedProperties(state: Keyv, stateDir: string): Promise<RoleProperties> {
  const checked = validateRoleProperties((await state.get(PROPERTIES_KEY)) ?? {}, { defaultArchiveFolder: path.join(stateDir, 'archive') });
  if (!checked.ok) throw new ValidationError('The stored role properties', checked.errors);
  return checked.value;
}

export async function proxyOf(properties: RoleProperties, secrets: SecretStore): Promise<RoleProxy | undefined> {
  if (!properties.proxy.enabled) return undefined;
  const password = await secrets.get(PROXY_PASSWORD_SECRET_KEY);
  return { ...properties.proxy, ...(password ? { password } : {}) };
}

function readField(p: RoleProperties, field: string): unknown {
  return field.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], p);
}
