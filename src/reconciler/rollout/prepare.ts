import { createHash } from 'node:crypto';
import type { ObservedService, TaskDefinitionSpec } from '../../cloud/cloud.ts';
import type { ContainerRun } from '../../cloud/task-definition.ts';
import { canonicalJson, type TaskDefinitionTemplate } from '../../validation/task-definition.ts';
import type { Release, Service } from '../../store/schema.ts';
import { mayHaveRegistered, REGISTRATION_KIND } from '../../store/releases.ts';
import { updateRelease, updateServiceRuntime } from '../../store/rollout.ts';
import {
  assertDesiredCount,
  assertTaskSets,
  BERTH_EXTERNAL_ID,
  canaryExternalId,
  isDraining,
} from '../assert-service.ts';
import { giveBackReplacedCanaries } from './give-back.ts';
import { advanceStep } from './step.ts';
import { EVENTS, REASONS } from '../reasons.ts';
import { defaultLogGroup, taskDefinitionFamily } from '../../validation/names.ts';
import {
  chooseExecutionRole,
  CONVENTIONAL_EXECUTION_ROLE,
  missingExecutionRoleReason,
  type ExecutionRoleNeeds,
} from '../execution-role.ts';
import {
  applyProgress,
  journal,
  mutation,
  mutationFailed,
  observeService,
  other,
  proceed,
  requeue,
  type Run,
  type StageResult,
} from './pass.ts';
import { trafficOf } from './traffic.ts';

/** What preparing found: nothing more to do, or a warm task set to roll back to at once. */
export type Prepared = { kind: 'ready' } | { kind: 'instantRollback'; warmArn: string };

/**
 * Stage 1: the image's digest and the task definition, the ECS service and its desired count.
 * The release is registered first, before the service is even read, so that a deploy's first
 * AWS write comes as soon as it can (the registration queues at AWS's one a second); a rollback
 * reads the service first, since a release still warm needs no registration.
 */
export async function prepare(run: Run): Promise<StageResult<Prepared>> {
  const { service } = run;
  const { cloud } = run.ctx;
  if (run.deployment.phase === 'pending') applyProgress(run, { phase: 'preparing' });
  if (!(await giveBackReplacedCanaries(run))) return requeue(run.ctx.settings.waitMs);

  // Where the tasks run is settled before anything is written.
  const network = await ensureNetwork(run);
  if (network.next !== 'continue') return network;

  const registerFirst = run.deployment.kind !== 'rollback';
  if (registerFirst) {
    const registered = await registerRelease(run);
    if (registered.next !== 'continue') return registered;
  }

  let observed = await observeService(run);
  if (observed === undefined) {
    await mutation(
      run,
      'CreateService',
      `created ECS service ${service.ecs_service_name} (EXTERNAL deployment controller)`,
      { cluster: service.cluster, desiredCount: service.desired_count },
      () =>
        cloud.createService({
          cluster: service.cluster,
          name: service.ecs_service_name,
          desiredCount: service.desired_count,
          clientToken: `berth-service-${service.id}`,
        }),
    );
    observed = await observeService(run);
    if (observed === undefined) return requeue(run.ctx.settings.waitMs);
  }
  await assertDesiredCount(run.ctx, service, observed, run.deployment.id);

  // Instant rollback: the release asked for still runs, warm, on the other target group.
  const warm = service.warm_task_set_arn;
  if (
    run.deployment.kind === 'rollback' &&
    service.warm_release_id === run.target.id &&
    warm !== null &&
    observed.taskSets.some(
      (set) =>
        set.arn === warm &&
        set.computedDesiredCount > 0 &&
        set.runningCount >= set.computedDesiredCount,
    )
  ) {
    return proceed({ kind: 'instantRollback', warmArn: warm });
  }

  if (!(await clearStrayTaskSets(run, observed))) return requeue(run.ctx.settings.waitMs);

  if (!registerFirst) {
    const registered = await registerRelease(run);
    if (registered.next !== 'continue') return registered;
  }
  return proceed({ kind: 'ready' });
}

/**
 * The image resolved to its digest, the execution role AWS requires found, then the task
 * definition found or registered.
 */
async function registerRelease(run: Run): Promise<StageResult> {
  const image = await resolveImage(run);
  if (image.next !== 'continue') return image;
  const withRole = await findExecutionRole(run);
  if (withRole.next !== 'continue') return withRole;
  run.service = withRole.value;
  await ensureTaskDefinition(run);
  return proceed(undefined);
}

