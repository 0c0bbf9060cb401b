import type { FollowTarget } from '../validation/follow.ts';
import { InputError } from '../validation/input-error.ts';
import {
  checkRegistrationSize,
  type ManagedContainer,
  type ParsedTemplate,
} from '../validation/task-definition.ts';
import type { Db } from './database.ts';
import {
  activeDeployment,
  finishDeployment,
  insertDeployment,
  recordControl,
  type Control,
} from './deployments.ts';
import { appendEvent, notifyChange } from './events.ts';
import {
  findRelease,
  findReleaseByVersion,
  insertRelease,
  latestRelease,
  previousLiveRelease,
  specOf,
  type ReleaseSpec,
} from './releases.ts';
import type {
  Deployment,
  DeploymentKind,
  LaunchType,
  Release,
  RolloutPolicy,
  Service,
} from './schema.ts';
import { insertService, lockService, updateService } from './services.ts';

/**
 * The writes the CLI makes. Each is one transaction that locks the service row, checks what
 * it must, writes, appends to the audit log and notifies the workers — all or nothing.
 */

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
}

export interface Actor {
  actor: string;
}

export interface RequestedRelease {
  service: Service;
  release: Release;
  deployment: Deployment;
  /** The deployment this one took the place of (`--replace`). */
  replaced: Deployment | undefined;
}

/** Asks for the release that would be made, without writing anything (`--dry-run`). */
export interface DryRunnable {
  dryRun?: boolean;
}

/** Thrown to roll a dry run's transaction back, carrying what it would have made. */
class DryRunRollback<T> extends Error {
  readonly result: T;
  constructor(result: T) {
    super('dry run: rolled back');
    this.result = result;
  }
}

/**
 * Runs a write in one transaction; a dry run makes the very same checks and rows, then rolls
 * them back (nothing is written, no audit entry, no notification: NOTIFY is sent on commit)
 * and answers what would have been made.
 */
async function writeOrDryRun<T>(
  db: Db,
  dryRun: boolean | undefined,
  work: (trx: Db) => Promise<T>,
): Promise<T> {
  try {
    return await db.transaction().execute(async (trx) => {
      const result = await work(trx);
      if (dryRun === true) throw new DryRunRollback(result);
      return result;
    });
  } catch (error) {
    if (error instanceof DryRunRollback) return error.result as T;
    throw error;
  }
}

