// The console's panels and what each may ask of the host. A handler calls the
// role through the window's connection (the role checks the session and the
// privilege of every call) or opens a VS Code dialog; nothing else is reachable
// from a webview.
import * as vscode from 'vscode';
import {
  ACTIVITY_TYPES,
  formatLocal,
  machineOffsetMinutes,
  parseOperatorTime,
  ROLE_PROPERTY_LIMITS,
  type ActivityRecord,
  type FieldIssue,
  type RoleConnection,
  type StatePart,
  type TrailVerification,
  ValidationError,
} from '../../core';
import type {
  ActivitiesSetup,
  ActivityFilter,
  ActivityPage,
  ActivitySearch,
  ApplyPropertiesResult,
  DailyUploads,
  NotificationsView,
  PanelKind,
  PropertiesView,
} from '../../../webview/shared/protocol';
import { requestSpec } from './requestPanel';
import { PanelRegistry, type ConsolePanel, type PanelSpec } from './panelHost';

export { panelCsp, panelHtml, ConsolePanel, PanelRegistry } from './panelHost';

export interface PanelDeps {
  extensionUri: vscode.Uri;
  output: vscode.LogOutputChannel;
  /** The connection of a signed-in user, or a refusal saying what is missing. */
  signedIn(): Promise<RoleConnection>;
  /** The connection as it is (for updates), if any, and when the window moves to another one. */
  connection(): RoleConnection | undefined;
  onDidChangeConnection: vscode.Event<RoleConnection | undefined>;
  /** Where the site's role keeps review clips (its default state folder), if a site is set. */
  reviewFolder(): vscode.Uri | undefined;
}

async function propertiesView(c: RoleConnection): Promise<PropertiesView> {
  const [props, account] = await Promise.all([
    c.request<{ properties: PropertiesView['properties']; proxyPasswordSet: boolean }>('properties.get'),
    c.request<{ account: { accountId: string; integrationName: string } | null }>('account.show'),
  ]);
  return {
    properties: props.properties,
    proxyPasswordSet: props.proxyPasswordSet,
    account: account.account ? { accountId: account.account.accountId, integrationName: account.account.integrationName } : null,
    mayChange: c.user?.actions.includes('changeConfiguration') ?? false,
    limits: ROLE_PROPERTY_LIMITS,
  };
}

async function notificationsView(c: RoleConnection): Promise<NotificationsView> {
  const [users, notified] = await Promise.all([
    c.request<{ id: string; name: string; displayName: string }[]>('users.list'),
    c.request<{ userIds: string[] }>('notifications.get'),
  ]);
  const on = new Set(notified.userIds);
  return {
    users: users.map((u) => ({ id: u.id, name: u.name, displayName: u.displayName, notified: on.has(u.id) })),
    mayChange: c.user?.actions.includes('changeConfiguration') ?? false,
  };
}

function propertiesSpec(deps: PanelDeps): PanelSpec {
  return {
    kind: 'properties',
    title: 'Clearance Role Properties',
    script: 'properties',
    handlers: {
      load: async () => propertiesView(await deps.signedIn()),
      apply: async (args) => {
        const c = await deps.signedIn();
        const a = (args ?? {}) as { changes?: unknown; proxyPassword?: unknown };
        const changes = typeof a.changes === 'object' && a.changes !== null ? a.changes : {};
        const result: ApplyPropertiesResult = Object.keys(changes).length ? await c.request<ApplyPropertiesResult>('properties.set', { changes }) : { changed: [], warnings: [] };
        if (a.proxyPassword !== undefined) {
          // Straight to the role's secret store; the reply says only that it changed.
          await c.request('properties.setProxyPassword', { password: a.proxyPassword });
          result.changed = [...result.changed, a.proxyPassword === null ? 'proxy password removed' : 'proxy password'];
        }
        return { ...result, view: await propertiesView(c) };
      },
      browseFolder: async (args) => {
        const currentFolder = (args as { current?: unknown } | undefined)?.current;
        const picked = await vscode.window.showOpenDialog({
          title: 'Archive destination folder',
          canSelectFiles: false,
          canSelectFolders: true,
          canSelectMany: false,
          openLabel: 'Choose Folder',
          ...(typeof currentFolder === 'string' && currentFolder ? { defaultUri: vscode.Uri.file(currentFolder) } : {}),
        });
        return picked?.[0]?.fsPath ?? null;
      },
      importConnectionFile: async () => {
        const account = await vscode.commands.executeCommand('clearance.importConnectionFile');
        return account ? propertiesView(await deps.signedIn()) : null;
      },
    },
  };
}

function notificationsSpec(deps: PanelDeps): PanelSpec {
  return {
    kind: 'notifications',
    title: 'Clearance Request Notifications',
    script: 'notifications',
    handlers: {
      load: async () => notificationsView(await deps.signedIn()),
      apply: async (args) => {
        const c = await deps.signedIn();
        const users = (args as { users?: unknown } | undefined)?.users;
        await c.request('notifications.set', { users });
        return notificationsView(c);
      },
    },
  };
}

/** The console's offset from UTC now, in minutes east (the report's local times and days). */
const localOffset = (): number => machineOffsetMinutes(new Date());