/**
 * A service given no subnets runs in its load balancer's network: its subnets and security
 * groups, read once (DescribeLoadBalancers) and recorded on the service. Without a load
 * balancer to read them from, the deployment fails here, before any AWS write, saying what to
 * pass: ECS refuses awsvpc tasks without a network.
 */
async function ensureNetwork(run: Run): Promise<StageResult> {
  const { service } = run;
  if (service.subnets.length > 0) return proceed(undefined);
  const rule = service.listener_rule_arn;
  const infrastructure = run.ctx.infrastructure;
  if (rule === null && infrastructure?.network !== undefined) {
    const given = await infrastructure.network({ cluster: service.cluster });
    await journal(
      run,
      {
        kind: EVENTS.networkFromLoadBalancer,
        message: `tasks run in the account's default VPC (provided by the simulated AWS): subnets ${given.subnets.join(',')}, security groups ${given.securityGroups.join(',')}`,
        data: {
          subnets: given.subnets,
          securityGroups: given.securityGroups,
          source: 'default VPC',
        },
      },
      (trx) =>
        updateServiceRuntime(trx, service.id, {
          subnets: given.subnets,
          security_groups: given.securityGroups,
        }),
    );
    run.service = { ...service, subnets: given.subnets, security_groups: given.securityGroups };
    return proceed(undefined);
  }
  const network = rule === null ? undefined : await run.ctx.cloud.loadBalancerNetwork(rule);
  if (network === undefined || network.subnets.length === 0) {
    return {
      next: 'fail',
      reason:
        `${REASONS.networkMissing}: ${service.name} was given no subnets and ` +
        `${rule === null ? 'has no load balancer' : `the load balancer of ${rule} was not found`} ` +
        `to take them from; pass them: berth service update ${service.name} --subnets ID,ID --security-groups ID`,
    };
  }
  const { subnets, securityGroups } = network;
  await journal(
    run,
    {
      kind: EVENTS.networkFromLoadBalancer,
      message:
        `tasks run in the load balancer's network: subnets ${subnets.join(',')}, ` +
        `security groups ${securityGroups.length > 0 ? securityGroups.join(',') : "the VPC's default"}`,
      data: { loadBalancer: network.loadBalancerArn, subnets, securityGroups },
    },
    (trx) =>
      updateServiceRuntime(trx, service.id, {
        subnets,
        security_groups: securityGroups,
        network_source: 'load-balancer',
      }),
  );
  run.service = {
    ...service,
    subnets,
    security_groups: securityGroups,
    network_source: 'load-balancer',
  };
  return proceed(undefined);
}

/**
 * What decides whether AWS requires a task definition an execution role: every container's
 * image and secrets, and its log driver — awslogs unless the template gives it another, since
 * Berth sends the logs of containers without a logConfiguration to CloudWatch.
 */
function executionRoleNeeds(
  service: Service,
  template: TaskDefinitionTemplate,
  containers: Record<string, ContainerRun>,
): ExecutionRoleNeeds {
  const runs = Object.values(containers);
  return {
    launchType: service.launch_type,
    images: runs.map((run) => run.image),
    hasSecrets:
      runs.some((run) => Object.keys(run.secrets).length > 0) ||
      template.containerDefinitions.some(
        (container) => Array.isArray(container.secrets) && container.secrets.length > 0,
      ),
    logDrivers: template.containerDefinitions.map((container) => {
      const driver = (container.logConfiguration as { logDriver?: unknown } | undefined)?.logDriver;
      return typeof driver === 'string' ? driver : 'awslogs';
    }),
  };
}

/**
 * Where AWS requires an execution role and none was given, the account's conventional one:
 * its account from STS, its existence from IAM, looked up once and recorded on the service.
 * When the account has none the deployment fails here, before any AWS write, saying what to pass.
 */
async function findExecutionRole(run: Run): Promise<StageResult<Service>> {
  const { service, target } = run;
  if (target.task_definition_arn !== null) return proceed(service);
  const spec = taskDefinitionSpec(service, target);
  const choice = chooseExecutionRole(
    executionRoleCandidates(target),
    executionRoleNeeds(service, spec.template, spec.containers),
    service.conventional_execution_role_arn,
  );
  if (choice.kind !== 'look-up') return proceed(service);
  const account = await run.ctx.cloud.accountId();
  const found = await run.ctx.cloud.findRole(CONVENTIONAL_EXECUTION_ROLE);
  if (found === undefined) {
    return {
      next: 'fail',
      reason: `${REASONS.executionRoleMissing}: ${missingExecutionRoleReason(choice.need, account, service.name)}`,
    };
  }
  const arn = `arn:aws:iam::${account}:role/${CONVENTIONAL_EXECUTION_ROLE}`;
  await journal(
    run,
    {
      kind: EVENTS.executionRoleFound,
      message: `task definitions get the account's execution role ${arn} (${choice.need}; none given)`,
      data: { executionRole: arn },
    },
    (trx) => updateServiceRuntime(trx, service.id, { conventional_execution_role_arn: arn }),
  );
  return proceed({ ...service, conventional_execution_role_arn: arn });
}

