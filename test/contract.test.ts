import assert from 'node:assert/strict';
import { oneContainerSpec } from '../src/cloud/task-definition.ts';
import { after, describe, it, type TestContext } from 'node:test';
import {
  PutMetricAlarmCommand,
  PutMetricDataCommand,
  SetAlarmStateCommand,
  type CloudWatchClient,
  type GetMetricDataCommandInput,
  type GetMetricDataCommandOutput,
  type MetricDataQuery,
  type MetricDataResult,
  type MetricDatum,
} from '@aws-sdk/client-cloudwatch';
import { CreateRepositoryCommand, PutImageCommand } from '@aws-sdk/client-ecr';
import { CreateClusterCommand, ListTasksCommand } from '@aws-sdk/client-ecs';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateRuleCommand,
  CreateTargetGroupCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { ObservedTaskSet, TaskNetwork } from '../src/cloud/cloud.ts';
import { AwsCloud, type AwsClients } from '../src/cloud/aws-cloud.ts';
import { loadBalancerDimension, targetGroupDimension } from '../src/cloud/aws/cloudwatch.ts';
import { createLogger } from '../src/logging.ts';
import { aContractCloud, aFargateSpec, type ContractTarget } from './support/contract.ts';
import { stopSharedMoto } from './support/moto.ts';
import { eventually } from './support/eventually.ts';
import { forwardTo } from './support/builders.ts';

/*
 * The contract suite: the same scenarios, with the same assertions on what the adapter
 * (`AwsCloud`) observes, against moto and against the simulated AWS. What both agree on is what
 * Berth may rely on; where moto cannot play its part, the scenario says so where it happens and
 * supplies the data itself. Every scenario sets up its own cloud from nothing.
 */

after(stopSharedMoto);

const CLUSTER = 'prod';
const SERVICE = 'web';
const PORT = 8080;
const LOAD_BALANCER = 'berth';
const REPOSITORY = 'web';
const ELB = String.raw`arn:aws:elasticloadbalancing:us-east-1:\d{12}:`;
const HEX16 = '[0-9a-f]{16}';

/** One target's clients, the adapter over them, and the network its resources live in. */
interface Env {
  target: ContractTarget;
  clients: AwsClients;
  cloud: AwsCloud;
  vpcId: string;
  network: TaskNetwork;
  /** Every datum the scenario put into CloudWatch, in order. */
  metricsPut: MetricDatum[];
  /** Calls the clients sent, by command (`DescribeServicesCommand`), counted on this side. */
  calls: Map<string, number>;
}

/**
 * Counts the commands `client` sends. On the sim the count must come before its middleware,
 * which answers instead of sending; on moto anywhere in the initialize step will do.
 */
function countCalls(
  client: AwsClients[keyof AwsClients],
  calls: Map<string, number>,
  target: ContractTarget,
): void {
  const stack = client.middlewareStack as {
    add(middleware: unknown, options: object): void;
    addRelativeTo(middleware: unknown, options: object): void;
  };
  const counter =
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
    (args: unknown) => {
      const command = context.commandName ?? '?';
      calls.set(command, (calls.get(command) ?? 0) + 1);
      return next(args);
    };
  if (target === 'sim') {
    stack.addRelativeTo(counter, {
      relation: 'before',
      toMiddleware: 'berthSimulatedAws',
      name: 'contractCallCounter',
    });
  } else {
    stack.add(counter, { step: 'initialize', priority: 'high', name: 'contractCallCounter' });
  }
}

function withCounters(clients: AwsClients, target: ContractTarget): Map<string, number> {
  const calls = new Map<string, number>();
  for (const client of [clients.ecs, clients.elbv2, clients.ecr, clients.cloudwatch]) {
    countCalls(client, calls, target);
  }
  return calls;
}

let motoAnnounced = false;

/**
 * A fresh cloud of `target`: the simulated AWS over a test database of its own (throttling off,
 * so that a scenario's many calls test what it says), or the shared moto, reset.
 */
async function anEnv(target: ContractTarget, t: TestContext): Promise<Env> {
  const logger = createLogger({ level: process.env['BERTH_TEST_LOG_LEVEL'] ?? 'silent' });
  const metricsPut: MetricDatum[] = [];
  const { clients, vpcId, network, moto } = await aContractCloud(target, `contract ${t.name}`);
  if (moto !== undefined && !motoAnnounced) {
    t.diagnostic(`moto: ${moto.source}`);
    motoAnnounced = true;
  }
  const calls = withCounters(clients, target);
  if (target === 'moto') supplyPercentiles(clients.cloudwatch, metricsPut);
  return {
    target,
    clients,
    cloud: new AwsCloud(clients, logger),
    vpcId,
    network,
    metricsPut,
    calls,
  };
}

