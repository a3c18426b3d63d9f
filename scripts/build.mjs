// Bundles the extension, the CLI, the local service, the webviews and the
// in-VS-Code test suite with esbuild. `--watch` rebuilds on change,
// `--production` minifies and drops source maps (what goes into the .vsix).
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(import.meta.url);

const common = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  absWorkingDir: root,
};

const nodeCommon = {
  ...common,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // `import.meta.url` has no meaning in a CommonJS bundle; give it one so
  // ESM-only dependencies that read it at load time do not crash.
  define: { 'import.meta.url': 'importMetaUrl' },
  banner: { js: "const importMetaUrl = require('url').pathToFileURL(__filename).href;" },
};

const webviewEntries = existsSync(path.join(root, 'webview'))
  ? readdirSync(path.join(root, 'webview')).filter((f) => /^[a-z-]+\.ts$/i.test(f) && !f.endsWith('.d.ts'))
  : [];

const configs = [
  { ...nodeCommon, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'] },
  { ...nodeCommon, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', external: ['vscode'] },
  // The local service may use native modules and runs Azurite from node_modules.
  { ...nodeCommon, entryPoints: ['src/emulator/main.ts'], outfile: 'dist/emulator.js', external: ['vscode', 'azurite'] },
  ...webviewEntries.map((f) => ({
    ...common,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    entryPoints: [`webview/${f}`],
    outfile: `dist/webview/${f.replace(/\.ts$/, '.js')}`,
  })),
];
if (!production) {
  // The integration suite runs inside the extension host; mocha stays a real
  // module from node_modules so it can load its reporters.
  configs.push({
    ...nodeCommon,
    entryPoints: ['test/integration/suite/index.ts'],
    outfile: 'dist/test/integration/index.js',
    external: ['vscode', 'mocha'],
  });
}

const present = configs.filter((c) => c.entryPoints.every((e) => existsSync(path.join(root, e))));
// What every panel's page links besides its bundle: the console's stylesheet and the codicon font.
function copyWebviewAssets() {
  const out = path.join(root, 'dist', 'webview');
  mkdirSync(out, { recursive: true });
  copyFileSync(path.join(root, 'webview', 'panel.css'), path.join(out, 'panel.css'));
  const codicons = path.dirname(require.resolve('@vscode/codicons/package.json'));
  for (const f of ['codicon.css', 'codicon.ttf']) copyFileSync(path.join(codicons, 'dist', f), path.join(out, f));
  copyFileSync(path.join(path.dirname(require.resolve('uplot/package.json')), 'dist', 'uPlot.min.css'), path.join(out, 'uPlot.min.css'));
}
if (webviewEntries.length > 0) copyWebviewAssets();

if (watch) {
  for (const c of present) {
    const ctx = await esbuild.context(c);
    await ctx.watch();
  }
  console.log(`watching ${present.length} bundles…`);
} else {
  await Promise.all(present.map((c) => esbuild.build(c)));
}
