import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startDaemon } from '../src/daemon/server.ts';
import { createLogger } from '../src/logging.ts';
import { launchChromium } from './support/chromium.ts';
import { aFastService, aFleet, aLiveService, finished, type Fleet } from './support/fleet.ts';
import { aDispatcher, aWebhookReceiver } from './support/webhook-receiver.ts';

const TOKEN = 'dashboard-token-0123456789abcdef';
/** Written by an attacker who may deploy: it must reach the page as text and never run. */
const XSS = `<script>window.pwned = 'script'</script><img src=x onerror="window.pwned = 'img'">`;
const SECRET_VALUE = 'hunter2-never-on-a-page';
/** How long a 5xx canary may take from the page opening to its rollback on a loaded machine. */
const ROLLBACK_DEADLINE_MS = 90_000;

let browser: Browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  // Undefined when there was no browser to launch: the tests failed saying so.
  await (browser as Browser | undefined)?.close();
});

/** The daemon on a free loopback port, serving the fleet's database; closed when the test ends. */
async function aDashboard(fleet: Fleet, token?: string): Promise<string> {
  const daemon = await startDaemon(
    { host: '127.0.0.1', port: 0 },
    { db: fleet.db, logger: createLogger({ level: 'silent' }), token, leasesHeld: () => 0 },
  );
  fleet.defer(() => daemon.close());
  return daemon.url;
}

