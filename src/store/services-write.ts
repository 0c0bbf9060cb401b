import type { FollowTarget } from '../validation/follow.ts';
import { InputError } from '../validation/input-error.ts';
import type { ParsedTemplate } from '../validation/task-definition.ts';
import type { Db } from './database.ts';
import { appendEvent, notifyChange } from './events.ts';
import { fromTemplate } from './release-template.ts';
import { specOf, type ReleaseSpec } from './releases.ts';
import { policyRow } from './rollout.ts';
import type { LaunchType, RolloutPolicy, Service, ServiceKind } from './schema.ts';
import { checkNotAppName } from './apps-names.ts';
import { insertService, lockService, serviceNamed, updateService } from './services.ts';
import { baseRelease, requestRelease, takeOver, writeOrDryRun } from './write-transaction.ts';
import type { Actor, DryRunnable, RequestedRelease } from './write-transaction.ts';

/** The CLI's writes to a service itself: `service create` and `service update`. */

export type { RolloutPolicy } from './schema.ts';

/** The service-level settings: where it runs and how traffic reaches it. */
export interface ServiceSettings {
  cluster: string;
  ecsServiceName: string;
  desiredCount: number;
  containerName: string;
  launchType: LaunchType;
  subnets: string[];
  securityGroups: string[];
  assignPublicIp: boolean;
  healthCheckPath: string;
  listenerRuleArn: string | null;
  targetGroupArns: [string, string] | null;
  /** The ECR repository and tag pattern whose pushes deploy (`--follow`); null or absent = none. */
  follow?: FollowTarget | null;
  /** The awslogs group of containers without logging of their own; null or absent = `/berth/NAME`. */
  logGroup?: string | null;
  /** `web` (the default) or `worker` (`--no-load-balancer`); fixed at creation. */
  kind?: ServiceKind;
}

/** What `service create` asks for: the service, its policy and release v1. */
export interface NewService extends Actor {
  name: string;
  settings: ServiceSettings;
  policy: RolloutPolicy;
  release: ReleaseSpec;
  message: string | null;
}

export async function createService(db: Db, request: NewService): Promise<RequestedRelease> {
  return db.transaction().execute((trx) => createServiceIn(trx, request));
}

/** `createService` inside a transaction the caller holds (the demo fleet makes three at once). */
export async function createServiceIn(trx: Db, request: NewService): Promise<RequestedRelease> {
  await checkNotAppName(trx, request.name);
  const existing = await serviceNamed(trx, request.name);
  if (existing !== undefined) {
    throw new InputError(
      'NAME',
      `a service named ${JSON.stringify(request.name)} already exists; change it with berth service update`,
    );
  }
  const { settings, policy } = request;
  const service = await insertService(trx, {
    name: request.name,
    ...settingsRow(settings),
    ...policyRow(policy),
    current_release_id: null,
    lease_owner: null,
    lease_until: null,
    observed_running_count: null,
    observed_at: null,
  });
  await appendEvent(trx, {
    serviceId: service.id,
    actor: request.actor,
    kind: 'service.created',
    message: `service ${service.name} created on cluster ${service.cluster}`,
    data: { settings, policy },
  });
  const { release, deployment } = await requestRelease(trx, service, undefined, {
    actor: request.actor,
    spec: request.release,
    kind: 'deploy',
    message: request.message,
  });
  return { service, release, deployment, replaced: undefined };
}

export interface ServiceUpdate {
  settings: Partial<ServiceSettings>;
  policy: Partial<RolloutPolicy>;
  /** Task-definition fields; any change here makes a new release, deployed as a canary. */
  release: Partial<
    Omit<ReleaseSpec, 'environment' | 'secrets' | 'template' | 'mainContainer' | 'sidecars'>
  >;
  /** `--task-definition FILE`: a new template (see `fromTemplate`). */
  template?: ParsedTemplate;
}

export async function changeService(
  db: Db,
  request: Actor & DryRunnable & { name: string; update: ServiceUpdate; replace: boolean },
): Promise<{ service: Service; requested: RequestedRelease | undefined }> {
  return writeOrDryRun(db, request.dryRun, async (trx) => {
    let service = await lockService(trx, request.name);
    const { settings, policy, release } = request.update;
    const columns = {
      ...settingsColumns(settings),
      ...policyColumns(policy),
    };
    if (Object.keys(columns).length > 0) {
      service = await updateService(trx, service.id, columns);
      await appendEvent(trx, {
        serviceId: service.id,
        actor: request.actor,
        kind: 'service.updated',
        message: `service ${service.name} updated: ${Object.keys(columns).join(', ')}`,
        data: { settings, policy },
      });
    }
    let requested: RequestedRelease | undefined;
    const template = request.update.template;
    if (Object.keys(release).length > 0 || template !== undefined) {
      const replaced = await takeOver(trx, service, request);
      const base = specOf(await baseRelease(trx, service, replaced));
      const next = template !== undefined ? fromTemplate(template, base) : base;
      const outcome = await requestRelease(trx, service, replaced, {
        actor: request.actor,
        spec: { ...next, ...release },
        kind: 'config',
        message: null,
        field: template !== undefined ? '--task-definition' : 'flags',
      });
      requested = { service, ...outcome, replaced };
    }
    if (Object.keys(columns).length === 0 && requested === undefined) {
      throw new InputError(
        'flags',
        'nothing to update; give at least one setting to change, e.g. --desired 3 or --max-p99 500ms',
      );
    }
    await notifyChange(trx, service.id, 'service.updated');
    return { service, requested };
  });
}

function networkSource(subnets: string[] | undefined): 'given' | null | undefined {
  if (subnets === undefined) return undefined;
  return subnets.length > 0 ? 'given' : null;
}

function settingsRow(settings: ServiceSettings) {
  return {
    cluster: settings.cluster,
    ecs_service_name: settings.ecsServiceName,
    kind: settings.kind,
    desired_count: settings.desiredCount,
    container_name: settings.containerName,
    log_group: settings.logGroup,
    launch_type: settings.launchType,
    subnets: settings.subnets,
    security_groups: settings.securityGroups,
    // Subnets given are the person's: no longer the load balancer's. (An update that does not
    // name them passes none: `settingsColumns` casts a partial.)
    network_source: networkSource(settings.subnets),
    assign_public_ip: settings.assignPublicIp,
    health_check_path: settings.healthCheckPath,
    listener_rule_arn: settings.listenerRuleArn,
    // Undefined (not null) when absent: an update that does not name them leaves them alone.
    target_group_a_arn: settings.targetGroupArns?.[0],
    target_group_b_arn: settings.targetGroupArns?.[1],
    // Likewise: undefined leaves following as it is, null (`--unfollow`) stops it.
    follow_repository:
      settings.follow === undefined ? undefined : (settings.follow?.repository ?? null),
    follow_tag_pattern:
      settings.follow === undefined ? undefined : (settings.follow?.tagPattern ?? null),
    ...(settings.follow !== undefined ? { follow_problem: null } : {}),
  };
}

/** The columns of the fields given; what was not given (undefined) is left out. */
function policyColumns(policy: Partial<RolloutPolicy>) {
  return dropUndefined(policyRow(policy as RolloutPolicy));
}

function settingsColumns(settings: Partial<ServiceSettings>) {
  return dropUndefined(settingsRow(settings as ServiceSettings));
}

function dropUndefined<T extends Record<string, unknown>>(
  record: T,
): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}
