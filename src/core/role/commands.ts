// The one command surface of the role: every command a console, a webview, the
// control socket or the CLI may send, with the access it needs, the schema of its
// arguments and (by inference) its result. `RoleCommands.execute` is the only way
// in: it checks the session, then the privilege, then the arguments, and only
// then runs the command. Three commands need no session: what a sign-in box needs.
import { z } from 'zod';
import { ACTIVITY_SORT_KEYS, MAX_SEARCH_LIMIT } from '../audit/activitySearch';
import { ACTIVITY_TYPES } from '../audit/activityTrail';
import type { SessionInfo, SiteSessions } from '../auth/siteSessions';
import { ValidationError, type FieldIssue } from '../config/fieldErrors';
import { fieldPath } from '../config/schema';
import { PrivilegeDenied, ROLE_ACTIONS, type RoleAction } from '../config/privileges';
import type { SiteUser } from '../site/model';
import type { Role } from './role';
import type { RoleSnapshot } from './snapshot';

/** What the process hosting the role offers beyond the role itself (the runner). */
export interface RoleHost {
  /** Stops the role process cleanly (after the reply has gone out). */
  stop(by: string): Promise<void>;
  /** The newest lines of the role's log. */
  logTail(lines: number): Promise<string[]>;
}

/** A role opened without a runner (a CLI call, a test): nothing to stop, no log of its own. */
export const NO_HOST: RoleHost = {
  stop: async () => {
    throw new ValidationError('The stop command', [{ field: 'command', message: 'this role runs inside the command that opened it: it stops when that command ends' }]);
  },
  logTail: async () => [],
};

export interface CommandContext {
  role: Role;
  sessions: SiteSessions;
  host: RoleHost;
  /** Who asked ("vscode", "cli"...). */
  client: string;
  /** The signed-in user, for every command but the public ones. */
  caller?: { user: SiteUser; session: SessionInfo; token: string };
}

/** public: no session; signedIn: any signed-in user; otherwise the role action whose privilege it needs. */
export type CommandAccess = 'public' | 'signedIn' | RoleAction;

interface CommandSpec<S extends z.ZodType, R> {
  access: CommandAccess;
  args: S;
  run(ctx: CommandContext, args: z.output<S>): Promise<R>;
}

function command<S extends z.ZodType, R>(spec: CommandSpec<S, R>): CommandSpec<S, R> {
  return spec;
}

const none = z.object({}).strict();
const id = (what: string) => z.string({ error: `must be the ${what} (text)` }).trim().min(1, `choose a ${what}`).max(200, 'must be at most 200 characters');
const text = (max: number) => z.string({ error: 'must be text' }).max(max, `must be at most ${max} characters`);
const instant = z.string({ error: 'must be a date and time (ISO 8601)' }).max(64, 'must be a date and time (ISO 8601)');
const selectionEntry = z.object({ kind: z.enum(['camera', 'area', 'federation'], { error: 'must be camera, area or federation' }), id: id('camera, area or federation') }).strict();
const caseTarget = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('none') }).strict(),
    z.object({ kind: z.literal('existing'), caseId: id('case') }).strict(),
    z
      .object({
        kind: z.literal('new'),
        name: text(200).trim().min(1, 'name the new case'),
        departmentId: id('department').optional(),
        categoryId: id('category').optional(),
        description: text(2000).optional(),
      })
      .strict(),
  ], { error: 'must be { kind: "none" | "existing" | "new", … }' })
  .optional();
const evidenceText = { name: text(200).optional(), description: text(2000).optional(), caseTarget };
const activityQuery = z
  .object({
    from: instant.optional(),
    to: instant.optional(),
    types: z.array(z.enum(ACTIVITY_TYPES, { error: `must be one of ${ACTIVITY_TYPES.join(', ')}` })).max(ACTIVITY_TYPES.length).optional(),
    user: text(200).optional(),
    camera: text(200).optional(),
  })
  .strict();
