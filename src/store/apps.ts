import { sql } from 'kysely';
import { InputError } from '../validation/input-error.ts';
import { appDeploymentMembers } from './apps-settle.ts';
import { lockNames } from './apps-names.ts';
import type { Db } from './database.ts';
import { deployImageWithin, type ContainerImage } from './deploy.ts';
import { recordControl, type Control } from './deployments.ts';
import { appendEvent, notifyChange } from './events.ts';
import { policySnapshotOf } from './rollout.ts';
import type { App, AppDeployment, Deployment, Release, Service } from './schema.ts';
import { findService, serviceNamed, updateService } from './services.ts';
import { nearest } from './suggest.ts';
import type { Actor } from './write-transaction.ts';

export { appDeploymentMembers, memberFailure } from './apps-settle.ts';

/**
 * Apps: services that release together. The app's own rows say who its members are and how the
 * last deployment ended; each member's deployment carries the app deployment's id, and every
 * decision about moving together is taken by a member's own pass from those rows (see
 * src/reconciler/app-gate.ts), so the app needs no worker, lease or timer of its own.
 */

/** A member of an app: its service, its place, its wave in `--order`. */
export interface AppMember {
  service: Service;
  position: number;
  wave: number;
}

export interface AppWithMembers {
  app: App;
  /** In the app's order: the first member (it runs the pre-deploy command) first. */
  members: AppMember[];
}

/** The app named `name`, or undefined. */
export async function appNamed(db: Db, name: string): Promise<App | undefined> {
  return db.selectFrom('apps').selectAll().where('name', '=', name).executeTakeFirst();
}

/** The app named `name` with its members, or bad input naming the closest app. */
export async function findApp(db: Db, name: string, field = 'NAME'): Promise<AppWithMembers> {
  const app = await appNamed(db, name);
  if (app === undefined) {
    const names = (await db.selectFrom('apps').select('name').execute()).map((row) => row.name);
    const suggestion = nearest(name, names);
    throw new InputError(
      field,
      `no app named ${JSON.stringify(name)}` +
        (suggestion !== undefined
          ? `; did you mean ${JSON.stringify(suggestion)}?`
          : names.length === 0
            ? '; there are no apps yet (berth app create)'
            : '; see berth app list'),
    );
  }
  return { app, members: await appMembers(db, app.id) };
}

export async function appMembers(db: Db, appId: number): Promise<AppMember[]> {
  const rows = await db
    .selectFrom('app_members')
    .innerJoin('services', 'services.id', 'app_members.service_id')
    .selectAll('services')
    .select(['app_members.position as app_position', 'app_members.wave as app_wave'])
    .where('app_members.app_id', '=', appId)
    .orderBy('app_members.position')
    .execute();
  return rows.map(({ app_position, app_wave, ...service }) => ({
    service,
    position: app_position,
    wave: app_wave,
  }));
}

export async function listApps(db: Db): Promise<AppWithMembers[]> {
  const apps = await db.selectFrom('apps').selectAll().orderBy('name').execute();
  return Promise.all(apps.map(async (app) => ({ app, members: await appMembers(db, app.id) })));
}

/** Whether any app exists (the fleet's views show apps only then). */
export async function anyApp(db: Db): Promise<boolean> {
  return (await db.selectFrom('apps').select('id').limit(1).executeTakeFirst()) !== undefined;
}

/** The app a service is a member of, if any. */
export async function appOfService(db: Db, serviceId: number): Promise<App | undefined> {
  return db
    .selectFrom('apps')
    .innerJoin('app_members', 'app_members.app_id', 'apps.id')
    .selectAll('apps')
    .where('app_members.service_id', '=', serviceId)
    .executeTakeFirst();
}

/**
 * Members in their order: those `--order` names first, in its order (the first of them runs the
 * pre-deploy command), then the others in `--services` order; the others move with the first.
 */
function arrange(services: string[], order: string[]): { name: string; wave: number }[] {
  const rest = services.filter((name) => !order.includes(name));
  return [
    ...order.map((name, wave) => ({ name, wave })),
    ...rest.map((name) => ({ name, wave: 0 })),
  ];
}

