import {
  ClientException,
  ClusterNotFoundException,
  InvalidParameterException,
  ServiceNotActiveException,
  ServiceNotFoundException,
  TaskSetNotFoundException,
  type Cluster,
  type ContainerDefinition,
  type CreateClusterCommandInput,
  type CreateClusterCommandOutput,
  type CreateServiceCommandInput,
  type CreateServiceCommandOutput,
  type CreateTaskSetCommandInput,
  type CreateTaskSetCommandOutput,
  type DeleteServiceCommandInput,
  type DeleteServiceCommandOutput,
  type DeleteTaskSetCommandInput,
  type DeleteTaskSetCommandOutput,
  type Deployment,
  type DescribeClustersCommandInput,
  type DescribeClustersCommandOutput,
  type DescribeServicesCommandInput,
  type DescribeServicesCommandOutput,
  type DescribeTaskDefinitionCommandInput,
  type DescribeTaskDefinitionCommandOutput,
  type DescribeTaskSetsCommandInput,
  type DescribeTaskSetsCommandOutput,
  type Failure,
  type LoadBalancer as EcsLoadBalancer,
  type NetworkConfiguration,
  type ListTaskDefinitionsCommandInput,
  type ListTaskDefinitionsCommandOutput,
  type RegisterTaskDefinitionCommandInput,
  type RegisterTaskDefinitionCommandOutput,
  type Scale,
  type Service,
  type TaskDefinition,
  type TaskSet,
  type UpdateServiceCommandInput,
  type UpdateServiceCommandOutput,
  type UpdateServicePrimaryTaskSetCommandInput,
  type UpdateServicePrimaryTaskSetCommandOutput,
  type UpdateTaskSetCommandInput,
  type UpdateTaskSetCommandOutput,
} from '@aws-sdk/client-ecs';
import { modeledError } from './aws-errors.ts';
import { earlierRequest, rememberRequest, requireClientToken } from './client-tokens.ts';
import { behaviourImage } from './ecr.ts';
import { targetGroupLoadBalancers } from './elbv2.ts';
import { emptyFleet, scaleFleet } from './fleet.ts';
import {
  awsArn,
  clusterArn,
  computedDesiredCount,
  DEFAULT_DEREGISTRATION_DELAY_MS,
  DEREGISTRATION_DELAY_SETTING,
  digitId,
  fleetState,
  handler,
  KIND,
  nextSerial,
  publicFields,
  serviceArn,
  SIM_NETWORK,
  taskDefinitionArn,
  taskSetArn,
  toDate,
  type ClusterDoc,
  type EcsDeployment,
  type Fleet,
  type Output,
  type ServiceDoc,
  type TargetGroupDoc,
  type TaskDefinitionDoc,
  type TaskSetDoc,
} from './model.ts';
import type { SimTx } from './sim-store.ts';
import type { SimContext, SimHandler } from './model.ts';

/** ECS names: clusters, services and task definition families. */
const ECS_NAME = /^[A-Za-z0-9_-]{1,255}$/;

/** DescribeServices answers at most this many services per call. */
const MAX_DESCRIBED_SERVICES = 10;

/** DescribeClusters answers at most this many clusters per call. */
const MAX_DESCRIBED_CLUSTERS = 100;

const invalidParameter = (message: string) => modeledError(InvalidParameterException, message);

// ---------------------------------------------------------------------------------------------
// Clusters

async function createCluster(
  tx: SimTx,
  input: CreateClusterCommandInput,
  ctx: SimContext,
): Promise<Output<CreateClusterCommandOutput>> {
  const name = input.clusterName ?? 'default';
  if (!ECS_NAME.test(name)) {
    throw invalidParameter(
      'Cluster name must be 1 to 255 letters, numbers, hyphens and underscores.',
    );
  }
  const arn = clusterArn(ctx, name);
  // CreateCluster of an existing cluster answers with that cluster, as AWS does.
  let cluster = await tx.get<ClusterDoc>(KIND.cluster, arn);
  if (cluster === undefined) {
    cluster = {
      clusterArn: arn,
      clusterName: name,
      status: 'ACTIVE',
      settings: input.settings ?? [{ name: 'containerInsights', value: 'disabled' }],
      tags: input.tags ?? [],
    };
    await tx.put(KIND.cluster, arn, cluster);
  }
  return { cluster: await clusterOutput(tx, cluster, true) };
}

async function describeClusters(
  tx: SimTx,
  input: DescribeClustersCommandInput,
  ctx: SimContext,
): Promise<Output<DescribeClustersCommandOutput>> {
  const refs = input.clusters ?? ['default'];
  if (refs.length > MAX_DESCRIBED_CLUSTERS) {
    throw invalidParameter(`clusters can have at most ${MAX_DESCRIBED_CLUSTERS} items.`);
  }
  const includeTags = input.include?.includes('TAGS') ?? false;
  const clusters: Cluster[] = [];
  const failures: Failure[] = [];
  for (const ref of refs) {
    const arn = clusterArn(ctx, clusterNameOf(ref));
    const cluster = await tx.get<ClusterDoc>(KIND.cluster, arn);
    if (cluster === undefined) failures.push({ arn, reason: 'MISSING' });
    else clusters.push(await clusterOutput(tx, cluster, includeTags));
  }
  return { clusters, failures };
}

async function clusterOutput(tx: SimTx, cluster: ClusterDoc, includeTags: boolean) {
  const services = await tx.list<ServiceDoc>(KIND.service, servicePrefix(cluster.clusterArn));
  let runningTasksCount = 0;
  let pendingTasksCount = 0;
  for (const service of services) {
    const counts = await serviceCounts(tx, service);
    runningTasksCount += counts.running;
    pendingTasksCount += counts.pending;
  }
  return {
    ...cluster,
    tags: includeTags ? cluster.tags : undefined,
    registeredContainerInstancesCount: 0,
    runningTasksCount,
    pendingTasksCount,
    activeServicesCount: services.length,
    statistics: [],
    capacityProviders: [],
    defaultCapacityProviderStrategy: [],
  } satisfies Cluster;
}