const activitySearch = activityQuery
  .extend({
    text: text(200).optional(),
    sort: z
      .object({
        by: z.enum(ACTIVITY_SORT_KEYS, { error: `must be one of ${ACTIVITY_SORT_KEYS.join(', ')}` }),
        direction: z.enum(['asc', 'desc'], { error: 'must be asc or desc' }),
      }, { error: 'must be { by, direction }' })
      .strict()
      .optional(),
    offset: z.number({ error: 'must be a whole number, 0 or more' }).int('must be a whole number, 0 or more').min(0, 'must be a whole number, 0 or more').optional(),
    limit: z.number({ error: `must be a whole number from 1 to ${MAX_SEARCH_LIMIT}` }).int(`must be a whole number from 1 to ${MAX_SEARCH_LIMIT}`).min(1, `must be a whole number from 1 to ${MAX_SEARCH_LIMIT}`).max(MAX_SEARCH_LIMIT, `must be a whole number from 1 to ${MAX_SEARCH_LIMIT}`).optional(),
  })
  .strict();
const dailyQuery = z
  .object({
    from: instant.optional(),
    to: instant.optional(),
    offsetMinutes: z.number({ error: 'must be minutes east of UTC, from -840 to 840' }).int('must be minutes east of UTC, from -840 to 840').min(-840, 'must be minutes east of UTC, from -840 to 840').max(840, 'must be minutes east of UTC, from -840 to 840').optional(),
  })
  .strict();

