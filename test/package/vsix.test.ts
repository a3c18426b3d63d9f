import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import yauzl from 'yauzl';

const root = path.resolve(__dirname, '../..');
/** What an operator downloads: keep it small enough to mail or copy to an air-gapped site. */
const SIZE_BUDGET_BYTES = 3 * 1024 * 1024;

function listZip(file: string): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    const entries = new Map<string, Buffer>();
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error(`${file}: yauzl opened no archive`));
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error(`${entry.fileName}: yauzl gave no read stream`));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            entries.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve(entries));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

describe('the packaged .vsix', function () {
  let dir: string;
  let vsix: string;
  let entries: Map<string, Buffer>;

  before(async function () {
    dir = mkdtempSync(path.join(os.tmpdir(), 'clearance-vsix-'));
    vsix = path.join(dir, 'clearance-console.vsix');
    execFileSync('node', ['scripts/build.mjs', '--production'], { cwd: root, stdio: 'inherit' });
    execFileSync('npx', ['vsce', 'package', '--no-dependencies', '--no-rewrite-relative-links', '--out', vsix], { cwd: root, stdio: 'inherit' });
    entries = await listZip(vsix);
  });

  after(() => {
    // Rebuild the development bundles (with source maps) that the production build replaced.
    execFileSync('node', ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds the extension bundle, its manifest and its media', () => {
    // vsce stores the readme as readme.md: compare names case-insensitively.
    const names = new Set([...entries.keys()].map((n) => n.toLowerCase()));
    for (const name of ['extension/package.json', 'extension/dist/extension.js', 'extension/media/clearance.svg', 'extension/media/clearance.png', 'extension/readme.md']) {
      assert.ok(names.has(name), `${name} is missing from the .vsix`);
    }
    const manifest = JSON.parse(entries.get('extension/package.json')!.toString('utf8'));
    assert.equal(manifest.main, './dist/extension.js');
  });

  it('holds no sources, tests, source maps or node_modules', () => {
    const unwanted = [...entries.keys()].filter((n) =>
      /(^|\/)(src|test|bench|scripts|node_modules|\.vscode-test)\//.test(n) || /\.(ts|map)$/.test(n) || /\.test\./.test(n),
    );
    assert.deepEqual(unwanted, []);
  });

  it(`stays under its size budget of ${SIZE_BUDGET_BYTES / 1024 / 1024} MiB`, () => {
    const size = statSync(vsix).size;
    assert.ok(size < SIZE_BUDGET_BYTES, `the .vsix is ${size} bytes`);
  });

  it('bundles every dependency: the extension requires only vscode and Node built-ins', () => {
    const code = entries.get('extension/dist/extension.js')!.toString('utf8');
    const required = new Set([...code.matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1]));
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    const foreign = [...required].filter((m) => m !== 'vscode' && !builtins.has(m));
    assert.deepEqual(foreign, [], 'these modules would be missing at run time');
    assert.ok(!/\.node["']\)/.test(code), 'the bundle loads a native .node module');
  });

  it('declares the contributions an operator relies on', () => {
    const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    const views = manifest.contributes.views.clearance.map((v: { name: string }) => v.name);
    assert.deepEqual(views, ['Cameras', 'Requests', 'Uploads', 'Activities']);
    assert.ok(manifest.contributes.commands.every((c: { category: string }) => c.category === 'Clearance'));
    assert.ok(manifest.contributes.taskDefinitions.some((t: { type: string }) => t.type === 'clearance'));
  });
});