function checkOrder(services: string[], order: string[]): void {
  // One name alone orders nothing (the others move with it) and would be lost as soon as the
  // members change: the first of --services is the first member already.
  if (order.length === 1) {
    throw new InputError(
      '--order',
      `name at least two members, each waiting for the one before; one alone moves with the others (the first of --services runs the pre-deploy command)`,
    );
  }
  for (const name of order) {
    if (!services.includes(name)) {
      throw new InputError(
        '--order',
        `${JSON.stringify(name)} is not one of the app's services (${services.join(', ')})`,
      );
    }
  }
  if (new Set(order).size !== order.length) {
    throw new InputError('--order', 'a service is named twice; name each once');
  }
}

async function lockApp(db: Db, name: string): Promise<AppWithMembers> {
  await db.selectFrom('apps').select('id').where('name', '=', name).forUpdate().execute();
  return findApp(db, name);
}

/** Checks and writes the members of a new or changed app (in the caller's transaction). */
async function writeMembers(
  db: Db,
  app: App,
  services: string[],
  order: string[],
): Promise<AppMember[]> {
  if (new Set(services).size !== services.length) {
    throw new InputError('--services', 'a service is named twice; name each once');
  }
  if (services.length < 2) {
    throw new InputError('--services', 'an app needs at least two services');
  }
  checkOrder(services, order);
  const arranged = arrange(services, order);
  const found = new Map<string, Service>();
  for (const { name } of arranged) {
    const service = await findService(db, name, '--services');
    if (service.delete_requested_at !== null) {
      throw new InputError('--services', `${name} is being deleted; it can join no app`);
    }
    const other = await appOfService(db, service.id);
    if (other !== undefined && other.id !== app.id) {
      throw new InputError(
        '--services',
        `${name} is already a member of app ${other.name}; a service belongs to one app`,
      );
    }
    found.set(name, service);
  }
  await db.deleteFrom('app_members').where('app_id', '=', app.id).execute();
  await db
    .insertInto('app_members')
    .values(
      arranged.map(({ name, wave }, position) => ({
        app_id: app.id,
        service_id: found.get(name)?.id ?? 0,
        position,
        wave,
      })),
    )
    .execute();
  return appMembers(db, app.id);
}

/** `berth app create`: the app and its members, audited, in one transaction. */
export async function createApp(
  db: Db,
  request: Actor & { name: string; services: string[]; order: string[] },
): Promise<AppWithMembers> {
  return db.transaction().execute(async (trx) => {
    await lockNames(trx);
    if ((await serviceNamed(trx, request.name)) !== undefined) {
      throw new InputError(
        'NAME',
        `${JSON.stringify(request.name)} is a service's name; an app and a service cannot share a name (berth deploy NAME must mean one of them)`,
      );
    }
    if ((await appNamed(trx, request.name)) !== undefined) {
      throw new InputError('NAME', `an app named ${JSON.stringify(request.name)} exists already`);
    }
    const app = await trx
      .insertInto('apps')
      .values({ name: request.name, created_by: request.actor })
      .returningAll()
      .executeTakeFirstOrThrow();
    const members = await writeMembers(trx, app, request.services, request.order);
    await appendEvent(trx, {
      serviceId: null,
      actor: request.actor,
      kind: 'app.created',
      message: `app ${app.name} created: ${members.map((m) => m.service.name).join(', ')}`,
      data: { app: app.name, services: request.services, order: request.order },
    });
    return { app, members };
  });
}

/** What `berth app update` may change; undefined leaves it as it is. */
export interface AppChange {
  services?: string[];
  order?: string[];
  /** null removes it. */
  preDeployCommand?: string | null;
  follow?: { repository: string; tagPattern: string } | null;
}

