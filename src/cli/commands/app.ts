import {
  appDeploymentMembers,
  appDeployments,
  controlApp,
  createApp,
  deployApp,
  findApp,
  listApps,
  updateApp,
  type AppChange,
  type AppWithMembers,
  type MemberImages,
} from '../../store/apps.ts';
import type { Db } from '../../store/database.ts';
import type { ContainerImage } from '../../store/deploy.ts';
import type { Control } from '../../store/deployments.ts';
import { parseCommand } from '../../validation/command.ts';
import {
  InputError,
  parseFollowTarget,
  parseImageRef,
  parseMessage,
  parseServiceName,
} from '../../validation/fields.ts';
import { parseContainerName } from '../../validation/task-definition.ts';
import {
  abortOnInterrupt,
  appDeploymentJson,
  memberState,
  waitForAppDeployment,
} from '../app-wait.ts';
import type { CliContext } from '../context.ts';
import { table, words } from '../render.ts';
import { warnMutableTag } from './warnings.ts';

/** `--services web,worker` / `--order web,worker`: service names, comma-separated. */
function parseNameList(field: string, raw: string): string[] {
  const names = raw
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (names.length === 0) throw new InputError(field, 'give service names, e.g. web,worker');
  return names.map((name) => parseServiceName(field, name));
}

function appJson({ app, members }: AppWithMembers) {
  return {
    name: app.name,
    services: members.map((m) => m.service.name),
    order: members.some((m) => m.wave > 0)
      ? members.filter((m) => m.wave > 0 || m.position === 0).map((m) => m.service.name)
      : [],
    preDeployCommand: app.pre_deploy_command,
    follow:
      app.follow_repository !== null
        ? { repository: app.follow_repository, tagPattern: app.follow_tag_pattern }
        : null,
    createdBy: app.created_by,
    createdAt: app.created_at.toISOString(),
  };
}

function appLines(found: AppWithMembers): string {
  const json = appJson(found);
  return [
    `app ${json.name}: ${json.services.join(', ')}`,
    json.order.length > 0
      ? `  order: ${json.order.join(' → ')} (each waits for the one before to pass 100 %)`
      : '  order: together, step by step',
    `  pre-deploy: ${json.preDeployCommand !== null ? `sh -c ${JSON.stringify(json.preDeployCommand)} (once, in ${json.services[0] ?? '?'}'s new release)` : 'none'}`,
    ...(json.follow !== null
      ? [`  follows: ${json.follow.repository}:${json.follow.tagPattern ?? ''}`]
      : []),
  ].join('\n');
}

export async function appCreate(
  context: CliContext,
  rawName: string,
  flags: { services: string; order?: string },
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const services = parseNameList('--services', flags.services);
  const order = flags.order === undefined ? [] : parseNameList('--order', flags.order);
  const created = await context.withDatabase((db) =>
    createApp(db, { actor: context.actor, name, services, order }),
  );
  context.print({ json: appJson(created), text: appLines(created) });
  return 0;
}

export async function appUpdate(
  context: CliContext,
  rawName: string,
  flags: {
    services?: string;
    order?: string;
    preDeployCommand?: string;
    follow?: string;
    unfollow?: boolean;
  },
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const change: AppChange = {};
  if (flags.services !== undefined) change.services = parseNameList('--services', flags.services);
  if (flags.order !== undefined) {
    change.order = flags.order.trim() === '' ? [] : parseNameList('--order', flags.order);
  }
  if (flags.preDeployCommand !== undefined) {
    change.preDeployCommand = parseCommand('--pre-deploy-command', flags.preDeployCommand);
  }
  if (flags.follow !== undefined && flags.unfollow === true) {
    throw new InputError('--unfollow', 'give --follow or --unfollow, not both');
  }
  if (flags.follow !== undefined) change.follow = parseFollowTarget('--follow', flags.follow);
  if (flags.unfollow === true) change.follow = null;
  if (Object.keys(change).length === 0) {
    throw new InputError(
      'NAME',
      'nothing to change: give --services, --order, --pre-deploy-command, --follow or --unfollow',
    );
  }
  const updated = await context.withDatabase((db) =>
    updateApp(db, { actor: context.actor, name, change }),
  );
  context.print({ json: appJson(updated), text: appLines(updated) });
  return 0;
}

export async function appShow(context: CliContext, rawName: string): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  return context.withDatabase(async (db) => {
    const found = await findApp(db, name, 'NAME');
    const newest = (await appDeployments(db, found.app.id, 1))[0];
    const members = newest === undefined ? [] : await appDeploymentMembers(db, newest.id);
    context.print({
      json: {
        ...appJson(found),
        newestDeployment: newest === undefined ? null : appDeploymentJson(newest, members),
      },
      text:
        appLines(found) +
        (newest === undefined
          ? '\n  no deployment yet'
          : `\n  newest: ${appDeploymentLine(newest, members)}`),
    });
    return 0;
  });
}

