import type { Db } from '../store/database.ts';
import { createServiceIn } from '../store/desired-state.ts';
import { appendEvent } from '../store/events.ts';
import { ensureSimulatedRepository } from '../cloud/sim/push.ts';
import { createLogger } from '../logging.ts';
import { isNeverUsed, seedIfNeverUsed } from '../store/first-use.ts';
import { listReleases } from '../store/releases.ts';
import { listServices } from '../store/services.ts';
import { newServiceFrom, parseServiceFlags, type ServiceFlags } from './service-flags.ts';

/**
 * Short enough to watch: two-second windows, a ten-second bake, a minute for tasks to turn
 * healthy and two for a step to be decided. At the simulated AWS's 50 requests a second a good
 * release passes its 10 % step in about 40 s; a 5xx image is rolled back in a few seconds.
 */
const WATCHABLE_POLICY: ServiceFlags = {
  cluster: 'demo',
  desired: '4',
  steps: '10,100',
  interval: '2s',
  bake: '10s',
  minRequests: '20',
  maxAnalysis: '2m',
  progressDeadline: '1m',
};

/**
 * The pipeline of issue 10 on `api`: a push to its ECR repository under `main-*` is deployed by
 * the workers, its integration tests first. The simulated AWS decides a task's exit code by the
 * words of its command (`fail` exits 1), so these tests pass after a few seconds.
 */
const DEMO_REPOSITORY = 'api';
const FOLLOWED_PUSHES: ServiceFlags = {
  follow: `${DEMO_REPOSITORY}:main-*`,
  verifyCommand: 'npm run integration-tests',
  verifyTimeout: '2m',
};

/** The services `berth up` opens on, the first time, on the simulated AWS. */
export const DEMO_FLEET: readonly {
  name: string;
  image: string;
  port: string;
  flags?: ServiceFlags;
}[] = [
  { name: 'web', image: 'nginx:1.27', port: '80' },
  { name: 'api', image: 'traefik/whoami:v1.10', port: '80', flags: FOLLOWED_PUSHES },
  { name: 'checkout', image: 'httpd:2.4', port: '80' },
];

/** Who the audit log says made the demo fleet. */
export const DEMO_ACTOR = 'berth up (demo fleet)';

/**
 * What to try once the demo fleet runs, as the README's quick start has it: the service, the
 * image it is tried with, the command, and what it shows. The image's tag moves past any the
 * service has already had, so that a restarted fleet is not told to deploy what is live.
 */
export const DEMO_COMMANDS = [
  {
    service: 'web',
    image: 'nginx:1.28',
    command: (image: string) => `npx berth deploy web --image ${image} --wait`,
    what: 'a good release: 10 % → judged → 100 % → live',
  },
  {
    service: 'checkout',
    image: 'httpd:2.4-5xx',
    command: (image: string) => `npx berth deploy checkout --image ${image} --wait`,
    what: '30 % 5xx at 10 %: rolled back, exit 1',
  },
  {
    service: 'api',
    image: 'api:main-2',
    command: (image: string) => `npx berth sim push ${image}`,
    what: 'a push to ECR: integration tests, then 10 % → 100 %, no deploy typed',
  },
  {
    service: 'web',
    image: null,
    command: () => 'npx berth watch web',
    what: 'the live view of a rollout, in a third terminal',
  },
] as const;

/**
 * `suggested`, or its tag's last number moved past every tag of that form the service has had:
 * `nginx:1.28` after nginx:1.28 went live is `nginx:1.29`. A tag without a trailing number
 * (`2.4-5xx`) is kept: trying a bad image twice shows the same rollback.
 */
export function untriedImage(suggested: string, had: readonly string[]): string {
  const colon = suggested.lastIndexOf(':');
  const numbered = /^(.*?)(\d+)$/.exec(suggested.slice(colon + 1));
  if (numbered === null) return suggested;
  const [, prefix = '', number = '0'] = numbered;
  let next = Number(number);
  for (const image of had) {
    const tag = image.slice(image.lastIndexOf(':') + 1);
    if (!tag.startsWith(prefix)) continue;
    const rest = tag.slice(prefix.length);
    if (/^\d+$/.test(rest) && Number(rest) >= next) next = Number(rest) + 1;
  }
  return `${suggested.slice(0, colon + 1)}${prefix}${next}`;
}

/**
 * Seeds the demo fleet when the database has never been used (its audit log is empty), in one
 * transaction with a `demo.seeded` event; says whether it did.
 *
 * Only then, never again: once anything has happened, what the fleet holds is the operator's.
 * A demo service someone removed stays removed — a controller that brings back what a person took
 * away would be fighting them — and a database that already has its own services gets none.
 */
export async function seedDemoFleet(db: Db): Promise<boolean> {
  // The followed repository exists before the service that follows it, as a team's would: else
  // the demo opens on "following api fails: repository not found" until the first push.
  if (await isNeverUsed(db)) {
    await ensureSimulatedRepository(db, DEMO_REPOSITORY, {
      logger: createLogger({ level: 'silent' }),
    });
  }
  return seedIfNeverUsed(db, async (trx) => {
    for (const { name, image, port, flags } of DEMO_FLEET) {
      const spec = newServiceFrom(
        parseServiceFlags({ ...WATCHABLE_POLICY, ...flags, image, port }, 'create'),
        name,
      );
      await createServiceIn(trx, {
        actor: DEMO_ACTOR,
        name,
        ...spec,
        message: 'the demo fleet berth up seeds on first use',
      });
    }
    await appendEvent(trx, {
      serviceId: null,
      actor: DEMO_ACTOR,
      kind: 'demo.seeded',
      message: `demo fleet seeded on the simulated AWS: ${DEMO_FLEET.map((s) => s.name).join(', ')}`,
      data: { services: DEMO_FLEET.map((s) => s.name) },
    });
  });
}

/** The lines `berth up` prints under its first: the dashboard, the fleet and what to try. */
export async function welcomeLines(
  db: Db,
  seeded: boolean,
  dashboardUrl: string | undefined,
): Promise<string[]> {
  const services = await listServices(db);
  const names = services.map((service) => service.name);
  const lines: string[] = [];
  // Listening on every address (`--http 0.0.0.0:7070`, as in compose): a browser on this machine
  // opens it on loopback.
  if (dashboardUrl !== undefined)
    lines.push(
      `dashboard: ${dashboardUrl.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:')}/`,
    );
  const demo = DEMO_FLEET.every(({ name }) => names.includes(name));
  if (seeded) lines.push(`demo fleet seeded on the simulated AWS: ${names.join(', ')}`);
  else
    lines.push(
      `${names.length} service(s) as you left them${names.length > 0 ? `: ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', …' : ''}` : ''}`,
    );
  if (demo) {
    const commands = await Promise.all(
      DEMO_COMMANDS.map(async ({ service: name, image, command, what }) => {
        const service = services.find((candidate) => candidate.name === name);
        if (image === null || service === undefined) return { text: command(''), what };
        const had = (await listReleases(db, service.id)).map((release) => release.image);
        return { text: command(untriedImage(image, had)), what };
      }),
    );
    lines.push('try, in another terminal in this folder:');
    const width = Math.max(...commands.map(({ text }) => text.length));
    for (const { text, what } of commands) lines.push(`  ${text.padEnd(width)}  # ${what}`);
  }
  return lines;
}