/** What the shared setup created, as Berth would be told it. */
interface Infrastructure {
  clusterArn: string;
  loadBalancerArn: string;
  listenerArn: string;
  ruleArn: string;
  /** `web-a` (weight 100) and `web-b` (weight 0). */
  targetGroupArns: [string, string];
  /** `ACCOUNT.dkr.ecr.us-east-1.amazonaws.com/web` */
  repositoryUri: string;
  /** The digest PutImage gave the image tagged `v1`. */
  imageDigest: string;
}

/**
 * The same resources on either target, through the SDK clients directly: a cluster, an ALB with
 * an HTTP listener, two ip target groups, a rule forwarding `/web/*` to them 100/0, and an ECR
 * repository holding one image tagged `v1`.
 */
async function setUp(env: Env): Promise<Infrastructure> {
  const { ecs, elbv2, ecr } = env.clients;
  const cluster = await ecs.send(new CreateClusterCommand({ clusterName: CLUSTER }));
  const loadBalancer = await elbv2.send(
    new CreateLoadBalancerCommand({
      Name: LOAD_BALANCER,
      Type: 'application',
      Scheme: 'internet-facing',
      Subnets: env.network.subnets,
    }),
  );
  const loadBalancerArn = required(loadBalancer.LoadBalancers?.[0]?.LoadBalancerArn, 'LB ARN');
  const targetGroupArns: string[] = [];
  for (const suffix of ['a', 'b']) {
    const created = await elbv2.send(
      new CreateTargetGroupCommand({
        Name: `${SERVICE}-${suffix}`,
        Protocol: 'HTTP',
        Port: PORT,
        VpcId: env.vpcId,
        TargetType: 'ip',
        HealthCheckPath: '/',
      }),
    );
    targetGroupArns.push(required(created.TargetGroups?.[0]?.TargetGroupArn, 'TG ARN'));
  }
  const [groupA = '', groupB = ''] = targetGroupArns;
  const listener = await elbv2.send(
    new CreateListenerCommand({
      LoadBalancerArn: loadBalancerArn,
      Protocol: 'HTTP',
      Port: 80,
      DefaultActions: [
        {
          Type: 'fixed-response',
          FixedResponseConfig: { StatusCode: '404', ContentType: 'text/plain' },
        },
      ],
    }),
  );
  const listenerArn = required(listener.Listeners?.[0]?.ListenerArn, 'listener ARN');
  const rule = await elbv2.send(
    new CreateRuleCommand({
      ListenerArn: listenerArn,
      Priority: 1,
      Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: [`/${SERVICE}/*`] } }],
      Actions: forwardTo([
        [groupA, 100],
        [groupB, 0],
      ]),
    }),
  );
  const repository = await ecr.send(new CreateRepositoryCommand({ repositoryName: REPOSITORY }));
  const image = await ecr.send(
    new PutImageCommand({
      repositoryName: REPOSITORY,
      imageTag: 'v1',
      imageManifest: JSON.stringify(MANIFEST),
    }),
  );
  return {
    clusterArn: required(cluster.cluster?.clusterArn, 'cluster ARN'),
    loadBalancerArn,
    listenerArn,
    ruleArn: required(rule.Rules?.[0]?.RuleArn, 'rule ARN'),
    targetGroupArns: [groupA, groupB],
    repositoryUri: required(repository.repository?.repositoryUri, 'repository URI'),
    imageDigest: required(image.image?.imageId?.imageDigest, 'image digest'),
  };
}

/** A Docker image manifest (schema 2) with one layer. */
const MANIFEST = {
  schemaVersion: 2,
  mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
  config: {
    mediaType: 'application/vnd.docker.container.image.v1+json',
    size: 1469,
    digest: `sha256:${'c'.repeat(64)}`,
  },
  layers: [
    {
      mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
      size: 3_623_807,
      digest: `sha256:${'d'.repeat(64)}`,
    },
  ],
};

function required(value: string | undefined, what: string): string {
  if (value === undefined) assert.fail(`the cloud answered without a ${what}`);
  return value;
}

/** `setUp`, then the EXTERNAL service `web` of `desiredCount` tasks. */
async function setUpWithService(
  env: Env,
  desiredCount: number,
  clientToken: string,
): Promise<Infrastructure> {
  const infra = await setUp(env);
  await env.cloud.createService({ cluster: CLUSTER, name: SERVICE, desiredCount, clientToken });
  return infra;
}

