// How `clearance-role approve|deny|export…` reach a running runner: a local
// socket (a Unix domain socket in the role's owner-only state folder, or a
// named pipe on Windows) that the runner names in the site lock file. One JSON
// line in, one JSON line out, one command per connection.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface ControlRequest {
  command: string;
  /** The site user who asks (id or login name); checked by the role like any other entry point. */
  user?: string;
  args?: Record<string, unknown>;
}

export type ControlResponse = { ok: true; result: unknown } | { ok: false; error: { name: string; message: string } };

/** Longest request accepted: commands are small. */
const MAX_REQUEST_BYTES = 64 * 1024;

/** Where the runner of `stateDir` listens. Unix socket paths are short (about 100 bytes), hence the fallback. */
export function controlPathFor(stateDir: string): string {
  const hash = createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 16);
  if (process.platform === 'win32') return `\\\\.\\pipe\\clearance-role-${hash}`;
  const inState = path.join(path.resolve(stateDir), 'control.sock');
  return Buffer.byteLength(inState) < 100 ? inState : path.join(os.tmpdir(), `clearance-role-${hash}.sock`);
}

export interface ControlServer {
  close(): Promise<void>;
}

/** Listens on `socketPath` (a stale socket left by a killed runner is replaced: the caller holds the site lock). */
export async function serveControl(socketPath: string, handle: (request: ControlRequest) => Promise<unknown>): Promise<ControlServer> {
  if (process.platform !== 'win32') await fs.rm(socketPath, { force: true });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (Buffer.byteLength(buffer) > MAX_REQUEST_BYTES) {
        reply(socket, { ok: false, error: { name: 'RequestTooLarge', message: 'The command is too large.' } });
        return;
      }
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      const line = buffer.slice(0, newline);
      buffer = '';
      socket.pause();
      let request: ControlRequest;
      try {
        request = JSON.parse(line) as ControlRequest;
        if (typeof request?.command !== 'string') throw new Error('no command');
      } catch {
        reply(socket, { ok: false, error: { name: 'BadRequest', message: 'The command is not valid JSON with a "command" field.' } });
        return;
      }
      handle(request).then(
        (result) => reply(socket, { ok: true, result: result ?? null }),
        (error: unknown) => reply(socket, { ok: false, error: describe(error) }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  if (process.platform !== 'win32') await fs.chmod(socketPath, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export class ControlError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** Sends one command and answers its result; a refused command throws ControlError with the runner's message. */
export function sendControl(socketPath: string, request: ControlRequest, timeoutMs = 0): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let buffer = '';
    let timer: NodeJS.Timeout | undefined;
    const finish = (error: Error | undefined, value?: unknown): void => {
      if (timer) clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value);
    };
    if (timeoutMs > 0) timer = setTimeout(() => finish(new Error(`The running role did not answer within ${Math.round(timeoutMs / 1000)} s.`)), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      try {
        const response = JSON.parse(buffer.slice(0, newline)) as ControlResponse;
        if (response.ok) finish(undefined, response.result);
        else finish(new ControlError(response.error.name, response.error.message));
      } catch {
        finish(new Error('The running role answered something that is not a command result.'));
      }
    });
    socket.on('error', (error) => finish(new Error(`Cannot reach the running role at ${socketPath}: ${error.message}`)));
    socket.on('close', () => finish(new Error('The running role closed the connection without answering.')));
  });
}

function reply(socket: net.Socket, response: ControlResponse): void {
  if (socket.destroyed) return;
  socket.end(JSON.stringify(response) + '\n');
}

function describe(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: String(error) };
}
