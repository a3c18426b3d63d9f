// Test entry that VS Code loads inside the extension host (extensionTestsPath).
// Bundled by scripts/build.mjs into dist/test/integration/index.js; mocha stays
// external and resolves from the project's node_modules.
import { writeFileSync } from 'node:fs';
import Mocha from 'mocha';

export interface TestOutcome {
  title: string;
  state: 'passed' | 'failed' | 'pending';
  durationMs?: number;
  error?: string;
}

export interface SuiteSummary {
  passed: number;
  failed: number;
  pending: number;
  tests: TestOutcome[];
}

/** Printed on its own line as a second channel in case the results file cannot be written. */
export const SUMMARY_PREFIX = 'CLEARANCE_TEST_SUMMARY ';

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const frames = (err.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l)).slice(0, 3);
    return [err.message, ...frames].join('\n');
  }
  return String(err);
}

export async function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 30_000, reporter: 'spec' });
  // The suites are bundled, not files on disk: set up mocha's globals (describe,
  // it, …) by hand, then evaluate the suite modules so they register with it.
  mocha.suite.emit('pre-require', globalThis, 'bundle', mocha);
  await import('./extension.test.js');
  await import('./role.test.js');
  await import('./consoleCommands.test.js');

  const summary: SuiteSummary = { passed: 0, failed: 0, pending: 0, tests: [] };
  await new Promise<void>((resolve) => {
    const runner = mocha.run(() => resolve());
    runner.on('pass', (t: Mocha.Test) => {
      summary.passed++;
      summary.tests.push({ title: t.fullTitle(), state: 'passed', durationMs: t.duration });
    });
    // Also fires for failing hooks, which then count as failures.
    runner.on('fail', (t: Mocha.Runnable, err: unknown) => {
      summary.failed++;
      summary.tests.push({ title: t.fullTitle(), state: 'failed', durationMs: t.duration, error: describeError(err) });
    });
    runner.on('pending', (t: Mocha.Test) => {
      summary.pending++;
      summary.tests.push({ title: t.fullTitle(), state: 'pending' });
    });
  });

  console.log(SUMMARY_PREFIX + JSON.stringify(summary));
  const resultsFile = process.env.CLEARANCE_TEST_RESULTS;
  if (resultsFile) writeFileSync(resultsFile, `${JSON.stringify(summary, null, 2)}\n`);

  if (summary.failed > 0) throw new Error(`${summary.failed} of ${summary.passed + summary.failed} integration tests failed`);
  if (summary.passed === 0) throw new Error('no integration test ran');
}