/** The cluster a request names (by name or ARN; `default` when it names none). */
export async function requireCluster(
  tx: SimTx,
  ctx: SimContext,
  ref: string | undefined,
): Promise<ClusterDoc> {
  const cluster = await tx.get<ClusterDoc>(
    KIND.cluster,
    clusterArn(ctx, clusterNameOf(ref ?? 'default')),
  );
  if (cluster === undefined) throw modeledError(ClusterNotFoundException, 'Cluster not found.');
  return cluster;
}

function clusterNameOf(ref: string): string {
  return ref.startsWith('arn:') ? ref.slice(ref.indexOf(':cluster/') + ':cluster/'.length) : ref;
}

// ---------------------------------------------------------------------------------------------
// Services

async function createService(
  tx: SimTx,
  input: CreateServiceCommandInput,
  ctx: SimContext,
): Promise<Output<CreateServiceCommandOutput>> {
  if (input.clientToken !== undefined) requireClientToken(input.clientToken);
  const cluster = await requireCluster(tx, ctx, input.cluster);
  const name = input.serviceName ?? '';
  if (!ECS_NAME.test(name)) {
    throw invalidParameter(
      'Service name must be 1 to 255 letters, numbers, hyphens and underscores.',
    );
  }
  const arn = serviceArn(ctx, cluster.clusterName, name);
  const token =
    input.clientToken === undefined
      ? undefined
      : { operation: 'ecs:CreateService', scope: cluster.clusterArn, token: input.clientToken };
  if (token !== undefined) {
    // A retried create (same client token) gets the service it made; any other is refused.
    const earlier = await earlierRequest(tx, token);
    if (earlier !== undefined) {
      const made = await tx.get<ServiceDoc>(KIND.service, earlier.resourceArn);
      if (made !== undefined) return { service: await serviceOutput(tx, made, true) };
      return earlier.answer as Output<CreateServiceCommandOutput>;
    }
  }
  // A deleted (INACTIVE) service's name may be used again, as in ECS.
  if ((await tx.get<ServiceDoc>(KIND.service, arn))?.status === 'ACTIVE') {
    throw invalidParameter('Creation of service was not idempotent.');
  }
  const controller = input.deploymentController?.type ?? 'ECS';
  if (controller === 'CODE_DEPLOY') {
    throw invalidParameter(
      'the simulated AWS does not model the CODE_DEPLOY deployment controller',
    );
  }
  const desiredCount = input.desiredCount ?? 0;
  requireCount('desiredCount', desiredCount);
  const loadBalancers = input.loadBalancers ?? [];
  await requireTargetGroups(tx, loadBalancers);
  const service: ServiceDoc = {
    serviceArn: arn,
    serviceName: name,
    clusterArn: cluster.clusterArn,
    status: 'ACTIVE',
    desiredCount,
    launchType: input.launchType,
    platformVersion:
      input.launchType === 'FARGATE' ? (input.platformVersion ?? 'LATEST') : undefined,
    deploymentController: { type: controller },
    deploymentConfiguration: input.deploymentConfiguration,
    networkConfiguration: input.networkConfiguration,
    loadBalancers,
    healthCheckGracePeriodSeconds: input.healthCheckGracePeriodSeconds,
    schedulingStrategy: 'REPLICA',
    propagateTags: input.propagateTags ?? 'NONE',
    enableECSManagedTags: input.enableECSManagedTags ?? false,
    enableExecuteCommand: input.enableExecuteCommand ?? false,
    tags: input.tags ?? [],
    createdAt: tx.now,
    createdBy: callerArn(ctx),
    _clientToken: input.clientToken,
  };
  if (controller === 'ECS') {
    if (input.taskDefinition === undefined)
      throw invalidParameter('TaskDefinition can not be blank.');
    const taskDefinition = await requireTaskDefinition(tx, ctx, input.taskDefinition);
    requireContainers(taskDefinition, loadBalancers);
    requireTaskPlacement(taskDefinition, input.launchType ?? 'EC2', input.networkConfiguration);
    service.taskDefinition = taskDefinition.taskDefinitionArn;
    service._deployment = await newDeployment(tx, ctx, service, taskDefinition);
  }
  await tx.put(KIND.service, arn, service);
  const answer = { service: await serviceOutput(tx, service, true) };
  if (token !== undefined) await rememberRequest(tx, token, arn, answer);
  return answer;
}

async function describeServices(
  tx: SimTx,
  input: DescribeServicesCommandInput,
  ctx: SimContext,
): Promise<Output<DescribeServicesCommandOutput>> {
  const refs = input.services ?? [];
  if (refs.length > MAX_DESCRIBED_SERVICES) {
    throw invalidParameter(`services can have at most ${MAX_DESCRIBED_SERVICES} items.`);
  }
  const cluster = await requireCluster(tx, ctx, input.cluster);
  const includeTags = input.include?.includes('TAGS') ?? false;
  const services: Service[] = [];
  const failures: Failure[] = [];
  for (const ref of refs) {
    const arn = serviceArn(ctx, cluster.clusterName, lastSegment(ref));
    const service = await tx.get<ServiceDoc>(KIND.service, arn);
    if (service === undefined) failures.push({ arn, reason: 'MISSING' });
    else services.push(await serviceOutput(tx, service, includeTags));
  }
  return { services, failures };
}