export const ROLE_COMMANDS = {
  // -- what a sign-in box needs (no session) ---------------------------------
  'role.state': command({
    access: 'public',
    args: none,
    run: async ({ role }) => role.read.publicState(),
  }),
  'site.userNames': command({
    access: 'public',
    args: none,
    run: async ({ role }) => role.read.siteUserNames(),
  }),
  'session.signIn': command({
    access: 'public',
    args: z.union(
      [
        z.object({ user: text(200).min(1, 'name the site user'), password: z.string({ error: 'must be text' }).max(1024, 'must be at most 1024 characters') }).strict(),
        z.object({ ticket: z.string({ error: 'must be text' }).min(1).max(256) }).strict(),
      ],
      { error: 'give { user, password } or { ticket }' },
    ),
    run: async ({ sessions, client, role }, a) => {
      const signed = 'ticket' in a ? await sessions.signInWithTicket(a.ticket, client) : await sessions.signIn(a.user, a.password, client);
      return { ...signed, view: await role.viewFor(signed.userId) };
    },
  }),

  // -- the signed-in user ------------------------------------------------------
  'session.signOut': command({
    access: 'signedIn',
    args: none,
    run: async ({ sessions, caller }) => {
      await sessions.signOut(caller!.token);
      return { signedOut: true };
    },
  }),
  'session.whoami': command({
    access: 'signedIn',
    args: none,
    run: async ({ role, caller }) => ({ session: caller!.session, view: await role.viewFor(caller!.user.id) }),
  }),
  'session.changePassword': command({
    access: 'signedIn',
    args: z.object({ current: z.string({ error: 'must be text' }).max(1024), next: z.string({ error: 'must be text' }).max(1024, 'must be at most 1024 characters') }).strict(),
    run: async ({ sessions, caller }, a) => {
      await sessions.changeOwnPassword(caller!.user, a.current, a.next);
      return { changed: true };
    },
  }),
  'role.snapshot': command({
    access: 'signedIn',
    args: z.object({ recent: z.number().int().min(0).max(500).optional() }).strict(),
    run: async ({ role, caller }, a) => visibleSnapshot(await role.snapshot(a.recent ?? 50), caller!.user),
  }),

  // -- site users (View plugin configuration) -----------------------------------
  'users.list': command({
    access: 'viewConfiguration',
    args: none,
    run: async ({ role, sessions }) =>
      Promise.all((await role.read.siteUsers()).map(async (u) => ({ ...u, hasPassword: await role.read.hasPassword(u.id), ...(await sessions.lockout(u.name)) }))),
  }),
  'users.setPassword': command({
    access: 'changeConfiguration',
    args: z.object({ user: id('site user'), password: z.string({ error: 'must be text' }).max(1024, 'must be at most 1024 characters') }).strict(),
    run: async ({ role, sessions, caller }, a) => {
      await sessions.setPassword(caller!.user.name, await role.read.siteUser(a.user), a.password);
      return { set: true };
    },
  }),
  'users.clearLockout': command({
    access: 'changeConfiguration',
    args: z.object({ user: id('site user') }).strict(),
    run: async ({ role, sessions, caller }, a) => {
      // Failures are kept by the name that was typed, which may be no user's.
      const user = await role.read.siteUser(a.user).catch(() => undefined);
      return { cleared: await sessions.clearLockout(caller!.user.name, user?.name ?? a.user) };
    },
  }),

  // -- the role process --------------------------------------------------------
  'role.start': command({
    access: 'changeConfiguration',
    args: none,
    run: async ({ role }) => {
      await role.start();
      return role.read.publicState();
    },
  }),
  'role.stop': command({
    access: 'changeConfiguration',
    args: none,
    run: async ({ host, caller }) => {
      await host.stop(caller!.user.name);
      return { stopping: true };
    },
  }),
  'log.tail': command({
    access: 'viewConfiguration',
    args: z.object({ lines: z.number().int().min(1).max(5000).optional() }).strict(),
    run: async ({ host }, a) => ({ lines: await host.logTail(a.lines ?? 200) }),
  }),

  // -- account and properties ----------------------------------------------------
  'account.show': command({
    access: 'viewConfiguration',
    args: none,
    run: async ({ role }) => ({ account: (await role.read.account()) ?? null }),
  }),
  'account.import': command({
    access: 'changeConfiguration',
    args: z.object({ text: z.string({ error: 'must be the text of the connection file' }).max(1024 * 1024, 'a connection file is at most 1 MiB'), source: text(500).optional() }).strict(),
    run: async ({ role, caller }, a) => {
      const result = await role.importConnectionFile(caller!.user.id, a.text, a.source);
      // Refused as a validation error, so that a form marks each field of the file.
      if (!result.ok) throw new ValidationError(`The connection file${a.source ? ` ${a.source}` : ''}`, result.errors);
      return result;
    },
  }),
  'account.disconnect': command({
    access: 'changeConfiguration',
    args: none,
    run: async ({ role, caller }) => {
      await role.disconnectAccount(caller!.user.id);
      return { disconnected: true };
    },
  }),
  'properties.get': command({
    access: 'viewConfiguration',
    args: none,
    run: async ({ role }) => ({ properties: role.properties, proxyPasswordSet: await role.read.hasProxyPassword() }),
  }),
  'properties.set': command({
    access: 'changeConfiguration',
    // The role validates the merged properties, naming every bad field.
    args: z.object({ changes: z.record(z.string(), z.unknown(), { error: 'must be an object of property changes' }) }).strict(),
    run: async ({ role, caller }, a) => role.setProperties(caller!.user.id, a.changes),
  }),
  'properties.setProxyPassword': command({
    access: 'changeConfiguration',
    args: z.object({ password: z.string({ error: 'must be text' }).max(1024).nullable() }).strict(),
    run: async ({ role, caller }, a) => {
      await role.setProxyPassword(caller!.user.id, a.password ?? undefined);
      return { proxyPasswordSet: a.password !== null };
    },
  }),
  'notifications.get': command({
    access: 'viewConfiguration',
    args: none,
    run: async ({ role }) => ({ userIds: role.read.notificationUserIds() }),
  }),
  'notifications.set': command({
    access: 'changeConfiguration',
    args: z.object({ users: z.array(id('site user')).max(1000) }).strict(),
    run: async ({ role, caller }, a) => ({ userIds: await role.setNotificationUsers(caller!.user.id, a.users) }),
  }),

  // -- cameras and the registry --------------------------------------------------
  'site.cameras': command({
    access: 'viewCameraSelection',
    args: none,
    run: async ({ role }) => role.read.cameraModel(),
  }),
  'registry.get': command({
    access: 'viewCameraSelection',
    args: none,
    run: async ({ role }) => role.read.registrySnapshot(),
  }),
  'selection.add': command({
    access: 'changeCameraSelection',
    args: selectionEntry,
    run: async ({ role, caller }, a) => {
      await role.addToSelection(caller!.user.id, await role.read.resolveSelectionEntry(a.kind, a.id));
      return role.read.registrySnapshot();
    },
  }),
  'selection.remove': command({
    access: 'changeCameraSelection',
    args: selectionEntry,
    run: async ({ role, caller }, a) => {
      await role.removeFromSelection(caller!.user.id, await role.read.resolveSelectionEntry(a.kind, a.id));
      return role.read.registrySnapshot();
    },
  }),

  // -- video requests -----------------------------------------------------------
  'requests.list': command({
    access: 'viewRequests',
    args: none,
    run: async ({ role }) => role.read.listRequests(),
  }),
  'requests.get': command({
    access: 'viewRequests',
    args: z.object({ request: id('video request') }).strict(),
    run: async ({ role }, a) => role.read.requestDetails(role.read.resolveRequest(a.request)),
  }),
  'requests.poll': command({
    access: 'viewRequests',
    args: none,
    run: async ({ role, caller }) => {
      await role.pollNow(caller!.user.id);
      return { polled: true };
    },
  }),
  'requests.approve': command({
    access: 'decideRequest',
    args: z.object({ request: id('video request'), wait: z.boolean().optional() }).strict(),
    run: async ({ role, caller }, a) => {
      const requestId = role.read.resolveRequest(a.request);
      const approved = await role.approveRequest(caller!.user.id, requestId);
      return a.wait ? role.whenRequestSettled(requestId) : approved;
    },
  }),
  'requests.deny': command({
    access: 'decideRequest',
    args: z.object({ request: id('video request'), reason: text(1000).trim().min(1, 'tell the requester why') }).strict(),
    run: async ({ role, caller }, a) => role.denyRequest(caller!.user.id, role.read.resolveRequest(a.request), a.reason),
  }),
  'requests.reviewClip': command({
    access: 'viewRequests',
    args: z.object({ request: id('video request'), camera: id('camera') }).strict(),
    run: async ({ role, caller }, a) => role.reviewRequestClip(caller!.user.id, role.read.resolveRequest(a.request), a.camera),
  }),
  'requests.videoUnavailable': command({
    access: 'decideRequest',
    // No reason (or a blank one): every camera and the requester read the default.
    args: z.object({ request: id('video request'), reason: text(1000).trim().optional() }).strict(),
    run: async ({ role, caller }, a) => role.markVideoUnavailable(caller!.user.id, role.read.resolveRequest(a.request), a.reason || undefined),
  }),

  // -- operator export and uploads -----------------------------------------------
  'export.video': command({
    access: 'sendEvidence',
    args: z.object({ cameras: z.array(id('camera')).min(1, 'choose at least one camera').max(100), from: instant, to: instant, wait: z.boolean().optional(), ...evidenceText }).strict(),
    run: async ({ role, caller }, a) => {
      const job = await role.exportVideo(caller!.user.id, { cameras: a.cameras, from: a.from, to: a.to, ...optionalEvidence(a) });
      return a.wait ? role.read.whenUploadSettled(job.id) : job;
    },
  }),
  'export.snapshot': command({
    access: 'sendSnapshot',
    args: z.object({ cameras: z.array(id('camera')).min(1, 'choose at least one camera').max(100), at: instant, wait: z.boolean().optional(), ...evidenceText }).strict(),
    run: async ({ role, caller }, a) => {
      const job = await role.sendSnapshot(caller!.user.id, { camera: a.cameras, at: a.at, ...optionalEvidence(a) });
      return a.wait ? role.read.whenUploadSettled(job.id) : job;
    },
  }),
  'uploads.list': command({
    access: 'sendEvidence',
    args: none,
    run: async ({ role }) => role.read.listUploads(),
  }),
  'uploads.pause': uploadAction((role, user, jobId) => role.pauseUpload(user, jobId)),
  'uploads.resume': uploadAction((role, user, jobId) => role.resumeUpload(user, jobId)),
  'uploads.pauseAll': command({
    access: 'sendEvidence',
    args: none,
    run: async ({ role, caller }) => ({ paused: await role.pauseAllUploads(caller!.user.id) }),
  }),
  'uploads.resumeAll': command({
    access: 'sendEvidence',
    args: none,
    run: async ({ role, caller }) => ({ resumed: await role.resumeAllUploads(caller!.user.id) }),
  }),
  'uploads.retry': uploadAction((role, user, jobId) => role.retryUpload(user, jobId)),
  'uploads.cancel': uploadAction((role, user, jobId) => role.cancelUpload(user, jobId)),
  'uploads.clearFinished': command({
    access: 'sendEvidence',
    args: none,
    run: async ({ role, caller }) => ({ cleared: await role.clearFinishedUploads(caller!.user.id) }),
  }),
  'cases.departments': command({
    access: 'sendEvidence',
    args: none,
    run: async ({ role }) => role.read.departments(),
  }),
  'cases.categories': command({
    access: 'sendEvidence',
    args: none,
    run: async ({ role }) => role.read.categories(),
  }),
  'cases.list': command({
    access: 'sendEvidence',
    args: none,
    run: async ({ role }) => role.read.cases(),
  }),

  // -- the activity trail ---------------------------------------------------------
  'activities.page': command({
    access: 'viewConfiguration',
    args: z.object({ before: z.number().int().min(1).optional(), limit: z.number().int().min(1).max(1000).optional() }).strict(),
    run: async ({ role, caller }, a) => role.activityPage(caller!.user.id, a.before, a.limit ?? 100),
  }),
  'activities.query': command({
    access: 'viewConfiguration',
    args: activityQuery,
    run: async ({ role, caller }, a) => role.queryActivities(caller!.user.id, toQuery(a)),
  }),
  'activities.csv': command({
    access: 'viewConfiguration',
    args: activityQuery,
    run: async ({ role, caller }, a) => ({ csv: await role.exportActivitiesCsv(caller!.user.id, toQuery(a)) }),
  }),
  'activities.verify': command({
    access: 'viewConfiguration',
    args: none,
    run: async ({ role, caller }) => role.verifyTrail(caller!.user.id),
  }),
  'activities.search': command({
    access: 'viewConfiguration',
    args: activitySearch,
    run: async ({ role, caller }, a) =>
      role.searchActivities(caller!.user.id, {
        ...toQuery(a),
        ...(a.text ? { text: a.text } : {}),
        ...(a.sort ? { sort: a.sort } : {}),
        ...(a.offset !== undefined ? { offset: a.offset } : {}),
        ...(a.limit !== undefined ? { limit: a.limit } : {}),
      }),
  }),
  'activities.daily': command({
    access: 'viewConfiguration',
    args: dailyQuery,
    run: async ({ role, caller }, a) => {
      const { from, to } = toQuery(a);
      try {
        return await role.dailyUploads(caller!.user.id, { ...(from ? { from } : {}), ...(to ? { to } : {}), ...(a.offsetMinutes !== undefined ? { offsetMinutes: a.offsetMinutes } : {}) });
      } catch (error) {
        if (error instanceof RangeError) throw new ValidationError('The daily uploads', [{ field: 'from', message: error.message }]);
        throw error;
      }
    },
  }),

  // -- chain of custody -------------------------------------------------------------
  'custody.report': command({
    access: 'viewConfiguration',
    args: z.union([z.object({ request: id('video request') }).strict(), z.object({ evidence: id('evidence item') }).strict()], { error: 'give { request } or { evidence }' }),
    run: async ({ role, caller }, a) =>
      role.custodyReport(caller!.user.id, 'request' in a ? { kind: 'request', requestId: role.read.resolveRequest(a.request) } : { kind: 'evidence', evidenceId: a.evidence }),
  }),
} as const;

