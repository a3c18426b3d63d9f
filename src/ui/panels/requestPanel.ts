// The request review panel: one video request as the role holds it (comments,
// cameras, range, case, history, progress, the files sent and their
// verification), its decisions, a review clip of each camera before approving
// (cut by the role, played from the role's review folder through asWebviewUri),
// and its chain-of-custody report saved as HTML and JSON.
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatLocal, percentDone, STATUS_LABELS, type ActivityRecord, type ReviewClip, type RoleConnection, type UploadJobSnapshot, type VideoRequest } from '../../core';
import type { RequestView, ReviewClipView } from '../../../webview/shared/protocol';
import type { PanelDeps } from './index';
import type { PanelSpec } from './panelHost';

const requestIdOf = (args: unknown): string => {
  const id = (args as { requestId?: unknown } | undefined)?.requestId;
  if (typeof id !== 'string' || !id) throw new Error('Which video request? Open one from the Requests view.');
  return id;
};

const reasonOf = (args: unknown): string | undefined => {
  const r = (args as { reason?: unknown } | undefined)?.reason;
  return typeof r === 'string' ? r : undefined;
};

function view(request: VideoRequest & { requester?: string }, history: ActivityRecord[], uploads: UploadJobSnapshot[], actions: readonly string[]): RequestView {
  const pending = request.status === 'Pending';
  return {
    requestId: request.requestId,
    status: request.status,
    statusLabel: STATUS_LABELS[request.status],
    ...(request.requester ? { requester: request.requester } : {}),
    comments: request.comments,
    from: formatLocal(request.fromUtc),
    to: formatLocal(request.toUtc),
    incident: formatLocal(request.incidentTimeUtc),
    received: formatLocal(request.receivedAt),
    fromUtc: request.fromUtc,
    toUtc: request.toUtc,
    caseId: request.caseId,
    ...(request.decidedBy ? { decidedBy: request.decidedBy } : {}),
    ...(request.denyReason ? { denyReason: request.denyReason } : {}),
    ...(request.error ? { error: request.error } : {}),
    ...(request.progress ? { progress: request.progress } : {}),
    cameras: request.cameras.map((c) => {
      const job = c.uploadJobId ? uploads.find((u) => u.id === c.uploadJobId) : undefined;
      const sent = job ? job.parts.reduce((n, p) => n + p.sentBytes, 0) : 0;
      const total = job ? job.parts.reduce((n, p) => n + p.bytes, 0) : 0;
      return {
        id: c.id,
        name: c.name || c.id,
        ...(c.outcome ? { outcome: c.outcome } : {}),
        ...(c.message ? { message: c.message } : {}),
        ...(c.evidenceId ? { evidenceId: c.evidenceId } : {}),
        files: c.files ?? [],
        ...(job ? { upload: { state: job.state, percent: percentDone(sent, total), verified: job.state === 'completed' } } : {}),
      };
    }),
    history: history.map((r) => ({ localTime: formatLocal(r.time), summary: r.summary, ...(r.user ? { user: r.user } : {}) })),
    // The role cuts review clips while the request is open (Pending or Processing), not after.
    may: {
      decide: pending && actions.includes('decideRequest'),
      review: (pending || request.status === 'Processing') && actions.includes('viewRequests'),
      custody: actions.includes('viewConfiguration'),
    },
  };
}

export function requestSpec(deps: PanelDeps): PanelSpec {
  const load = async (requestId: string): Promise<RequestView> => {
    const c = await deps.signedIn();
    const { request, history } = await c.request<{ request: VideoRequest; history: ActivityRecord[] }>('requests.get', { request: requestId });
    const uploads = c.role?.uploads ?? [];
    return view(request, history, uploads, c.user?.actions ?? []);
  };
  const reviewFolder = deps.reviewFolder();
  return {
    kind: 'request',
    title: 'Clearance Video Request',
    script: 'request',
    ...(reviewFolder ? { resourceRoots: [reviewFolder] } : {}),
    handlers: {
      load: async (args) => load(requestIdOf(args)),
      approve: async (args) => {
        const requestId = requestIdOf(args);
        await (await deps.signedIn()).request('requests.approve', { request: requestId });
        return load(requestId);
      },
      deny: async (args) => {
        const requestId = requestIdOf(args);
        await (await deps.signedIn()).request('requests.deny', { request: requestId, reason: reasonOf(args) ?? '' });
        return load(requestId);
      },
      unavailable: async (args) => {
        const requestId = requestIdOf(args);
        const reason = reasonOf(args)?.trim();
        await (await deps.signedIn()).request('requests.videoUnavailable', { request: requestId, ...(reason ? { reason } : {}) });
        return load(requestId);
      },
      review: async (args, panel): Promise<ReviewClipView> => {
        const requestId = requestIdOf(args);
        const camera = (args as { camera?: unknown }).camera;
        const clip = await (await deps.signedIn()).request<ReviewClip>('requests.reviewClip', { request: requestId, camera });
        if (path.relative(clip.folder, clip.file).startsWith('..')) throw new Error('The role named a review clip outside its review folder.');
        // The panel was opened allowing the site's usual review folder (only this panel, only that folder).
        // A role with its state elsewhere needs that folder allowed: the page reloads and asks again (its state keeps the camera).
        panel.allowResourceFolder(vscode.Uri.file(clip.folder));
        return {
          cameraId: clip.cameraId,
          cameraName: clip.cameraName,
          src: panel.webview.asWebviewUri(vscode.Uri.file(clip.file)).toString(),
          fromUtc: clip.fromUtc,
          toUtc: clip.toUtc,
          clipStartUtc: clip.clipStartUtc,
          durationSeconds: clip.durationSeconds,
        };
      },
      custody: async (args) => saveCustodyReport(await deps.signedIn(), requestIdOf(args)),
    },
  };
}

/**
 * Saves the chain-of-custody report of a request as HTML (self-contained, for a
 * reader without the product) and JSON beside it; asks where unless `target` is given.
 */
export async function saveCustodyReport(c: Pick<RoleConnection, 'request'>, requestId: string, target?: vscode.Uri): Promise<{ html: string; json: string } | null> {
  const report = await c.request<{ json: unknown; html: string }>('custody.report', { request: requestId });
  const file =
    target ??
    (await vscode.window.showSaveDialog({
      title: 'Save the chain-of-custody report',
      filters: { 'HTML report': ['html'] },
      saveLabel: 'Save Report',
      defaultUri: vscode.Uri.file(path.join(vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? os.homedir(), `custody-${requestId.slice(0, 8)}.html`)),
    }));
  if (!file) return null;
  const json = file.with({ path: `${file.path.replace(/\.html?$/i, '')}.json` });
  await vscode.workspace.fs.writeFile(file, new TextEncoder().encode(report.html));
  await vscode.workspace.fs.writeFile(json, new TextEncoder().encode(`${JSON.stringify(report.json, null, 2)}\n`));
  return { html: file.fsPath, json: json.fsPath };
}
