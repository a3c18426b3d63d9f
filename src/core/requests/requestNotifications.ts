// Request notifications (plugin guide, docs/clearance-api.md §1.5): the site users told when a new video
// request arrives. Only users who may see requests can be chosen, and one who
// loses that privilege later is no longer notified.
import type Keyv from 'keyv';
import type { FieldIssue } from '../config/fieldErrors';
import { ValidationError } from '../config/fieldErrors';
import { findSiteUser } from '../config/privileges';
import type { Site, SiteUser } from '../site/model';

const KEY = 'requests.notificationUsers';

export class RequestNotifications {
  private constructor(
    private readonly state: Keyv,
    private readonly site: Site,
    private ids: string[],
  ) {}

  static async open(state: Keyv, site: Site): Promise<RequestNotifications> {
    const value = (await state.get(KEY)) as unknown;
    const ids = Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
    return new RequestNotifications(state, site, ids);
  }

  /** The chosen user ids, as stored. */
  get userIds(): readonly string[] {
    return this.ids;
  }

  /**
   * Replaces the list (ids or login names). Every user must exist and hold
   * "View request notifications"; otherwise nothing changes and every problem is named.
   */
  async set(users: readonly string[]): Promise<{ before: string[]; after: string[] }> {
    const issues: FieldIssue[] = [];
    const resolved: string[] = [];
    for (const [i, u] of users.entries()) {
      const user = typeof u === 'string' ? await findSiteUser(this.site, u) : undefined;
      if (!user) issues.push({ field: `users[${i}]`, message: `no site user ${JSON.stringify(u)}` });
      else if (!user.privileges.includes('viewRequestNotifications')) {
        issues.push({ field: `users[${i}]`, message: `${user.name} lacks the privilege "View request notifications"` });
      } else if (!resolved.includes(user.id)) resolved.push(user.id);
    }
    if (issues.length > 0) throw new ValidationError('The request notification list', issues);
    const before = this.ids;
    if (!(await this.state.set(KEY, resolved))) throw new Error('Could not save the request notification list.');
    this.ids = resolved;
    return { before, after: resolved };
  }

  /** Who to tell now: chosen users who still exist and still hold the privilege. */
  async recipients(): Promise<SiteUser[]> {
    const out: SiteUser[] = [];
    for (const id of this.ids) {
      const user = await this.site.getUser(id);
      if (user?.privileges.includes('viewRequestNotifications')) out.push(user);
    }
    return out;
  }
}
