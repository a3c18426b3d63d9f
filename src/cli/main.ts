// clearance-role: the headless role runner and its scripted commands. The same
// Role engine as the VS Code console, without VS Code.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { hashPassword, passwordIssues } from '../core/auth/passwords';
import { writeSignInTicket } from '../core/auth/siteSessions';
import { FileSecretStore } from '../core/config/secretStore';
import { reportListenerErrors } from '../core/events';
import { ValidationError, formatIssues } from '../core/config/fieldErrors';
import { validateRoleProperties, type RoleProperties } from '../core/config/roleProperties';
import { ControlClient, controlPathFor, isControlError } from '../core/control';
import type { RoleHost } from '../core/role/commands';
import { Role } from '../core/role/role';
import { roleStateDirFor } from '../core/role/roleFolders';
import { SiteLock, SiteLockHeld, siteLockFileFor } from '../core/role/siteLock';
import { LocalFolderSite, resolveFfmpeg } from '../core/site';
import { RotatingLog } from './logFile';
import { PasswordUnavailable, promptPassword, readPasswordFile } from './password';
import { detach, RunnerHost, serve } from './runner';
import { SCRIPTED_COMMANDS, scriptedCall, type ScriptedCall, type ScriptedCommand } from './scripted';

const USAGE = `Usage: clearance-role <command> --site <dir> [options]

Runs the Clearance plugin role for a local site without VS Code: publishes the
selected cameras to the Clearance registry, picks up video requests, exports
and uploads evidence through the encrypted, throttled upload queue, and keeps
the activity trail. Only one role instance runs per site. Consoles (VS Code
windows, these commands) are its clients over an owner-only local socket
(control protocol v1, docs/control-protocol.md).

  run --site <dir> [--connection <file>] [--properties <json file>]
      [--proxy-password-file <file>] [--detach]
      Serves the site until SIGINT, SIGTERM or \`clearance-role stop\` (then stops
      cleanly: the poll in flight is aborted, uploads resume on the next run).
      Without an account it waits for one to be imported from a console.
      --detach       start in the background and return once it answers; its
                     log goes to <state>/role.log (rotated at 5 MiB, 3 kept).
      --log-file <file>  log to this file (rotated the same way) instead of
                     stdout; consoles read it with the log.tail command.
      --connection   the account's JSON connection file; imported when it
                     differs from the account already kept in the state.
      --properties   role properties as JSON: pollingIntervalSeconds,
                     archiveDestinationFolder, throttlingEnabled,
                     maximumBandwidthMbps, proxy {enabled, host, port, username}.
                     Without it, the properties of the last run (or defaults).
      --proxy-password-file <file>
                     the proxy password (for proxy.username), read from this
                     file (one trailing newline is dropped; keep it owner-only).
                     Kept in the role's secret store, never logged; without it,
                     the password kept from an earlier run (if any).
      --poll-interval <s>      poll every <s> seconds (decimals allowed), overriding
                               the property: for tests and demos.
      --max-part-seconds <s>   cut exported files every <s> seconds (default 3600).
      --verbose, -v            also log every poll and every discovery answer.

  Scripted commands sign in as a site user: --user <login name> and the
  password from --password-file <file> (or typed at the prompt on a terminal).
  When a runner holds the site they go to it over its control socket;
  otherwise the command opens the role itself, does its work to the end, and
  exits. The role checks the session, then the user's privileges.

  approve <request> [--wait]                 approve a pending video request
                                             (id or its first characters);
                                             --wait: until it is final
  deny <request> --reason <text>             deny it, telling the requester why
  unavailable <request> [--reason <text>]    answer a pending request "video
                                             unavailable" (nothing is exported;
                                             default reason: no recordings
                                             available at the site)
  export --camera <c> [--camera <c>...] --from <iso> --to <iso>
         [--case <caseId> | --new-case <name> [--department <id>] [--category <id>]
         [--case-info <text>]] [--name <evidence name>] [--wait]
                                             send recordings (at most 24 h)
  snapshot --camera <c> --at <iso> [case options] [--wait]
  pause-uploads                              pause every queued or running upload
  resume-uploads                             resume every paused upload (without
                                             a runner: they go at its next run)
  select add|remove (--camera|--area|--federation) <id or name>
                                             change the camera selection
  notify [--notify-user <v>...]              who is told of new requests
  status                                     what the role holds now (the parts
                                             the user may see)
  requests                                   the video requests
  poll                                       poll now
  verify                                     check the activity trail's chain and its
                                             anchors at the service (exit code 1 when
                                             either does not verify)
  activities [--csv]                         the activity trail (JSON or CSV)
  stop                                       stop the running role (needs View
                                             plugin configuration)

  Site users (the site owner, acting on the site's files):
  users set-password <user> [--password-file <file>]
                                             set a user's password (scrypt hash
                                             in site.json; asked twice on a TTY)
  users sign-in-ticket <user> [--out <file>] a one-time sign-in for a console
                                             (valid 24 h, deleted when used)
  users list                                 the users, their privileges, and
                                             whether they have a password

Common options:
  --state <dir>    the role's state (default <site>/.clearance-role): account,
                   selection, requests, upload queue, activity trail, sessions,
                   secrets (an owner-only file).
  --ffmpeg <path>  the ffmpeg binary (default: /usr/bin/ffmpeg or @ffmpeg-installer/ffmpeg)
  --connection <file>  (scripted commands without a runner) the account to use.

Exit codes: 0 done, 1 failed, 2 bad usage, 3 another role instance holds the site.`;

