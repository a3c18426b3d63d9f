// The parts of control protocol v1 that need no socket: paths, message
// parsing, the wire form of errors, framing, and coalescing.
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { AccountNotConnectedError } from '../../../src/core/config/accountStore';
import { ValidationError } from '../../../src/core/config/fieldErrors';
import { PrivilegeDenied } from '../../../src/core/config/privileges';
import {
  Coalescer,
  ControlError,
  ERROR_CODES,
  LineReader,
  PROTOCOL_VERSION,
  controlPathFor,
  fromWireError,
  parseClientMessage,
  roleEventCoalescing,
  toWireError,
} from '../../../src/core/control';
import { NetworkError } from '../../../src/core/net/errors';
import { SiteError, SiteFileError } from '../../../src/core/site/model';
import { FakeTimers } from './helpers';

describe('control protocol: basics', () => {
  it('speaks version 1 and lists each error code once', () => {
    assert.equal(PROTOCOL_VERSION, 1);
    assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
  });

  describe('controlPathFor', () => {
    it('puts the socket in a short state folder', () => {
      assert.equal(controlPathFor('/srv/site/.clearance-role', 'linux'), path.join('/srv/site/.clearance-role', 'control.sock'));
    });

    it('falls back to a private folder in tmpdir, named by a hash, for a long state folder', () => {
      const deep = `/srv/${'x'.repeat(120)}/.clearance-role`;
      const p = controlPathFor(deep, 'linux');
      assert.match(p, /clearance-role-[0-9a-f]{16}[/\\]control\.sock$/);
      assert.equal(path.dirname(path.dirname(p)), os.tmpdir());
      assert.ok(Buffer.byteLength(p) < 104 || os.tmpdir().length > 60);
      assert.equal(controlPathFor(deep, 'linux'), p, 'stable');
      assert.notEqual(controlPathFor(`${deep}2`, 'linux'), p);
    });

    it('uses a named pipe on Windows', () => {
      assert.match(controlPathFor('C:\\site\\.clearance-role', 'win32'), /^\\\\\.\\pipe\\clearance-role-[0-9a-f]{16}$/);
    });
  });

  describe('parseClientMessage', () => {
    it('reads the four messages', () => {
      assert.deepEqual(parseClientMessage({ type: 'hello', id: 0, protocol: 1, client: 'cli' }), { type: 'hello', id: 0, protocol: 1, client: 'cli' });
      assert.deepEqual(parseClientMessage({ type: 'request', id: 'a', command: 'status', args: { x: 1 }, session: 'u1' }), {
        type: 'request',
        id: 'a',
        command: 'status',
        args: { x: 1 },
        session: 'u1',
      });
      assert.deepEqual(parseClientMessage({ type: 'subscribe', id: 2 }), { type: 'subscribe', id: 2 });
      assert.deepEqual(parseClientMessage({ type: 'unsubscribe', id: 3 }), { type: 'unsubscribe', id: 3 });
    });

    it('says what is wrong with a bad one', () => {
      assert.match(parseClientMessage([]) as string, /object/);
      assert.match(parseClientMessage({ type: 'request', command: 'x' }) as string, /"id"/);
      assert.match(parseClientMessage({ type: 'request', id: 1 }) as string, /command/);
      assert.match(parseClientMessage({ type: 'request', id: 1, command: 'x', session: 5 }) as string, /session/);
      assert.match(parseClientMessage({ type: 'dance', id: 1 }) as string, /unknown message type "dance"/);
    });
  });

  describe('errors on the wire', () => {
    const roundTrip = (error: unknown) => fromWireError(JSON.parse(JSON.stringify(toWireError(error))));

    it('a ValidationError keeps every field issue, under code ValidationFailed', () => {
      const e = roundTrip(new ValidationError('The role properties', [
        { field: 'proxy.port', message: 'must be 1–65535' },
        { field: 'proxy.host', message: 'required' },
      ]));
      assert.ok(e instanceof ControlError);
      assert.equal(e.code, 'ValidationFailed');
      assert.equal(e.name, 'ValidationError');
      assert.deepEqual(e.issues, [
        { field: 'proxy.port', message: 'must be 1–65535' },
        { field: 'proxy.host', message: 'required' },
      ]);
      assert.match(e.message, /The role properties is not valid/);
    });

    it('known engine errors get their stable code', () => {
      assert.equal(toWireError(new PrivilegeDenied('u1', 'decideRequest', 'viewRequestNotifications')).code, 'PrivilegeDenied');
      assert.equal(toWireError(new AccountNotConnectedError()).code, 'AccountNotConnected');
      const net = toWireError(new NetworkError({ method: 'GET', url: 'https://x/y', attempts: 1, code: 'ECONNREFUSED', detail: 'refused' }));
      assert.equal(net.code, 'NetworkError', 'not the errno');
      const named = new Error('no such selection');
      named.name = 'SelectionRefused';
      assert.equal(toWireError(named).code, 'SelectionRefused');
    });

    it('an error with its own PascalCase code keeps it, with its field', () => {
      const w = toWireError(new SiteError('UnknownCamera', 'There is no camera c9.', 'camera'));
      assert.deepEqual(w, { code: 'UnknownCamera', name: 'SiteError', message: 'There is no camera c9.', issues: [{ field: 'camera', message: 'There is no camera c9.' }] });
      const f = toWireError(new SiteFileError('site.json', [{ field: 'cameras[0].id', message: 'required' }]));
      assert.equal(f.code, 'SiteFileInvalid');
      assert.deepEqual(f.issues, [{ field: 'cameras[0].id', message: 'required' }]);
    });

    it('a one-field input error becomes a validation issue without the field prefix', () => {
      class UploadInputError extends Error {
        constructor(
          readonly field: string,
          message: string,
        ) {
          super(`${field}: ${message}`);
          this.name = 'UploadInputError';
        }
      }
      const w = toWireError(new UploadInputError('title', 'must not be empty'));
      assert.equal(w.code, 'ValidationFailed');
      assert.deepEqual(w.issues, [{ field: 'title', message: 'must not be empty' }]);
    });

    it('a zod error names the path of each issue', () => {
      const result = z.object({ proxy: z.object({ port: z.number() }) }).safeParse({ proxy: { port: 'x' } });
      assert.ok(!result.success);
      const w = toWireError(result.error);
      assert.equal(w.code, 'ValidationFailed');
      assert.equal(w.issues?.[0]?.field, 'proxy.port');
    });

    it('anything else is an InternalError with its message; errno codes are not kept', () => {
      const enoent = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
      assert.deepEqual(toWireError(enoent), { code: 'InternalError', name: 'Error', message: 'ENOENT: no such file' });
      assert.equal(toWireError('boom').code, 'InternalError');
      assert.equal(toWireError(undefined).code, 'InternalError');
    });

    it('a ControlError relays as it is', () => {
      const e = new ControlError('PrivilegeDenied', 'no', { name: 'PrivilegeDenied', issues: [{ field: 'user', message: 'x' }] });
      assert.deepEqual(toWireError(e), { code: 'PrivilegeDenied', name: 'PrivilegeDenied', message: 'no', issues: [{ field: 'user', message: 'x' }] });
    });
  });

  describe('LineReader', () => {
    it('splits lines across chunks, multibyte characters included', () => {
      const lines: string[] = [];
      const reader = new LineReader((l) => lines.push(l));
      const bytes = Buffer.from('{"a":"é€"}\n{"b":1}\n{"c"', 'utf8');
      for (let i = 0; i < bytes.length; i++) reader.push(bytes.subarray(i, i + 1));
      reader.push(Buffer.from(':2}\n'));
      assert.deepEqual(lines, ['{"a":"é€"}', '{"b":1}', '{"c":2}']);
    });

    it('stops at a line longer than the limit, even before its newline', () => {
      const lines: string[] = [];
      let tooLong = 0;
      const reader = new LineReader((l) => lines.push(l), 10, () => tooLong++);
      reader.push(Buffer.from('0123456789\n0123'));
      reader.push(Buffer.from('4567890'));
      reader.push(Buffer.from('\nok\n'));
      assert.deepEqual(lines, ['0123456789']);
      assert.equal(tooLong, 1);
    });
  });

  describe('coalescing', () => {
    const progress = (id: string, sent: number) => ({ kind: 'upload', event: { kind: 'progress', job: { id, sentBytes: sent } } });
    const finished = (id: string) => ({ kind: 'upload', event: { kind: 'finished', job: { id } } });

    it('roleEventCoalescing keys upload events by job', () => {
      assert.deepEqual(roleEventCoalescing(progress('j1', 1)), { key: 'upload:j1', coalesce: true });
      assert.deepEqual(roleEventCoalescing(finished('j1')), { key: 'upload:j1', coalesce: false });
      assert.deepEqual(roleEventCoalescing({ kind: 'upload', event: { kind: 'removed', jobId: 'j1' } }), { key: 'upload:j1', coalesce: false });
      assert.equal(roleEventCoalescing({ kind: 'status', status: 'running' }), undefined);
      assert.equal(roleEventCoalescing(null), undefined);
    });

    it('lets at most one progress per interval and upload through: leading edge, then the latest', () => {
      const timers = new FakeTimers();
      const out: unknown[] = [];
      const c = new Coalescer<unknown>(roleEventCoalescing, (e) => out.push(e), 250, timers);
      for (let i = 1; i <= 10; i++) c.push(progress('a', i));
      assert.deepEqual(out, [progress('a', 1)], 'leading edge at once');
      timers.advance(249);
      assert.equal(out.length, 1);
      timers.advance(1);
      assert.deepEqual(out, [progress('a', 1), progress('a', 10)], 'trailing edge: the latest');
      // A steady stream for 10 s: at most 4 a second.
      for (let t = 0; t < 10_000; t += 10) {
        c.push(progress('a', 100 + t));
        timers.advance(10);
      }
      assert.ok(out.length - 2 <= 41, `${out.length - 2} in 10 s`);
      timers.advance(1000);
      assert.deepEqual(out.at(-1), progress('a', 100 + 9990), 'the last one is never lost');
      assert.equal(timers.size, 0, 'no timer left once quiet');
    });

    it('keeps uploads apart and lets other events through at once', () => {
      const timers = new FakeTimers();
      const out: unknown[] = [];
      const c = new Coalescer<unknown>(roleEventCoalescing, (e) => out.push(e), 250, timers);
      c.push(progress('a', 1));
      c.push(progress('b', 1));
      c.push({ kind: 'status', status: 'running' });
      c.push(progress('a', 2));
      assert.deepEqual(out, [progress('a', 1), progress('b', 1), { kind: 'status', status: 'running' }]);
      timers.advance(250);
      assert.deepEqual(out.at(-1), progress('a', 2));
    });

    it('a finished upload drops its held progress: no stale progress after it', () => {
      const timers = new FakeTimers();
      const out: unknown[] = [];
      const c = new Coalescer<unknown>(roleEventCoalescing, (e) => out.push(e), 250, timers);
      c.push(progress('a', 1));
      c.push(progress('a', 2));
      c.push(finished('a'));
      timers.advance(1000);
      assert.deepEqual(out, [progress('a', 1), finished('a')]);
      assert.equal(c.dropped, 1);
    });
  });
});