export async function appList(context: CliContext): Promise<number> {
  const apps = await context.withDatabase((db) => listApps(db));
  context.print({
    json: apps.map(appJson),
    text:
      apps.length === 0
        ? 'no apps (berth app create NAME --services A,B)'
        : table([
            ['APP', 'SERVICES', 'PRE-DEPLOY'],
            ...apps.map((found) => [
              found.app.name,
              found.members.map((m) => m.service.name).join(','),
              found.app.pre_deploy_command ?? '-',
            ]),
          ]),
  });
  return 0;
}

/** `#3 by ann: rolled back (worker rolled back: …) — web rolled back, worker rolled back`. */
function appDeploymentLine(
  appDeployment: Awaited<ReturnType<typeof appDeployments>>[number],
  members: Awaited<ReturnType<typeof appDeploymentMembers>>,
): string {
  const state =
    appDeployment.outcome === null
      ? appDeployment.reason !== null
        ? 'rolling back'
        : 'under way'
      : appDeployment.outcome === 'succeeded'
        ? 'live'
        : words(appDeployment.outcome);
  return (
    `#${appDeployment.id} ${appDeployment.image ?? ''} by ${appDeployment.requested_by}: ${state}` +
    (appDeployment.reason !== null ? ` (${appDeployment.reason})` : '') +
    ` — ${members.map((m) => `${m.service_name} #${m.id} ${memberState(m)}`).join(', ')}`
  );
}

/**
 * `--image IMG` (every member's main container), `--image SERVICE=IMG` (one member's main
 * container) and `--image SERVICE.CONTAINER=IMG` (one container of one member).
 */
export function parseAppImages(raw: readonly string[]): {
  image?: ContainerImage;
  members: Record<string, MemberImages>;
} {
  let image: ContainerImage | undefined;
  const members: Record<string, MemberImages> = {};
  for (const entry of raw) {
    const eq = entry.indexOf('=');
    const named = eq > 0 && !/[/:@]/.test(entry.slice(0, eq));
    const ref = parseImageRef('--image', named ? entry.slice(eq + 1) : entry);
    const value = { image: ref.reference, imageDigest: ref.digest ?? null };
    if (!named) {
      if (image !== undefined) {
        throw new InputError('--image', 'every member is given two images; give --image IMG once');
      }
      image = value;
      continue;
    }
    const [rawService = '', ...rest] = entry.slice(0, eq).split('.');
    const service = parseServiceName('--image', rawService);
    const member = (members[service] ??= { containers: {} });
    if (rest.length === 0) {
      if (member.main !== undefined) {
        throw new InputError('--image', `${service} is given two images; give it once`);
      }
      member.main = value;
      continue;
    }
    const container = parseContainerName('--image', rest.join('.'));
    if (container in member.containers) {
      throw new InputError('--image', `${service}.${container} is given two images; give it once`);
    }
    member.containers[container] = value;
  }
  return { ...(image !== undefined ? { image } : {}), members };
}

/** `berth deploy APP`: one release per member, one app deployment over them. */
export async function deployAppCommand(
  context: CliContext,
  db: Db,
  name: string,
  flags: {
    image?: string[];
    message?: string;
    replace?: boolean;
    wait?: boolean;
    dryRun?: boolean;
    abortOnInterrupt?: boolean;
  },
): Promise<number> {
  if (flags.replace === true) {
    throw new InputError(
      '--replace',
      `${name} is an app; abort its deployment first (berth abort ${name})`,
    );
  }
  if (flags.dryRun === true) {
    throw new InputError(
      '--dry-run',
      `${name} is an app; berth diff SERVICE shows each member's change`,
    );
  }
  const images = parseAppImages(flags.image ?? []);
  const message = flags.message === undefined ? null : parseMessage('--message', flags.message);
  const requested = await deployApp(db, {
    actor: context.actor,
    name,
    ...(images.image !== undefined ? { image: images.image } : {}),
    members: images.members,
    message,
  });
  const { appDeployment, members } = requested;
  context.print(
    {
      json: {
        app: name,
        appDeploymentId: appDeployment.id,
        members: members.map((m) => ({
          service: m.service,
          deploymentId: m.deployment.id,
          version: m.release.version,
          image: m.release.image,
        })),
      },
      text:
        `${name}: app deployment #${appDeployment.id} requested: ` +
        members.map((m) => `${m.service} v${m.release.version} (#${m.deployment.id})`).join(', '),
    },
    { lines: flags.wait === true },
  );
  for (const given of [images.image, ...Object.values(images.members).map((m) => m.main)]) {
    if (given !== undefined && given.imageDigest === null) {
      warnMutableTag(context, '--image', given.image);
    }
  }
  if (flags.wait !== true) return 0;
  return waitAndExit(context, db, name, appDeployment.id, flags.abortOnInterrupt === true);
}