class UsageError extends Error {}

const OPTIONS = {
  site: { type: 'string' },
  state: { type: 'string' },
  connection: { type: 'string' },
  properties: { type: 'string' },
  'proxy-password-file': { type: 'string' },
  'poll-interval': { type: 'string' },
  'max-part-seconds': { type: 'string' },
  'lease-seconds': { type: 'string' },
  ffmpeg: { type: 'string' },
  user: { type: 'string' },
  reason: { type: 'string' },
  wait: { type: 'boolean' },
  camera: { type: 'string', multiple: true },
  area: { type: 'string' },
  federation: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  at: { type: 'string' },
  case: { type: 'string' },
  'new-case': { type: 'string' },
  department: { type: 'string' },
  category: { type: 'string' },
  'case-info': { type: 'string' },
  name: { type: 'string' },
  'notify-user': { type: 'string', multiple: true },
  csv: { type: 'boolean' },
  'password-file': { type: 'string' },
  detach: { type: 'boolean' },
  'log-file': { type: 'string' },
  out: { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
}

let logSink = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function log(line: string): void {
  logSink(`${new Date().toISOString()} ${line}`);
}

function seconds(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`${flag} must be a number of seconds of at least ${min}; found ${JSON.stringify(value)}`);
  return n;
}

interface Paths {
  siteDir: string;
  stateDir: string;
  lockFile: string;
  controlPath: string;
}

function pathsOf(values: Values): Paths {
  if (!values.site) throw new UsageError('--site <dir> is required');
  const siteDir = path.resolve(values.site);
  const stateDir = roleStateDirFor(siteDir, values.state);
  return { siteDir, stateDir, lockFile: siteLockFileFor(siteDir), controlPath: controlPathFor(stateDir) };
}