/** An image for one container: as asked, and its digest when the reference pins one. */
export interface ContainerImage {
  image: string;
  imageDigest: string | null;
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
  const existing = await trx
    .selectFrom('services')
    .select('id')
    .where('name', '=', request.name)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
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

/** What `berth deploy` asks for: the main container's image and/or named containers' images. */
export interface DeployRequest extends Actor, DryRunnable {
  name: string;
  /** The main container's image (a bare `--image`). */
  image?: string;
  imageDigest?: string | null;
  /** `--image CONTAINER=IMG`: container name → image; the main container's name sets it too. */
  containerImages?: Record<string, ContainerImage>;
  message: string | null;
  replace: boolean;
  /** Start from this release instead of the one being deployed or live (`berth diff`). */
  base?: Release;
}

export async function deployImage(db: Db, request: DeployRequest): Promise<RequestedRelease> {
  return writeOrDryRun(db, request.dryRun, (trx) => deployImageWithin(trx, request));
}

/**
 * `deployImage` inside a transaction the caller holds, so that what it records beside the
 * deployment (the follow loop's one row per image digest) commits with it or not at all.
 */
export async function deployImageWithin(
  trx: Db,
  request: DeployRequest,
): Promise<RequestedRelease> {
  const service = await lockService(trx, request.name);
  const replaced = await takeOver(trx, service, request);
  const base = request.base ?? (await baseRelease(trx, service, replaced));
  let spec = specOf(base);
  if (request.image !== undefined) {
    spec = { ...spec, image: request.image, imageDigest: request.imageDigest ?? null };
  }
  for (const [container, image] of Object.entries(request.containerImages ?? {})) {
    if (container === spec.mainContainer) {
      spec = { ...spec, image: image.image, imageDigest: image.imageDigest };
      continue;
    }
    const sidecar = spec.sidecars[container];
    if (sidecar === undefined) {
      throw new InputError(
        '--image',
        `${JSON.stringify(container)} is not a container of ${service.name}; its containers: ${containerNames(spec).join(', ')}`,
      );
    }
    spec = {
      ...spec,
      sidecars: { ...spec.sidecars, [container]: { ...sidecar, ...image } },
    };
  }
  const { release, deployment } = await requestRelease(trx, service, replaced, {
    actor: request.actor,
    spec,
    kind: 'deploy',
    message: request.message,
    field: '--image',
  });
  return { service, release, deployment, replaced };
}

function containerNames(spec: ReleaseSpec): string[] {
  return spec.template.containerDefinitions.map((container) => container.name);
}

export interface ConfigChange {
  set: Record<string, string>;
  secrets: Record<string, string>;
  unset: string[];
}

/** A new release with the same image and the environment changed, deployed like any other. */
export async function changeConfig(
  db: Db,
  request: Actor &
    DryRunnable & {
      name: string;
      change: ConfigChange;
      replace: boolean;
      /** `--container`: another container than the main one. */
      container?: string | undefined;
    },
): Promise<RequestedRelease> {
  return writeOrDryRun(db, request.dryRun, async (trx) => {
    const service = await lockService(trx, request.name);
    const replaced = await takeOver(trx, service, request);
    const spec = specOf(await baseRelease(trx, service, replaced));
    const container = request.container ?? spec.mainContainer;
    const sidecar = spec.sidecars[container];
    if (container !== spec.mainContainer && sidecar === undefined) {
      throw new InputError(
        '--container',
        `${JSON.stringify(container)} is not a container of ${service.name}; its containers: ${containerNames(spec).join(', ')}`,
      );
    }
    const base = sidecar ?? spec;
    const { set, secrets: secretRefs, unset } = request.change;
    for (const key of unset) {
      if (!(key in base.environment) && !(key in base.secrets)) {
        const known = [...Object.keys(base.environment), ...Object.keys(base.secrets)].sort();
        throw new InputError(
          'KEY',
          `${JSON.stringify(key)} is not set on ${service.name}; set keys: ${known.length > 0 ? known.join(', ') : '(none)'}`,
        );
      }
    }
    // A key is either a plain value or a secret reference, never both: whatever is set last wins.
    const removedFromEnvironment = new Set([...unset, ...Object.keys(secretRefs)]);
    const removedFromSecrets = new Set([...unset, ...Object.keys(set)]);
    const environment = {
      ...without(base.environment, removedFromEnvironment),
      ...set,
    };
    const secrets = { ...without(base.secrets, removedFromSecrets), ...secretRefs };
    const { release, deployment } = await requestRelease(trx, service, replaced, {
      actor: request.actor,
      spec:
        sidecar === undefined
          ? { ...spec, environment, secrets }
          : {
              ...spec,
              sidecars: { ...spec.sidecars, [container]: { ...sidecar, environment, secrets } },
            },
      kind: 'config',
      message: null,
      field: 'KEY=VALUE',
    });
    return { service, release, deployment, replaced };
  });
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

/** Sets the desired task count; no new release (scaling is not a change of what runs). */
export async function scaleService(
  db: Db,
  request: Actor & { name: string; desiredCount: number },
): Promise<{ service: Service; previousCount: number }> {
  return db.transaction().execute(async (trx) => {
    const before = await lockService(trx, request.name);
    const service = await updateService(trx, before.id, { desired_count: request.desiredCount });
    await appendEvent(trx, {
      serviceId: service.id,
      actor: request.actor,
      kind: 'service.scaled',
      message: `desired count of ${service.name} set from ${before.desired_count} to ${service.desired_count}`,
      data: { from: before.desired_count, to: service.desired_count },
    });
    await notifyChange(trx, service.id, 'service.scaled');
    return { service, previousCount: before.desired_count };
  });
}

/** A deployment back to an earlier release: the previous live one, or `--to vN`. */
export async function rollbackService(
  db: Db,
  request: Actor & { name: string; toVersion: number | undefined; message: string | null },
): Promise<{ service: Service; release: Release; deployment: Deployment }> {
  return db.transaction().execute(async (trx) => {
    const service = await lockService(trx, request.name);
    const active = await activeDeployment(trx, service.id);
    if (active !== undefined) {
      throw new InputError(
        'NAME',
        `${service.name} has an unfinished deployment #${active.id} (${active.phase}); ` +
          `to roll it back use berth abort ${service.name}`,
      );
    }
    if (service.current_release_id === null) {
      throw new InputError('NAME', `${service.name} has no live release yet to roll back from`);
    }
    const current = await findRelease(trx, service.current_release_id);
    let target: Release | undefined;
    if (request.toVersion !== undefined) {
      target = await findReleaseByVersion(trx, service.id, request.toVersion);
      const latest = await latestRelease(trx, service.id);
      if (target === undefined) {
        throw new InputError(
          '--to',
          `${service.name} has no release v${request.toVersion}; its releases are v1 to v${latest?.version ?? 0}`,
        );
      }
      if (target.id === current.id) {
        throw new InputError(
          '--to',
          `v${target.version} is already the live release of ${service.name}`,
        );
      }
    } else {
      target = await previousLiveRelease(trx, service.id, current.id);
      if (target === undefined) {
        throw new InputError(
          'NAME',
          `${service.name} has had no live release before v${current.version} to go back to (releases that never went live are passed over); name one with --to vN`,
        );
      }
    }
    const deployment = await insertDeployment(trx, {
      serviceId: service.id,
      fromReleaseId: current.id,
      toReleaseId: target.id,
      kind: 'rollback',
      message: request.message,
      requestedBy: request.actor,
    });
    await appendEvent(trx, {
      serviceId: service.id,
      deploymentId: deployment.id,
      actor: request.actor,
      kind: 'deployment.requested',
      message: `rollback of ${service.name} from v${current.version} to v${target.version} requested`,
      data: { kind: 'rollback', from: current.version, to: target.version },
    });
    await updateService(trx, service.id, {});
    await notifyChange(trx, service.id, 'deployment.requested');
    return { service, release: target, deployment };
  });
}

/** Records promote, abort, pause or resume on the active deployment for the workers. */
export async function controlDeployment(
  db: Db,
  request: Actor & { name: string; control: Control },
): Promise<{ service: Service; deployment: Deployment }> {
  return db.transaction().execute(async (trx) => {
    const service = await lockService(trx, request.name);
    const active = await activeDeployment(trx, service.id);
    if (active === undefined) {
      throw new InputError(
        'NAME',
        `${service.name} has no unfinished deployment to ${request.control}`,
      );
    }
    const deployment = await recordControl(trx, active.id, request.control, request.actor);
    await appendEvent(trx, {
      serviceId: service.id,
      deploymentId: deployment.id,
      actor: request.actor,
      kind: `deployment.${request.control}_requested`,
      message: `${request.control} of deployment #${deployment.id} of ${service.name} requested`,
    });
    await updateService(trx, service.id, {});
    await notifyChange(trx, service.id, `deployment.${request.control}`);
    return { service, deployment };
  });
}

/**
 * Refuses while another deployment is unfinished, naming it — unless `replace`, which ends it
 * as replaced so that the new one takes its place.
 */
async function takeOver(
  db: Db,
  service: Service,
  request: Actor & { replace: boolean },
): Promise<Deployment | undefined> {
  const active = await activeDeployment(db, service.id);
  if (active === undefined) return undefined;
  const target = await findRelease(db, active.to_release_id);
  if (!request.replace) {
    throw new InputError(
      'NAME',
      `${service.name} has an unfinished deployment #${active.id} to v${target.version} (${active.phase}); ` +
        `wait for it, abort it (berth abort ${service.name}), or pass --replace`,
    );
  }
  await finishDeployment(
    db,
    active.id,
    'replaced',
    `replaced by a newer request from ${request.actor}`,
  );
  await appendEvent(db, {
    serviceId: service.id,
    deploymentId: active.id,
    actor: request.actor,
    kind: 'deployment.replaced',
    message: `deployment #${active.id} to v${target.version} replaced`,
  });
  return active;
}

/**
 * What a new release starts from: the target of the deployment it replaces (you change what you
 * last asked for), else the live release, else the newest release.
 */
async function baseRelease(
  db: Db,
  service: Service,
  replaced: Deployment | undefined,
): Promise<Release> {
  if (replaced !== undefined) return findRelease(db, replaced.to_release_id);
  if (service.current_release_id !== null) return findRelease(db, service.current_release_id);
  const latest = await latestRelease(db, service.id);
  if (latest === undefined)
    throw new Error(`service ${service.name} (#${service.id}) has no release`);
  return latest;
}

async function requestRelease(
  db: Db,
  service: Service,
  replaced: Deployment | undefined,
  request: Actor & {
    spec: ReleaseSpec;
    kind: DeploymentKind;
    message: string | null;
    /** What the user gave that made the release, named when it would be too large. */
    field?: string;
  },
): Promise<{ release: Release; deployment: Deployment }> {
  const { spec } = request;
  checkRegistrationSize(request.field ?? 'release', spec.template, {
    ...spec.sidecars,
    [spec.mainContainer]: spec,
  });
  const release = await insertRelease(db, service.id, spec, request.actor);
  const deployment = await insertDeployment(db, {
    serviceId: service.id,
    fromReleaseId: service.current_release_id,
    toReleaseId: release.id,
    kind: request.kind,
    message: request.message,
    requestedBy: request.actor,
  });
  await appendEvent(db, {
    serviceId: service.id,
    deploymentId: deployment.id,
    actor: request.actor,
    kind: 'release.created',
    message: `release v${release.version} of ${service.name}: ${release.image}`,
    data: {
      version: release.version,
      image: release.image,
      environmentKeys: Object.keys(release.environment).sort(),
      secrets: release.secrets,
      ...(Object.keys(release.sidecars).length > 0
        ? {
            sidecars: Object.fromEntries(
              Object.entries(release.sidecars).map(([name, sidecar]) => [
                name,
                {
                  image: sidecar.image,
                  environmentKeys: Object.keys(sidecar.environment).sort(),
                  secrets: sidecar.secrets,
                },
              ]),
            ),
          }
        : {}),
    },
  });
  await appendEvent(db, {
    serviceId: service.id,
    deploymentId: deployment.id,
    actor: request.actor,
    kind: 'deployment.requested',
    message: `${request.kind} of ${service.name} to v${release.version} requested`,
    data: { kind: request.kind, replaced: replaced?.id ?? null, message: request.message },
  });
  await updateService(db, service.id, {});
  await notifyChange(db, service.id, 'deployment.requested');
  return { release, deployment };
}

function policyRow(policy: RolloutPolicy) {
  return {
    steps: policy.steps,
    bake_seconds: policy.bakeSeconds,
    analysis_interval_seconds: policy.analysisIntervalSeconds,
    max_5xx_rate: policy.max5xxRate,
    max_p99_ms: policy.maxP99Ms,
    min_requests: policy.minRequests,
    failure_limit: policy.failureLimit,
    progress_deadline_seconds: policy.progressDeadlineSeconds,
    rollback_window_seconds: policy.rollbackWindowSeconds,
    max_5xx_rate_increase: policy.max5xxRateIncrease,
    confidence: policy.confidence,
    max_analysis_seconds: policy.maxAnalysisSeconds,
    max_failed_launches: policy.maxFailedLaunches,
    pre_deploy_command: policy.preDeployCommand,
    verify_command: policy.verifyCommand,
    verify_timeout_seconds: policy.verifyTimeoutSeconds,
    alarm_names: policy.alarmNames,
    alarm_prefix: policy.alarmPrefix,
  };
}

function settingsRow(settings: ServiceSettings) {
  return {
    cluster: settings.cluster,
    ecs_service_name: settings.ecsServiceName,
    desired_count: settings.desiredCount,
    container_name: settings.containerName,
    log_group: settings.logGroup,
    launch_type: settings.launchType,
    subnets: settings.subnets,
    security_groups: settings.securityGroups,
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

function without(
  record: Record<string, string>,
  keys: ReadonlySet<string>,
): Record<string, string> {
  return Object.fromEntries(Object.entries(record).filter(([key]) => !keys.has(key)));
}

/**
 * A release from a new template on top of `base`: the template's fields as written; each
 * container's image as the template gives it, else the one it runs now; its environment and
 * secrets those it has now (what `config set` made stays), with the keys the template adds.
 */
export function fromTemplate(parsed: ParsedTemplate, base: ReleaseSpec | undefined): ReleaseSpec {
  const current = (name: string): ManagedContainer | undefined =>
    base === undefined ? undefined : name === base.mainContainer ? base : base.sidecars[name];
  const merged = (name: string, written: ManagedContainer): ManagedContainer => {
    const now = current(name);
    if (now === undefined) return written;
    const image = written.image !== '' ? written : now;
    return {
      image: image.image,
      imageDigest: image.imageDigest,
      environment: { ...written.environment, ...now.environment },
      secrets: { ...written.secrets, ...now.secrets },
    };
  };
  const sidecars: Record<string, ManagedContainer> = {};
  let main: ManagedContainer | undefined;
  for (const [name, written] of Object.entries(parsed.containers)) {
    if (name === parsed.mainContainer) main = merged(name, written);
    else sidecars[name] = merged(name, written);
  }
  if (main === undefined || main.image === '') {
    throw new InputError(
      '--image',
      `the main container ${JSON.stringify(parsed.mainContainer)} has no image in the template; give one with --image`,
    );
  }
  return {
    template: parsed.template,
    mainContainer: parsed.mainContainer,
    sidecars,
    image: main.image,
    imageDigest: main.imageDigest,
    environment: main.environment,
    secrets: main.secrets,
    cpu: parsed.cpu,
    memory: parsed.memory,
    containerPort: parsed.containerPort,
    taskRoleArn: parsed.taskRoleArn,
    executionRoleArn: parsed.executionRoleArn,
  };
}
