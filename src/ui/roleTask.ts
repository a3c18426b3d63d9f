// The "Run Clearance Role" task (type `clearance`, action `run`): a
// CustomExecution whose terminal attaches to the site's role (starting it in
// the background when none runs) and shows the role's live log.
//
// The role is its own process (src/cli): the terminal is only a view of it.
// When the terminal goes away, VS Code calls Pseudoterminal.close() whatever
// the cause, and close() says nothing of the cause. The cause is in the
// terminal's exit status, which the extension host reports right after
// (window.onDidCloseTerminal, Terminal.exitStatus.reason):
//
//   - Tasks: Terminate Task / Restart Task: the task system disposes the
//     terminal without a reason, so it is TerminalExitReason.Unknown;
//   - the terminal's trash icon / Kill Terminal: TerminalExitReason.User;
//   - closing or reloading the window: TerminalExitReason.Shutdown (the
//     terminal service disposes every terminal; the task service does not
//     terminate tasks itself when they run in terminals).
//
// Decision: Unknown, User and Extension are a request to stop the role: the
// caller's confirmStop() is asked (it warns about uploads in flight) and, if
// confirmed, stopRole() is called. Shutdown leaves the role running. When no
// exit status arrives in time (the extension host going away first), or once
// this registration is disposed (deactivation), the role is left running too:
// the role is only ever stopped on an explicit, confirmed request. Ctrl+C in
// the terminal asks to stop the same way, and ends the task once the role
// stopped. A role stopped elsewhere (another console, `clearance-role stop`)
// ends the task.
import * as vscode from 'vscode';
import { followLog, roleLogFile, RoleAlreadyRunning, type LogFollower } from './roleProcess';

export const ROLE_TASK_TYPE = 'clearance';
export const ROLE_TASK_LABEL = 'Run Clearance Role';
export const ROLE_TASK_SOURCE = 'Clearance';

export interface RoleTaskDefinition extends vscode.TaskDefinition {
  type: typeof ROLE_TASK_TYPE;
  action: 'run';
}

export interface RoleTaskDeps {
  /** The configured site folder (absolute), if any. */
  siteDir(): string | undefined;
  /** Starts the role in the background (startRoleProcess) and attaches the window to it. */
  start(): Promise<void>;
  /** Asks the running role to stop and resolves once it has. */
  stopRole(): Promise<void>;
  /** Asks the user (modal) whether to stop the role; warns about uploads in flight. */
  confirmStop(): Promise<boolean>;
  /** Whether a role runs for the site and answers. */
  isRunning(): Promise<boolean>;
  /** The role's state folder when it is not <site>/.clearance-role. */
  stateDir?(): string | undefined;
  /** The output channel: why the terminal did or did not stop the role. */
  log?(line: string): void;
}

export interface RoleTaskRegistration extends vscode.Disposable {
  /** Runs the task, or answers the execution already running. */
  run(): Promise<vscode.TaskExecution>;
  /** The task, e.g. for vscode.tasks.executeTask. */
  task(): vscode.Task;
}

const LOG_LINES = 50;
/** How long close() waits for the terminal's exit status. */
const EXIT_REASON_WAIT_MS = 3000;
/** An exit status reported this long before close() still counts for it. */
const EARLY_STATUS_MS = 250;
/** How often the terminal checks that the role still runs. */
const ALIVE_POLL_MS = 5000;

export function isRoleTaskDefinition(definition: vscode.TaskDefinition): definition is RoleTaskDefinition {
  return definition.type === ROLE_TASK_TYPE && (definition as { action?: unknown }).action === 'run';
}

export function registerRoleTask(_context: vscode.ExtensionContext, deps: RoleTaskDeps): RoleTaskRegistration {
  const closes = new TerminalCloses();
  const build = (definition: RoleTaskDefinition, name = ROLE_TASK_LABEL, scope?: vscode.Task['scope']): vscode.Task => {
    const task = new vscode.Task(
      definition,
      scope ?? vscode.TaskScope.Workspace,
      name,
      ROLE_TASK_SOURCE,
      new vscode.CustomExecution(() => Promise.resolve<vscode.Pseudoterminal>(new RoleLogTerminal(deps, closes))),
      [],
    );
    task.isBackground = true;
    task.presentationOptions = {
      reveal: vscode.TaskRevealKind.Always,
      panel: vscode.TaskPanelKind.Dedicated,
      echo: false,
      clear: true,
      showReuseMessage: false,
    };
    return task;
  };
  const provider: vscode.TaskProvider = {
    provideTasks: () => [build({ type: ROLE_TASK_TYPE, action: 'run' })],
    // A `clearance` task of tasks.json: same definition object, our execution.
    resolveTask: (task) => (isRoleTaskDefinition(task.definition) ? build(task.definition, task.name, task.scope) : undefined),
  };
  const registration = vscode.tasks.registerTaskProvider(ROLE_TASK_TYPE, provider);
  return {
    task: () => build({ type: ROLE_TASK_TYPE, action: 'run' }),
    run: async () => {
      const running = vscode.tasks.taskExecutions.find((e) => isRoleTaskDefinition(e.task.definition));
      return running ?? (await vscode.tasks.executeTask(build({ type: ROLE_TASK_TYPE, action: 'run' })));
    },
    dispose: () => {
      closes.dispose();
      registration.dispose();
    },
  };
}

