// Issue 13, "Proxies": the real role behind its configured proxy while that proxy is
// down. Polls fail with an error that names the proxy, the poller backs off (no
// storm), and the console's status bar (its vscode-free view model) turns to its
// warning with that error; once the proxy is up on the same port the role is
// online again by itself, every call through the proxy.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { statusBarTooltip, statusBarWarning } from '../../../src/core/console/statusBarView';
import { Role } from '../../../src/core/role/role';
import { clearProxyEnvironment, closedPort, startProxy, type ForwardProxy } from '../net/loopback';
import { startWorld, testRoleOptions, waitFor, type World } from './world';

describe('the role behind a proxy that is down, then up', function () {
  this.timeout(90_000);
  let world: World;
  let role: Role | undefined;
  let proxy: ForwardProxy | undefined;
  let restoreEnvironment = () => undefined as void;

  before(async () => {
    restoreEnvironment = clearProxyEnvironment(); // only the role's own proxy setting
    world = await startWorld('proxy-down');
  });
  after(async () => {
    await role?.close();
    await proxy?.stop();
    await world?.stop();
    restoreEnvironment();
  });

  it('backs off while the proxy is down, the status bar warns with the proxy named, and recovers when it is up', async () => {
    const port = await closedPort();
    const options = testRoleOptions(world);
    options.properties = { ...options.properties!, proxy: { enabled: true, host: '127.0.0.1', port, username: '' } };
    role = await Role.open(options);
    await role.adoptConnectionFile(fs.readFileSync(world.connectionFile, 'utf8'), world.connectionFile);
    await role.start();

    const down = await waitFor('three failed polls', async () => {
      const s = await role!.snapshot();
      return s.connection.poller.consecutiveFailures >= 3 && s;
    });
    assert.equal(down.connection.state, 'unreachable');
    const error = down.connection.lastError ?? '';
    assert.match(error, new RegExp(`proxy 127\\.0\\.0\\.1:${port}`), `the error names the proxy: ${error}`);
    assert.match(error, /refused/i);
    // Backing off: each wait longer than the one before (interval 200 ms × 2^failures), so few polls in a while.
    const next = Date.parse(down.connection.poller.nextPollAt ?? '') - Date.parse(down.connection.poller.lastPollAt ?? '');
    assert.ok(next >= 200 * 2 ** 3 - 50, `the next poll waits ${next} ms after ${down.connection.poller.consecutiveFailures} failures`);
    const polls = down.connection.poller.polls;
    await new Promise((r) => setTimeout(r, 3000));
    const later = await role.snapshot();
    assert.ok(later.connection.poller.polls - polls <= 2, `${later.connection.poller.polls - polls} polls in 3 s while backing off`);

    // What the operator sees: the warning colour, and the cause in the tooltip.
    assert.equal(statusBarWarning(later.connection.state), true);
    const tooltip = statusBarTooltip(later, undefined);
    assert.match(tooltip, /^Clearance: unreachable$/m);
    assert.match(tooltip, new RegExp(`^Last error: .*proxy 127\\.0\\.0\\.1:${port}`, 'm'));

    proxy = await startProxy(undefined, port);
    const up = await waitFor(
      'online through the proxy',
      async () => {
        const s = await role!.snapshot();
        return s.connection.state === 'online' && s;
      },
      60_000,
    );
    assert.equal(statusBarWarning(up.connection.state), false);
    assert.doesNotMatch(statusBarTooltip(up, undefined), /Last error/);
    assert.ok(proxy.forwarded.length > 0, 'the calls went through the proxy');
    assert.ok(proxy.forwarded.every((r) => /^http:\/\/127\.0\.0\.1:\d+\//.test(r.url)), 'in absolute form');
  });
});
