/**
 * The rough edges a newcomer met in the first five minutes (issue 20): what `berth up` suggests,
 * a mutable tag, the warm task set behind "4 / 8", and the dashboard's deployment page saying in
 * words what a step waits for — in a real headless Chromium.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { untriedImage, welcomeLines } from '../src/cli/demo-fleet.ts';
import { startDaemon } from '../src/daemon/server.ts';
import { createLogger } from '../src/logging.ts';
import { launchChromium } from './support/chromium.ts';
import { aLiveService, aFleet, finished, type Fleet } from './support/fleet.ts';

let browser: Browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await (browser as Browser | undefined)?.close();
});

async function aDashboard(fleet: Fleet): Promise<string> {
  const daemon = await startDaemon(
    { host: '127.0.0.1', port: 0 },
    {
      db: fleet.db,
      logger: createLogger({ level: 'silent' }),
      token: undefined,
      leasesHeld: () => 0,
    },
  );
  fleet.defer(() => daemon.close());
  return daemon.url;
}

/** Whitespace folded, as a reader sees it. */
async function text(page: Page, selector: string): Promise<string> {
  return ((await page.locator(selector).textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

describe("berth up's suggestions", () => {
  it('move a numbered tag past every one the service has had, and keep a tag without a number', () => {
    assert.equal(untriedImage('nginx:1.28', ['nginx:1.27']), 'nginx:1.28');
    assert.equal(untriedImage('nginx:1.28', ['nginx:1.27', 'nginx:1.28']), 'nginx:1.29');
    assert.equal(untriedImage('api:main-2', ['traefik/whoami:v1.10', 'api:main-4']), 'api:main-5');
    assert.equal(untriedImage('httpd:2.4-5xx', ['httpd:2.4', 'httpd:2.4-5xx']), 'httpd:2.4-5xx');
  });

  it('do not tell a restarted fleet to deploy the image that is already live', async () => {
    const fleet = await aFleet('welcome after a deploy');
    fleet.startWorker();
    await aLiveService(fleet, 'web', ['--image', 'nginx:1.27']);
    for (const name of ['api', 'checkout']) {
      const created = await fleet.berth([
        'service',
        'create',
        name,
        '--cluster',
        'demo',
        '--image',
        'httpd:2.4',
        '--port',
        '80',
      ]);
      assert.equal(created.code, 0, created.stderr);
    }
    const fresh = (await welcomeLines(fleet.db, false, undefined)).join('\n');
    assert.match(fresh, /npx berth deploy web --image nginx:1\.28 --wait/);

    const deployed = await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.equal((await finished(fleet, 'web')).outcome, 'succeeded');
    const later = (await welcomeLines(fleet.db, false, undefined)).join('\n');
    assert.match(later, /npx berth deploy web --image nginx:1\.29 --wait/);
    assert.doesNotMatch(later, /--image nginx:1\.28/);
    assert.match(later, /npx berth deploy checkout --image httpd:2\.4-5xx --wait/);
  });
});

describe('a mutable tag', () => {
  it('is accepted with a warning that names the flag, and a version tag or a digest is not', async () => {
    const fleet = await aFleet('latest warning');
    fleet.startWorker();
    await aLiveService(fleet, 'web');
    const latest = await fleet.berth(['deploy', 'web', '--image', 'nginx:latest']);
    assert.equal(latest.code, 0, latest.stderr);
    assert.match(
      latest.stderr,
      /^warning: --image nginx:latest names :latest, a tag that moves with every push; .* \(nginx@sha256:…\)/m,
    );
    const untagged = await fleet.berth(['deploy', 'web', '--image', 'nginx', '--replace']);
    assert.equal(untagged.code, 0, untagged.stderr);
    assert.match(untagged.stderr, /^warning: --image nginx has no tag, so means :latest,/m);
    const pinned = await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28', '--replace']);
    assert.equal(pinned.code, 0, pinned.stderr);
    assert.equal(pinned.stderr, '');
    // The warning is a word, not a refusal: the release was recorded as asked.
    const history = await fleet.json<{ releases: { image: string }[] }>(['history', 'web']);
    assert.deepEqual(
      history.releases.slice(0, 3).map((release) => release.image),
      ['nginx:1.28', 'nginx', 'nginx:latest'],
    );
  });
});

describe('after a promotion', () => {
  it('status and the dashboard say that running counts the warm task set, kept until when', async () => {
    const fleet = await aFleet('warm set explained');
    fleet.startWorker();
    await aLiveService(fleet, 'web', ['--rollback-window', '10m']);
    const deployed = await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.equal((await finished(fleet, 'web')).outcome, 'succeeded');

    const status = await fleet.berth(['status', 'web']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /\d+ running \(incl\. warm v1\)/);
    assert.match(
      status.stdout,
      /^v1's task set is kept warm until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ for an instant rollback \(berth rollback web\); OBSERVED counts its tasks too$/m,
    );
    const json = await fleet.json<{ warm: { version: number; until: string } | null }>([
      'status',
      'web',
    ]);
    assert.equal(json.warm?.version, 1);
    const minutesLeft = (Date.parse(json.warm.until) - Date.now()) / 60_000;
    assert.ok(minutesLeft > 8 && minutesLeft <= 10, `warm for ${minutesLeft} more minutes`);

    const url = await aDashboard(fleet);
    const page = await browser.newPage();
    await page.goto(url);
    assert.match(
      await text(page, 'tr[data-service="web"]'),
      /incl\. v1 kept warm for an instant rollback until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/,
    );
    await page.goto(`${url}/services/web`);
    assert.match(await text(page, '#service'), /desired \/ running \d+ \/ \d+ incl\. v1 kept warm/);
    await page.close();
  });
});

describe("the dashboard's deployment page", () => {
  it('shows the steps with the current one, and what the step waits for in words before the statistics', async () => {
    const fleet = await aFleet('verdict in words');
    fleet.startWorker();
    await aLiveService(fleet, 'web');
    // A step that needs far more requests than a minute brings: it stays undecided, and says how long.
    const slow = await fleet.berth([
      'service',
      'update',
      'web',
      '--min-requests',
      '100000',
      '--max-analysis',
      '1h',
    ]);
    assert.equal(slow.code, 0, slow.stderr);
    const deployed = await fleet.berth(['deploy', 'web', '--image', 'nginx:1.28']);
    assert.equal(deployed.code, 0, deployed.stderr);
    const { id } = await fleet.deployment('web');
    const url = await aDashboard(fleet);
    // A browser nine hours off UTC: the page's times must still be the tables' UTC ones.
    const tokyo = await browser.newContext({ timezoneId: 'Asia/Tokyo' });
    fleet.defer(() => tokyo.close());
    const page = await tokyo.newPage();
    await page.goto(`${url}/deployments/${id}`);

    const words = page.locator('#verdict-words', {
      hasText: /needs about \d+ more clean requests, ~\d+(m\d+s|s|m|h\d*m?) at the current traffic/,
    });
    await words.waitFor({ timeout: 60_000 });
    assert.match(await text(page, '#progress ol.steps'), /^10 % progressing now 100 % to come$/);
    assert.equal(await page.locator('#progress li[aria-current="step"]').count(), 1);
    assert.equal(await page.locator('#progress li.current').getAttribute('data-step'), '0');
    // The sentence first, its statistics beside it.
    assert.match(
      await text(page, '#verdict-words'),
      /^needs about \d+ more clean requests, .* \d+ of \d+ canary requests 5xx over \d+ windows? · confidence [\d.]+ of 0\.95 \(5xx at most 1\.00 %\)$/,
    );
    // The same ETA the CLI computes.
    const status = await fleet.json<{ evidence: { moreRequestsNeeded: number } | null }>([
      'status',
      'web',
    ]);
    assert.ok(status.evidence !== null && status.evidence.moreRequestsNeeded > 0);

    // The charts: legends name their series without "--" placeholders; times are UTC.
    await page.locator('[data-chart="rate5xx"] canvas').waitFor({ timeout: 30_000 });
    const legend = await text(page, '[data-chart="rate5xx"] .u-legend');
    assert.equal(legend, 'baseline %thresholdcanary %');
    assert.doesNotMatch(legend, /--/);
    const hoursUtc = [new Date().toISOString().slice(11, 13)];
    const live = await text(page, '#live');
    hoursUtc.push(new Date().toISOString().slice(11, 13));
    assert.match(live, /^live · \d\d:\d\d:\d\dZ$/);
    assert.ok(hoursUtc.includes(live.slice(7, 9)), `${live} is not UTC (${hoursUtc.join(', ')})`);
    await page.close();

    const aborted = await fleet.berth(['abort', 'web']);
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.equal((await finished(fleet, 'web', 60_000)).outcome, 'rolled_back');
  });
});
