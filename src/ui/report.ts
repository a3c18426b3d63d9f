// One way for every console command to fail: the operator sees one error message
// (naming each field at fault when the role sent them), the output channel keeps
// the details. A command body never throws past this wrapper, so a command
// handler, a check box listener or a `void` call never leaves a rejection unhandled.
import * as vscode from 'vscode';
import { isControlError, pickText, plainMessage } from '../core';

export { pickText, plainMessage };

interface Issue {
  field: string;
  message: string;
}

/** The fields at fault in an error: the role's (over the socket) or a local validation's. */
export function issuesOf(error: unknown): readonly Issue[] {
  if (isControlError(error)) return error.issues;
  const e = error as { issues?: unknown; errors?: unknown } | null;
  const list = Array.isArray(e?.issues) ? e.issues : e?.errors;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (i): i is Issue => typeof i === 'object' && i !== null && typeof (i as Issue).field === 'string' && typeof (i as Issue).message === 'string',
  );
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === 'string') return error;
  return 'Something failed without saying why (see the Clearance output).';
}

/** The text an operator reads for an error: its message, then each field at fault. */
export function errorText(error: unknown): string {
  const message = messageOf(error);
  const issues = issuesOf(error);
  if (issues.length === 0) return message;
  return `${message} — ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`;
}

const SHOW_LOG = 'Show Log';

/** Shows `error` to the operator and logs its code, fields and stack. Never rejects. */
export function reportError(output: vscode.LogOutputChannel, title: string, error: unknown): void {
  const text = errorText(error);
  const code = isControlError(error) ? ` [${error.code}]` : '';
  output.error(`${title} failed${code}: ${messageOf(error)}`);
  for (const issue of issuesOf(error)) output.error(`  ${issue.field}: ${issue.message}`);
  if (error instanceof Error && error.stack) output.trace(error.stack);
  void vscode.window.showErrorMessage(plainMessage(`${title}: ${text}`), SHOW_LOG).then(
    (pick) => pick === SHOW_LOG && output.show(true),
    () => undefined,
  );
}

/** A user's own cancel (a closed prompt raised as an error) is no failure. */
function isCancellation(error: unknown): boolean {
  return error instanceof vscode.CancellationError;
}

/**
 * Runs a command body; on failure shows the error (see reportError) and resolves
 * undefined. `title` names what was attempted ("Approve video request").
 */
export async function runReported<T>(output: vscode.LogOutputChannel, title: string, fn: () => T | Thenable<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (error) {
    if (!isCancellation(error)) reportError(output, title, error);
    return undefined;
  }
}