async function updateService(
  tx: SimTx,
  input: UpdateServiceCommandInput,
  ctx: SimContext,
): Promise<Output<UpdateServiceCommandOutput>> {
  const cluster = await requireCluster(tx, ctx, input.cluster);
  let service = await requireService(tx, ctx, cluster, input.service);
  if (input.desiredCount !== undefined) requireCount('desiredCount', input.desiredCount);
  service = {
    ...service,
    desiredCount: input.desiredCount ?? service.desiredCount,
    networkConfiguration: input.networkConfiguration ?? service.networkConfiguration,
    healthCheckGracePeriodSeconds:
      input.healthCheckGracePeriodSeconds ?? service.healthCheckGracePeriodSeconds,
    deploymentConfiguration: input.deploymentConfiguration ?? service.deploymentConfiguration,
  };
  if (isExternal(service)) {
    if (input.taskDefinition !== undefined) {
      throw invalidParameter(
        'Unable to update task definition on services with a EXTERNAL deployment controller. Use task sets.',
      );
    }
    await rescaleTaskSets(tx, ctx, service);
  } else {
    service = await updateEcsDeployment(tx, ctx, service, input);
  }
  await tx.put(KIND.service, service.serviceArn, service);
  return { service: await serviceOutput(tx, service, false) };
}

/** An EXTERNAL service's desired count is shared out to its task sets by their scale. */
async function rescaleTaskSets(tx: SimTx, ctx: SimContext, service: ServiceDoc): Promise<void> {
  for (const taskSet of await taskSetsOf(tx, service)) {
    if (taskSet.status === 'DRAINING') continue;
    await putTaskSet(tx, await scaleTaskSet(tx, ctx, taskSet, service, taskSet.scale));
  }
}

/** Under the ECS controller a new task definition replaces every task at once: no rolling. */
async function updateEcsDeployment(
  tx: SimTx,
  ctx: SimContext,
  service: ServiceDoc,
  input: UpdateServiceCommandInput,
): Promise<ServiceDoc> {
  const deployment = service._deployment;
  if (deployment === undefined) return service;
  const replaced =
    (input.taskDefinition !== undefined &&
      (await requireTaskDefinition(tx, ctx, input.taskDefinition)).taskDefinitionArn !==
        service.taskDefinition) ||
    input.forceNewDeployment === true;
  if (!replaced) {
    const fleet = await scaleFleet(
      tx,
      ctx,
      deployment.fleet,
      service.desiredCount,
      service.loadBalancers,
    );
    return { ...service, _deployment: { ...deployment, fleet } };
  }
  await scaleFleet(tx, ctx, deployment.fleet, 0, service.loadBalancers);
  const taskDefinition = await requireTaskDefinition(
    tx,
    ctx,
    input.taskDefinition ?? service.taskDefinition ?? '',
  );
  const updated = { ...service, taskDefinition: taskDefinition.taskDefinitionArn };
  return { ...updated, _deployment: await newDeployment(tx, ctx, updated, taskDefinition) };
}

async function newDeployment(
  tx: SimTx,
  ctx: SimContext,
  service: ServiceDoc,
  taskDefinition: TaskDefinitionDoc,
): Promise<EcsDeployment> {
  const serial = await nextSerial(tx, 'deployment');
  const image = await behaviourImage(tx, containerImage(taskDefinition, service.loadBalancers));
  return {
    id: `ecs-svc/${digitId(ctx, `deployment:${serial}`, 19)}`,
    createdAt: tx.now,
    fleet: await scaleFleet(
      tx,
      ctx,
      emptyFleet(image, tx.now),
      service.desiredCount,
      service.loadBalancers,
    ),
  };
}

async function serviceOutput(tx: SimTx, service: ServiceDoc, includeTags: boolean) {
  const counts = await serviceCounts(tx, service);
  const taskSets = isExternal(service)
    ? (await taskSetsOf(tx, service)).map((taskSet) => taskSetOutput(taskSet, tx.now, false))
    : undefined;
  return {
    ...publicFields(service),
    createdAt: toDate(service.createdAt),
    tags: includeTags ? service.tags : undefined,
    runningCount: counts.running,
    pendingCount: counts.pending,
    taskSets,
    deployments: deploymentsOutput(service, tx.now),
    events: [],
    serviceRegistries: [],
    placementConstraints: [],
    placementStrategy: [],
  } satisfies Service;
}

function deploymentsOutput(service: ServiceDoc, now: number): Deployment[] {
  const deployment = service._deployment;
  if (deployment === undefined) return [];
  const state = fleetState(
    deployment.fleet,
    service.desiredCount,
    service.loadBalancers.length > 0,
    now,
  );
  return [
    {
      id: deployment.id,
      status: 'PRIMARY',
      taskDefinition: service.taskDefinition,
      desiredCount: service.desiredCount,
      runningCount: state.running,
      pendingCount: state.pending,
      failedTasks: 0,
      createdAt: toDate(deployment.createdAt),
      updatedAt: toDate(deployment.fleet.scaledAt),
      launchType: service.launchType,
      platformVersion: service.platformVersion,
      networkConfiguration: service.networkConfiguration,
      rolloutState: state.stabilityStatus === 'STEADY_STATE' ? 'COMPLETED' : 'IN_PROGRESS',
    },
  ];
}

/** Running and pending tasks: an EXTERNAL service's are those of its task sets. */
async function serviceCounts(
  tx: SimTx,
  service: ServiceDoc,
): Promise<{ running: number; pending: number }> {
  let running = 0;
  let pending = 0;
  for (const { fleet, desired, behindLoadBalancer } of await fleetsOf(tx, service)) {
    const state = fleetState(fleet, desired, behindLoadBalancer, tx.now);
    running += state.running;
    pending += state.pending;
  }
  return { running, pending };
}

interface SizedFleet {
  fleet: Fleet;
  desired: number;
  behindLoadBalancer: boolean;
}