/** A task definition for task sets, registered by the adapter as a rollout would. */
async function aTaskDefinition(env: Env): Promise<string> {
  return env.cloud.ensureTaskDefinition(
    aFargateSpec({
      family: SERVICE,
      containerName: 'app',
      containerPort: PORT,
      contentHash: 'e'.repeat(64),
    }),
  );
}

async function aTaskSet(
  env: Env,
  options: { targetGroupArn: string; percent: number; externalId: string },
): Promise<ObservedTaskSet> {
  return env.cloud.createTaskSet({
    cluster: CLUSTER,
    service: SERVICE,
    taskDefinitionArn: await aTaskDefinition(env),
    targetGroupArn: options.targetGroupArn,
    containerName: 'app',
    containerPort: PORT,
    scalePercent: options.percent,
    launchType: 'FARGATE',
    network: env.network,
    clientToken: `contract-${options.externalId}`,
    externalId: options.externalId,
  });
}

async function taskSetsOf(env: Env, service = SERVICE): Promise<ObservedTaskSet[]> {
  const described = await env.cloud.describeServices(CLUSTER, [service]);
  return described.get(service)?.taskSets ?? assert.fail(`no service ${service}`);
}

/** The `name` of what `promise` rejects with, failing when it resolves. */
async function errorName(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { name?: string }).name ?? String(error);
  }
  return assert.fail('expected an error, got an answer');
}

/** An ARN like `arn` that names nothing: its last 16 hex digits replaced. */
function unknownLike(arn: string): string {
  return `${arn.slice(0, -16)}0123456789abcdef`;
}

/** The last whole minute before now: a one-minute window that is over. */
function lastWholeMinute(): { start: Date; end: Date } {
  const end = Math.floor(Date.now() / 60_000) * 60_000;
  return { start: new Date(end - 60_000), end: new Date(end) };
}

async function putMetrics(env: Env, data: MetricDatum[]): Promise<void> {
  env.metricsPut.push(...data);
  await env.clients.cloudwatch.send(
    new PutMetricDataCommand({ Namespace: 'AWS/ApplicationELB', MetricData: data }),
  );
}

/**
 * moto 5.2.1 computes no percentile statistics: a GetMetricData query with `Stat: 'p99'` makes it
 * answer 500 (its Statistics knows Sum, Average, Minimum, Maximum and SampleCount only, and
 * serializing the None it gives fails), which fails the adapter's whole call. So on moto the
 * suite supplies percentiles itself: this middleware sends moto every other query, and answers
 * the percentile ones from the values the scenario put, as CloudWatch would (nearest rank, per
 * period from StartTime), in the shape GetMetricData gives.
 */
function supplyPercentiles(cloudwatch: CloudWatchClient, metricsPut: readonly MetricDatum[]) {
  const isPercentile = (query: MetricDataQuery) => /^p\d/.test(query.MetricStat?.Stat ?? '');
  cloudwatch.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as GetMetricDataCommandInput;
      const queries = input.MetricDataQueries ?? [];
      if (context.commandName !== 'GetMetricDataCommand' || !queries.some(isPercentile)) {
        return next(args);
      }
      const rest = queries.filter((query) => !isPercentile(query));
      const answered =
        rest.length > 0
          ? await next({ ...args, input: { ...input, MetricDataQueries: rest } })
          : { output: { MetricDataResults: [], $metadata: {} }, response: {} };
      const output = answered.output as GetMetricDataCommandOutput;
      if (input.NextToken === undefined) {
        output.MetricDataResults = [
          ...(output.MetricDataResults ?? []),
          ...queries
            .filter(isPercentile)
            .map((query) => percentileResult(query, input, metricsPut)),
        ];
      }
      return answered;
    },
    { step: 'initialize', name: 'contractSuppliedPercentiles' },
  );
}

