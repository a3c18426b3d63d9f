import type * as vscode from 'vscode';
import { activateConsole, type ConsoleApi } from './ui/console';

// The extension's entry point: build the console and hand back its API (used by tests).
export function activate(context: vscode.ExtensionContext): Promise<ConsoleApi> {
  return activateConsole(context);
}

export function deactivate(): void {
  // Everything is registered on context.subscriptions and disposed by VS Code.
}