/** The fleets of a service: its task sets' (EXTERNAL), or its one deployment's (ECS). */
async function fleetsOf(tx: SimTx, service: ServiceDoc): Promise<SizedFleet[]> {
  if (isExternal(service)) {
    return (await taskSetsOf(tx, service)).map((taskSet) => ({
      fleet: taskSet._fleet,
      desired: taskSet.computedDesiredCount,
      behindLoadBalancer: taskSet.loadBalancers.length > 0,
    }));
  }
  const deployment = service._deployment;
  if (deployment === undefined) return [];
  return [
    {
      fleet: deployment.fleet,
      desired: service.desiredCount,
      behindLoadBalancer: service.loadBalancers.length > 0,
    },
  ];
}

async function requireService(
  tx: SimTx,
  ctx: SimContext,
  cluster: ClusterDoc,
  ref: string | undefined,
): Promise<ServiceDoc> {
  const service = await tx.get<ServiceDoc>(
    KIND.service,
    serviceArn(ctx, cluster.clusterName, lastSegment(ref ?? '')),
  );
  if (service === undefined) throw modeledError(ServiceNotFoundException, 'Service not found.');
  if (service.status !== 'ACTIVE') {
    throw modeledError(ServiceNotActiveException, 'Service was not ACTIVE.');
  }
  return service;
}

function isExternal(service: ServiceDoc): boolean {
  return service.deploymentController.type === 'EXTERNAL';
}

function requireExternal(service: ServiceDoc): void {
  if (!isExternal(service)) {
    throw invalidParameter(
      'Amazon ECS only supports task set management on services configured to use external deployment controller.',
    );
  }
}

function servicePrefix(cluster: string): string {
  return `${cluster.replace(':cluster/', ':service/')}/`;
}

// ---------------------------------------------------------------------------------------------
// Task definitions

async function registerTaskDefinition(
  tx: SimTx,
  input: RegisterTaskDefinitionCommandInput,
  ctx: SimContext,
): Promise<Output<RegisterTaskDefinitionCommandOutput>> {
  const { tags, ...definition } = input;
  const family = input.family ?? '';
  if (!ECS_NAME.test(family)) {
    throw modeledError(
      ClientException,
      'Family must be 1 to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores.',
    );
  }
  const containers = input.containerDefinitions ?? [];
  if (containers.length === 0)
    throw modeledError(ClientException, 'Container list cannot be empty.');
  if (containers.some((container) => (container.image ?? '') === '')) {
    throw modeledError(ClientException, 'Container.image should not be null or empty.');
  }
  const fargate = input.requiresCompatibilities?.includes('FARGATE') ?? false;
  if (fargate && input.networkMode !== 'awsvpc') {
    throw modeledError(ClientException, "Fargate only supports network mode 'awsvpc'.");
  }
  requireExecutionRole(input, fargate);
  const revision =
    Math.max(0, ...(await revisionsOf(tx, ctx, family)).map((doc) => doc.revision)) + 1;
  const arn = taskDefinitionArn(ctx, family, revision);
  const doc: TaskDefinitionDoc = {
    ...definition,
    containerDefinitions: containers.map((container) => withContainerDefaults(container, input)),
    taskDefinitionArn: arn,
    family,
    revision,
    status: 'ACTIVE',
    volumes: input.volumes ?? [],
    placementConstraints: input.placementConstraints ?? [],
    compatibilities: fargate ? ['EC2', 'FARGATE'] : ['EC2'],
    requiresAttributes: [],
    registeredAt: tx.now,
    registeredBy: callerArn(ctx),
    _tags: tags ?? [],
  };
  await tx.put(KIND.taskDefinition, arn, doc);
  return { taskDefinition: taskDefinitionOutput(doc), tags: doc._tags };
}

/** An image in a private ECR registry: `ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/REPO…`. */
const ECR_IMAGE = /^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\//;

/**
 * The task execution role is what lets the Fargate agent pull from ECR, send awslogs lines and
 * fetch secrets; AWS refuses at registration a task definition that would need it and has none,
 * in these words (ClientException). Secrets need it on EC2 too.
 */
function requireExecutionRole(input: RegisterTaskDefinitionCommandInput, fargate: boolean): void {
  if ((input.executionRoleArn ?? '') !== '') return;
  const containers = input.containerDefinitions ?? [];
  if (fargate && containers.some((container) => ECR_IMAGE.test(container.image ?? ''))) {
    throw modeledError(
      ClientException,
      'Fargate requires task definition to have execution role ARN to support ECR images.',
    );
  }
  if (
    fargate &&
    containers.some((container) => container.logConfiguration?.logDriver === 'awslogs')
  ) {
    throw modeledError(
      ClientException,
      'Fargate requires task definition to have execution role ARN to support log driver awslogs.',
    );
  }
  if (containers.some((container) => (container.secrets ?? []).length > 0)) {
    throw modeledError(
      ClientException,
      "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.",
    );
  }
}

/** The defaults AWS fills into a registered container definition. */
function withContainerDefaults(
  container: ContainerDefinition,
  input: RegisterTaskDefinitionCommandInput,
): ContainerDefinition {
  return {
    ...container,
    essential: container.essential ?? true,
    portMappings: (container.portMappings ?? []).map((mapping) => ({
      ...mapping,
      // Under awsvpc the host port is the container port.
      hostPort:
        mapping.hostPort ?? (input.networkMode === 'awsvpc' ? mapping.containerPort : undefined),
      protocol: mapping.protocol ?? 'tcp',
    })),
    environment: container.environment ?? [],
    mountPoints: container.mountPoints ?? [],
    volumesFrom: container.volumesFrom ?? [],
    systemControls: container.systemControls ?? [],
  };
}