function percentileResult(
  query: MetricDataQuery,
  input: GetMetricDataCommandInput,
  metricsPut: readonly MetricDatum[],
): MetricDataResult {
  const stat = query.MetricStat;
  const rank = Number(/^p(\d+(?:\.\d+)?)$/.exec(stat?.Stat ?? '')?.[1] ?? 'NaN') / 100;
  const key = (dimensions: readonly { Name?: string; Value?: string }[] = []) =>
    dimensions
      .map((dimension) => `${dimension.Name ?? ''}=${dimension.Value ?? ''}`)
      .sort()
      .join(',');
  const start = new Date(input.StartTime ?? 0).getTime();
  const end = new Date(input.EndTime ?? 0).getTime();
  const periodMs = (stat?.Period ?? 60) * 1000;
  const buckets = new Map<number, number[]>();
  for (const datum of metricsPut) {
    const at = datum.Timestamp?.getTime() ?? Date.now();
    if (
      datum.MetricName !== stat?.Metric?.MetricName ||
      key(datum.Dimensions) !== key(stat?.Metric?.Dimensions) ||
      at < start ||
      at >= end
    ) {
      continue;
    }
    const bucket = start + Math.floor((at - start) / periodMs) * periodMs;
    const values = (datum.Values ?? [datum.Value ?? 0]).flatMap((value, i) =>
      Array.from({ length: datum.Counts?.[i] ?? 1 }, () => value),
    );
    buckets.set(bucket, [...(buckets.get(bucket) ?? []), ...values]);
  }
  const points = [...buckets].sort(([a], [b]) => a - b);
  return {
    Id: query.Id,
    Label: query.Label ?? `${stat?.Metric?.MetricName ?? ''} ${stat?.Stat ?? ''}`,
    Timestamps: points.map(([at]) => new Date(at)),
    Values: points.map(([, values]) => {
      const sorted = [...values].sort((a, b) => a - b);
      return sorted[Math.max(0, Math.ceil(rank * sorted.length) - 1)] ?? 0;
    }),
    StatusCode: 'Complete',
  };
}

