// Runs the same integration suite in desktop VS Code through
// @vscode/test-electron: with CLEARANCE_VSCODE_EXECUTABLE (or VSCODE_EXECUTABLE)
// pointing at an installed VS Code, or else by downloading VS Code from the
// vendor (needs internet; VSCODE_VERSION picks the version, default stable).
// Not part of `npm test`: these machines have no route to the download server;
// test/integration/launch-offline.mjs runs the suite in code-server instead.
//
//   CLEARANCE_VSCODE_EXECUTABLE=/usr/share/code/code node test/integration/launch-electron.mjs
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { QUIET_SETTINGS } from '../../scripts/code-server.mjs';
import { ROOT } from '../../scripts/vscode-offline.mjs';

const testsEntry = path.join(ROOT, 'dist', 'test', 'integration', 'index.js');
// A scratch copy of the extension (e.g. to prove a failing activation fails the run) may replace the project.
const extensionDir = path.resolve(process.env.CLEARANCE_EXTENSION_DIR ?? ROOT);
const EXECUTABLE_VARS = ['CLEARANCE_VSCODE_EXECUTABLE', 'VSCODE_EXECUTABLE'];
const EXAMPLES = 'for example /usr/share/code/code (Linux), "/Applications/Visual Studio Code.app" (macOS) or "C:\\Program Files\\Microsoft VS Code\\Code.exe" (Windows)';

function isScript(file) {
  try {
    return readFileSync(file).subarray(0, 2).toString('latin1') === '#!';
  } catch {
    return false;
  }
}

function executable(file) {
  try {
    if (!statSync(file).isFile()) return false;
    if (process.platform !== 'win32') accessSync(file, constants.X_OK);
    return !isScript(file);
  } catch {
    return false;
  }
}

/**
 * The VS Code (Electron) binary from what the user named: the binary itself, the
 * installation folder or macOS .app, or the `code` command-line script on PATH
 * (which only forwards to the binary and returns at once, so it cannot run tests).
 */
function resolveVscodeExecutable(given, variable) {
  if (!existsSync(given)) throw new Error(`${variable}=${given} does not exist; set it to the VS Code executable, ${EXAMPLES}`);
  const real = realpathSync(given);
  const candidates = [];
  if (statSync(real).isDirectory()) {
    candidates.push(
      path.join(real, 'Contents', 'MacOS', 'Code'),
      path.join(real, 'Contents', 'MacOS', 'Electron'),
      path.join(real, 'Code.exe'),
      path.join(real, 'code'),
    );
  } else if (isScript(real)) {
    // <install>/bin/code on Linux; <App>.app/Contents/Resources/app/bin/code on macOS.
    const install = path.resolve(path.dirname(real), '..');
    candidates.push(
      path.join(install, 'code'),
      path.resolve(install, '..', '..', 'MacOS', 'Code'),
      path.resolve(install, '..', '..', 'MacOS', 'Electron'),
    );
  } else {
    candidates.push(real);
  }
  const found = candidates.find(executable);
  if (!found) {
    const what = isScript(real) ? 'is a launcher script whose VS Code executable could not be found next to it' : 'is not an executable VS Code';
    throw new Error(`${variable}=${given} ${what}; set it to the VS Code executable itself, ${EXAMPLES}`);
  }
  return found;
}

function explainDownloadFailure(err) {
  const offline = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|getaddrinfo|socket hang up|timed? ?out/i.test(String(err?.message ?? err));
  if (!offline) return err;
  return new Error(
    `could not download VS Code from the vendor (${err.message}). This machine has no route to it: `
      + `set CLEARANCE_VSCODE_EXECUTABLE to an installed VS Code (${EXAMPLES}), `
      + 'or run the same suite offline in code-server with `npm run test:integration`.',
  );
}

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
    const variable = EXECUTABLE_VARS.find((v) => process.env[v]);
    const vscodeExecutablePath = variable ? resolveVscodeExecutable(process.env[variable], variable) : undefined;
    if (vscodeExecutablePath) console.log(`VS Code: ${vscodeExecutablePath} (from ${variable})`);
    else console.log(`VS Code: downloading ${process.env.VSCODE_VERSION || 'stable'} with @vscode/test-electron (set CLEARANCE_VSCODE_EXECUTABLE to use an installed one)`);
    if (!existsSync(path.join(extensionDir, 'dist', 'extension.js'))) throw new Error(`${path.join(extensionDir, 'dist', 'extension.js')} is missing: run node scripts/build.mjs first`);
    let code;
    try {
      code = await runTests({
        ...(vscodeExecutablePath ? { vscodeExecutablePath } : { version: process.env.VSCODE_VERSION || 'stable' }),
        extensionDevelopmentPath: extensionDir,
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
      if (code === undefined) throw vscodeExecutablePath ? err : explainDownloadFailure(err);
    }
    if (!existsSync(resultsFile)) {
      console.log(`VS Code exited with ${code} without reporting any test`);
      if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
        console.log('(no display: desktop VS Code needs one; run under `xvfb-run -a`, or use `npm run test:integration` for the offline code-server run)');
      }
      return finish(0, 1);
    }
    const summary = JSON.parse(readFileSync(resultsFile, 'utf8'));
    for (const t of summary.tests) {
      const mark = t.state === 'passed' ? 'ok  ' : t.state === 'failed' ? 'FAIL' : 'skip';
      console.log(`${mark} ${t.title}${t.durationMs !== undefined ? ` (${t.durationMs} ms)` : ''}`);
      if (t.error) console.log(`     ${t.error.split('\n').join('\n     ')}`);
    }
    // VS Code's own verdict counts too: a rejected run() with zero failing tests is still a failure.
    if (code !== 0 && summary.failed === 0) console.log(`VS Code exited with code ${code}`);
    finish(summary.passed, summary.failed + (code !== 0 && summary.failed === 0 ? 1 : 0));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`integration (electron): ${err.message}`);
  finish(0, 1);
});