async function describeTaskDefinition(
  tx: SimTx,
  input: DescribeTaskDefinitionCommandInput,
  ctx: SimContext,
): Promise<Output<DescribeTaskDefinitionCommandOutput>> {
  const doc = await requireTaskDefinition(tx, ctx, input.taskDefinition ?? '');
  return {
    taskDefinition: taskDefinitionOutput(doc),
    tags: input.include?.includes('TAGS') === true ? doc._tags : undefined,
  };
}

async function listTaskDefinitions(
  tx: SimTx,
  input: ListTaskDefinitionsCommandInput,
): Promise<Output<ListTaskDefinitionsCommandOutput>> {
  const status = input.status ?? 'ACTIVE';
  const direction = input.sort === 'DESC' ? -1 : 1;
  const docs = (await tx.list<TaskDefinitionDoc>(KIND.taskDefinition))
    .filter((doc) => doc.family.startsWith(input.familyPrefix ?? '') && doc.status === status)
    .sort((a, b) => direction * (a.family.localeCompare(b.family) || a.revision - b.revision));
  return { taskDefinitionArns: docs.map((doc) => doc.taskDefinitionArn) };
}

function taskDefinitionOutput(doc: TaskDefinitionDoc): TaskDefinition {
  return { ...publicFields(doc), registeredAt: toDate(doc.registeredAt) };
}

/** By ARN, `family:revision`, or `family` (its latest ACTIVE revision). */
export async function requireTaskDefinition(
  tx: SimTx,
  ctx: SimContext,
  ref: string,
): Promise<TaskDefinitionDoc> {
  const found = await findTaskDefinition(tx, ctx, ref);
  if (found === undefined) {
    throw modeledError(ClientException, 'Unable to describe task definition.');
  }
  return found;
}

async function findTaskDefinition(
  tx: SimTx,
  ctx: SimContext,
  ref: string,
): Promise<TaskDefinitionDoc | undefined> {
  const familyAndRevision = ref.startsWith('arn:') ? lastSegment(ref) : ref;
  const [family = '', revision] = familyAndRevision.split(':');
  if (revision !== undefined) {
    return tx.get<TaskDefinitionDoc>(
      KIND.taskDefinition,
      taskDefinitionArn(ctx, family, Number(revision)),
    );
  }
  const active = (await revisionsOf(tx, ctx, family)).filter((doc) => doc.status === 'ACTIVE');
  return active.sort((a, b) => b.revision - a.revision)[0];
}

function revisionsOf(tx: SimTx, ctx: SimContext, family: string): Promise<TaskDefinitionDoc[]> {
  return tx.list<TaskDefinitionDoc>(
    KIND.taskDefinition,
    awsArn(ctx, 'ecs', `task-definition/${family}:`),
  );
}

/** The image of the container the load balancer sends traffic to, else of the first essential. */
function containerImage(
  taskDefinition: TaskDefinitionDoc,
  loadBalancers: readonly EcsLoadBalancer[],
): string {
  const containers = taskDefinition.containerDefinitions ?? [];
  const served = loadBalancers[0]?.containerName;
  const container =
    containers.find((candidate) => candidate.name === served) ??
    containers.find((candidate) => candidate.essential !== false) ??
    containers[0];
  return container?.image ?? '';
}

// ---------------------------------------------------------------------------------------------
// Task sets

async function createTaskSet(
  tx: SimTx,
  input: CreateTaskSetCommandInput,
  ctx: SimContext,
): Promise<Output<CreateTaskSetCommandOutput>> {
  if (input.clientToken !== undefined) requireClientToken(input.clientToken);
  const cluster = await requireCluster(tx, ctx, input.cluster);
  const service = await requireService(tx, ctx, cluster, input.service);
  requireExternal(service);
  const token =
    input.clientToken === undefined
      ? undefined
      : { operation: 'ecs:CreateTaskSet', scope: cluster.clusterArn, token: input.clientToken };
  if (token !== undefined) {
    // A retried create (same client token) gets the task set it made: as it is now, or, deleted
    // since, as the first answer described it.
    const earlier = await earlierRequest(tx, token);
    if (earlier !== undefined) {
      const made = (await taskSetsOf(tx, service)).find(
        (taskSet) => taskSet.taskSetArn === earlier.resourceArn,
      );
      if (made !== undefined) return { taskSet: taskSetOutput(made, tx.now, true) };
      return earlier.answer as Output<CreateTaskSetCommandOutput>;
    }
  }
  const taskDefinition = await requireTaskDefinition(tx, ctx, input.taskDefinition ?? '');
  const loadBalancers = input.loadBalancers ?? [];
  await requireTargetGroups(tx, loadBalancers);
  await requireTargetTypeFits(tx, taskDefinition, loadBalancers);
  requireContainers(taskDefinition, loadBalancers);
  const scale = input.scale ?? { unit: 'PERCENT', value: 0 };
  requireScale(scale);
  const launchType =
    input.launchType ??
    (input.capacityProviderStrategy === undefined ? (service.launchType ?? 'EC2') : undefined);
  requireTaskPlacement(
    taskDefinition,
    launchType,
    input.networkConfiguration ?? service.networkConfiguration,
  );

  const serial = await nextSerial(tx, 'task-set');
  const id = `ecs-svc/${digitId(ctx, `task-set:${serial}`, 19)}`;
  const image = await behaviourImage(tx, containerImage(taskDefinition, loadBalancers));
  const taskSet: TaskSetDoc = {
    id,
    taskSetArn: taskSetArn(ctx, cluster.clusterName, service.serviceName, id),
    serviceArn: service.serviceArn,
    clusterArn: cluster.clusterArn,
    externalId: input.externalId,
    status: 'ACTIVE',
    taskDefinition: taskDefinition.taskDefinitionArn,
    computedDesiredCount: 0,
    createdAt: tx.now,
    updatedAt: tx.now,
    launchType,
    platformVersion:
      launchType === 'FARGATE' ? (input.platformVersion ?? 'LATEST') : input.platformVersion,
    platformFamily: launchType === 'FARGATE' ? 'Linux' : undefined,
    networkConfiguration: input.networkConfiguration ?? service.networkConfiguration,
    loadBalancers,
    scale,
    tags: input.tags ?? [],
    _clientToken: input.clientToken,
    _fleet: emptyFleet(image, tx.now),
  };
  const scaled = await scaleTaskSet(tx, ctx, taskSet, service, scale);
  await putTaskSet(tx, scaled);
  const answer = { taskSet: taskSetOutput(scaled, tx.now, true) };
  if (token !== undefined) await rememberRequest(tx, token, scaled.taskSetArn, answer);
  return answer;
}