export type RoleCommandName = keyof typeof ROLE_COMMANDS;
export type RoleCommandArgs<N extends RoleCommandName> = z.input<(typeof ROLE_COMMANDS)[N]['args']>;
export type RoleCommandResult<N extends RoleCommandName> = Awaited<ReturnType<(typeof ROLE_COMMANDS)[N]['run']>>;
export const ROLE_COMMAND_NAMES = Object.keys(ROLE_COMMANDS) as RoleCommandName[];

/** The access each command needs, for docs and for a UI that hides what a user may not do. */
export function commandAccess(name: RoleCommandName): CommandAccess {
  return ROLE_COMMANDS[name].access;
}

/** The only way into the role: session, then privilege, then arguments. */
export class RoleCommands {
  constructor(
    private readonly role: Role,
    private readonly sessions: SiteSessions,
    private readonly host: RoleHost,
  ) {}

  async execute(name: string, args: unknown, token: string | undefined, client: string): Promise<unknown> {
    if (!Object.hasOwn(ROLE_COMMANDS, name)) {
      throw new UnknownCommand(name);
    }
    const spec = ROLE_COMMANDS[name as RoleCommandName] as CommandSpec<z.ZodType, unknown>;
    const ctx: CommandContext = { role: this.role, sessions: this.sessions, host: this.host, client: client.slice(0, 64) };
    if (spec.access !== 'public') {
      const checked = await this.sessions.check(token, name);
      if (spec.access !== 'signedIn' && !checked.user.privileges.includes(ROLE_ACTIONS[spec.access])) {
        const denied = new PrivilegeDenied(checked.user.name, spec.access, ROLE_ACTIONS[spec.access]);
        await this.role.recordRefusal(checked.user.name, name, denied.message);
        throw denied;
      }
      ctx.caller = { ...checked, token: token! };
    }
    const parsed = spec.args.safeParse(args ?? {});
    if (!parsed.success) throw new ValidationError(`The ${name} command`, zodIssues(parsed.error));
    return spec.run(ctx, parsed.data);
  }
}