type CloseCause = 'stop' | 'shutdown' | 'unknown';

/**
 * The exit statuses of terminals as the extension host reports them, so that a
 * Pseudoterminal.close() can learn why it was called. The host sends close()
 * first, then onDidCloseTerminal; a status reported shortly before close() is
 * taken too. Each status is claimed by one close() only, so an earlier
 * terminal's status cannot answer for a later one.
 */
class TerminalCloses implements vscode.Disposable {
  private recent: { at: number; name: string; reason: vscode.TerminalExitReason | undefined }[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly sub: vscode.Disposable;
  disposed = false;

  constructor() {
    this.sub = vscode.window.onDidCloseTerminal((t) => {
      const now = Date.now();
      this.recent = [...this.recent.filter((r) => now - r.at < EARLY_STATUS_MS), { at: now, name: t.name, reason: t.exitStatus?.reason }];
      for (const w of [...this.waiters]) w();
    });
  }

  /** Why the terminal closed at `since`. */
  cause(since: number, timeoutMs = EXIT_REASON_WAIT_MS): Promise<CloseCause> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (cause: CloseCause): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(cause);
      };
      const decide = (): void => {
        if (done) return;
        if (this.disposed) return finish('shutdown');
        const seen = this.recent.filter((r) => r.at >= since - EARLY_STATUS_MS);
        if (!seen.length) return;
        // The window closing disposes every terminal with Shutdown: any one of them says so (left for the others to see).
        if (seen.some((r) => r.reason === vscode.TerminalExitReason.Shutdown)) return finish('shutdown');
        const ours = seen.find((r) => r.name.includes(ROLE_TASK_LABEL)) ?? seen[0];
        this.recent = this.recent.filter((r) => r !== ours);
        finish(ours.reason === vscode.TerminalExitReason.Process ? 'unknown' : 'stop');
      };
      // Let the other terminals closed in the same batch (a shutdown) report too.
      const check = (): void => void setTimeout(decide, 50);
      const timer = setTimeout(() => finish(this.disposed ? 'shutdown' : 'unknown'), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  dispose(): void {
    this.disposed = true;
    this.sub.dispose();
    for (const w of [...this.waiters]) w();
  }
}

const ESC = '\x1b[';
const dim = (s: string): string => `${ESC}2m${s}${ESC}0m`;
const red = (s: string): string => `${ESC}31m${s}${ESC}0m`;
const yellow = (s: string): string => `${ESC}33m${s}${ESC}0m`;
const bold = (s: string): string => `${ESC}1m${s}${ESC}0m`;

/** A log line as terminal text: no control characters of its own (names come from outside), timestamp dimmed. */
function styled(line: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = line.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '\uFFFD');
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (.*)$/.exec(clean);
  const [stamp, text] = m ? [m[1], m[2]] : ['', clean];
  const body = /\b(failed|error|refused|cannot)\b/i.test(text) ? red(text) : /\bwarning\b|unreachable/i.test(text) ? yellow(text) : text;
  return stamp ? `${dim(stamp)} ${body}` : body;
}

class RoleLogTerminal implements vscode.Pseudoterminal {
  private readonly writer = new vscode.EventEmitter<string>();
  private readonly closer = new vscode.EventEmitter<number>();
  readonly onDidWrite = this.writer.event;
  readonly onDidClose = this.closer.event;

  private follower: LogFollower | undefined;
  private alive: NodeJS.Timeout | undefined;
  private starting: Promise<unknown> | undefined;
  private stopping = false;
  /** close() was called, or we closed: nothing more to show. */
  private closed = false;
  /** We fired onDidClose: a later close() is only the terminal going away. */
  private ended = false;

  constructor(
    private readonly deps: RoleTaskDeps,
    private readonly closes: TerminalCloses,
  ) {}

