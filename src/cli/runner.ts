// `clearance-role run`: the role as a long-lived service. It opens the role for
// one site, serves control protocol v1 on its owner-only socket (every command
// through the one command table, which checks the session and the privilege),
// polls and works the upload queue. Without an account it still serves the
// socket, so that a console can import one; it starts polling once one is there.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { ControlClient, roleEventCoalescing, serveControl, type ControlServer } from '../core/control';
import type { RoleHost } from '../core/role/commands';
import type { Role } from '../core/role/role';
import { roleLogFileFor } from '../core/role/roleFolders';
import { SiteLock } from '../core/role/siteLock';
import type { RoleEvent } from '../core/role/snapshot';
import { tailLog } from './logFile';

export interface RunnerPaths {
  siteDir: string;
  stateDir: string;
  lockFile: string;
  controlPath: string;
}

/** The runner as the role's host: `stop` over the socket ends the process, `log.tail` reads its log. */
export class RunnerHost implements RoleHost {
  private onStop: ((by: string) => void) | undefined;
  constructor(private readonly logFile: string | undefined) {}

  async stop(by: string): Promise<void> {
    // The reply goes out first; then the role stops as on SIGTERM.
    setImmediate(() => this.onStop?.(by));
  }

  logTail(lines: number): Promise<string[]> {
    return this.logFile ? tailLog(this.logFile, lines) : Promise.resolve([]);
  }

  whenStopAsked(listener: (by: string) => void): void {
    this.onStop = listener;
  }
}

export async function serve(role: Role, host: RunnerHost, paths: RunnerPaths, log: (line: string) => void): Promise<number> {
  let server: ControlServer | undefined;
  let stopping: Promise<void> | undefined;
  let finished!: (code: number) => void;
  const done = new Promise<number>((resolve) => (finished = resolve));
  // A stop asked over the socket ends the process as a signal does.
  const shutdown = (why: string): Promise<void> => {
    stopping ??= (async () => {
      log(`${why}: stopping`);
      await server?.close();
      await role.close();
      log('stopped');
    })().then(
      () => finished(0),
      (error: unknown) => {
        log(`stop failed: ${(error as Error).message}`);
        finished(1);
      },
    );
    return stopping;
  };
  host.whenStopAsked((by) => void shutdown(`stop asked by ${by}`));
  try {
    for (const r of role.read.activitiesSinceOpen()) log(`activity #${r.seq} ${r.type}: ${r.summary}`);
    watch(role, log);
    server = await serveControl(paths.controlPath, {
      execute: (command, args, session, client) => role.execute(command, args, session, client.name),
      snapshot: (session) => role.execute('role.snapshot', {}, session, 'subscribe'),
      onEvent: (listener) => role.onDidChange(listener),
      coalesceKey: roleEventCoalescing,
    }, { log, role: { site: (await role.read.publicState()).site.name, pid: process.pid, startedAt: new Date().toISOString() } });
    if (await role.read.account()) await role.start();
    else log('no account connected: waiting for a connection file (import one from the console, or run with --connection <file>)');
    // An account imported over the socket starts the polling.
    role.onDidChange((e) => {
      if (e.kind === 'account' && e.account && !stopping && !role.isRunning) {
        role.start().catch((error: unknown) => log(`start failed: ${(error as Error).message}`));
      }
    });
  } catch (error) {
    await shutdown('start failed');
    throw error;
  }
  const state = await role.read.publicState();
  log(
    `role running for ${state.site.name} (${paths.siteDir}); account ${state.accountId ?? 'none'}; polling every ${state.pollIntervalMs / 1000} s; ` +
      `${state.registryCameras} camera(s) selected; control ${paths.controlPath}`,
  );
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      log(`${signal} again: exiting at once`);
      process.exit(130);
    }
    void shutdown(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return done;
}

/** What the runner logs: every activity record, connection changes, upload progress. */
function watch(role: Role, log: (line: string) => void): void {
  let connection = '';
  let nextTry: string | undefined;
  const progress = new Map<string, number>();
  role.onDidChange((e: RoleEvent) => {
    if (e.kind === 'activity') log(`activity #${e.record.seq} ${e.record.type}: ${e.record.summary}`);
    else if (e.kind === 'connection') {
      const { state, lastError, poller } = e.connection;
      if (state !== connection) {
        connection = state;
        log(`connection: ${state}${state === 'unreachable' && lastError ? ` (${lastError})` : ''}`);
      }
      // The next try is known once the poller has chosen its back-off, one change after the failure.
      if (state === 'unreachable' && poller.state === 'backingOff' && poller.nextPollAt && poller.nextPollAt !== nextTry) {
        nextTry = poller.nextPollAt;
        log(`connection: next try ${nextTry}`);
      }
    } else if (e.kind === 'upload' && e.event.kind === 'progress') {
      const job = e.event.job;
      const quarter = job.totalBytes > 0 ? Math.floor((4 * job.sentBytes) / job.totalBytes) : 0;
      if (quarter > (progress.get(job.id) ?? 0) && quarter < 4) {
        progress.set(job.id, quarter);
        const rate = job.rate > 0 ? `, ${(job.rate / 125_000).toFixed(2)} Mbps` : '';
        log(`upload "${job.title}": ${quarter * 25}% of ${job.totalBytes} bytes${rate}${job.secondsLeft !== undefined ? `, ${job.secondsLeft} s left` : ''}`);
      }
    } else if (e.kind === 'notification' && e.users.length) {
      log(`notify ${e.users.map((u) => u.name).join(', ')}: new video request ${e.request.requestId}`);
    }
  });
}


/**
 * `run --detach`: starts this same command in the background (its own session,
 * no terminal, its log in the state folder) and returns once its socket answers.
 */
export async function detach(argv: string[], paths: RunnerPaths, timeoutMs = 120_000): Promise<{ pid: number; logFile: string }> {
  const logFile = roleLogFileFor(paths.stateDir);
  await fs.mkdir(paths.stateDir, { recursive: true, mode: 0o700 });
  const args = [...process.execArgv, process.argv[1], ...argv.filter((a) => a !== '--detach'), '--log-file', logFile];
  const before = (await fs.stat(logFile).catch(() => undefined))?.size ?? 0;
  // In VS Code, execPath is the editor's own runtime: run it as plain Node.
  const child = spawn(process.execPath, args, { detached: true, stdio: 'ignore', env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  child.unref();
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== undefined) {
      const text = (await fs.readFile(logFile, 'utf8').catch(() => '')).slice(before);
      throw new Error(`the role exited (code ${exited}) before it answered:\n${text.trim().split('\n').slice(-15).join('\n')}`);
    }
    const holder = await SiteLock.holder(paths.lockFile);
    if (holder && holder.pid === child.pid && holder.controlPath) {
      try {
        const client = await ControlClient.connect(holder.controlPath, { client: 'cli' });
        try {
          await client.request('role.state');
          return { pid: child.pid!, logFile };
        } finally {
          await client.close();
        }
      } catch {
        // not listening yet
      }
    }
    if (Date.now() > until) {
      child.kill('SIGTERM');
      throw new Error(`the role did not answer within ${Math.round(timeoutMs / 1000)} s; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
