// The service as a child process, started through its command line the way an
// operator starts it: `node --import tsx src/emulator/main.ts …`.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export const MAIN = path.resolve(__dirname, '../../../src/emulator/main.ts');

export interface ChildService {
  proc: ChildProcess;
  pid: number;
  baseUrl: string;
  connectionFilePath: string;
  /** The lines it printed before READY, by label ("blob (Azurite)" → URL). */
  printed: Record<string, string>;
  output: () => string;
  /** Resolves with the exit code (or signal) once it ended. */
  ended: Promise<number | string>;
}

export function startChild(args: string[], timeoutMs = 45000): Promise<ChildService> {
  // The IPC channel stops the service should this test process die first.
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const ended = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`the service did not print READY within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = (): void => {
      const m = /^READY (\{.*\})$/m.exec(out);
      if (!m) return;
      clearTimeout(timer);
      proc.stdout!.off('data', onData);
      const ready = JSON.parse(m[1]) as { baseUrl: string; connectionFilePath: string; pid: number };
      const printed: Record<string, string> = {};
      for (const line of out.split('\n')) {
        const lm = /^ {2}(\S.*?)\s{2,}(\S+)$/.exec(line);
        if (lm) printed[lm[1]] = lm[2];
      }
      resolve({ proc, pid: ready.pid, baseUrl: ready.baseUrl, connectionFilePath: ready.connectionFilePath, printed, output: () => out, ended });
    };
    proc.stdout!.on('data', onData);
    void ended.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the service exited (${code}) before READY:\n${out}`));
    });
  });
}

/** Runs one CLI command to its end. */
export function runCli(args: string[], timeoutMs = 45000): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`clearance-emulator ${args.join(' ')} did not end within ${timeoutMs} ms`));
    }, timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
