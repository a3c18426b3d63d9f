// Runs the integration suite (test/integration/suite) inside a real VS Code
// with no internet: code-server from the npm registry, opened by headless
// Debian Chromium. The extension loads as a development extension; the
// workbench runs the bundled suite in its extension host and reports the exit
// code through window.codeAutomationExit.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchChromium, startCodeServer, workbenchUrl } from '../../scripts/code-server.mjs';
import { ROOT, ensureCodeServer, ensureDebianPackages } from '../../scripts/vscode-offline.mjs';

const OVERALL_TIMEOUT_MS = Number(process.env.CLEARANCE_INTEGRATION_TIMEOUT_MS ?? 5 * 60_000);
const SUMMARY_PREFIX = 'CLEARANCE_TEST_SUMMARY ';
const testsEntry = path.join(ROOT, 'dist', 'test', 'integration', 'index.js');
// A scratch copy of the extension (e.g. to prove a failing activation fails the run) may replace the project.
const extensionDir = path.resolve(process.env.CLEARANCE_EXTENSION_DIR ?? ROOT);

function finish(passed, failed) {
  console.log(`integration: ${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

async function main() {
  for (const f of [testsEntry, path.join(extensionDir, 'dist', 'extension.js')]) {
    if (!existsSync(f)) throw new Error(`${path.relative(ROOT, f)} is missing: run node scripts/build.mjs first`);
  }
  ensureDebianPackages();
  await ensureCodeServer();

  const scratch = mkdtempSync(path.join(os.tmpdir(), 'clearance-integration-'));
  const resultsFile = path.join(scratch, 'results.json');
  const workspace = path.join(scratch, 'workspace');
  let server;
  let browser;
  let consoleSummary;
  const started = Date.now();
  try {
    // The extension host inherits code-server's environment: that is how the suite finds the results file.
    server = await startCodeServer({ folder: workspace, env: { CLEARANCE_TEST_RESULTS: resultsFile } });
    console.log(`code-server ${server.url} (pid ${server.pid}) ready in ${Date.now() - started} ms`);
    browser = await launchChromium();
    const page = await browser.newPage();

    let timer;
    const exitCode = new Promise((resolve, reject) => {
      page.exposeFunction('codeAutomationExit', (code) => resolve(Number(code))).catch(reject);
      timer = setTimeout(() => reject(new Error(`the suite did not finish within ${OVERALL_TIMEOUT_MS / 1000} s`)), OVERALL_TIMEOUT_MS);
    });
    page.on('console', (msg) => {
      const text = msg.text();
      const at = text.indexOf(SUMMARY_PREFIX);
      if (at >= 0) {
        try {
          consoleSummary = JSON.parse(text.slice(at + SUMMARY_PREFIX.length));
        } catch { /* a truncated line: the results file is the primary channel */ }
      } else if (process.env.CLEARANCE_TEST_VERBOSE) {
        console.log(`[workbench ${msg.type()}] ${text}`);
      }
    });
    page.on('pageerror', (err) => console.error(`[workbench page error] ${err.message}`));

    const url = workbenchUrl(server, { folder: workspace, extensionDevelopmentPath: extensionDir, extensionTestsPath: testsEntry });
    await page.goto(url);
    let code;
    try {
      code = await exitCode;
    } finally {
      clearTimeout(timer);
    }

    let summary;
    if (existsSync(resultsFile)) summary = JSON.parse(readFileSync(resultsFile, 'utf8'));
    else if (consoleSummary) {
      console.log('(results file not written: using the summary the suite printed to the console)');
      summary = consoleSummary;
    }
    if (!summary) {
      // run() rejected before reporting: typically the bundle failed to load.
      console.log(`the suite ended with exit code ${code} without reporting any test`);
      const log = server.output().split('\n').filter((l) => /error|fail/i.test(l)).slice(-20).join('\n');
      if (log) console.log(log);
      return finish(0, 1);
    }
    for (const t of summary.tests) {
      const mark = t.state === 'passed' ? 'ok  ' : t.state === 'failed' ? 'FAIL' : 'skip';
      console.log(`${mark} ${t.title}${t.durationMs !== undefined ? ` (${t.durationMs} ms)` : ''}`);
      if (t.error) console.log(`     ${t.error.split('\n').join('\n     ')}`);
    }
    // VS Code's own verdict counts too: a rejected run() with zero failing tests is still a failure.
    const failed = summary.failed + (code !== 0 && summary.failed === 0 ? 1 : 0);
    if (code !== 0 && summary.failed === 0) console.log(`the workbench reported exit code ${code}`);
    console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
    finish(summary.passed, failed);
  } finally {
    await browser?.close().catch(() => {});
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));

main().catch((err) => {
  console.error(`integration: ${err.message}`);
  finish(0, 1);
});
