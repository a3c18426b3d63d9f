// clearance-role: the headless role runner and its scripted commands. The same
// Role engine as the VS Code console, without VS Code.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FileSecretStore } from '../core/config/secretStore';
import { ValidationError, formatIssues } from '../core/config/fieldErrors';
import { validateRoleProperties, type RoleProperties } from '../core/config/roleProperties';
import { Role } from '../core/role/role';
import { SiteLock, SiteLockHeld, siteLockFileFor } from '../core/role/siteLock';
import type { RoleEvent } from '../core/role/snapshot';
import { LocalFolderSite, resolveFfmpeg } from '../core/site';
import { perform, SCRIPTED_COMMANDS } from './commands';
import { controlPathFor, sendControl, serveControl, type ControlRequest } from './control';

const USAGE = `Usage: clearance-role <command> --site <dir> [options]

Runs the Clearance plugin role for a local site without VS Code: publishes the
selected cameras to the Clearance registry, picks up video requests, exports
and uploads evidence through the encrypted, throttled upload queue, and keeps
the activity trail. Only one role instance runs per site.

  run --site <dir> [--connection <file>] [--properties <json file>]
      [--proxy-password-file <file>]
      Polls and works the upload queue until SIGINT or SIGTERM (then stops
      cleanly: the poll in flight is aborted, uploads resume on the next run).
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

  Scripted commands. When a runner holds the site they are sent to it over its
  local control socket (named in <site>/.clearance-role.lock); otherwise the
  command opens the role itself, does its work to the end, and exits.
  Each names the site user who acts (--user, id or login name), whose privileges
  are checked as in the console.

  approve <request> --user <u> [--wait]      approve a pending video request
                                             (id or its first characters);
                                             --wait: until it is final
  deny <request> --user <u> --reason <text>  deny it, telling the requester why
  export --user <u> --camera <c> [--camera <c>...] --from <iso> --to <iso>
         [--case <caseId> | --new-case <name> [--department <id>] [--category <id>]
         [--case-info <text>]] [--name <evidence name>] [--wait]
                                             send recordings (at most 24 h)
  snapshot --user <u> --camera <c> --at <iso> [case options] [--wait]
  select add|remove --user <u> (--camera|--area|--federation) <id or name>
                                             change the camera selection
  notify --user <u> [--notify-user <v>...]   who is told of new requests
  status --user <u>                          what the role holds now (needs View
                                             camera selection and View request
                                             notifications)
  requests --user <u>                        the video requests (needs View
                                             request notifications)
  poll --user <u>                            poll now
  verify --user <u>                          check the activity trail's chain
                                             (exit code 1 when it does not verify)
  activities --user <u> [--csv]              the activity trail (JSON or CSV)

Common options:
  --state <dir>    the role's state (default <site>/.clearance-role): account,
                   selection, requests, upload queue, activity trail, secrets
                   (an owner-only file).
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
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
}

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
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
  const stateDir = path.resolve(values.state ?? path.join(siteDir, '.clearance-role'));
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

async function openRole(values: Values, paths: Paths, purpose: string, withControl: boolean): Promise<{ role: Role; site: LocalFolderSite }> {
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

async function run(values: Values): Promise<number> {
  const paths = pathsOf(values);
  const passwordFile = values['proxy-password-file'];
  const password = passwordFile !== undefined ? await readProxyPassword(passwordFile) : undefined;
  const { role, site } = await openRole(values, paths, 'runner', true);
  if (password !== undefined) {
    try {
      const { changed } = await role.adoptProxyPassword(password);
      log(`proxy password ${changed ? 'stored' : 'unchanged'} (from ${passwordFile})`);
    } catch (error) {
      await role.close();
      throw error;
    }
  }
  let server: Awaited<ReturnType<typeof serveControl>> | undefined;
  let stopping: Promise<void> | undefined;
  const shutdown = (why: string): Promise<void> => {
    stopping ??= (async () => {
      log(`${why}: stopping`);
      await server?.close();
      await role.close();
      log('stopped');
    })();
    return stopping;
  };
  try {
    for (const r of role.trail.records().slice(role.recordsBeforeOpen)) log(`activity #${r.seq} ${r.type}: ${r.summary}`);
    watch(role);
    server = await serveControl(paths.controlPath, (request: ControlRequest) => perform(role, site, request));
    await role.start();
  } catch (error) {
    await shutdown('start failed');
    throw error;
  }
  const s = await role.snapshot(0);
  log(`role running for ${s.site.name} (${paths.siteDir}); account ${s.account?.accountId}; polling every ${s.connection.pollIntervalMs / 1000} s; ${s.registry.effectiveCameraIds.length} camera(s) selected; control ${paths.controlPath}`);
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (++signals > 1) {
        log(`${signal} again: exiting at once`);
        process.exit(130);
      }
      shutdown(signal).then(
        () => resolve(0),
        (error: unknown) => {
          log(`stop failed: ${(error as Error).message}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** What the runner logs: every activity record, connection changes, upload progress. */
function watch(role: Role): void {
  let connection = '';
  const progress = new Map<string, number>();
  role.onDidChange((e: RoleEvent) => {
    if (e.kind === 'activity') log(`activity #${e.record.seq} ${e.record.type}: ${e.record.summary}`);
    else if (e.kind === 'connection') {
      if (e.connection.state !== connection) {
        connection = e.connection.state;
        log(`connection: ${connection}${connection === 'unreachable' && e.connection.lastError ? ` (${e.connection.lastError}); next try ${e.connection.poller.nextPollAt}` : ''}`);
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

function requestFor(command: string, positionals: string[], values: Values): ControlRequest {
  const user = values.user;
  const args: Record<string, unknown> = {};
  const caseArgs = (): void => {
    if (values.case) args.caseId = values.case;
    if (values['new-case']) args.newCase = values['new-case'];
    if (values.department) args.department = values.department;
    if (values.category) args.category = values.category;
    if (values['case-info']) args.caseInfo = values['case-info'];
    if (values.name) args.name = values.name;
    if (values.wait) args.wait = true;
  };
  switch (command) {
    case 'approve':
    case 'deny':
      if (!positionals[0]) throw new UsageError(`${command} needs the request id: clearance-role ${command} <request> --site <dir> --user <u>`);
      args.request = positionals[0];
      if (command === 'deny') {
        if (!values.reason?.trim()) throw new UsageError('deny needs --reason <text>: the requester is told why');
        args.reason = values.reason;
      }
      if (values.wait) args.wait = true;
      break;
    case 'export':
      if (!values.camera?.length) throw new UsageError('export needs at least one --camera <id or name>');
      if (!values.from || !values.to) throw new UsageError('export needs --from <iso> and --to <iso>');
      args.cameras = values.camera;
      args.from = values.from;
      args.to = values.to;
      caseArgs();
      break;
    case 'snapshot':
      if (values.camera?.length !== 1 || !values.at) throw new UsageError('snapshot needs one --camera <id or name> and --at <iso>');
      args.camera = values.camera[0];
      args.at = values.at;
      caseArgs();
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
      args.action = action;
      args.kind = given[0][0];
      args.id = given[0][1];
      break;
    }
    case 'notify':
      args.users = values['notify-user'] ?? [];
      break;
    case 'activities':
      if (values.csv) args.csv = true;
      break;
  }
  if (!user) throw new UsageError(`${command} needs --user <site user>: the role checks that user's privileges`);
  return { command, ...(user ? { user } : {}), args };
}

async function scripted(command: string, positionals: string[], values: Values): Promise<number> {
  const paths = pathsOf(values);
  const request = requestFor(command, positionals, values);
  const holder = await SiteLock.holder(paths.lockFile);
  let result: unknown;
  if (holder) {
    if (!holder.controlPath) {
      throw new SiteLockHeld(paths.lockFile, holder);
    }
    result = await sendControl(holder.controlPath, request);
  } else {
    result = await direct(values, paths, request);
  }
  print(result);
  // A trail that does not verify must fail a script that checks it.
  if (command === 'verify' && (result as { ok?: unknown } | null)?.ok === false) return 1;
  return 0;
}

/** No runner holds the site: open the role here, do the command to its end, close. */
async function direct(values: Values, paths: Paths, request: ControlRequest): Promise<unknown> {
  const { role, site } = await openRole(values, paths, `cli ${request.command}`, false);
  try {
    const needsService = ['approve', 'deny', 'export', 'snapshot', 'poll'].includes(request.command);
    if (needsService) {
      await role.start();
      if ((request.command === 'approve' || request.command === 'deny') && !role.requests.get(String(request.args?.request))) {
        await role.pollNow(request.user ?? '');
      }
    }
    // Work left half done would resume only at the next run: finish it here.
    const args = needsService ? { ...request.args, wait: true } : request.args;
    return await perform(role, site, { ...request, args });
  } finally {
    await role.close();
  }
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
    if (command === 'run') return await run(parsed.values);
    if ((SCRIPTED_COMMANDS as readonly string[]).includes(command)) return await scripted(command, positionals, parsed.values);
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
    const text = error instanceof ValidationError ? error.message : `${(error as Error).name === 'Error' ? '' : `${(error as Error).name}: `}${(error as Error).message}`;
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
