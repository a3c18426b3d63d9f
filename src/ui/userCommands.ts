// Site users' passwords from the console: change your own; an administrator
// (View plugin configuration) sets or resets another user's and clears a
// lockout. Passwords pass from an input box to the role and nowhere else.
import * as vscode from 'vscode';
import { MIN_PASSWORD_LENGTH as MIN_PASSWORD, type RoleConnection } from '../core';
import { pickText } from './report';

export interface UserListing {
  id: string;
  name: string;
  displayName: string;
  hasPassword: boolean;
  failures: number;
  locked: boolean;
}

const cancelled = (): never => {
  throw new vscode.CancellationError();
};

async function newPassword(title: string): Promise<string> {
  const first = await vscode.window.showInputBox({
    title,
    prompt: `New password (at least ${MIN_PASSWORD} characters)`,
    password: true,
    ignoreFocusOut: true,
    validateInput: (v) => (v.length < MIN_PASSWORD ? `At least ${MIN_PASSWORD} characters.` : v.length > 1024 ? 'At most 1024 characters.' : undefined),
  });
  if (first === undefined) return cancelled();
  const again = await vscode.window.showInputBox({
    title,
    prompt: 'The same password again',
    password: true,
    ignoreFocusOut: true,
    validateInput: (v) => (v === first ? undefined : 'The two passwords differ.'),
  });
  if (again === undefined) return cancelled();
  return first;
}

export async function changeOwnPasswordForm(c: RoleConnection): Promise<{ current: string; next: string }> {
  const title = `Change the password of ${c.user?.user.name ?? 'your site user'}`;
  const current = await vscode.window.showInputBox({ title, prompt: 'Current password', password: true, ignoreFocusOut: true });
  if (current === undefined) return cancelled();
  return { current, next: await newPassword(title) };
}

/** A quick pick of the site's users with their password and lockout state. */
export async function pickUser(c: RoleConnection, title: string, only?: (u: UserListing) => boolean): Promise<UserListing> {
  const users = (await c.request<UserListing[]>('users.list')).filter((u) => !only || only(u));
  if (users.length === 0) return Promise.reject(new Error(only ? 'No site user is locked out.' : 'This site has no users.'));
  const pick = await vscode.window.showQuickPick(
    users.map((u) => ({
      label: pickText(u.name),
      description: pickText(u.displayName),
      detail: [u.hasPassword ? 'password set' : 'no password yet', u.locked ? `locked after ${u.failures} wrong passwords` : u.failures ? `${u.failures} wrong password(s)` : ''].filter(Boolean).join(' · '),
      user: u,
    })),
    { title, placeHolder: 'Site user', matchOnDescription: true, ignoreFocusOut: true },
  );
  if (!pick) return cancelled();
  return pick.user;
}

export { newPassword };