export class UnknownCommand extends Error {
  readonly code = 'UnknownCommand';
  constructor(readonly command: string) {
    super(`The role has no command ${JSON.stringify(command.slice(0, 100))}; it knows ${ROLE_COMMAND_NAMES.join(', ')}.`);
    this.name = 'UnknownCommand';
  }
}

/** zod's issues as our field issues (`cameras[0]`, `caseTarget.name`), the first one of each field. */
export function zodIssues(error: z.ZodError): FieldIssue[] {
  const seen = new Set<string>();
  // zod runs length checks even on a value of the wrong type (an array for a string): one message a field.
  return error.issues.map((issue) => {
    const field = fieldPath(issue.path);
    const message = issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}` : issue.message;
    return { field: field || '(arguments)', message };
  }).filter((i) => !seen.has(i.field) && seen.add(i.field));
}

function uploadAction(act: (role: Role, user: string, jobId: string) => Promise<void>) {
  return command({
    access: 'sendEvidence',
    args: z.object({ id: id('upload') }).strict(),
    run: async ({ role, caller }, a) => {
      await act(role, caller!.user.id, a.id);
      return role.upload(a.id) ?? null;
    },
  });
}

function optionalEvidence(a: { name?: string | undefined; description?: string | undefined; caseTarget?: z.output<typeof caseTarget> }) {
  return {
    ...(a.name ? { name: a.name } : {}),
    ...(a.description ? { description: a.description } : {}),
    ...(a.caseTarget ? { caseTarget: a.caseTarget } : {}),
  };
}

function toQuery(a: Partial<Pick<z.output<typeof activityQuery>, 'from' | 'to' | 'types' | 'user' | 'camera'>>) {
  const date = (field: 'from' | 'to'): Date | undefined => {
    const v = a[field];
    if (v === undefined) return undefined;
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw new ValidationError('The activity query', [{ field, message: 'must be a date and time (ISO 8601)' }]);
    return d;
  };
  const from = date('from');
  const to = date('to');
  return { ...(from ? { from } : {}), ...(to ? { to } : {}), ...(a.types ? { types: a.types } : {}), ...(a.user ? { user: a.user } : {}), ...(a.camera ? { camera: a.camera } : {}) };
}

/** The parts of the snapshot a user may see: each section needs the privilege its commands need. */
function visibleSnapshot(s: RoleSnapshot, user: SiteUser): Partial<RoleSnapshot> & Pick<RoleSnapshot, 'status' | 'site' | 'connection'> {
  const may = (action: RoleAction): boolean => user.privileges.includes(ROLE_ACTIONS[action]);
  return {
    status: s.status,
    site: s.site,
    connection: s.connection,
    ...(s.account ? { account: s.account } : {}),
    privileges: s.privileges,
    ...(may('viewCameraSelection') ? { registry: s.registry } : {}),
    ...(may('viewRequests') ? { requests: s.requests } : {}),
    ...(may('sendEvidence') || may('viewRequests') ? { uploads: s.uploads } : {}),
    ...(may('viewConfiguration') ? { properties: s.properties, notificationUserIds: s.notificationUserIds, activities: s.activities } : {}),
  };
}