async function describeTaskSets(
  tx: SimTx,
  input: DescribeTaskSetsCommandInput,
  ctx: SimContext,
): Promise<Output<DescribeTaskSetsCommandOutput>> {
  const cluster = await requireCluster(tx, ctx, input.cluster);
  const service = await requireService(tx, ctx, cluster, input.service);
  requireExternal(service);
  const includeTags = input.include?.includes('TAGS') ?? false;
  const all = await taskSetsOf(tx, service);
  if (input.taskSets === undefined) {
    return {
      taskSets: all.map((taskSet) => taskSetOutput(taskSet, tx.now, includeTags)),
      failures: [],
    };
  }
  const taskSets: TaskSet[] = [];
  const failures: Failure[] = [];
  for (const ref of input.taskSets) {
    const taskSet = all.find((candidate) => isTaskSet(candidate, ref));
    if (taskSet === undefined) {
      const arn = ref.startsWith('arn:')
        ? ref
        : taskSetArn(ctx, cluster.clusterName, service.serviceName, ref);
      failures.push({ arn, reason: 'MISSING' });
    } else {
      taskSets.push(taskSetOutput(taskSet, tx.now, includeTags));
    }
  }
  return { taskSets, failures };
}

async function updateTaskSet(
  tx: SimTx,
  input: UpdateTaskSetCommandInput,
  ctx: SimContext,
): Promise<Output<UpdateTaskSetCommandOutput>> {
  const { service, taskSet } = await requireTaskSet(tx, ctx, input);
  requireNotDraining(taskSet);
  const scale = input.scale ?? taskSet.scale;
  requireScale(scale);
  const scaled = await scaleTaskSet(tx, ctx, taskSet, service, scale);
  await putTaskSet(tx, scaled);
  return { taskSet: taskSetOutput(scaled, tx.now, false) };
}

async function updateServicePrimaryTaskSet(
  tx: SimTx,
  input: UpdateServicePrimaryTaskSetCommandInput,
  ctx: SimContext,
): Promise<Output<UpdateServicePrimaryTaskSetCommandOutput>> {
  const { service, taskSet: primary } = await requireTaskSet(tx, ctx, {
    ...input,
    taskSet: input.primaryTaskSet,
  });
  requireNotDraining(primary);
  for (const taskSet of await taskSetsOf(tx, service)) {
    if (taskSet.status === 'DRAINING') continue;
    const status = taskSet.taskSetArn === primary.taskSetArn ? 'PRIMARY' : 'ACTIVE';
    if (taskSet.status !== status) await putTaskSet(tx, { ...taskSet, status, updatedAt: tx.now });
  }
  // The primary task set's parameters become the service's.
  await tx.put(KIND.service, service.serviceArn, {
    ...service,
    taskDefinition: primary.taskDefinition,
    launchType: primary.launchType,
    platformVersion: primary.platformVersion,
    networkConfiguration: primary.networkConfiguration,
  });
  const updated = { ...primary, status: 'PRIMARY' as const, updatedAt: tx.now };
  return { taskSet: taskSetOutput(updated, tx.now, false) };
}

/**
 * Refused while the service is scaled above 0 unless forced, as ECS does; its task sets' tasks
 * stop and the service turns INACTIVE (DescribeServices still answers with it, as ECS does for
 * a while). Only the EXTERNAL controller's task sets are modelled here: Berth makes no other.
 */
async function deleteService(
  tx: SimTx,
  input: DeleteServiceCommandInput,
  ctx: SimContext,
): Promise<Output<DeleteServiceCommandOutput>> {
  const cluster = await requireCluster(tx, ctx, input.cluster);
  const service = await requireService(tx, ctx, cluster, input.service);
  if (service.desiredCount > 0 && input.force !== true) {
    throw invalidParameter('The service cannot be stopped while it is scaled above 0.');
  }
  for (const taskSet of await taskSetsOf(tx, service)) {
    await scaleFleet(tx, ctx, taskSet._fleet, 0, taskSet.loadBalancers);
    await tx.delete(KIND.taskSet, taskSet.taskSetArn);
  }
  const deleted: ServiceDoc = { ...service, status: 'INACTIVE', desiredCount: 0 };
  await tx.put(KIND.service, service.serviceArn, deleted);
  return { service: await serviceOutput(tx, deleted, false) };
}