  open(): void {
    void this.attach().catch((error: unknown) => {
      this.line(red(`The role terminal failed: ${(error as Error).message}`));
      this.end(1);
    });
  }

  close(): void {
    const at = Date.now();
    this.closed = true;
    this.stopFollowing();
    if (this.ended) return;
    this.ended = true;
    void this.closes.cause(at).then(async (cause) => {
      if (cause === 'shutdown') {
        this.log('the window is closing: the role keeps running');
        return;
      }
      if (cause === 'unknown') {
        this.log('the role terminal closed for a reason VS Code did not report: the role keeps running (Clearance: Stop Role stops it)');
        return;
      }
      await this.requestStop('the task was terminated');
    });
  }

  handleInput(data: string): void {
    if (data.includes('\x03')) void this.requestStop('Ctrl+C');
  }

  private async attach(): Promise<void> {
    const site = this.deps.siteDir();
    if (!site) {
      this.line(red('No site folder is set: set clearance.site.folder to the folder of your site (site.json and recordings/), then run the task again.'));
      this.end(1);
      return;
    }
    this.line(bold(`Clearance role for ${site}`));
    if (await this.deps.isRunning()) {
      this.line('Attached to the role already running for this site.');
    } else {
      this.line('Starting the role in the background…');
      this.starting = this.deps.start();
      try {
        await this.starting;
        this.line('The role is running.');
      } catch (error) {
        if (!(error instanceof RoleAlreadyRunning)) {
          this.line(red(`The role did not start: ${(error as Error).message}`));
          this.end(1);
          return;
        }
        this.line(yellow(`${error.message} Showing its log.`));
      }
    }
    if (this.closed) return;
    const file = roleLogFile(site, this.deps.stateDir?.());
    this.line(dim(`Log: ${file}. Terminate the task (or press Ctrl+C here) to stop the role; closing the window leaves it running.`));
    this.line('');
    this.follower = followLog(file, {
      lines: LOG_LINES,
      onLine: (l) => this.line(styled(l)),
      onNote: (n) => this.line(dim(n)),
    });
    await this.follower.ready;
    this.watchAlive();
  }

  /** Ends the task when the role stops without us (another console, `clearance-role stop`, a crash). */
  private watchAlive(): void {
    if (this.closed) return;
    let misses = 0;
    let checking = false;
    this.alive = setInterval(() => {
      if (this.closed) return this.stopFollowing();
      if (checking || this.stopping) return;
      checking = true;
      this.deps
        .isRunning()
        .then((running) => {
          misses = running ? 0 : misses + 1;
          if (misses >= 2 && !this.stopping && !this.closed) {
            this.line(yellow('The role is no longer running.'));
            this.end(0);
          }
        })
        .catch(() => undefined)
        .finally(() => (checking = false));
    }, ALIVE_POLL_MS);
  }

  /** Confirmed by the user, stops the role; ends the task when it stopped. */
  private async requestStop(why: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    try {
      await this.starting?.catch(() => undefined);
      if (!(await this.deps.isRunning())) {
        this.log(`${why}: the role is not running`);
        this.end(0);
        return;
      }
      if (!(await this.deps.confirmStop())) {
        this.log(`${why}: stopping the role was declined; it keeps running`);
        this.line(dim('The role keeps running.'));
        return;
      }
      this.log(`${why}: stopping the role`);
      this.line('Stopping the role…');
      await this.deps.stopRole();
      this.line('The role stopped.');
      this.end(0);
    } catch (error) {
      this.log(`${why}: stopping the role failed: ${(error as Error).message}`);
      this.line(red(`Stopping the role failed: ${(error as Error).message}`));
      if (this.closed) void vscode.window.showErrorMessage(`Clearance: stopping the role failed: ${(error as Error).message}`);
    } finally {
      this.stopping = false;
    }
  }

  private line(text: string): void {
    if (!this.closed) this.writer.fire(`${text}\r\n`);
  }

  private log(text: string): void {
    this.deps.log?.(`role task: ${text}`);
  }

  private stopFollowing(): void {
    this.follower?.dispose();
    this.follower = undefined;
    if (this.alive) clearInterval(this.alive);
    this.alive = undefined;
  }

  /** Ends the task with `code` (the terminal stays, as VS Code shows ended tasks). */
  private end(code: number): void {
    this.stopFollowing();
    if (this.ended) {
      this.closed = true;
      return;
    }
    this.ended = true;
    this.closer.fire(code);
    this.closed = true;
  }
}