/**
 * The deployment enters its first step (straight to the last for a first release), once
 * prepared and verified: from here the step's progress deadline counts.
 */
export function enterFirstStep(run: Run): void {
  const live = run.service.live_target_group;
  applyProgress(run, { canary_target_group: run.policy.first ? live : other(live) });
  advanceStep(run, run.policy.first ? run.policy.steps.length - 1 : 0);
}

/**
 * A canary needs the idle target group to itself: task sets left there by a replaced
 * deployment or kept warm for the previous release go, after the rule stops sending them
 * traffic. False while the weights are not yet verified.
 */
async function clearStrayTaskSets(run: Run, observed: ObservedService): Promise<boolean> {
  const { service } = run;
  const keep = new Set([service.primary_task_set_arn, run.deployment.canary_task_set_arn]);
  // This deployment's own canary, made by a worker that died before recording it, is not a
  // stray: the canary stage adopts it by its external id.
  const own = canaryExternalId(service.name, run.target.version, run.deployment.id);
  // Draining ones are on their way out already.
  const others = observed.taskSets.filter(
    (set) => !isDraining(set) && !keep.has(set.arn) && set.externalId !== own,
  );
  // Task sets Berth did not make are reported, never deleted.
  const foreign = others.filter((set) => !(set.externalId ?? '').startsWith(BERTH_EXTERNAL_ID));
  await assertTaskSets(run.ctx, service, { ...observed, taskSets: foreign }, new Set(), {
    deploymentId: run.deployment.id,
  });
  const strays = others.filter((set) => !foreign.includes(set));
  if (strays.length === 0) return true;
  // Nothing is deleted while the rule might still send it traffic.
  if (!(await trafficOf(service).toStable(run, 'listener rule weights set'))) return false;
  for (const stray of strays) {
    await mutation(
      run,
      'DeleteTaskSet',
      stray.arn === service.warm_task_set_arn
        ? `deleted the previous release's warm task set to make room for the canary`
        : `deleted task set ${stray.arn}, left by a replaced deployment`,
      { taskSet: stray.arn },
      () => run.ctx.cloud.deleteTaskSet(service.cluster, service.ecs_service_name, stray.arn),
    );
  }
  if (service.warm_task_set_arn !== null) {
    await journal(
      run,
      {
        kind: EVENTS.warmRetired,
        message: `warm task set of the previous release retired for the new deployment`,
        data: { taskSet: service.warm_task_set_arn },
      },
      (trx) =>
        updateServiceRuntime(trx, service.id, {
          warm_task_set_arn: null,
          warm_release_id: null,
          warm_until: null,
        }),
    );
  }
  return true;
}

/**
 * Each container's image resolved to its digest (ECR's; an image elsewhere is run as given), the
 * main container's first. One that does not exist fails the deployment.
 */
async function resolveImage(run: Run): Promise<StageResult> {
  const { target } = run;
  if (target.task_definition_arn !== null) return proceed(undefined);
  if (target.image_digest === null) {
    const resolution = await run.ctx.cloud.resolveImage(target.image);
    if (resolution.kind === 'missing') {
      return { next: 'fail', reason: `${REASONS.imageMissing}: ${resolution.message}` };
    }
    if (resolution.kind === 'resolved') {
      const digest = resolution.digest;
      await journal(
        run,
        {
          kind: EVENTS.imageResolved,
          message: `${target.image} resolved to ${digest}`,
          data: { version: target.version, digest },
        },
        (trx) => updateRelease(trx, target.id, { image_digest: digest }),
      );
      run.target = { ...run.target, image_digest: digest };
    }
  }
  for (const [name, sidecar] of Object.entries(run.target.sidecars)) {
    if (sidecar.imageDigest !== null) continue;
    const resolution = await run.ctx.cloud.resolveImage(sidecar.image);
    if (resolution.kind === 'missing') {
      return { next: 'fail', reason: `${REASONS.imageMissing} (${name}): ${resolution.message}` };
    }
    if (resolution.kind !== 'resolved') continue;
    const digest = resolution.digest;
    const sidecars = { ...run.target.sidecars, [name]: { ...sidecar, imageDigest: digest } };
    await journal(
      run,
      {
        kind: EVENTS.imageResolved,
        message: `${sidecar.image} (container ${name}) resolved to ${digest}`,
        data: { version: target.version, container: name, digest },
      },
      (trx) => updateRelease(trx, target.id, { sidecars: JSON.stringify(sidecars) }),
    );
    run.target = { ...run.target, sidecars };
  }
  return proceed(undefined);
}

