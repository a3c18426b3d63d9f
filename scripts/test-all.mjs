// `npm test`: lint, type-check, build, unit, package, integration (inside a real
// VS Code) and e2e (a person's clicks in the workbench). Every stage runs even if
// an earlier one failed, so one run shows everything that is wrong; the last line
// is the total, `N passed, N failed`. Above it, each failed stage repeats what
// failed, so that the tail of a long log is enough to know which test it was.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const only = process.argv.slice(2);
const vsix = path.join(root, 'clearance-console.vsix');

/** How a stage's output is turned into counts. */
const mochaCounts = (out) => {
  const passed = Number(/(\d+) passing/.exec(out)?.[1] ?? 0);
  const failed = Number(/(\d+) failing/.exec(out)?.[1] ?? 0);
  return passed + failed > 0 ? { passed, failed } : null;
};
const summaryLine = (label) => (out) => {
  const all = [...out.matchAll(new RegExp(`^${label}: (\\d+) passed, (\\d+) failed`, 'gm'))];
  const last = all.at(-1);
  return last ? { passed: Number(last[1]), failed: Number(last[2]) } : null;
};
const oneCheck = () => null;

/** What a failed stage said about its failures, clipped to what the tail of a CI log shows: mocha's list after "N failing", or the FAIL lines with their detail. */
function failuresIn(out) {
  const lines = out.split('\n');
  const mocha = lines.findIndex((line) => /^\s*\d+ failing/.test(line));
  if (mocha >= 0) return lines.slice(mocha + 1).filter((line) => line.trim() !== '').slice(0, 12);
  const picked = [];
  lines.forEach((line, i) => {
    if (!/^FAIL /.test(line)) return;
    // Its detail: the indented lines right under it.
    const rest = lines.slice(i + 1);
    const end = rest.findIndex((next) => !/^\s{3,}\S/.test(next));
    picked.push(line, ...rest.slice(0, Math.min(end < 0 ? rest.length : end, 6)));
  });
  return picked.length > 0 ? picked.slice(0, 12) : lines.filter((line) => line.trim() !== '').slice(-8);
}

const stages = [
  { name: 'lint', cmd: ['npx', 'eslint', '.'], counts: oneCheck },
  { name: 'typecheck', cmd: ['npx', 'tsc', '-p', '.', '--noEmit'], counts: oneCheck },
  { name: 'build', cmd: ['node', 'scripts/build.mjs'], counts: oneCheck },
  { name: 'unit', cmd: ['npx', 'mocha'], counts: mochaCounts },
  { name: 'package', cmd: ['npx', 'mocha', '--config', 'test/package/.mocharc.json'], counts: mochaCounts },
  { name: 'integration', cmd: ['node', 'test/integration/launch-offline.mjs'], counts: summaryLine('integration') },
  { name: 'start', cmd: ['node', 'test/start/start.test.mjs'], counts: summaryLine('start') },
  { name: 'e2e', cmd: ['node', 'test/e2e/run.mjs'], counts: summaryLine('e2e'), env: () => (existsSync(vsix) ? { CLEARANCE_VSIX: vsix } : {}) },
];

function run(stage) {
  return new Promise((resolve) => {
    const started = Date.now();
    console.log(`\n━━ ${stage.name}: ${stage.cmd.join(' ')}`);
    const child = spawn(stage.cmd[0], stage.cmd.slice(1), {
      cwd: root,
      env: { ...process.env, ...(stage.env?.() ?? {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const tee = (stream, sink) => stream.on('data', (d) => { out += d; sink.write(d); });
    tee(child.stdout, process.stdout);
    tee(child.stderr, process.stderr);
    child.on('close', (code) => {
      const seconds = Math.round((Date.now() - started) / 1000);
      let counts = stage.counts(out);
      if (!counts) counts = code === 0 ? { passed: 1, failed: 0 } : { passed: 0, failed: 1 };
      // A stage that exits non-zero has failed even if its counts say otherwise.
      if (code !== 0 && counts.failed === 0) counts = { ...counts, failed: 1 };
      resolve({ name: stage.name, code, seconds, ...counts, failures: code === 0 ? [] : failuresIn(out) });
    });
  });
}

const results = [];
for (const stage of stages.filter((s) => only.length === 0 || only.includes(s.name))) {
  results.push(await run(stage));
}

for (const r of results.filter((r) => r.failures.length > 0)) {
  console.log(`\n━━ what failed in ${r.name}`);
  for (const line of r.failures) console.log(`  ${line.slice(0, 300)}`);
}

console.log('\n━━ summary');
for (const r of results) {
  console.log(`${r.code === 0 ? 'ok  ' : 'FAIL'} ${r.name.padEnd(12)} ${r.passed} passed, ${r.failed} failed (${r.seconds}s)`);
}
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || results.some((r) => r.code !== 0) ? 1 : 0);