/** A filter as the operator typed it, as the role takes it; bad times are refused by field. */
function roleFilter(f: ActivityFilter): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const issues: FieldIssue[] = [];
  for (const key of ['from', 'to'] as const) {
    const text = f[key]?.trim();
    if (!text) continue;
    const at = parseOperatorTime(text);
    if (typeof at === 'string') issues.push({ field: key, message: at });
    else out[key] = at.toISOString();
  }
  if (issues.length) throw new ValidationError('The filter', issues);
  for (const key of ['user', 'camera', 'text'] as const) if (f[key]?.trim()) out[key] = f[key]!.trim();
  if (f.types?.length) out.types = f.types;
  return out;
}

function activitiesSpec(deps: PanelDeps): PanelSpec {
  return {
    kind: 'activities',
    title: 'Clearance Activities Report',
    script: 'activities',
    styles: ['uPlot.min.css'],
    handlers: {
      setup: async (): Promise<ActivitiesSetup> => {
        await deps.signedIn();
        return { types: [...ACTIVITY_TYPES], offsetMinutes: localOffset() };
      },
      search: async (args): Promise<ActivityPage> => {
        const c = await deps.signedIn();
        const a = (args ?? {}) as ActivitySearch;
        const page = await c.request<{ total: number; offset: number; records: ActivityRecord[] }>('activities.search', {
          ...roleFilter(a),
          ...(a.sort ? { sort: a.sort } : {}),
          offset: Math.max(0, Math.floor(Number(a.offset) || 0)),
          limit: Math.min(500, Math.max(1, Math.floor(Number(a.limit) || 100))),
        });
        return {
          total: page.total,
          offset: page.offset,
          records: page.records.map((r) => ({
            seq: r.seq,
            time: r.time,
            localTime: formatLocal(r.time),
            type: r.type,
            ...(r.user ? { user: r.user } : {}),
            summary: r.summary,
            ...(r.cameras ? { cameras: r.cameras } : {}),
            ...(r.requestId ? { requestId: r.requestId } : {}),
            ...(r.evidenceId ? { evidenceId: r.evidenceId } : {}),
            hash: r.hash,
          })),
        };
      },
      daily: async (args): Promise<DailyUploads[]> => {
        const c = await deps.signedIn();
        const f = roleFilter((args ?? {}) as ActivityFilter);
        return c.request<DailyUploads[]>('activities.daily', { ...(f.from ? { from: f.from } : {}), ...(f.to ? { to: f.to } : {}), offsetMinutes: localOffset() });
      },
      exportCsv: async (args) => {
        const c = await deps.signedIn();
        const filter = roleFilter((args ?? {}) as ActivityFilter);
        const file = await vscode.window.showSaveDialog({ title: 'Export Activity Trail as CSV', filters: { CSV: ['csv'] }, saveLabel: 'Export' });
        if (!file) return null;
        const { text: _text, ...csvFilter } = filter; // the CSV export takes no text filter
        const { csv } = await c.request<{ csv: string }>('activities.csv', csvFilter);
        await vscode.workspace.fs.writeFile(file, new TextEncoder().encode(csv));
        return file.fsPath;
      },
      verify: async () => (await deps.signedIn()).request<TrailVerification>('activities.verify'),
    },
  };
}

/** Registers the panels, their serializers and the updates they follow; returns the registry. */
export function registerPanels(context: vscode.ExtensionContext, deps: PanelDeps): PanelRegistry {
  const follow = new Map<PanelKind, { dispose(): void }>();
  const registry = new PanelRegistry(
    deps.extensionUri,
    deps.output,
    { properties: () => propertiesSpec(deps), notifications: () => notificationsSpec(deps), activities: () => activitiesSpec(deps), request: () => requestSpec(deps) },
    (kind, panel) => {
      follow.get(kind)?.dispose();
      follow.set(kind, followRole(kind, panel, deps));
      panel.onDidDispose(() => follow.get(kind)?.dispose());
    },
  );
  context.subscriptions.push(registry, { dispose: () => follow.forEach((f) => f.dispose()) });
  return registry;
}

/** The parts of the role's state each panel follows. */
const PANEL_PARTS: Record<PanelKind, readonly StatePart[]> = {
  properties: ['properties', 'account'],
  notifications: ['notificationUsers'],
  activities: ['activities'],
  request: ['requests', 'uploads'],
};

/** Pushes the panel's data again when the role's matching state changes (on whichever connection the window has). */
function followRole(kind: PanelKind, panel: ConsolePanel, deps: PanelDeps): { dispose(): void } {
  const parts: readonly StatePart[] = PANEL_PARTS[kind];
  let subs: { dispose(): void }[] = [];
  const attach = (c: RoleConnection | undefined) => {
    for (const s of subs) s.dispose();
    if (!c) return;
    const push = () => {
      if (c.state !== 'signedIn') return;
      void (kind === 'properties' ? propertiesView(c) : kind === 'notifications' ? notificationsView(c) : Promise.resolve(null)).then(
        (view) => panel.update(kind, view),
        (e: unknown) => deps.output.warn(`${kind} panel: ${(e as Error).message}`),
      );
    };
    // Another user signed in (or the same again): the panel shows what this one may see.
    subs = [c.onDidChange((change) => parts.some((p) => change.parts.has(p)) && push()), c.onDidChangeAttachment((state) => state === 'signedIn' && push())];
  };
  attach(deps.connection());
  const moved = deps.onDidChangeConnection(attach);
  return {
    dispose: () => {
      moved.dispose();
      for (const s of subs) s.dispose();
    },
  };
}
