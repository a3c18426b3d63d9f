// Runs the same integration suite in desktop VS Code through
// @vscode/test-electron, on a machine with internet (it downloads VS Code from
// the vendor) or with VSCODE_EXECUTABLE pointing at an installed VS Code.
// Not part of `npm test`: these machines have no route to the download server;
// test/integration/launch-offline.mjs runs the suite in code-server instead.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { QUIET_SETTINGS } from '../../scripts/code-server.mjs';
import { ROOT } from '../../scripts/vscode-offline.mjs';

const testsEntry = path.join(ROOT, 'dist', 'test', 'integration', 'index.js');

function finish(passed, failed) {
  console.log(`integration: ${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

async function main() {
  if (!existsSync(testsEntry)) throw new Error('dist/test/integration/index.js is missing: run node scripts/build.mjs first');
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'clearance-electron-'));
  const resultsFile = path.join(scratch, 'results.json');
  const workspace = path.join(scratch, 'workspace');
  const userDataDir = path.join(scratch, 'user-data');
  mkdirSync(workspace, { recursive: true });
  mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  writeFileSync(path.join(userDataDir, 'User', 'settings.json'), `${JSON.stringify(QUIET_SETTINGS, null, 2)}\n`);
  try {
    const vscodeExecutablePath = process.env.VSCODE_EXECUTABLE || undefined;
    if (vscodeExecutablePath && !existsSync(vscodeExecutablePath)) throw new Error(`VSCODE_EXECUTABLE=${vscodeExecutablePath} does not exist`);
    let code;
    try {
      code = await runTests({
        ...(vscodeExecutablePath ? { vscodeExecutablePath } : { version: process.env.VSCODE_VERSION || 'stable' }),
        extensionDevelopmentPath: ROOT,
        extensionTestsPath: testsEntry,
        extensionTestsEnv: { CLEARANCE_TEST_RESULTS: resultsFile },
        launchArgs: [
          workspace,
          '--user-data-dir', userDataDir,
          '--extensions-dir', path.join(scratch, 'extensions'),
          '--disable-extensions', // other installed extensions; the one under development still loads
          '--disable-workspace-trust',
          '--disable-telemetry',
          '--skip-welcome',
          '--skip-release-notes',
          '--disable-gpu',
          ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
        ],
      });
    } catch (err) {
      // runTests rejects with TestRunFailedError when VS Code exits non-zero.
      code = typeof err?.code === 'number' ? err.code : undefined;
      if (code === undefined) throw err;
    }
    if (!existsSync(resultsFile)) {
      console.log(`VS Code exited with ${code} without reporting any test`);
      return finish(0, 1);
    }
    const summary = JSON.parse(readFileSync(resultsFile, 'utf8'));
    for (const t of summary.tests) {
      console.log(`${t.state === 'passed' ? 'ok  ' : t.state === 'failed' ? 'FAIL' : 'skip'} ${t.title}`);
      if (t.error) console.log(`     ${t.error.split('\n').join('\n     ')}`);
    }
    finish(summary.passed, summary.failed + (code !== 0 && summary.failed === 0 ? 1 : 0));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`integration (electron): ${err.message}`);
  finish(0, 1);
});