export async function updateApp(
  db: Db,
  request: Actor & { name: string; change: AppChange },
): Promise<AppWithMembers> {
  return db.transaction().execute(async (trx) => {
    const { app, members } = await lockApp(trx, request.name);
    const { change } = request;
    let now = members;
    if (change.services !== undefined || change.order !== undefined) {
      const unfinished = await unfinishedAppDeployment(trx, app.id);
      if (unfinished !== undefined) {
        throw new InputError(
          change.services !== undefined ? '--services' : '--order',
          `app ${app.name} has an unfinished deployment #${unfinished.id}; change its members once it ends`,
        );
      }
      const services = change.services ?? members.map((m) => m.service.name);
      const order =
        change.order ??
        (members.some((m) => m.wave > 0)
          ? members.filter((m) => m.wave > 0 || m.position === 0).map((m) => m.service.name)
          : []);
      const kept = order.filter((name) => services.includes(name));
      // An order kept from before that one name is left of orders nothing: all together now.
      now = await writeMembers(
        trx,
        app,
        services,
        change.order === undefined && kept.length === 1 ? [] : kept,
      );
    }
    const updated = await trx
      .updateTable('apps')
      .set({
        ...(change.preDeployCommand !== undefined
          ? { pre_deploy_command: change.preDeployCommand }
          : {}),
        ...(change.follow !== undefined
          ? {
              follow_repository: change.follow?.repository ?? null,
              follow_tag_pattern: change.follow?.tagPattern ?? null,
            }
          : {}),
        updated_at: sql<Date>`now()`,
      })
      .where('id', '=', app.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await appendEvent(trx, {
      serviceId: null,
      actor: request.actor,
      kind: 'app.updated',
      message: `app ${app.name} updated: ${Object.keys(change).join(', ')}`,
      data: {
        app: app.name,
        services: now.map((m) => m.service.name),
        ...(change.order !== undefined ? { order: change.order } : {}),
        ...(change.preDeployCommand !== undefined
          ? { preDeployCommand: change.preDeployCommand }
          : {}),
        ...(change.follow !== undefined ? { follow: change.follow } : {}),
      },
    });
    return { app: updated, members: now };
  });
}

async function unfinishedAppDeployment(db: Db, appId: number): Promise<AppDeployment | undefined> {
  return db
    .selectFrom('app_deployments')
    .selectAll()
    .where('app_id', '=', appId)
    .where('finished_at', 'is', null)
    .orderBy('id', 'desc')
    .executeTakeFirst();
}

/** The images of one member: its main container's, and named containers'. */
export interface MemberImages {
  main?: ContainerImage;
  containers: Record<string, ContainerImage>;
}

export interface AppDeployRequest extends Actor {
  name: string;
  /** Every member's main container (a bare `--image`). */
  image?: ContainerImage;
  /** `--image SERVICE=IMG` and `--image SERVICE.CONTAINER=IMG`, by member. */
  members: Record<string, MemberImages>;
  message: string | null;
}

/** One member's deployment of an app deployment, with its service's name. */
export interface MemberDeployment {
  service: string;
  serviceId: number;
  position: number;
  deployment: Deployment;
  release: Release;
}

export interface RequestedAppDeployment {
  app: App;
  appDeployment: AppDeployment;
  members: MemberDeployment[];
}

/**
 * `berth deploy APP`: one release per member and one app deployment over them, in one
 * transaction — every member's deployment is requested, or none is (a member with an unfinished
 * deployment refuses the whole request). The members' policies are fixed now, not at their
 * first claim: the first member's carries the app's pre-deploy command, so that it runs once,
 * in that member's verification stage, before any member moves.
 */
export async function deployApp(
  db: Db,
  request: AppDeployRequest,
): Promise<RequestedAppDeployment> {
  return db.transaction().execute((trx) => deployAppWithin(trx, request));
}

/** The oldest unfinished deployment of any member of an app, with its member's name. */
export async function busyMember(
  db: Db,
  appId: number,
): Promise<
  { id: number; phase: string; app_deployment_id: number | null; name: string } | undefined
> {
  return db
    .selectFrom('deployments')
    .innerJoin('app_members', 'app_members.service_id', 'deployments.service_id')
    .innerJoin('services', 'services.id', 'deployments.service_id')
    .select([
      'deployments.id',
      'deployments.phase',
      'deployments.app_deployment_id',
      'services.name',
    ])
    .where('app_members.app_id', '=', appId)
    .where('deployments.finished_at', 'is', null)
    .orderBy('deployments.id')
    .executeTakeFirst();
}

/** `deployApp` in the caller's transaction (the follow loop records the push beside it). */
export async function deployAppWithin(
  trx: Db,
  request: AppDeployRequest,
): Promise<RequestedAppDeployment> {
  const { app, members } = await lockApp(trx, request.name);
  for (const named of Object.keys(request.members)) {
    if (!members.some((m) => m.service.name === named)) {
      throw new InputError(
        '--image',
        `${JSON.stringify(named)} is not a member of app ${app.name}; its members: ${members.map((m) => m.service.name).join(', ')}`,
      );
    }
  }
  // A member's deployment under way refuses the whole app deployment, saying what to do about
  // it for an app (`--replace` is a service's; an app's deployment is aborted as a whole).
  const busy = await busyMember(trx, app.id);
  if (busy !== undefined) {
    throw new InputError(
      'NAME',
      `${busy.name}, a member of app ${app.name}, has an unfinished deployment #${busy.id} (${busy.phase.replace('_', ' ')}); wait for it, or abort it (berth abort ${busy.app_deployment_id !== null ? app.name : busy.name})`,
    );
  }
  const appDeployment = await trx
    .insertInto('app_deployments')
    .values({
      app_id: app.id,
      image: request.image?.image ?? null,
      message: request.message,
      requested_by: request.actor,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  const requested: MemberDeployment[] = [];
  for (const member of members) {
    const own = request.members[member.service.name];
    const main = own?.main ?? request.image;
    if (main === undefined && Object.keys(own?.containers ?? {}).length === 0) {
      throw new InputError(
        '--image',
        `no image for ${member.service.name}: give --image IMG for every member, or --image ${member.service.name}=IMG`,
      );
    }
    const made = await deployImageWithin(trx, {
      actor: request.actor,
      name: member.service.name,
      ...(main !== undefined ? { image: main.image, imageDigest: main.imageDigest } : {}),
      containerImages: own?.containers ?? {},
      message: request.message ?? `app ${app.name} deployment #${appDeployment.id}`,
      replace: false,
    });
    const service = made.service;
    const policy = policySnapshotOf(
      service,
      service.current_release_id === null || service.desired_count === 0,
    );
    if (member.position === 0 && app.pre_deploy_command !== null) {
      policy.preDeployCommand = app.pre_deploy_command;
    }
    const deployment = await trx
      .updateTable('deployments')
      .set({
        app_deployment_id: appDeployment.id,
        app_wave: member.wave,
        policy: JSON.stringify(policy),
      })
      .where('id', '=', made.deployment.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    requested.push({
      service: service.name,
      serviceId: service.id,
      position: member.position,
      deployment,
      release: made.release,
    });
  }
  await appendEvent(trx, {
    serviceId: null,
    actor: request.actor,
    kind: 'app.deployment_requested',
    message: `app ${app.name} deployment #${appDeployment.id} requested: ${requested.map((m) => `${m.service} v${m.release.version}`).join(', ')}`,
    data: {
      app: app.name,
      appDeploymentId: appDeployment.id,
      members: requested.map((m) => ({
        service: m.service,
        deploymentId: m.deployment.id,
        version: m.release.version,
      })),
    },
  });
  return { app, appDeployment, members: requested };
}

export async function findAppDeployment(db: Db, id: number): Promise<AppDeployment> {
  return db
    .selectFrom('app_deployments')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
}

/** The app's deployments, newest first. */
export async function appDeployments(db: Db, appId: number, limit = 50): Promise<AppDeployment[]> {
  return db
    .selectFrom('app_deployments')
    .selectAll()
    .where('app_id', '=', appId)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}

/**
 * `berth promote|abort|pause|resume APP`: the control on every unfinished member deployment of
 * the app's newest unfinished deployment, in one transaction.
 */
export async function controlApp(
  db: Db,
  request: Actor & { name: string; control: Control },
): Promise<{ app: App; appDeployment: AppDeployment; controlled: string[] }> {
  return db.transaction().execute(async (trx) => {
    const { app } = await lockApp(trx, request.name);
    const unfinished = await unfinishedAppDeployment(trx, app.id);
    if (unfinished === undefined) {
      throw new InputError(
        'NAME',
        `app ${app.name} has no unfinished deployment to ${request.control}`,
      );
    }
    const controlled: string[] = [];
    for (const member of await appDeploymentMembers(trx, unfinished.id)) {
      if (member.finished_at !== null) continue;
      await recordControl(trx, member.id, request.control, request.actor);
      await appendEvent(trx, {
        serviceId: member.service_id,
        deploymentId: member.id,
        actor: request.actor,
        kind: `deployment.${request.control}_requested`,
        message: `${request.control} of deployment #${member.id} of ${member.service_name} requested with app ${app.name} deployment #${unfinished.id}`,
        data: { app: app.name, appDeploymentId: unfinished.id },
      });
      await updateService(trx, member.service_id, {});
      await notifyChange(trx, member.service_id, `deployment.${request.control}`);
      controlled.push(member.service_name);
    }
    await appendEvent(trx, {
      serviceId: null,
      actor: request.actor,
      kind: `app.${request.control}_requested`,
      message: `${request.control} of app ${app.name} deployment #${unfinished.id} requested: ${controlled.join(', ')}`,
      data: { app: app.name, appDeploymentId: unfinished.id, members: controlled },
    });
    return { app, appDeployment: unfinished, controlled };
  });
}