for (const target of ['moto', 'sim'] as const) {
  describe(target, () => {
    it('creates resources whose ARNs have the shapes AWS gives them', async (t) => {
      const env = await anEnv(target, t);
      const infra = await setUp(env);

      assert.match(infra.clusterArn, /^arn:aws:ecs:us-east-1:\d{12}:cluster\/prod$/);
      assert.match(
        infra.loadBalancerArn,
        new RegExp(`^${ELB}loadbalancer/app/${LOAD_BALANCER}/${HEX16}$`),
      );
      assert.match(
        infra.listenerArn,
        new RegExp(`^${ELB}listener/app/${LOAD_BALANCER}/${HEX16}/${HEX16}$`),
      );
      assert.match(
        infra.ruleArn,
        new RegExp(`^${ELB}listener-rule/app/${LOAD_BALANCER}/${HEX16}/${HEX16}/${HEX16}$`),
      );
      // A rule's ARN is its listener's, one id longer; a listener's is its load balancer's.
      assert.ok(
        infra.ruleArn.startsWith(`${infra.listenerArn.replace(':listener/', ':listener-rule/')}/`),
      );
      assert.ok(
        infra.listenerArn.startsWith(
          `${infra.loadBalancerArn.replace(':loadbalancer/', ':listener/')}/`,
        ),
      );
      for (const [i, arn] of infra.targetGroupArns.entries()) {
        assert.match(arn, new RegExp(`^${ELB}targetgroup/web-${'ab'[i] ?? ''}/${HEX16}$`));
      }
      assert.match(infra.repositoryUri, /^\d{12}\.dkr\.ecr\.us-east-1\.amazonaws\.com\/web$/);
      assert.match(infra.imageDigest, /^sha256:[0-9a-f]{64}$/);

      const loadBalancerId = infra.loadBalancerArn.split('/').at(-1) ?? '';
      const dimension = `app/${LOAD_BALANCER}/${loadBalancerId}`;
      assert.equal(loadBalancerDimension(infra.ruleArn), dimension);
      assert.equal(loadBalancerDimension(infra.listenerArn), dimension);
      assert.equal(loadBalancerDimension(infra.loadBalancerArn), dimension);
      const [groupA] = infra.targetGroupArns;
      assert.equal(
        targetGroupDimension(groupA),
        `targetgroup/web-a/${groupA.split('/').at(-1) ?? ''}`,
      );
    });

    it('creates an EXTERNAL service and describes services ten to a call', async (t) => {
      const env = await anEnv(target, t);
      await setUpWithService(env, 10, 'contract-create-web');

      const described = await env.cloud.describeServices(CLUSTER, [SERVICE, 'nope']);
      assert.deepEqual([...described.keys()], [SERVICE], 'a service that does not exist is absent');
      const service = described.get(SERVICE);
      assert.match(service?.arn ?? '', /^arn:aws:ecs:us-east-1:\d{12}:service\/prod\/web$/);
      assert.equal(service?.status, 'ACTIVE');
      assert.equal(service?.desiredCount, 10);
      assert.deepEqual(service?.taskSets, [], 'an EXTERNAL service starts without task sets');

      // DescribeServices takes at most ten names: twelve services take two calls.
      const names = Array.from({ length: 12 }, (_, i) => `svc-${i}`);
      for (const [i, name] of names.entries()) {
        await env.cloud.createService({
          cluster: CLUSTER,
          name,
          desiredCount: i,
          clientToken: `contract-create-${name}`,
        });
      }
      const before = env.calls.get('DescribeServicesCommand') ?? 0;
      const many = await env.cloud.describeServices(CLUSTER, [...names, 'nope']);
      // Counted here, not by the cloud: moto takes more than ten names in one call, AWS does not.
      assert.equal((env.calls.get('DescribeServicesCommand') ?? 0) - before, 2);
      assert.deepEqual([...many.keys()].sort(), [...names].sort());
      for (const [i, name] of names.entries()) {
        assert.equal(many.get(name)?.desiredCount, i, name);
        assert.equal(many.get(name)?.status, 'ACTIVE', name);
      }
    });

    it('sets the desired count of a service', async (t) => {
      const env = await anEnv(target, t);
      await setUpWithService(env, 10, 'contract-desired');

      await env.cloud.setDesiredCount(CLUSTER, SERVICE, 4);
      assert.equal(
        (await env.cloud.describeServices(CLUSTER, [SERVICE])).get(SERVICE)?.desiredCount,
        4,
      );
      await env.cloud.setDesiredCount(CLUSTER, SERVICE, 0);
      assert.equal(
        (await env.cloud.describeServices(CLUSTER, [SERVICE])).get(SERVICE)?.desiredCount,
        0,
      );
    });

    it('registers a two-container template as built by registrationInput and describes it back for adoption', async (t) => {
      const env = await anEnv(target, t);
      const template = {
        requiresCompatibilities: ['FARGATE'],
        networkMode: 'awsvpc',
        cpu: '512',
        memory: '1024',
        executionRoleArn: 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole',
        containerDefinitions: [
          {
            name: 'app',
            essential: true,
            command: ['bundle', 'exec', 'puma'],
            portMappings: [{ containerPort: PORT, protocol: 'tcp' }],
            healthCheck: { command: ['CMD-SHELL', 'true'], interval: 10, retries: 3 },
            stopTimeout: 60,
          },
          {
            name: 'nginx',
            essential: false,
            dependsOn: [{ containerName: 'app', condition: 'START' }],
          },
        ],
      };
      const arn = await env.cloud.ensureTaskDefinition({
        family: 'berth-rails',
        template,
        containers: {
          app: { image: 'nginx:1.27', environment: { RAILS_ENV: 'production' }, secrets: {} },
          nginx: { image: 'nginx:1.26', environment: {}, secrets: {} },
        },
        logGroup: '/berth/rails',
        contentHash: 'two-containers',
      });
      const adopted = await env.cloud.describeTaskDefinition('berth-rails:1');
      assert.equal(adopted?.['taskDefinitionArn'], arn);
      const containers = adopted?.['containerDefinitions'] as Record<string, unknown>[];
      const app = containers.find((container) => container['name'] === 'app');
      const nginx = containers.find((container) => container['name'] === 'nginx');
      assert.deepEqual(app?.['command'], ['bundle', 'exec', 'puma']);
      assert.deepEqual(app?.['healthCheck'], template.containerDefinitions[0]?.healthCheck);
      assert.equal(app?.['stopTimeout'], 60);
      assert.deepEqual(app?.['environment'], [{ name: 'RAILS_ENV', value: 'production' }]);
      assert.deepEqual(nginx?.['dependsOn'], [{ containerName: 'app', condition: 'START' }]);
      assert.deepEqual(nginx?.['logConfiguration'], {
        logDriver: 'awslogs',
        options: {
          'awslogs-group': '/berth/rails',
          'awslogs-region': 'us-east-1',
          'awslogs-stream-prefix': 'berth',
          'awslogs-create-group': 'true',
        },
      });
      assert.equal(await env.cloud.describeTaskDefinition('berth-rails:7'), undefined);
      assert.equal(await env.cloud.describeTaskDefinition('no-such-family'), undefined);
    });

    it('registers a task definition once per content hash', async (t) => {
      const env = await anEnv(target, t);
      const spec = {
        family: 'api',
        containerName: 'app',
        image: 'nginx:1.27',
        containerPort: PORT,
        cpu: 256,
        memory: 512,
        launchType: 'FARGATE' as const,
        environment: { LOG_LEVEL: 'info' },
        secrets: { DB_PASSWORD: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf' },
        taskRoleArn: null,
        executionRoleArn: 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole',
        contentHash: 'hash-1',
      };

      const first = await env.cloud.ensureTaskDefinition(oneContainerSpec(spec));
      assert.match(first, /^arn:aws:ecs:us-east-1:\d{12}:task-definition\/api:1$/);
      assert.equal(
        await env.cloud.ensureTaskDefinition(oneContainerSpec(spec)),
        first,
        'same content: no new revision',
      );
      const second = await env.cloud.ensureTaskDefinition(
        oneContainerSpec({ ...spec, image: 'nginx:1.28', contentHash: 'hash-2' }),
      );
      assert.match(second, /^arn:aws:ecs:us-east-1:\d{12}:task-definition\/api:2$/);
      assert.equal(
        await env.cloud.ensureTaskDefinition(
          oneContainerSpec({ ...spec, image: 'nginx:1.28', contentHash: 'hash-2' }),
        ),
        second,
      );
    });

    it('creates a task set at 10 %, scales it, makes it primary and deletes it', async (t) => {
      const env = await anEnv(target, t);
      const infra = await setUpWithService(env, 10, 'contract-task-set');
      const [, groupB] = infra.targetGroupArns;

      const created = await aTaskSet(env, {
        targetGroupArn: groupB,
        percent: 10,
        externalId: 'deploy-1',
      });
      assert.match(created.arn, /^arn:aws:ecs:us-east-1:\d{12}:task-set\/prod\/web\/ecs-svc\/\d+$/);
      assert.match(created.taskDefinition, /^arn:aws:ecs:us-east-1:\d{12}:task-definition\/web:1$/);
      assert.equal(created.status, 'ACTIVE', 'a new task set is not primary');
      assert.equal(created.externalId, 'deploy-1');
      assert.equal(created.scalePercent, 10);
      assert.equal(created.targetGroupArn, groupB);

      const [observed, ...others] = await taskSetsOf(env);
      assert.deepEqual(others, []);
      assert.equal(observed?.arn, created.arn);
      assert.equal(observed?.scalePercent, 10);
      assert.equal(observed?.targetGroupArn, groupB);
      assert.equal(observed?.externalId, 'deploy-1');

      await env.cloud.setTaskSetScale(CLUSTER, SERVICE, created.arn, 100);
      assert.equal((await taskSetsOf(env))[0]?.scalePercent, 100);

      await env.cloud.setPrimaryTaskSet(CLUSTER, SERVICE, created.arn);
      assert.equal((await taskSetsOf(env))[0]?.status, 'PRIMARY');

      await env.cloud.deleteTaskSet(CLUSTER, SERVICE, created.arn);
      // AWS lists a deleted task set as DRAINING until its tasks stop; none is left serving.
      assert.deepEqual(
        (await taskSetsOf(env)).filter((taskSet) => taskSet.status !== 'DRAINING'),
        [],
      );
      // Deleting it again is done already: AWS (and the sim) answer TaskSetNotFoundException,
      // moto 5.2.1 a ClientException "does not exist"; the adapter takes both as gone.
      await env.cloud.deleteTaskSet(CLUSTER, SERVICE, created.arn);
    });

    it('deletes a service with its task sets, and a service gone already is done', async (t) => {
      const env = await anEnv(target, t);
      const infra = await setUpWithService(env, 2, 'contract-delete-service');
      await aTaskSet(env, {
        targetGroupArn: infra.targetGroupArns[0],
        percent: 100,
        externalId: 'deploy-1',
      });
      await env.cloud.deleteService(CLUSTER, SERVICE);
      // AWS answers for an INACTIVE service a while; Berth reads it as gone.
      assert.equal((await env.cloud.describeServices(CLUSTER, [SERVICE])).get(SERVICE), undefined);
      await env.cloud.deleteService(CLUSTER, SERVICE);
    });

    it('reads the rule weights setup made, and reads back what it sets', async (t) => {
      const env = await anEnv(target, t);
      const infra = await setUp(env);
      const [groupA, groupB] = infra.targetGroupArns;

      assert.deepEqual(await env.cloud.readRuleWeights(infra.ruleArn), {
        [groupA]: 100,
        [groupB]: 0,
      });
      await env.cloud.setRuleWeights(infra.ruleArn, { [groupA]: 90, [groupB]: 10 });
      assert.deepEqual(await env.cloud.readRuleWeights(infra.ruleArn), {
        [groupA]: 90,
        [groupB]: 10,
      });
      await env.cloud.setRuleWeights(infra.ruleArn, { [groupA]: 0, [groupB]: 100 });
      assert.deepEqual(await env.cloud.readRuleWeights(infra.ruleArn), {
        [groupA]: 0,
        [groupB]: 100,
      });
    });

    it('counts the healthy targets of a target group', async (t) => {
      const env = await anEnv(target, t);
      const infra = await setUpWithService(env, 2, 'contract-health');
      const [groupA, groupB] = infra.targetGroupArns;
      await aTaskSet(env, { targetGroupArn: groupA, percent: 100, externalId: 'deploy-1' });

      const idle = await env.cloud.healthyTargetCount(groupB);
      assert.equal(idle, 0, 'a group no task set registers into has no targets');
      const count = await env.cloud.healthyTargetCount(groupA);
      assert.equal(typeof count, 'number');
      assert.ok(count >= 0);
      if (env.target === 'moto') {
        // moto starts a task set's tasks but registers none of them in its target group, so
        // DescribeTargetHealth stays empty: the count is 0 however long one waits.
        assert.equal(count, 0);
      } else {
        // The sim registers a task set's tasks once they run and turns them healthy after their
        // health checks pass (about 1.5 s for a healthy image): wait for that.
        const healthy =
          count > 0
            ? count
            : await eventually(
                'the running tasks to turn healthy',
                async () => (await env.cloud.healthyTargetCount(groupA)) || undefined,
                { timeoutMs: 15_000 },
              );
        assert.ok(healthy <= 2, 'no more targets than tasks');
      }
    });

    it("lists the stopped tasks of a task set by its id (the service's STOPPED tasks, kept by startedBy)", async (t) => {
      const env = await anEnv(target, t);
      const infra = await setUpWithService(env, 2, 'contract-stopped-tasks');
      const taskSet = await aTaskSet(env, {
        targetGroupArn: infra.targetGroupArns[0],
        percent: 100,
        externalId: 'deploy-1',
      });
      // A healthy image's tasks have not stopped, so there is nothing to describe (the crash loop
      // is sim-only, see test/live-view.test.ts: moto's tasks never stop by themselves).
      assert.deepEqual(await env.cloud.stoppedTasks(CLUSTER, taskSet.arn), []);
      // AWS: "When you specify startedBy as the filter, it must be the only filter that you use".
      // moto does not enforce it; the simulated AWS does, as AWS documents.
      if (target === 'sim') {
        await assert.rejects(
          env.clients.ecs.send(
            new ListTasksCommand({ cluster: CLUSTER, startedBy: 'x', desiredStatus: 'STOPPED' }),
          ),
          (error: Error) => error.name === 'InvalidParameterException',
        );
      }
    });

    it('resolves ECR images to digests, and tells missing images from images elsewhere', async (t) => {
      const env = await anEnv(target, t);
      const infra = await setUp(env);
      const registry = infra.repositoryUri.slice(0, -`/${REPOSITORY}`.length);

      assert.deepEqual(await env.cloud.resolveImage(`${infra.repositoryUri}:v1`), {
        kind: 'resolved',
        digest: infra.imageDigest,
      });
      assert.deepEqual(
        await env.cloud.resolveImage(`${infra.repositoryUri}@${infra.imageDigest}`),
        {
          kind: 'resolved',
          digest: infra.imageDigest,
        },
      );
      const missingTag = await env.cloud.resolveImage(`${infra.repositoryUri}:v9`);
      assert.equal(missingTag.kind, 'missing');
      assert.match(
        missingTag.kind === 'missing' ? missingTag.message : '',
        /^ImageNotFoundException: /,
      );
      const missingRepository = await env.cloud.resolveImage(`${registry}/nope:v1`);
      assert.equal(missingRepository.kind, 'missing');
      assert.match(
        missingRepository.kind === 'missing' ? missingRepository.message : '',
        /^RepositoryNotFoundException: /,
      );
      assert.deepEqual(await env.cloud.resolveImage('nginx:1.27'), { kind: 'not-in-ecr' });
    });

    it('reads the ALB metrics of target groups over a window; no datapoint is null', async (t) => {
      const env = await anEnv(target, t);
      const infra = await setUp(env);
      const [groupA, groupB] = infra.targetGroupArns;
      const window = lastWholeMinute();
      // moto has no ALB traffic, so the scenario supplies the datapoints an ALB would publish,
      // under the names CloudWatch gives them; the sim answers put datapoints in place of the
      // ones it generates. (AWS itself refuses PutMetricData into an `AWS/` namespace.)
      const dimensions = [
        { Name: 'LoadBalancer', Value: loadBalancerDimension(infra.ruleArn) },
        { Name: 'TargetGroup', Value: targetGroupDimension(groupA) },
      ];
      const at = new Date(window.start.getTime() + 30_000);
      await putMetrics(env, [
        {
          MetricName: 'RequestCount',
          Dimensions: dimensions,
          Timestamp: at,
          Value: 100,
          Unit: 'Count',
        },
        {
          MetricName: 'HTTPCode_Target_5XX_Count',
          Dimensions: dimensions,
          Timestamp: at,
          Value: 3,
          Unit: 'Count',
        },
        {
          MetricName: 'TargetResponseTime',
          Dimensions: dimensions,
          Timestamp: at,
          Values: [0.1, 0.2, 0.4],
          Counts: [1, 1, 1],
          Unit: 'Seconds',
        },
      ]);

      const metrics = await env.cloud.targetGroupMetrics(
        [
          { key: 'canary', loadBalancerArn: infra.ruleArn, targetGroupArn: groupA },
          { key: 'idle', loadBalancerArn: infra.loadBalancerArn, targetGroupArn: groupB },
        ],
        window.start,
        window.end,
      );
      const canary = metrics.get('canary');
      assert.equal(canary?.requests, 100);
      assert.equal(canary?.errors5xx, 3);
      assert.ok(Math.abs((canary?.avgMs ?? NaN) - 700 / 3) < 1e-6, `avg ${canary?.avgMs}`);
      assert.ok(Math.abs((canary?.p99Ms ?? NaN) - 400) < 1e-6, `p99 ${canary?.p99Ms}`);
      assert.deepEqual(
        metrics.get('idle'),
        { requests: null, errors5xx: null, p99Ms: null, avgMs: null },
        'missing data is not zero',
      );
    });

    it('reads CloudWatch alarms by name and by prefix, with their state, reason and time', async (t) => {
      const env = await anEnv(target, t);
      const cloudwatch = env.clients.cloudwatch;
      for (const name of ['web-5xx', 'web-queue-age', 'api-5xx']) {
        await cloudwatch.send(
          new PutMetricAlarmCommand({
            AlarmName: name,
            Namespace: 'AWS/ApplicationELB',
            MetricName: 'HTTPCode_Target_5XX_Count',
            Dimensions: [{ Name: 'LoadBalancer', Value: 'app/berth/0123456789abcdef' }],
            Statistic: 'Sum',
            Period: 60,
            EvaluationPeriods: 1,
            Threshold: 10,
            ComparisonOperator: 'GreaterThanThreshold',
          }),
        );
      }
      const before = Date.now();
      await cloudwatch.send(
        new SetAlarmStateCommand({
          AlarmName: 'web-5xx',
          StateValue: 'ALARM',
          StateReason: 'contract: more than 10 5xx in a minute',
        }),
      );
      await cloudwatch.send(
        new SetAlarmStateCommand({
          AlarmName: 'web-queue-age',
          StateValue: 'OK',
          StateReason: 'contract: the queue is young',
        }),
      );

      const byName = await env.cloud.describeAlarms({
        names: ['web-5xx', 'web-queue-age', 'no-such-alarm'],
        prefixes: [],
      });
      const firing = byName.find((alarm) => alarm.name === 'web-5xx');
      assert.deepEqual(byName.map((alarm) => alarm.name).sort(), ['web-5xx', 'web-queue-age']);
      assert.equal(firing?.state, 'ALARM');
      assert.equal(firing?.reason, 'contract: more than 10 5xx in a minute');
      // moto and the sim stamp the change with their clock; CloudWatch's has whole seconds.
      assert.ok(Math.abs((firing?.updatedAt.getTime() ?? 0) - before) < 60_000);
      assert.equal(byName.find((alarm) => alarm.name === 'web-queue-age')?.state, 'OK');

      const byPrefix = await env.cloud.describeAlarms({ names: [], prefixes: ['web-'] });
      assert.deepEqual(byPrefix.map((alarm) => alarm.name).sort(), ['web-5xx', 'web-queue-age']);
      assert.equal(
        await errorName(
          cloudwatch.send(
            new SetAlarmStateCommand({
              AlarmName: 'web-5xx',
              StateValue: 'BROKEN' as 'OK',
              StateReason: 'x',
            }),
          ),
        ),
        'ValidationException',
      );
    });

    it('lets through the errors AWS names for missing things', async (t) => {
      const env = await anEnv(target, t);
      const infra = await setUpWithService(env, 1, 'contract-errors');

      assert.equal(
        await errorName(env.cloud.describeServices('nowhere', [SERVICE])),
        'ClusterNotFoundException',
      );
      assert.equal(
        await errorName(env.cloud.setDesiredCount(CLUSTER, 'nope', 1)),
        'ServiceNotFoundException',
      );
      assert.equal(
        await errorName(env.cloud.healthyTargetCount(unknownLike(infra.targetGroupArns[0]))),
        'TargetGroupNotFoundException',
      );
      assert.equal(
        await errorName(env.cloud.readRuleWeights(unknownLike(infra.ruleArn))),
        'RuleNotFoundException',
      );
      // Not asserted here, because the two targets disagree: a missing task set. The sim answers
      // UpdateTaskSet of an unknown task set with TaskSetNotFoundException, as AWS documents;
      // moto 5.2.1 fails with a 500 (an IndexError in update_task_set), which the adapter
      // retries as a server fault eight times before letting a deserialization error through.
      // See the suite's report.
    });
  });
}