/**
 * The task definition a release runs as: family `berth-<service>`, the release's template, each
 * container's image as run (pinned to its digest once resolved), environment and secrets, and
 * the log group of containers without logging of their own; tagged with the hash of all that.
 */
export function taskDefinitionSpec(service: Service, release: Release): TaskDefinitionSpec {
  const containers: Record<string, ContainerRun> = {
    [release.main_container]: {
      image: imageAsRun(release.image, release.image_digest),
      environment: release.environment,
      secrets: release.secrets,
    },
  };
  for (const [name, sidecar] of Object.entries(release.sidecars)) {
    containers[name] = {
      image: imageAsRun(sidecar.image, sidecar.imageDigest),
      environment: sidecar.environment,
      secrets: sidecar.secrets,
    };
  }
  const family = taskDefinitionFamily(service.name);
  const logGroup = service.log_group ?? defaultLogGroup(service.name);
  const role = chooseExecutionRole(
    executionRoleCandidates(release),
    executionRoleNeeds(service, release.template, containers),
    service.conventional_execution_role_arn,
  );
  // The role chosen is written into the template, so it is in the hash too: a revision
  // registered before the account's role was known is not reused for it.
  const template: TaskDefinitionTemplate =
    role.kind === 'given' || role.kind === 'conventional'
      ? { ...release.template, executionRoleArn: role.arn }
      : release.template;
  return {
    family,
    template,
    containers,
    logGroup,
    // The images as run, digests included (a tag pushed again must not reuse the revision
    // registered for what the tag pointed at before), and the whole template.
    contentHash: createHash('sha256')
      .update(canonicalJson({ family, template, containers, logGroup }))
      .digest('hex'),
  };
}

/** The execution roles a release names, in order: its `--execution-role`, its template's. */
function executionRoleCandidates(release: Release): (string | null)[] {
  const fromTemplate = release.template.executionRoleArn;
  return [
    release.execution_role_arn,
    typeof fromTemplate === 'string' && fromTemplate !== '' ? fromTemplate : null,
  ];
}

/** The image reference as run: pinned to its digest once resolved. */
function imageAsRun(image: string, digest: string | null): string {
  return digest !== null && !image.includes('@')
    ? `${image.replace(/:[^/:]+$/, '')}@${digest}`
    : image;
}

async function ensureTaskDefinition(run: Run): Promise<void> {
  const { target: release, service } = run;
  if (release.task_definition_arn !== null) return;
  const spec = taskDefinitionSpec(service, release);
  const family = spec.family;
  // RegisterTaskDefinition has no idempotency token: each send (a resend after a throttle
  // too) is recorded under the lease before it is made, as every AWS write is, so a worker
  // whose lease lapsed registers nothing.
  const data = { operation: 'RegisterTaskDefinition', family, version: release.version };
  let sent = 0;
  const beforeRegister = (attempt: number, tokenWaitMs: number) => {
    sent = attempt;
    // The wait for AWS's one registration a second, apart from Berth's own reaction.
    const waited = { tokenWaitMs: Math.round(tokenWaitMs) };
    return journal(run, {
      kind: REGISTRATION_KIND,
      message:
        `registering a task definition in family ${family} for v${release.version}` +
        (attempt > 1 ? ` (sent again, attempt ${attempt})` : ''),
      data: attempt > 1 ? { ...data, ...waited, attempt } : { ...data, ...waited },
    });
  };
  let arn: string;
  try {
    arn = await run.ctx.cloud.ensureTaskDefinition(spec, beforeRegister, {
      unregistered: !(await mayHaveRegistered(run.ctx.db, release)),
    });
  } catch (error) {
    if (sent > 0) {
      await mutationFailed(run, { operation: data.operation, data }, error);
    }
    throw error;
  }
  await journal(
    run,
    {
      kind: EVENTS.taskDefinitionReady,
      message: `task definition ${arn} for v${release.version}`,
      data: { version: release.version, taskDefinition: arn },
    },
    (trx) => updateRelease(trx, release.id, { task_definition_arn: arn }),
  );
  run.target = { ...release, task_definition_arn: arn };
}