async function deleteTaskSet(
  tx: SimTx,
  input: DeleteTaskSetCommandInput,
  ctx: SimContext,
): Promise<Output<DeleteTaskSetCommandOutput>> {
  const { taskSet } = await requireTaskSet(tx, ctx, input);
  // Deleted already: it drains as it did.
  if (taskSet.status === 'DRAINING') return { taskSet: taskSetOutput(taskSet, tx.now, false) };
  if (taskSet.status === 'PRIMARY' && input.force !== true) {
    throw invalidParameter(
      'The specified task set is the primary task set of the service and cannot be deleted unless force is true.',
    );
  }
  // Its tasks stop and its targets deregister; AWS lists it DRAINING until they have, which
  // takes the target group's deregistration delay.
  const deregistration =
    (await tx.setting<number>(DEREGISTRATION_DELAY_SETTING)) ?? DEFAULT_DEREGISTRATION_DELAY_MS;
  // Behind no load balancer there is nothing to deregister: the tasks get SIGTERM and up to
  // their containers' stopTimeout (ECS's default 30 s) to finish. The deregistration setting
  // caps it, so that a test's one second stands for every wait of a delete.
  const delay =
    taskSet.loadBalancers.length > 0
      ? deregistration
      : Math.min(deregistration, await stopTimeoutMs(tx, taskSet.taskDefinition));
  const draining: TaskSetDoc = {
    ...taskSet,
    status: 'DRAINING',
    computedDesiredCount: 0,
    updatedAt: tx.now,
    _fleet: await scaleFleet(tx, ctx, taskSet._fleet, 0, taskSet.loadBalancers),
    _drainedAt: tx.now + delay,
  };
  await putTaskSet(tx, draining);
  return { taskSet: taskSetOutput(draining, tx.now, false) };
}

/** ECS's default: a container gets 30 s between SIGTERM and SIGKILL. */
const DEFAULT_STOP_TIMEOUT_MS = 30_000;

/** The longest stopTimeout of a task definition's containers, in ms. */
async function stopTimeoutMs(tx: SimTx, taskDefinitionArn: string): Promise<number> {
  const definition = await tx.get<TaskDefinitionDoc>(KIND.taskDefinition, taskDefinitionArn);
  const timeouts = (definition?.containerDefinitions ?? []).map((container) =>
    container.stopTimeout !== undefined ? container.stopTimeout * 1000 : DEFAULT_STOP_TIMEOUT_MS,
  );
  return timeouts.length > 0 ? Math.max(...timeouts) : DEFAULT_STOP_TIMEOUT_MS;
}

/**
 * A deleted task set can be neither scaled nor made primary. AWS documents that a DRAINING task
 * set cannot be updated; the words here are the simulation's.
 */
function requireNotDraining(taskSet: TaskSetDoc): void {
  if (taskSet.status === 'DRAINING') {
    throw invalidParameter(`The task set ${taskSet.taskSetArn} is DRAINING and cannot be updated.`);
  }
}

/** The task set with the service's desired count shared out by `scale`, launching or stopping. */
async function scaleTaskSet(
  tx: SimTx,
  ctx: SimContext,
  taskSet: TaskSetDoc,
  service: ServiceDoc,
  scale: Scale,
): Promise<TaskSetDoc> {
  const desired = computedDesiredCount(service.desiredCount, scale);
  const fleet = await scaleFleet(tx, ctx, taskSet._fleet, desired, taskSet.loadBalancers);
  return {
    ...taskSet,
    scale: { unit: 'PERCENT', value: scale.value },
    computedDesiredCount: desired,
    updatedAt: tx.now,
    _fleet: fleet,
  };
}

function taskSetOutput(taskSet: TaskSetDoc, now: number, includeTags: boolean): TaskSet {
  const state = fleetState(
    taskSet._fleet,
    taskSet.computedDesiredCount,
    taskSet.loadBalancers.length > 0,
    now,
  );
  return {
    ...publicFields(taskSet),
    createdAt: toDate(taskSet.createdAt),
    updatedAt: toDate(taskSet.updatedAt),
    runningCount: state.running,
    pendingCount: state.pending,
    stabilityStatus: state.stabilityStatus,
    stabilityStatusAt: toDate(state.stabilityStatusAt),
    serviceRegistries: [],
    tags: includeTags ? taskSet.tags : undefined,
  };
}

async function requireTaskSet(
  tx: SimTx,
  ctx: SimContext,
  input: { cluster?: string; service?: string; taskSet?: string },
): Promise<{ service: ServiceDoc; taskSet: TaskSetDoc }> {
  const cluster = await requireCluster(tx, ctx, input.cluster);
  const service = await requireService(tx, ctx, cluster, input.service);
  requireExternal(service);
  const ref = input.taskSet ?? '';
  const taskSet = (await taskSetsOf(tx, service)).find((candidate) => isTaskSet(candidate, ref));
  if (taskSet === undefined) {
    throw modeledError(TaskSetNotFoundException, 'The specified task set does not exist.');
  }
  return { service, taskSet };
}

function isTaskSet(taskSet: TaskSetDoc, ref: string): boolean {
  return taskSet.taskSetArn === ref || taskSet.id === ref;
}

/** A service's task sets, oldest first: draining ones until they are drained. */
async function taskSetsOf(tx: SimTx, service: ServiceDoc): Promise<TaskSetDoc[]> {
  const prefix = `${service.serviceArn.replace(':service/', ':task-set/')}/`;
  const taskSets = (await tx.list<TaskSetDoc>(KIND.taskSet, prefix)).filter(
    (taskSet) => taskSet._drainedAt === undefined || taskSet._drainedAt > tx.now,
  );
  return taskSets.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
}

function putTaskSet(tx: SimTx, taskSet: TaskSetDoc): Promise<void> {
  return tx.put(KIND.taskSet, taskSet.taskSetArn, taskSet);
}

// ---------------------------------------------------------------------------------------------
// Validation shared by services and task sets

function requireCount(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw invalidParameter(`${field} must be a whole number of 0 or more.`);
  }
}

function requireScale(scale: Scale): void {
  const value = scale.value ?? -1;
  if (value < 0 || value > 100) {
    throw invalidParameter('Scale must be a PERCENT between 0 and 100.');
  }
}

/**
 * Each load balancer entry must name a target group that exists and that a load balancer
 * forwards to: ECS refuses a target group without one.
 */
