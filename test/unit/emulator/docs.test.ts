import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RouteInfo } from '../../../src/emulator/server';
import { startHarness } from './harness';

const DOCS = path.resolve(__dirname, '../../../docs');

interface DocumentedOperation {
  method: string;
  path: string;
  name?: string;
  protocol?: string;
}

/** The operations under `paths:` of the hand-written OpenAPI file (its layout: 2-space indents). */
function openApiOperations(text: string): DocumentedOperation[] {
  const ops: DocumentedOperation[] = [];
  let inPaths = false;
  let current: string | undefined;
  let op: DocumentedOperation | undefined;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) inPaths = line.startsWith('paths:');
    if (!inPaths) continue;
    let m = /^ {2}(\/\S*):\s*$/.exec(line);
    if (m) {
      current = m[1];
      continue;
    }
    m = /^ {4}(get|post|put|delete|patch|head):\s*$/.exec(line);
    if (m && current) {
      op = { method: m[1].toUpperCase(), path: current };
      ops.push(op);
      continue;
    }
    m = /^ {6}x-route-name: (\S+)\s*$/.exec(line);
    if (m && op) op.name = m[1];
    m = /^ {6}x-protocol: (doc|ours)\s*$/.exec(line);
    if (m && op) op.protocol = m[1];
  }
  return ops;
}

const openApiPath = (p: string): string => p.replace(/:([A-Za-z]+)/g, '{$1}');

describe('local service: docs/emulator.md and docs/openapi.yaml cover every route', function () {
  this.timeout(30000);
  let routes: RouteInfo[];
  before(async () => {
    const h = await startHarness();
    routes = h.emulator.routes;
    await h.stop();
  });

  it('openapi.yaml is OpenAPI 3.1 and lists exactly the routes of the router, with their names', () => {
    const text = fs.readFileSync(path.join(DOCS, 'openapi.yaml'), 'utf8');
    assert.match(text, /^openapi: 3\.1\.\d+$/m);
    const ops = openApiOperations(text);
    const key = (m: string, p: string): string => `${m} ${p}`;
    const documented = new Map(ops.map((o) => [key(o.method, o.path), o]));
    for (const r of routes) {
      const o = documented.get(key(r.method, openApiPath(r.path)));
      assert.ok(o, `${r.method} ${r.path} is missing from openapi.yaml`);
      assert.equal(o.name, r.name, `x-route-name of ${r.method} ${r.path}`);
      assert.ok(o.protocol, `x-protocol of ${r.method} ${r.path}`);
    }
    const served = new Set(routes.map((r) => key(r.method, openApiPath(r.path))));
    assert.deepEqual(
      ops.filter((o) => !served.has(key(o.method, o.path))).map((o) => key(o.method, o.path)),
      [],
      'openapi.yaml documents routes the service does not have',
    );
  });

  it('emulator.md lists every route, marked [doc] or [ours] as in openapi.yaml', () => {
    const md = fs.readFileSync(path.join(DOCS, 'emulator.md'), 'utf8');
    const ops = openApiOperations(fs.readFileSync(path.join(DOCS, 'openapi.yaml'), 'utf8'));
    for (const r of routes) {
      const p = openApiPath(r.path);
      const row = md.split('\n').find((l) => l.startsWith(`| \`${r.method}\` | \`${p}\` |`));
      assert.ok(row, `${r.method} ${p} is missing from emulator.md`);
      const mark = /\| \[(doc|ours)\] \|/.exec(row)?.[1];
      assert.ok(mark, `${r.method} ${p}: no [doc]/[ours] mark`);
      assert.ok(row.includes(`\`${r.name}\``), `${r.method} ${p}: route name ${r.name}`);
      assert.equal(mark, ops.find((o) => o.method === r.method && o.path === p)?.protocol, `${r.method} ${p}: marks disagree`);
    }
  });
});
