import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { it } from 'node:test';
import { berth, BIN, ROOT } from './support/cli.ts';
import { aFleet, aLiveService, type Fleet } from './support/fleet.ts';
import { eventually } from './support/eventually.ts';

const TOKEN = 'test-token-0123456789abcdef';

/** A port free a moment ago: bound to port 0, read, and let go. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  const closed = once(server, 'close');
  server.close();
  await closed;
  return address.port;
}

/** `berth worker --http ADDRESS` on the simulated AWS, killed when the test ends. */
function daemon(fleet: Fleet, http: string, env: Record<string, string> = {}): ChildProcess {
  const inherited = { ...process.env };
  delete inherited['BERTH_HTTP_TOKEN'];
  const child = spawn(process.execPath, [BIN, 'worker', '--http', http], {
    cwd: ROOT,
    env: {
      ...inherited,
      DATABASE_URL: fleet.url,
      BERTH_CLOUD: 'sim',
      BERTH_SIM_SEED: '7',
      BERTH_LEASE_SECONDS: '2',
      BERTH_POLL_MS: '100',
      BERTH_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  fleet.defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  return child;
}

/** Polls `url` until it answers at all; fails after `timeoutMs`. */
async function answering(url: string, timeoutMs = 20_000): Promise<void> {
  let refused: unknown;
  await eventually(
    `${url} to answer`,
    () =>
      fetch(url, { signal: AbortSignal.timeout(1000) }).then(
        () => true,
        (error: unknown) => {
          refused = error;
          return false;
        },
      ),
    { timeoutMs, explain: () => String(refused) },
  );
}

async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.text() };
}

it('berth worker --http serves /healthz, /readyz and /metrics that count passes, AWS calls and deployments', async () => {
  const fleet = await aFleet('daemon endpoints');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  daemon(fleet, `127.0.0.1:${port}`);
  await answering(`${base}/healthz`);

  assert.deepEqual(await get(`${base}/healthz`), { status: 200, body: 'ok\n' });
  assert.equal((await get(`${base}/readyz`)).status, 200);
  assert.equal((await get(`${base}/nowhere`)).status, 404);

  await aLiveService(fleet, 'web');
  const metrics = await fleet.until('a reconcile pass counted in /metrics', async () => {
    const { status, body } = await get(`${base}/metrics`);
    assert.equal(status, 200);
    return /^berth_reconcile_passes_total\{outcome="ok"\} [1-9]/m.test(body) ? body : undefined;
  });
  assert.match(metrics, /^berth_reconcile_pass_duration_seconds_bucket\{/m);
  assert.match(metrics, /^berth_aws_calls_total\{operation="ecs:CreateService",outcome="ok"\} 1$/m);
  assert.match(metrics, /^berth_deployments\{phase="finished",outcome="succeeded"\} 1$/m);
  assert.match(metrics, /^berth_leases_held \d+$/m);
  assert.match(metrics, /^# TYPE berth_analysis_verdicts_total counter$/m);
  assert.match(metrics, /^# TYPE berth_rollbacks_total counter$/m);
  assert.match(metrics, /^# TYPE berth_aws_throttles_total counter$/m);

  const dashboard = await get(`${base}/`);
  assert.equal(dashboard.status, 200);
  assert.match(dashboard.body, /<tr data-service="web">/);
  assert.equal((await get(`${base}/static/uPlot.iife.min.js`)).status, 200);
});

it('/readyz is 503 with the reason while a migration is pending', async () => {
  const fleet = await aFleet('daemon readyz');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  daemon(fleet, String(port));
  await answering(`${base}/healthz`);
  assert.equal((await get(`${base}/readyz`)).status, 200);
  const newest = await fleet.db
    .selectFrom('kysely_migration' as never)
    .select('name' as never)
    .orderBy('name' as never, 'desc')
    .executeTakeFirstOrThrow();
  await fleet.db
    .deleteFrom('kysely_migration' as never)
    .where('name' as never, '=', (newest as { name: string }).name as never)
    .execute();
  const ready = await get(`${base}/readyz`);
  assert.equal(ready.status, 503);
  assert.match(ready.body, /^not ready: 1 migration\(s\) pending \(.+\); run berth migrate\n$/);
});

it('--http is checked like a flag, and off loopback it needs BERTH_HTTP_TOKEN, which every request but /healthz must carry', async () => {
  const fleet = await aFleet('daemon token');
  for (const bad of ['nope', '70700', 'host:', ':80', '1.2.3.4:-1']) {
    const result = await berth(fleet.url, ['worker', '--http', bad], {
      env: { BERTH_CLOUD: 'sim' },
    });
    assert.equal(result.code, 2, bad);
    assert.match(result.stderr, /^error: --http: .*PORT/, bad);
  }

  const port = await freePort();
  const refused = daemon(fleet, `0.0.0.0:${port}`);
  let stderr = '';
  refused.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(refused, 'exit')) as [number | null];
  assert.equal(code, 2);
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
  assert.match(stderr, /--http: 0\.0\.0\.0 is not a loopback address; set BERTH_HTTP_TOKEN/);

  const served = await freePort();
  const base = `http://127.0.0.1:${served}`;
  daemon(fleet, `0.0.0.0:${served}`, { BERTH_HTTP_TOKEN: TOKEN });
  await answering(`${base}/healthz`);
  assert.equal((await get(`${base}/healthz`)).status, 200, '/healthz needs no token');
  assert.equal((await get(`${base}/metrics`)).status, 401);
  assert.equal((await get(`${base}/readyz`)).status, 401);
  assert.equal((await get(`${base}/metrics`, { Authorization: 'Bearer wrong-token' })).status, 401);
  const authorized = await get(`${base}/metrics`, { Authorization: `Bearer ${TOKEN}` });
  assert.equal(authorized.status, 200);
  assert.match(authorized.body, /^# TYPE berth_reconcile_passes_total counter$/m);
  assert.equal((await get(`${base}/readyz`, { Authorization: `Bearer ${TOKEN}` })).status, 200);
});