async function requireTargetGroups(
  tx: SimTx,
  loadBalancers: readonly EcsLoadBalancer[],
): Promise<void> {
  for (const { targetGroupArn } of loadBalancers) {
    if (targetGroupArn === undefined) {
      throw invalidParameter('The simulated AWS only supports load balancers by targetGroupArn.');
    }
    if ((await tx.get<TargetGroupDoc>(KIND.targetGroup, targetGroupArn)) === undefined) {
      throw invalidParameter(`The target group ${targetGroupArn} does not exist.`);
    }
    if ((await targetGroupLoadBalancers(tx, targetGroupArn)).length === 0) {
      throw invalidParameter(
        `The target group with targetGroupArn ${targetGroupArn} does not have an associated load balancer.`,
      );
    }
  }
}

/**
 * An awsvpc task has its own address and registers by it: its target group must be of type
 * `ip` (an `instance` group, CreateTargetGroup's default, registers EC2 instances). AWS refuses
 * the pairing in these words; moto accepts it.
 */
async function requireTargetTypeFits(
  tx: SimTx,
  taskDefinition: TaskDefinitionDoc,
  loadBalancers: readonly EcsLoadBalancer[],
): Promise<void> {
  const networkMode = taskDefinition.networkMode ?? 'bridge';
  for (const { targetGroupArn } of loadBalancers) {
    const group = await tx.get<TargetGroupDoc>(KIND.targetGroup, targetGroupArn ?? '');
    if (group === undefined) continue;
    const fits = networkMode === 'awsvpc' ? group.TargetType === 'ip' : group.TargetType !== 'ip';
    if (!fits) {
      throw invalidParameter(
        `The provided target group ${group.TargetGroupArn} has target type ${group.TargetType}, which is incompatible with the ${networkMode} network mode specified in the task definition.`,
      );
    }
  }
}

function requireContainers(
  taskDefinition: TaskDefinitionDoc,
  loadBalancers: readonly EcsLoadBalancer[],
): void {
  const containers = taskDefinition.containerDefinitions ?? [];
  for (const { containerName, containerPort } of loadBalancers) {
    const container = containers.find((candidate) => candidate.name === containerName);
    if (container === undefined) {
      throw invalidParameter(
        `The container ${containerName ?? '(none)'} does not exist in the task definition.`,
      );
    }
    const ports = (container.portMappings ?? []).map((mapping) => mapping.containerPort);
    if (!ports.includes(containerPort)) {
      throw invalidParameter(
        `The container ${containerName ?? ''} did not have a container port ${containerPort ?? '(none)'} defined.`,
      );
    }
  }
}

/**
 * What ECS checks of where and how a task definition's tasks run (CreateService, CreateTaskSet,
 * RunTask), in AWS's words: an awsvpc task definition needs an awsvpc configuration, whose
 * subnets and security groups must exist (EC2 is simulated read-only: the default VPC's); a
 * launch type the task definition is not compatible with is refused, and so is a public IP on
 * EC2.
 */
export function requireTaskPlacement(
  taskDefinition: TaskDefinitionDoc,
  launchType: string | undefined,
  network: NetworkConfiguration | undefined,
): void {
  if (
    launchType !== undefined &&
    !(taskDefinition.compatibilities ?? []).includes(launchType as never)
  ) {
    throw invalidParameter(`Task definition does not support launch_type ${launchType}.`);
  }
  const awsvpc = network?.awsvpcConfiguration;
  if (taskDefinition.networkMode === 'awsvpc' && awsvpc === undefined) {
    throw invalidParameter(
      "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
    );
  }
  if (awsvpc === undefined) return;
  const subnets = awsvpc.subnets ?? [];
  if (subnets.length === 0) throw invalidParameter('subnets can not be empty.');
  const knownSubnets: readonly string[] = SIM_NETWORK.subnets;
  const missingSubnets = subnets.filter((subnet) => !knownSubnets.includes(subnet));
  if (missingSubnets.length > 0) {
    throw invalidParameter(
      `Error retrieving subnet information for [${missingSubnets.join(', ')}]: The subnet ID '${missingSubnets[0] ?? ''}' does not exist (ErrorCode: InvalidSubnetID.NotFound)`,
    );
  }
  const knownGroups: readonly string[] = SIM_NETWORK.securityGroups;
  const missingGroups = (awsvpc.securityGroups ?? []).filter(
    (group) => !knownGroups.includes(group),
  );
  if (missingGroups.length > 0) {
    throw invalidParameter(
      `Error retrieving security group information for [${missingGroups.join(', ')}]: The security group '${missingGroups[0] ?? ''}' does not exist (ErrorCode: InvalidGroup.NotFound)`,
    );
  }
  if (awsvpc.assignPublicIp === 'ENABLED' && launchType === 'EC2') {
    throw invalidParameter('Assign public IP is not supported for this launch type.');
  }
}

function lastSegment(ref: string): string {
  return ref.slice(ref.lastIndexOf('/') + 1);
}

function callerArn(ctx: SimContext): string {
  return `arn:aws:iam::${ctx.account}:user/berth-sim`;
}

/** The ECS operations the simulation answers, by operation name. */
export const ecsHandlers: Record<string, SimHandler> = {
  CreateCluster: handler(createCluster),
  DescribeClusters: handler(describeClusters),
  CreateService: handler(createService),
  DescribeServices: handler(describeServices),
  UpdateService: handler(updateService),
  RegisterTaskDefinition: handler(registerTaskDefinition),
  DescribeTaskDefinition: handler(describeTaskDefinition),
  ListTaskDefinitions: handler(listTaskDefinitions),
  CreateTaskSet: handler(createTaskSet),
  DescribeTaskSets: handler(describeTaskSets),
  UpdateTaskSet: handler(updateTaskSet),
  UpdateServicePrimaryTaskSet: handler(updateServicePrimaryTaskSet),
  DeleteTaskSet: handler(deleteTaskSet),
  DeleteService: handler(deleteService),
};