async function readProperties(file: string | undefined, stateDir: string): Promise<RoleProperties | undefined> {
  if (!file) return undefined;
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--properties: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--properties: ${file} is not JSON (${(error as Error).message})`);
  }
  const checked = validateRoleProperties(json, { defaultArchiveFolder: path.join(stateDir, 'archive') });
  if (!checked.ok) throw new UsageError(`--properties: ${file} is not valid:\n${formatIssues(checked.errors)}`);
  for (const w of checked.warnings) log(`warning: ${w.field}: ${w.message}`);
  return checked.value;
}

async function openRole(values: Values, paths: Paths, purpose: string, withControl: boolean, host?: RoleHost): Promise<{ role: Role; site: LocalFolderSite }> {
  const ffmpeg = resolveFfmpeg(values.ffmpeg ? { candidates: [values.ffmpeg] } : {});
  const site = new LocalFolderSite(paths.siteDir, ffmpeg);
  await site.model(); // a missing or broken site.json fails here, naming the field
  const properties = await readProperties(values.properties, paths.stateDir);
  await fs.mkdir(paths.stateDir, { recursive: true, mode: 0o700 });
  const pollInterval = seconds(values['poll-interval'], '--poll-interval', 0.05);
  const maxPart = seconds(values['max-part-seconds'], '--max-part-seconds', 1);
  const lease = seconds(values['lease-seconds'], '--lease-seconds', 5);
  const role = await Role.open({
    stateDir: paths.stateDir,
    site,
    secrets: new FileSecretStore(path.join(paths.stateDir, 'secrets.json')),
    ...(properties ? { properties } : {}),
    lockFile: paths.lockFile,
    purpose,
    ...(withControl ? { controlPath: paths.controlPath } : {}),
    log,
    ...(values.verbose ? { debug: log } : {}),
    ...(pollInterval !== undefined ? { pollIntervalMs: Math.round(pollInterval * 1000) } : {}),
    ...(maxPart !== undefined ? { maxExportPartMs: Math.round(maxPart * 1000) } : {}),
    ...(lease !== undefined ? { leaseSeconds: Math.round(lease) } : {}),
    ...(host ? { host } : {}),
  });
  try {
    if (values.connection) {
      const text = await fs.readFile(values.connection, 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw new UsageError(`--connection: cannot read ${values.connection} (${error.code ?? error.message})`);
      });
      const adopted = await role.adoptConnectionFile(text, path.basename(values.connection));
      log(adopted.imported ? `account ${adopted.account.accountId} imported from ${values.connection}` : `account ${adopted.account.accountId}`);
    }
  } catch (error) {
    await role.close();
    throw error;
  }
  return { role, site };
}

/** The password file's text without its trailing newline; never echoed anywhere. */
async function readProxyPassword(file: string): Promise<string> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--proxy-password-file: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (!password) throw new UsageError(`--proxy-password-file: ${file} is empty`);
  return password;
}

async function run(values: Values, argv: string[]): Promise<number> {
  const paths = pathsOf(values);
  if (values.detach) {
    const started = await detach(argv, paths);
    process.stdout.write(`role running in the background (pid ${started.pid}); log ${started.logFile}; stop it with: clearance-role stop --site ${paths.siteDir} --user <administrator>\n`);
    return 0;
  }
  if (values['log-file']) {
    const file = new RotatingLog(path.resolve(values['log-file']));
    logSink = (line) => file.write(line);
  }
  reportListenerErrors((error) => log(`an event listener failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`));
  const passwordFile = values['proxy-password-file'];
  const password = passwordFile !== undefined ? await readProxyPassword(passwordFile) : undefined;
  const host = new RunnerHost(values['log-file'] ? path.resolve(values['log-file']) : undefined);
  // A detached runner has no terminal: a start that fails must say why in its log.
  const { role } = await openRole(values, paths, 'runner', true, host).catch((error: unknown) => {
    log(`start failed: ${(error as Error).message}`);
    throw error;
  });
  if (password !== undefined) {
    try {
      const { changed } = await role.adoptProxyPassword(password);
      log(`proxy password ${changed ? 'stored' : 'unchanged'} (from ${passwordFile})`);
    } catch (error) {
      await role.close();
      throw error;
    }
  }
  return serve(role, host, paths, log);
}

/** The site user's password: --password-file, or asked on the terminal. */
async function passwordOf(values: Values, user: string): Promise<string> {
  try {
    if (values['password-file']) return await readPasswordFile(values['password-file'], '--password-file');
    return await promptPassword(`Password for ${user}: `);
  } catch (error) {
    if (error instanceof PasswordUnavailable) throw new UsageError(error.message);
    throw error;
  }
}

function scriptedArgs(command: ScriptedCommand, positionals: string[], values: Values): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  const evidence = (): void => {
    if (values.case) args.caseTarget = { kind: 'existing', caseId: values.case };
    else if (values['new-case']) {
      args.caseTarget = {
        kind: 'new',
        name: values['new-case'],
        ...(values.department ? { departmentId: values.department } : {}),
        ...(values.category ? { categoryId: values.category } : {}),
        ...(values['case-info'] ? { description: values['case-info'] } : {}),
      };
    }
    if (values.name) args.name = values.name;
    if (values.wait) args.wait = true;
  };
  switch (command) {
    case 'approve':
    case 'deny':
    case 'unavailable':
      if (!positionals[0]) throw new UsageError(`${command} needs the request id: clearance-role ${command} <request> --site <dir> --user <u>`);
      args.request = positionals[0];
      if (command === 'deny') {
        if (!values.reason?.trim()) throw new UsageError('deny needs --reason <text>: the requester is told why');
        args.reason = values.reason;
      } else if (command === 'unavailable') {
        if (values.reason !== undefined) args.reason = values.reason;
      } else if (values.wait) args.wait = true;
      break;
    case 'export':
      if (!values.camera?.length) throw new UsageError('export needs at least one --camera <id or name>');
      if (!values.from || !values.to) throw new UsageError('export needs --from <iso> and --to <iso>');
      Object.assign(args, { cameras: values.camera, from: values.from, to: values.to });
      evidence();
      break;
    case 'snapshot':
      if (values.camera?.length !== 1 || !values.at) throw new UsageError('snapshot needs one --camera <id or name> and --at <iso>');
      Object.assign(args, { cameras: values.camera, at: values.at });
      evidence();
      break;
    case 'select': {
      const action = positionals[0];
      if (action !== 'add' && action !== 'remove') throw new UsageError('select needs add or remove: clearance-role select add --area <id or name> …');
      const given = [
        ...(values.camera ?? []).map((id) => ['camera', id] as const),
        ...(values.area ? [['area', values.area] as const] : []),
        ...(values.federation ? [['federation', values.federation] as const] : []),
      ];
      if (given.length !== 1) throw new UsageError('select needs exactly one of --camera, --area or --federation');
      Object.assign(args, { action, kind: given[0][0], id: given[0][1] });
      break;
    }
    case 'notify':
      args.users = values['notify-user'] ?? [];
      break;
    case 'activities':
      if (values.csv) args.csv = true;
      break;
  }
  return args;
}

async function scripted(command: ScriptedCommand, positionals: string[], values: Values): Promise<number> {
  const paths = pathsOf(values);
  const call = scriptedCall(command, scriptedArgs(command, positionals, values));
  const user = values.user;
  if (!user) throw new UsageError(`${command} needs --user <site user> and their password (--password-file <file>, or typed at the prompt): the role checks who asks`);
  const password = await passwordOf(values, user);
  const holder = await SiteLock.holder(paths.lockFile);
  let result: unknown;
  if (holder) {
    if (!holder.controlPath) throw new SiteLockHeld(paths.lockFile, holder);
    const client = await ControlClient.connect(holder.controlPath, { client: 'cli' });
    try {
      const { session } = await client.request<{ session: string }>('session.signIn', { user, password });
      try {
        result = await client.request(call.command, call.args, session);
      } finally {
        await client.request('session.signOut', {}, session).catch(() => undefined);
      }
    } finally {
      await client.close();
    }
    if (command === 'stop') {
      if (!(await SiteLock.waitForRelease(paths.lockFile))) throw new Error('the role did not stop within 120 s');
      result = { stopped: true };
    }
  } else if (command === 'stop') {
    throw new UsageError(`no role is running for ${paths.siteDir}`);
  } else {
    result = await direct(values, paths, call, user, password);
  }
  print(call.shape(result));
  // A trail that does not verify must fail a script that checks it.
  // So must one the service's anchors contradict (rewritten from the start with its head).
  const verified = result as { ok?: unknown; anchors?: { ok?: unknown } } | null;
  if (command === 'verify' && (verified?.ok === false || verified?.anchors?.ok === false)) return 1;
  return 0;
}

/** No runner holds the site: open the role here, sign in, do the command to its end, close. */
async function direct(values: Values, paths: Paths, call: ScriptedCall, user: string, password: string): Promise<unknown> {
  const { role } = await openRole(values, paths, `cli ${call.command}`, false);
  try {
    const { session } = (await role.execute('session.signIn', { user, password }, undefined, 'cli')) as { session: string };
    try {
      if (call.needsService) {
        await role.start();
        const wanted = call.args.request;
        if (typeof wanted === 'string' && !role.read.knowsRequest(wanted)) await role.execute('requests.poll', {}, session, 'cli');
      }
      // Work left half done would resume only at the next run: finish it here.
      const waits = call.command === 'requests.approve' || call.command === 'export.video' || call.command === 'export.snapshot';
      return await role.execute(call.command, waits ? { ...call.args, wait: true } : call.args, session, 'cli');
    } finally {
      await role.execute('session.signOut', {}, session, 'cli').catch(() => undefined);
    }
  } finally {
    await role.close();
  }
}

/** `users set-password|sign-in-ticket|list`: the site's owner acting on its files directly. */
async function users(positionals: string[], values: Values): Promise<number> {
  const [action, name] = positionals;
  const paths = pathsOf(values);
  const site = new LocalFolderSite(paths.siteDir, '');
  const all = await site.listUsers();
  if (action === 'list') {
    const rows = await Promise.all(all.map(async (u) => ({ id: u.id, name: u.name, displayName: u.displayName, privileges: u.privileges, hasPassword: (await site.passwordHash(u.id)) !== undefined })));
    print(rows);
    return 0;
  }
  if (action !== 'set-password' && action !== 'sign-in-ticket') throw new UsageError('users needs set-password, sign-in-ticket or list: clearance-role users set-password <user> --site <dir>');
  if (!name) throw new UsageError(`users ${action} needs the user: clearance-role users ${action} <user> --site <dir>`);
  const user = all.find((u) => u.name === name || u.id === name);
  if (!user) throw new UsageError(`there is no site user ${JSON.stringify(name)}; the users are ${all.map((u) => u.name).join(', ')}`);
  if (action === 'sign-in-ticket') {
    const { ticket, file } = await writeSignInTicket(paths.stateDir, user.id);
    if (values.out) {
      await fs.writeFile(values.out, `${ticket}\n`, { mode: 0o600, flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
        throw new UsageError(`--out: cannot write ${values.out} (${error.code ?? error.message}); it must not exist yet`);
      });
      process.stderr.write(`one-time sign-in for ${user.name} written to ${values.out} (valid 24 h, deleted when used; the role keeps ${file})\n`);
    } else print(ticket);
    return 0;
  }
  let password: string;
  try {
    if (values['password-file']) password = await readPasswordFile(values['password-file'], '--password-file');
    else {
      password = await promptPassword(`New password for ${user.name}: `);
      if ((await promptPassword('Again: ')) !== password) throw new UsageError('the two passwords differ; nothing was changed');
    }
  } catch (error) {
    if (error instanceof PasswordUnavailable) throw new UsageError(error.message);
    throw error;
  }
  const issues = passwordIssues(password);
  if (issues.length) throw new ValidationError('The new password', issues);
  await site.setPasswordHash(user.id, await hashPassword(password));
  process.stderr.write(`password of ${user.name} set\n`);
  return 0;
}

function print(result: unknown): void {
  if (typeof result === 'string') process.stdout.write(result.endsWith('\n') ? result : `${result}\n`);
  else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parse(argv);
  } catch (error) {
    process.stderr.write(`clearance-role: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const [command, ...positionals] = parsed.positionals;
  if (parsed.values.help || !command || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command || parsed.values.help ? 0 : 2;
  }
  try {
    if (command === 'run') return await run(parsed.values, argv);
    if (command === 'users') return await users(positionals, parsed.values);
    if ((SCRIPTED_COMMANDS as readonly string[]).includes(command)) return await scripted(command as ScriptedCommand, positionals, parsed.values);
    throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`clearance-role: ${error.message}\n(see clearance-role --help)\n`);
      return 2;
    }
    if (error instanceof SiteLockHeld) {
      process.stderr.write(`clearance-role: ${error.message}\n`);
      return 3;
    }
    const e = error as Error & { code?: unknown };
    const validation = error instanceof ValidationError || isControlError(error, 'ValidationFailed');
    // Session refusals say what happened in their code (SignInRefused, SessionExpired...).
    const label = e.name === 'SessionError' && typeof e.code === 'string' ? e.code : e.name;
    const text = validation ? e.message : `${label === 'Error' ? '' : `${label}: `}${e.message}`;
    process.stderr.write(`clearance-role: ${text}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Idle keep-alive sockets must not hold the process once the work is done.
    setTimeout(() => process.exit(code), 100).unref();
  },
  (error: unknown) => {
    process.stderr.write(`clearance-role: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
