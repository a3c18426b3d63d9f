import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import * as vscode from 'vscode';

const EXTENSION_ID = 'clearance-console.clearance-console';
const VIEWS: Record<string, string> = {
  'clearance.cameras': 'Cameras',
  'clearance.requests': 'Requests',
  'clearance.uploads': 'Uploads',
  'clearance.activities': 'Activities',
};

interface ContributedCommand {
  command: string;
  title: string;
}
interface ContributedView {
  id: string;
  name: string;
}

function extension(): vscode.Extension<unknown> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} is not loaded in this VS Code`);
  return ext;
}

function contributedCommands(): string[] {
  const cmds = (extension().packageJSON.contributes?.commands ?? []) as ContributedCommand[];
  return cmds.map((c) => c.command);
}

/** A command that waited on a modal dialog would hang the whole run: bound it. */
async function executeWithin<T>(ms: number, command: string, ...args: unknown[]): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${command} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([vscode.commands.executeCommand<T>(command, ...args), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('Clearance Console inside VS Code', () => {
  it(`is loaded under the id ${EXTENSION_ID}`, () => {
    const ext = extension();
    assert.equal(ext.packageJSON.publisher, 'clearance-console');
    assert.equal(ext.packageJSON.name, 'clearance-console');
  });

  it('is activated by VS Code itself once startup has finished (onStartupFinished)', async () => {
    const ext = extension();
    const deadline = Date.now() + 20_000;
    while (!ext.isActive && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(ext.isActive, true, 'not active 20 s after the test host started');
  });

  it('activates without error and returns its API object', async () => {
    // activate() rejects with the activation error if activate() threw.
    const api = (await extension().activate()) as { apiVersion?: unknown; views?: unknown } | undefined;
    assert.ok(api !== null && typeof api === 'object', `activate() returned ${inspect(api)}, not an object`);
    assert.equal(api.apiVersion, 1);
    assert.deepEqual(api.views, Object.keys(VIEWS));
  });

  it('contributes the four views of the Clearance container', () => {
    const contributes = extension().packageJSON.contributes;
    const container = (contributes.viewsContainers.activitybar as { id: string; title: string }[]).find((c) => c.id === 'clearance');
    assert.equal(container?.title, 'Clearance');
    const views = (contributes.views.clearance as ContributedView[]).map((v) => [v.id, v.name]);
    assert.deepEqual(views, Object.entries(VIEWS));
  });

  it('registers every command listed in contributes.commands', async () => {
    const expected = contributedCommands();
    assert.ok(expected.length >= 4, `only ${expected.length} commands contributed`);
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = expected.filter((c) => !registered.has(c));
    assert.deepEqual(missing, [], `commands contributed but not registered: ${missing.join(', ')}`);
  });

  it('makes each view focusable (the workbench knows the view and shows it)', async () => {
    const registered = new Set(await vscode.commands.getCommands(true));
    for (const id of Object.keys(VIEWS)) {
      assert.ok(registered.has(`${id}.focus`), `no ${id}.focus command: the view is not registered`);
      await executeWithin(10_000, `${id}.focus`);
    }
    await executeWithin(10_000, 'workbench.view.extension.clearance');
  });

  it('runs clearance.showAccount with no account connected without throwing or hanging', async () => {
    await executeWithin(5_000, 'clearance.showAccount');
  });

  it('runs clearance.refresh without throwing', async () => {
    await executeWithin(5_000, 'clearance.refresh');
  });

  it('does not let a command wait on a dialog when no account is connected', async () => {
    for (const id of ['clearance.openProperties', 'clearance.pollNow', 'clearance.verifyActivityTrail']) {
      if (contributedCommands().includes(id)) await executeWithin(5_000, id);
    }
  });
});