/** Waits for an app deployment: 0 live, 1 rolled back, 130 interrupted. */
export async function waitAndExit(
  context: CliContext,
  db: Db,
  name: string,
  appDeploymentId: number,
  abortOnCtrlC: boolean,
): Promise<number> {
  if (!abortOnCtrlC) {
    const finished = await waitForAppDeployment(context, db, appDeploymentId);
    if (finished === undefined) return 130;
    return finished.outcome === 'succeeded' ? 0 : 1;
  }
  const waiting = abortOnInterrupt(context, async () => {
    await controlApp(db, { actor: context.actor, name, control: 'abort' });
  });
  const finished = await waitForAppDeployment(waiting.context, db, appDeploymentId);
  if (waiting.interrupted()) return 130;
  return finished?.outcome === 'succeeded' ? 0 : 1;
}

/** `berth promote|abort|pause|resume APP`. */
export async function controlAppCommand(
  context: CliContext,
  db: Db,
  name: string,
  what: Control,
): Promise<number> {
  const { appDeployment, controlled } = await controlApp(db, {
    actor: context.actor,
    name,
    control: what,
  });
  const done = {
    promote: 'promote requested: every member skips to 100 %, and all finish together',
    abort: 'abort requested: every member is rolled back',
    pause: 'paused: every member holds at its current step',
    resume: 'resumed',
  }[what];
  context.print({
    json: { app: name, appDeploymentId: appDeployment.id, control: what, members: controlled },
    text: `${name} app deployment #${appDeployment.id}: ${done} (${controlled.join(', ')})`,
  });
  return 0;
}

/** `berth history APP`: the app's deployments, newest first, each with its members. */
export async function appHistory(context: CliContext, db: Db, name: string): Promise<number> {
  const found = await findApp(db, name, 'NAME');
  const list = await appDeployments(db, found.app.id);
  const rows = await Promise.all(
    list.map(async (appDeployment) => ({
      appDeployment,
      members: await appDeploymentMembers(db, appDeployment.id),
    })),
  );
  context.print({
    json: {
      app: name,
      services: found.members.map((m) => m.service.name),
      deployments: rows.map((row) => appDeploymentJson(row.appDeployment, row.members)),
    },
    text: [
      `app deployments of ${name}, newest first:`,
      rows.length === 0
        ? '(none)'
        : rows.map((row) => `  ${appDeploymentLine(row.appDeployment, row.members)}`).join('\n'),
    ].join('\n'),
  });
  return 0;
}

/** `berth watch APP`: the app's unfinished (or newest) deployment until it ends. */
export async function watchApp(context: CliContext, db: Db, name: string): Promise<number> {
  const found = await findApp(db, name, 'NAME');
  const newest = (await appDeployments(db, found.app.id, 1))[0];
  if (newest === undefined) {
    throw new InputError(
      'NAME',
      `app ${name} has no deployment yet (berth deploy ${name} --image …)`,
    );
  }
  return waitAndExit(context, db, name, newest.id, false);
}

/** The app lines of `berth status`: each app's newest deployment and its members. */
export async function appStatusLines(db: Db): Promise<{ json: unknown[]; text: string[] }> {
  const apps = await listApps(db);
  const json: unknown[] = [];
  const text: string[] = [];
  for (const found of apps) {
    const newest = (await appDeployments(db, found.app.id, 1))[0];
    const members = newest === undefined ? [] : await appDeploymentMembers(db, newest.id);
    json.push({
      ...appJson(found),
      newestDeployment: newest === undefined ? null : appDeploymentJson(newest, members),
    });
    text.push(
      `app ${found.app.name} (${found.members.map((m) => m.service.name).join(', ')}): ` +
        (newest === undefined ? 'no deployment yet' : appDeploymentLine(newest, members)),
    );
  }
  return { json, text };
}
