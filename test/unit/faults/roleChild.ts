// The role in a process of its own, for the SIGKILL test: opens the role on the
// fault world's state (account and selection already there), starts it, approves
// the request when told, and reports as JSON lines on stdout: "approved", upload
// and request events, and "settled" with the request once it settled; then it
// closes the role and exits 0. The parent kills it with SIGKILL at a random moment.
import { Role } from '../../../src/core/role/role';
import { waitFor } from '../role/world';
import { faultRoleOptions } from './faultWorld';

async function main(): Promise<void> {
  const [dir, siteDir, ffmpeg, mode, requestId] = process.argv.slice(2);
  const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
  const role = await Role.open(faultRoleOptions({ dir, siteDir, ffmpeg }, (line) => process.stderr.write(`${line}\n`)));
  role.onDidChange((e) => {
    if (e.kind === 'upload' && e.event.kind !== 'removed') say({ kind: 'upload', detail: `${e.event.kind} ${e.event.job.state} ${e.event.job.sentBytes}/${e.event.job.totalBytes}` });
    else if (e.kind === 'request') say({ kind: 'request', detail: e.event.kind });
  });
  await role.start();
  say({ kind: 'started' });
  await waitFor('the request at the role', () => role.request(requestId), 60_000);
  if (mode === 'approve') {
    await role.approveRequest('admin', requestId);
    say({ kind: 'approved' });
  }
  const settled = await role.whenRequestSettled(requestId);
  say({ kind: 'settled', request: settled });
  await role.close();
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