/** Whitespace folded, as a reader sees a table row. */
async function text(page: Page, selector: string): Promise<string> {
  return ((await page.locator(selector).textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

/** A global of the page, read in the browser (the project compiles without DOM types). */
function pageGlobal(page: Page, name: string): Promise<unknown> {
  return page.evaluate(`window[${JSON.stringify(name)}]`);
}

/** How many pixels of a chart's canvas have the canary's colour (#c0392b). */
function canaryPixels(page: Page, chart: string): Promise<number> {
  return page.evaluate(`(() => {
    const canvas = document.querySelector('[data-chart="${chart}"] canvas');
    const context = canvas && canvas.getContext('2d');
    if (!context) return 0;
    const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i] === 0xc0 && data[i + 1] === 0x39 && data[i + 2] === 0x2b) count += 1;
    }
    return count;
  })()`);
}

it('the deployment page of a 5xx canary draws its windows and shows the failing verdict and the rollback live, without a reload', async () => {
  const fleet = await aFleet('dashboard live rollback');
  const url = await aDashboard(fleet);
  const first = fleet.startWorker('w1');
  await aLiveService(fleet, 'web');
  // No worker while the page opens, so it sees the deployment before anything was judged.
  await first.stop();
  const config = await fleet.berth(['config', 'set', 'web', `API_KEY=${SECRET_VALUE}`]);
  assert.equal(config.code, 0, config.stderr);
  const deploy = await fleet.berth([
    'deploy',
    'web',
    '--image',
    'nginx:1.28-5xx',
    '--message',
    XSS,
    '--replace',
  ]);
  assert.equal(deploy.code, 0, deploy.stderr);
  const { id } = await fleet.deployment('web');

  const page = await browser.newPage();
  await page.goto(`${url}/deployments/${id}`);
  assert.match((await page.textContent('#state')) ?? '', /^pending/);
  // The script has read the JSON once: no window to draw yet.
  await page.locator('[data-chart="rate5xx"][data-points="0"]').waitFor({ timeout: 10_000 });
  await page.evaluate('window.sameDocument = true');
  const fleetPage = await browser.newPage();
  await fleetPage.goto(url);
  assert.match(await text(fleetPage, 'tr[data-service="web"]'), / pending — step 1 of 2 \(10 %\) /);

  fleet.startWorker('w2');
  await page
    .locator('#state', { hasText: /^rolled back$/ })
    .waitFor({ timeout: ROLLBACK_DEADLINE_MS });
  const stored = await finished(fleet, 'web');
  assert.equal(stored.outcome, 'rolled_back');
  assert.equal(
    await pageGlobal(page, 'sameDocument'),
    true,
    'the page was updated in place, not reloaded',
  );

  // The verdict that failed, with its numbers, and the reason the deployment gives.
  const failed = page.locator('#verdicts tr.verdict-fail');
  assert.equal(await failed.count(), 1);
  assert.match(
    (await failed.textContent()) ?? '',
    /fail.*5xx rate 0\.\d+ > 0\.01: \d+ of \d+ requests .*confidence/s,
  );
  assert.equal(await page.textContent('#reason'), stored.reason);
  assert.ok((await page.locator('#events tr[data-kind="deployment.rolled_back"]').count()) === 1);
  // The task sets as the worker last saw them while the canary ran beside the stable set.
  assert.match(
    await text(page, '#tasks tr[data-side="canary"]'),
    /^canary v3 arn:aws:ecs:\S+ 1 \d+ (\d+|\?) 0 \(rollback at \d+\) —$/,
  );
  assert.match(await text(page, '#tasks tr[data-side="stable"]'), /^stable v1 arn:aws:ecs:\S+ 10 /);
  assert.equal(
    await text(page, '#verification'),
    'Verification tasks No verification task: the service has no --pre-deploy-command or --verify-command.',
  );

  // The charts were drawn from the windows: the canary's line is on the canvas.
  await page.locator('[data-chart="rate5xx"]:not([data-points="0"]) canvas').waitFor({
    timeout: 10_000,
  });
  assert.ok((await canaryPixels(page, 'rate5xx')) > 0, 'the canary 5xx series is drawn');
  assert.ok((await canaryPixels(page, 'p99')) > 0, 'the canary p99 series is drawn');
  // 10 % to the canary, then all back to the stable group.
  assert.equal(await page.getAttribute('[data-chart="weights"]', 'data-points'), '2');
  assert.deepEqual(await page.locator('#weights td.number').allTextContents(), [
    '10 %',
    '90 %',
    '0 %',
    '100 %',
  ]);

  // The message is shown as the text it is, and nothing in it ran.
  assert.equal(await page.textContent('#summary .message'), XSS);
  assert.equal(await pageGlobal(page, 'pwned'), undefined);
  // The environment's names, never its values.
  const content = await page.content();
  assert.match(content, /API_KEY/);
  assert.doesNotMatch(content, new RegExp(SECRET_VALUE));
  const api = await (await fetch(`${url}/api/deployments/${id}`)).text();
  assert.doesNotMatch(api, new RegExp(SECRET_VALUE));
  await page.close();

  // The fleet page, open all along, has moved on by itself too.
  await fleetPage
    .locator('tr[data-service="web"]', { hasText: `#${id} v1 → v3 rolled back` })
    .waitFor({ timeout: 10_000 });
  assert.equal(
    await fleetPage.locator('tr[data-service="web"] td:nth-child(5)').textContent(),
    '—',
    'no active deployment',
  );
  await fleetPage.close();
});

it('with JavaScript off, the fleet, service and deployment pages are readable tables', async () => {
  const fleet = await aFleet('dashboard without javascript');
  const url = await aDashboard(fleet);
  fleet.startWorker();
  await aLiveService(fleet, 'web');
  await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28-5xx']);
  const rolledBack = await finished(fleet, 'web');
  assert.equal(rolledBack.outcome, 'rolled_back');

  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(url);
  // Running is what the workers last observed: not necessarily read since the rollback.
  assert.match(
    await text(page, 'tr[data-service="web"]'),
    /^web demo v1 nginx:1\.27 10 \/ (\d+|—) — #\d+ v1 → v2 rolled back .*canary analysis failed: 5xx rate/,
  );

  await page.click('tr[data-service="web"] a[href="/services/web"]');
  assert.equal(new URL(page.url()).pathname, '/services/web');
  const releases = await page.locator('#releases tbody tr').allTextContents();
  assert.equal(releases.length, 2);
  assert.match(releases[0] ?? '', /v2.*nginx:1\.28-5xx.*failed/s);
  assert.match(releases[1] ?? '', /v1.*nginx:1\.27.*live/s);

  await page.click(`#deployments a[href="/deployments/${rolledBack.id}"]`);
  assert.equal(await page.textContent('#state'), 'rolled back');
  assert.equal(await page.locator('#verdicts tr.verdict-fail').count(), 1);
  assert.ok((await page.locator('#events tbody tr').count()) > 5);
  assert.match((await page.textContent('#charts')) ?? '', /the same numbers are in the tables/);
  await context.close();
});

it('with a token, a browser opens the dashboard once with ?token= and keeps an HttpOnly SameSite=Strict cookie; an unknown name is shown escaped', async () => {
  const fleet = await aFleet('dashboard token');
  const url = await aDashboard(fleet, TOKEN);
  await aFastService(fleet, 'web');

  assert.equal((await fetch(`${url}/healthz`)).status, 200);
  assert.equal((await fetch(`${url}/`)).status, 401);
  assert.equal((await fetch(`${url}/api/fleet`)).status, 401);
  assert.equal((await fetch(`${url}/static/dashboard.js`)).status, 401);
  assert.equal((await fetch(`${url}/?token=wrong`, { redirect: 'manual' })).status, 401);
  const scripted = await fetch(`${url}/api/fleet`, {
    headers: { Authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(scripted.status, 200);
  assert.equal(
    ((await scripted.json()) as { services: { name: string }[] }).services[0]?.name,
    'web',
  );

  const bearer = { headers: { Authorization: `Bearer ${TOKEN}` } };
  for (const nowhere of ['/deployments/99999999999999999999', '/deployments/0', '/services/api']) {
    const answer = await fetch(`${url}${nowhere}`, bearer);
    assert.equal(answer.status, 404, nowhere);
    assert.match(await answer.text(), /<p class="problem">No (deployment|service)/, nowhere);
  }
  const missing = await fetch(`${url}/api/deployments/7`, bearer);
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), {
    error: 'No deployment #7: deployments are numbered 1, 2, …',
  });

  const session = await fetch(`${url}/services/web?token=${TOKEN}&view=all`, {
    redirect: 'manual',
  });
  assert.equal(session.status, 303);
  assert.equal(session.headers.get('location'), '/services/web?view=all');
  assert.match(session.headers.get('set-cookie') ?? '', /; HttpOnly; SameSite=Strict; Path=\/$/);

  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${url}/services/web?token=${TOKEN}`);
  assert.equal(page.url(), `${url}/services/web`, 'the token leaves the address bar');
  assert.equal(await page.textContent('h1'), 'web');
  const [cookie, ...others] = await context.cookies();
  assert.equal(others.length, 0);
  assert.equal(cookie?.httpOnly, true);
  assert.equal(cookie?.sameSite, 'Strict');
  assert.notEqual(cookie?.value, TOKEN, 'the cookie is not the token itself');
  // The page's script polls with the cookie too.
  await page.locator('#live', { hasText: /^live/ }).waitFor({ timeout: 10_000 });

  await page.goto(`${url}/services/${encodeURIComponent(XSS)}`);
  assert.equal(await page.textContent('.problem'), `No service named "${XSS}".`);
  assert.equal(await pageGlobal(page, 'pwned'), undefined);
  await context.close();
});

it('the deployment page shows a failing verification task and its task sets; the fleet and service pages show a failing webhook target by its redacted URL', async () => {
  const fleet = await aFleet('dashboard verification and webhooks');
  const url = await aDashboard(fleet);
  // A receiver that answers 500 to everything, under a path that stands for a token.
  const receiver = await aWebhookReceiver(() => 500);
  const hook = `${receiver.origin}/hooks/${SECRET_VALUE}`;
  const added = await fleet.berth(['notify', 'add', hook, '--format', 'json']);
  assert.equal(added.code, 0, added.stderr);
  aDispatcher(fleet);
  fleet.startWorker();
  await aFastService(fleet, 'web', ['--verify-command', 'run-tests && fail']);
  const deployment = await finished(fleet, 'web');
  assert.equal(deployment.outcome, 'failed');

  const page = await browser.newPage();
  await page.goto(`${url}/deployments/${deployment.id}`);
  const row = page.locator('#verification tr[data-kind="verify"]');
  assert.equal(await row.getAttribute('data-outcome'), 'failed');
  assert.match(
    await text(page, '#verification tr[data-kind="verify"]'),
    /^verify run-tests && fail arn:aws:ecs:[^ ]+:task\/demo\/\S+ failed verification failed: the verify task exited with code 1 .* 1 Essential container in task exited EssentialContainerExited \d+\.\d s /,
  );
  assert.equal(await text(page, '#verification td.exit-code'), '1');
  // What it printed, as the worker read it from CloudWatch Logs.
  const output = await page.textContent(
    '#verification details.task-output[data-kind="verify"] pre',
  );
  assert.match(
    output ?? '',
    /^\+ sh -c 'run-tests && fail'\nerror: the command failed .*exit code 1\n$/,
  );
  assert.equal(await page.textContent('#reason'), deployment.reason);
  // It failed before any canary: no task set to show.
  assert.match(await text(page, '#tasks'), /^Task sets Not observed yet/);
  await page.close();

  // The target fails: the fleet page says so (live, once the attempt is recorded), without
  // the URL's path.
  const fleetPage = await browser.newPage();
  await fleetPage.goto(url);
  await fleetPage
    .locator('#notifications tr[data-target]', { hasText: /HTTP 500/ })
    .waitFor({ timeout: 10_000 });
  assert.match(
    await text(fleetPage, '#notifications tr[data-target]'),
    new RegExp(
      `^#\\d+ http://127\\.0\\.0\\.1:\\d+/… json every service HTTP 500 after \\d+ attempts? `,
    ),
  );
  assert.doesNotMatch(await fleetPage.content(), new RegExp(SECRET_VALUE));
  await fleetPage.goto(`${url}/services/web`);
  assert.match(await text(fleetPage, '#notifications'), /1 webhook target failing.*HTTP 500/);
  const api = await (await fetch(`${url}/api/fleet`)).text();
  assert.doesNotMatch(api, new RegExp(SECRET_VALUE));
  await fleetPage.close();
});

it('the fleet page lists apps and an app page follows an app deployment to its rollback, live, every member linked', async () => {
  const fleet = await aFleet('dashboard app');
  const url = await aDashboard(fleet);
  const worker = fleet.startWorker();
  await Promise.all([aLiveService(fleet, 'web'), aLiveService(fleet, 'api')]);
  assert.equal((await fleet.berth(['app', 'create', 'shop', '--services', 'web,api'])).code, 0);
  // No worker while the page opens: it sees the app deployment before anything moved.
  await worker.stop();
  const deployed = await fleet.berth([
    'deploy',
    'shop',
    '--image',
    'nginx:1.28',
    '--image',
    'api=httpd:2.4-5xx',
  ]);
  assert.equal(deployed.code, 0, deployed.stderr);

  const page = await browser.newPage();
  await page.goto(url);
  assert.match(
    await text(page, 'tr[data-app="shop"]'),
    /^shop web, api #1 nginx:1\.28 under way web #\d+ pending api #\d+ pending/,
  );
  await page.click('tr[data-app="shop"] a[href="/apps/shop"]');
  assert.equal(new URL(page.url()).pathname, '/apps/shop');
  assert.match(await text(page, 'tr[data-app-deployment="1"]'), /under way/);

  fleet.startWorker();
  // The page updates itself: the rollback of both members, with the member lost named.
  const row = await fleet.until(
    'the app page to show the rollback',
    async () => {
      const now = await text(page, 'tr[data-app-deployment="1"]');
      return now.includes('api rolled back:') && !now.includes('rolling back') ? now : undefined;
    },
    ROLLBACK_DEADLINE_MS,
    250,
  );
  assert.match(row, /rolled back api rolled back: canary analysis failed/);
  assert.match(row, /web #\d+ rolled back api #\d+ rolled back/);
  await page.click('tr[data-app-deployment="1"] li[data-member="web"] a[href^="/deployments/"]');
  assert.match(
    (await page.textContent('main')) ?? '',
    /rolled back with its app shop \(deployment #1\): api rolled back/,
  );
  await page.close();
});
