// Send Video to Clearance and Send Snapshot: a few quick picks and input boxes
// (cameras, time, case), then one role command. The role checks everything
// again; the form only says early what the role would refuse (a range over
// 24 h, a time that is no time). Scripts and tests pass the arguments instead.
import * as vscode from 'vscode';
import {
  cameraChoices,
  operatorTimeText,
  parseOperatorTime,
  videoRangeProblem,
  type RoleConnection,
  type UploadJobSnapshot,
} from '../core';
import { pickText } from './report';

type CaseTarget = { kind: 'none' } | { kind: 'existing'; caseId: string } | { kind: 'new'; name: string; departmentId?: string; categoryId?: string; description?: string };

export interface VideoArgs {
  cameras: string[];
  from: string;
  to: string;
  caseTarget?: CaseTarget;
  name?: string;
  description?: string;
}

export interface SnapshotArgs {
  cameras: string[];
  at: string;
  caseTarget?: CaseTarget;
  name?: string;
  description?: string;
}

const cancelled = (): never => {
  throw new vscode.CancellationError();
};

async function chooseCameras(c: RoleConnection, title: string): Promise<string[]> {
  const model = await c.request<Parameters<typeof cameraChoices>[0]>('site.cameras');
  const choices = cameraChoices(model);
  if (choices.length === 0) throw new Error('This site has no cameras.');
  // Camera names come from the site: `$(…)` stays text in a quick pick.
  const picks = await vscode.window.showQuickPick(
    choices.map((ch) => ({ label: pickText(ch.label), description: pickText(ch.description), id: ch.id })),
    { title, placeHolder: 'Cameras (type to filter, Space to check)', canPickMany: true, matchOnDescription: true, ignoreFocusOut: true },
  );
  if (!picks || picks.length === 0) return cancelled();
  return picks.map((p) => p.id);
}

async function askTime(title: string, prompt: string, value: string, check?: (at: Date) => string | undefined): Promise<Date> {
  const text = await vscode.window.showInputBox({
    title,
    prompt,
    value,
    ignoreFocusOut: true,
    validateInput: (v) => {
      const at = parseOperatorTime(v);
      return typeof at === 'string' ? at : check?.(at);
    },
  });
  if (text === undefined) return cancelled();
  const at = parseOperatorTime(text);
  if (typeof at === 'string') throw new Error(at);
  return at;
}

async function chooseCase(c: RoleConnection, title: string): Promise<CaseTarget> {
  const choice = await vscode.window.showQuickPick(
    [
      { label: 'No case', description: 'the evidence stays unassigned', target: 'none' as const },
      { label: 'New case…', description: 'name, department, category', target: 'new' as const },
      { label: 'Existing case…', description: 'add the evidence to an open case', target: 'existing' as const },
    ],
    { title, placeHolder: 'Case', ignoreFocusOut: true },
  );
  if (!choice) return cancelled();
  if (choice.target === 'none') return { kind: 'none' };
  if (choice.target === 'existing') {
    const cases = await c.request<{ caseId: string; name: string; state: string }[]>('cases.list');
    if (cases.length === 0) throw new Error('The account has no case this integration may see: choose New case instead.');
    const pick = await vscode.window.showQuickPick(
      cases.map((k) => ({ label: pickText(k.name), description: pickText(`${k.state} · ${k.caseId}`), caseId: k.caseId })),
      { title, placeHolder: 'Existing case', matchOnDescription: true, ignoreFocusOut: true },
    );
    if (!pick) return cancelled();
    return { kind: 'existing', caseId: pick.caseId };
  }
  const name = await vscode.window.showInputBox({
    title,
    prompt: 'Name of the new case',
    ignoreFocusOut: true,
    validateInput: (v) => (!v.trim() ? 'Name the new case.' : v.length > 200 ? 'At most 200 characters.' : undefined),
  });
  if (name === undefined) return cancelled();
  const [departments, categories] = await Promise.all([
    c.request<{ DepartmentId: string; Name: string }[]>('cases.departments'),
    c.request<{ CategoryId: string; Name: string; RetentionDays: number }[]>('cases.categories'),
  ]);
  const none = { label: 'None', id: undefined };
  const department = await vscode.window.showQuickPick([none, ...departments.map((d) => ({ label: pickText(d.Name), id: d.DepartmentId }))], { title, placeHolder: 'Department', ignoreFocusOut: true });
  if (!department) return cancelled();
  const category = await vscode.window.showQuickPick(
    [none, ...categories.map((k) => ({ label: pickText(k.Name), description: `kept ${k.RetentionDays} days`, id: k.CategoryId }))],
    { title, placeHolder: 'Category', ignoreFocusOut: true },
  );
  if (!category) return cancelled();
  const description = await vscode.window.showInputBox({ title, prompt: 'Case information (optional)', ignoreFocusOut: true, validateInput: (v) => (v.length > 2000 ? 'At most 2000 characters.' : undefined) });
  if (description === undefined) return cancelled();
  return {
    kind: 'new',
    name: name.trim(),
    ...(department.id ? { departmentId: department.id } : {}),
    ...(category.id ? { categoryId: category.id } : {}),
    ...(description.trim() ? { description: description.trim() } : {}),
  };
}

/** The form of Send Video to Clearance; resolves the role command's arguments. */
export async function videoForm(c: RoleConnection): Promise<VideoArgs> {
  const cameras = await chooseCameras(c, 'Send Video to Clearance (1/4): cameras');
  const now = new Date();
  const from = await askTime('Send Video to Clearance (2/4): start', 'Start of the video, local time (YYYY-MM-DD HH:MM). At most 24 h of video per export.', operatorTimeText(new Date(now.getTime() - 15 * 60_000)));
  const to = await askTime('Send Video to Clearance (3/4): end', `End of the video, local time. Start: ${operatorTimeText(from)}; at most 24 h later.`, operatorTimeText(now), (at) => videoRangeProblem(from, at));
  const caseTarget = await chooseCase(c, 'Send Video to Clearance (4/4): case');
  return { cameras, from: from.toISOString(), to: to.toISOString(), caseTarget };
}

/** The form of Send Snapshot. */
export async function snapshotForm(c: RoleConnection): Promise<SnapshotArgs> {
  const cameras = await chooseCameras(c, 'Send Snapshot (1/3): cameras');
  const at = await askTime('Send Snapshot (2/3): time', 'The instant of the still image, local time (YYYY-MM-DD HH:MM[:SS]).', operatorTimeText(new Date(Date.now() - 60_000)));
  const caseTarget = await chooseCase(c, 'Send Snapshot (3/3): case');
  return { cameras, at: at.toISOString(), caseTarget };
}

/** What the operator reads once the role has queued the upload. */
export function queuedMessage(job: UploadJobSnapshot, what: string): string {
  return `${what} queued for upload (job ${job.id.slice(0, 8)}): follow it in the Uploads view.`;
}
