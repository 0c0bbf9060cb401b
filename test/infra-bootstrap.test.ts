import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, it, type TestContext } from 'node:test';
import { DescribeSubnetsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeImagesCommand, DescribeRepositoriesCommand } from '@aws-sdk/client-ecr';
import { DescribeClustersCommand, ListClustersCommand } from '@aws-sdk/client-ecs';
import {
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  type Rule,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  bootstrapInfrastructure,
  type BootstrapClients,
  type BootstrapResult,
  type BootstrapSpec,
} from '../src/cloud/bootstrap.ts';
import { createLogger } from '../src/logging.ts';
import { berth } from './support/cli.ts';
import { testDatabase } from './support/database.ts';
import {
  motoClients,
  motoDefaultNetwork,
  sharedMoto,
  stopSharedMoto,
  type Moto,
} from './support/moto.ts';

/*
 * `berth infra bootstrap` and `bootstrapInfrastructure` against moto: what they make, that a
 * second run makes nothing and answers the same, and that the CLI checks its flags before it
 * calls AWS. No moto is a failure (sharedMoto throws), never a skip.
 */

after(stopSharedMoto);

const ELB = String.raw`arn:aws:elasticloadbalancing:us-east-1:\d{12}:`;
const HEX = '[0-9a-f]+';
const LOAD_BALANCER_ARN = new RegExp(`^${ELB}loadbalancer/app/berth/${HEX}$`);
const LISTENER_ARN = new RegExp(`^${ELB}listener/app/berth/${HEX}/${HEX}$`);
const RULE_ARN = new RegExp(`^${ELB}listener-rule/app/berth/${HEX}/${HEX}/${HEX}$`);
const targetGroupArn = (name: string) => new RegExp(`^${ELB}targetgroup/${name}/${HEX}$`);
const CLUSTER_ARN = /^arn:aws:ecs:us-east-1:\d{12}:cluster\/prod$/;
const REPOSITORY_URI = /^\d{12}\.dkr\.ecr\.us-east-1\.amazonaws\.com\/web$/;

const SPEC: BootstrapSpec = {
  cluster: 'prod',
  loadBalancer: 'berth',
  services: [
    { name: 'web', port: 8080, image: 'web:v1' },
    { name: 'api', port: 9090 },
  ],
};

const SERVICE_FLAGS = ['--service', 'web:8080:web:v1', '--service', 'api:9090'];
const BOOTSTRAP = ['infra', 'bootstrap', '--cluster', 'prod', '--load-balancer', 'berth'];

const logger = createLogger({ level: process.env['BERTH_TEST_LOG_LEVEL'] ?? 'silent' });

let moto: Moto;
let announced = false;

/** Every scenario starts from an empty moto (its default VPC made anew). */
async function freshMoto(t: TestContext): Promise<Moto> {
  moto = await sharedMoto();
  if (!announced) {
    t.diagnostic(`moto: ${moto.source}`);
    announced = true;
  }
  await moto.reset();
  return moto;
}

/** The SDK clients the bootstrap takes, pointed at moto, counting what they send. */
function clientsFor(endpoint: string): { clients: BootstrapClients; calls: Map<string, number> } {
  const { ecs, elbv2, ecr, cloudwatch } = motoClients(endpoint);
  cloudwatch.destroy();
  const ec2 = new EC2Client({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 1,
  });
  const clients = { ecs, elbv2, ecr, ec2 };
  const calls = new Map<string, number>();
  for (const client of Object.values(clients) as { middlewareStack: unknown }[]) {
    (client.middlewareStack as { add(middleware: unknown, options: object): void }).add(
      (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
        (args: unknown) => {
          const command = context.commandName ?? '?';
          calls.set(command, (calls.get(command) ?? 0) + 1);
          return next(args);
        },
      { step: 'initialize', priority: 'high', name: 'bootstrapCallCounter' },
    );
  }
  after(() => {
    for (const client of [ecs, elbv2, ecr, ec2]) client.destroy();
  });
  return { clients, calls };
}

/** Makes ELB hand out pages of `size`, so that a run has to follow NextMarker. */
function smallPages(clients: BootstrapClients, size: number): void {
  (clients.elbv2.middlewareStack as { add(middleware: unknown, options: object): void }).add(
    (next: (args: { input: Record<string, unknown> }) => Promise<unknown>) =>
      (args: { input: Record<string, unknown> }) => {
        if ('PageSize' in args.input) args.input['PageSize'] = size;
        return next(args);
      },
    { step: 'initialize', priority: 'low', name: 'smallPages' },
  );
}

function creates(calls: Map<string, number>): string[] {
  return [...calls.keys()].filter((command) => /^(Create|Put)/.test(command)).sort();
}

/** How many of each thing moto holds, through the Describe calls. */
async function inventory(clients: BootstrapClients, listenerArn: string) {
  const groups = await clients.elbv2.send(new DescribeTargetGroupsCommand({}));
  const rules = await clients.elbv2.send(new DescribeRulesCommand({ ListenerArn: listenerArn }));
  const balancers = await clients.elbv2.send(new DescribeLoadBalancersCommand({}));
  const listeners = await clients.elbv2.send(
    new DescribeListenersCommand({
      LoadBalancerArn: balancers.LoadBalancers?.[0]?.LoadBalancerArn,
    }),
  );
  const clusters = await clients.ecs.send(new ListClustersCommand({}));
  const repositories = await clients.ecr.send(new DescribeRepositoriesCommand({}));
  const images = await clients.ecr.send(new DescribeImagesCommand({ repositoryName: 'web' }));
  return {
    targetGroups: (groups.TargetGroups ?? []).length,
    rules: (rules.Rules ?? []).length,
    loadBalancers: (balancers.LoadBalancers ?? []).length,
    listeners: (listeners.Listeners ?? []).length,
    clusters: (clusters.clusterArns ?? []).length,
    repositories: (repositories.repositories ?? []).length,
    images: (images.imageDetails ?? []).length,
  };
}

function forwardWeights(rule: Rule | undefined): Record<string, number> {
  const weights: Record<string, number> = {};
  for (const action of rule?.Actions ?? []) {
    if (action.Type !== 'forward') continue;
    for (const group of action.ForwardConfig?.TargetGroups ?? []) {
      weights[group.TargetGroupArn ?? '?'] = group.Weight ?? -1;
    }
  }
  return weights;
}

function assertShapes(result: BootstrapResult): void {
  assert.match(result.clusterArn, CLUSTER_ARN);
  assert.match(result.loadBalancerArn, LOAD_BALANCER_ARN);
  assert.match(result.listenerArn, LISTENER_ARN);
  assert.match(result.vpcId, /^vpc-[0-9a-f]+$/);
  assert.equal(result.subnets.length, 2);
  for (const subnet of result.subnets) assert.match(subnet, /^subnet-[0-9a-f]+$/);
  assert.deepEqual(
    result.services.map((service) => service.name),
    ['web', 'api'],
  );
  for (const service of result.services) {
    assert.match(service.listenerRuleArn, RULE_ARN);
    assert.match(service.targetGroupArns[0], targetGroupArn(`${service.name}-a`));
    assert.match(service.targetGroupArns[1], targetGroupArn(`${service.name}-b`));
  }
  assert.match(result.services[0]?.repositoryUri ?? '', REPOSITORY_URI);
  assert.equal('repositoryUri' in (result.services[1] ?? {}), false);
}

describe('infra bootstrap against moto', () => {
  beforeEach(async (t) => {
    await freshMoto(t as TestContext);
  });

  it('makes the cluster, ALB, listener, target groups, rules and image, and a second run makes nothing', async () => {
    const { clients, calls } = clientsFor(moto.endpoint);
    const network = await motoDefaultNetwork(moto.endpoint);
    const first = await bootstrapInfrastructure(clients, SPEC, logger);
    assertShapes(first);
    assert.deepEqual(creates(calls), [
      'CreateClusterCommand',
      'CreateListenerCommand',
      'CreateLoadBalancerCommand',
      'CreateRepositoryCommand',
      'CreateRuleCommand',
      'CreateTargetGroupCommand',
      'PutImageCommand',
    ]);
    assert.equal(calls.get('CreateTargetGroupCommand'), 4);
    assert.equal(calls.get('CreateRuleCommand'), 2);

    // The default VPC, two of its subnets in two zones.
    assert.equal(first.vpcId, network.vpcId);
    const subnets = await clients.ec2.send(
      new DescribeSubnetsCommand({ SubnetIds: first.subnets }),
    );
    assert.deepEqual(
      new Set(subnets.Subnets?.map((subnet) => subnet.VpcId)),
      new Set([first.vpcId]),
    );
    assert.equal(new Set(subnets.Subnets?.map((subnet) => subnet.AvailabilityZone)).size, 2);

    const cluster = await clients.ecs.send(new DescribeClustersCommand({ clusters: ['prod'] }));
    assert.equal(cluster.clusters?.[0]?.clusterArn, first.clusterArn);
    assert.equal(cluster.clusters?.[0]?.status, 'ACTIVE');

    const balancer = (
      await clients.elbv2.send(new DescribeLoadBalancersCommand({ Names: ['berth'] }))
    ).LoadBalancers?.[0];
    assert.equal(balancer?.LoadBalancerArn, first.loadBalancerArn);
    assert.equal(balancer?.Type, 'application');
    assert.equal(balancer?.Scheme, 'internet-facing');
    assert.equal(balancer?.VpcId, first.vpcId);
    assert.deepEqual(
      new Set(balancer?.AvailabilityZones?.map((zone) => zone.SubnetId)),
      new Set(first.subnets),
    );

    const listener = (
      await clients.elbv2.send(new DescribeListenersCommand({ ListenerArns: [first.listenerArn] }))
    ).Listeners?.[0];
    assert.equal(listener?.Port, 80);
    assert.equal(listener?.Protocol, 'HTTP');
    assert.equal(listener?.DefaultActions?.[0]?.Type, 'fixed-response');
    assert.equal(listener?.DefaultActions?.[0]?.FixedResponseConfig?.StatusCode, '404');

    const priorities = new Set<string>();
    for (const [index, service] of first.services.entries()) {
      const port = SPEC.services[index]?.port;
      const rule = (
        await clients.elbv2.send(new DescribeRulesCommand({ RuleArns: [service.listenerRuleArn] }))
      ).Rules?.[0];
      assert.deepEqual(forwardWeights(rule), {
        [service.targetGroupArns[0]]: 100,
        [service.targetGroupArns[1]]: 0,
      });
      assert.deepEqual(rule?.Conditions?.[0]?.PathPatternConfig?.Values, [`/${service.name}/*`]);
      priorities.add(rule?.Priority ?? '');
      const groups = await clients.elbv2.send(
        new DescribeTargetGroupsCommand({ TargetGroupArns: [...service.targetGroupArns] }),
      );
      assert.equal(groups.TargetGroups?.length, 2);
      for (const group of groups.TargetGroups ?? []) {
        assert.equal(group.Port, port, `${group.TargetGroupName} port`);
        assert.equal(group.VpcId, first.vpcId, `${group.TargetGroupName} VPC`);
        assert.equal(group.Protocol, 'HTTP');
        assert.equal(group.TargetType, 'ip');
        assert.equal(group.HealthCheckPath, '/');
      }
    }
    assert.deepEqual(priorities, new Set(['1', '2']));

    const images = await clients.ecr.send(
      new DescribeImagesCommand({ repositoryName: 'web', imageIds: [{ imageTag: 'v1' }] }),
    );
    assert.equal(images.imageDetails?.length, 1);
    assert.match(images.imageDetails?.[0]?.imageDigest ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(images.imageDetails?.[0]?.imageTags, ['v1']);

    // Again, with ELB paging one item at a time: the existing rules are only found by
    // following NextMarker.
    const before = await inventory(clients, first.listenerArn);
    assert.deepEqual(before, {
      targetGroups: 4,
      rules: 3, // the two services' and the listener's default
      loadBalancers: 1,
      listeners: 1,
      clusters: 1,
      repositories: 1,
      images: 1,
    });
    smallPages(clients, 1);
    calls.clear();
    const second = await bootstrapInfrastructure(clients, SPEC, logger);
    assert.deepEqual(second, first);
    assert.deepEqual(creates(calls), [], 'a second run creates nothing');
    assert.ok((calls.get('DescribeRulesCommand') ?? 0) >= 3, 'DescribeRules followed NextMarker');
    assert.deepEqual(await inventory(clients, first.listenerArn), before);
  });

  it('berth infra bootstrap --json prints the result, opens no database, and is idempotent', async () => {
    const { clients } = clientsFor(moto.endpoint);
    const dataDir = join(tmpdir(), `berth-infra-${process.pid}-${Date.now()}`);
    const env = {
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      // Were the command to open a database, the embedded one would be made here.
      BERTH_DATA_DIR: dataDir,
    };
    const run = await berth('', [...BOOTSTRAP, ...SERVICE_FLAGS, '--json'], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    const printed = JSON.parse(run.stdout) as BootstrapResult;
    assertShapes(printed);
    assert.equal(existsSync(dataDir), false, 'no embedded database was started');

    // What it printed is what is there: a library run finds the very same resources.
    const again = await bootstrapInfrastructure(clients, SPEC, logger);
    // The command also makes the account's task execution role (moto starts with none), which a
    // library run given no IAM client leaves alone.
    const { executionRoleArn, ...infrastructure } = printed;
    assert.match(executionRoleArn ?? '', /^arn:aws:iam::\d{12}:role\/ecsTaskExecutionRole$/);
    assert.deepEqual(again, infrastructure);
    const rules = await clients.elbv2.send(
      new DescribeRulesCommand({ ListenerArn: printed.listenerArn }),
    );
    assert.equal(rules.Rules?.length, 3);

    // Text: one `berth service create` line per service, and each is a command Berth takes.
    const text = await berth('', [...BOOTSTRAP, ...SERVICE_FLAGS], { env });
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split('\n');
    const [web, api] = printed.services;
    assert.ok(web !== undefined && api !== undefined);
    // The network too (ECS refuses awsvpc tasks without one): the load balancer's.
    assert.equal(printed.securityGroups.length, 1);
    assert.match(printed.securityGroups[0] ?? '', /^sg-[0-9a-f]+$/);
    const network =
      `--subnets ${printed.subnets.join(',')} ` +
      `--security-groups ${printed.securityGroups.join(',')}`;
    assert.deepEqual(lines, [
      `berth service create web --cluster prod --image ${web.repositoryUri ?? ''}:v1 --port 8080 ` +
        `--listener-rule ${web.listenerRuleArn} --target-groups ${web.targetGroupArns.join(',')} ` +
        network,
      `berth service create api --cluster prod --image IMAGE --port 9090 ` +
        `--listener-rule ${api.listenerRuleArn} --target-groups ${api.targetGroupArns.join(',')} ` +
        network,
    ]);
    assert.match(text.stderr, /replace IMAGE/);
    const { url } = await testDatabase('infra bootstrap service create');
    const create = await berth(url, (lines[0] ?? '').split(' ').slice(1));
    assert.equal(create.code, 0, create.stderr);
    assert.match(create.stdout, /created service web/);
  });

  it('refuses bad flags with exit 2, naming the flag, before calling AWS', async () => {
    const { clients } = clientsFor(moto.endpoint);
    const env = {
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
    };
    const cases: { args: string[]; field: string; says: RegExp }[] = [
      { args: [...BOOTSTRAP, '--service', 'web:notaport'], field: '--service', says: /port/ },
      // A bad one after a good one: nothing is made for the good one either.
      {
        args: [...BOOTSTRAP, '--service', 'web:8080', '--service', 'web!:80'],
        field: '--service',
        says: /service name/,
      },
      { args: [...BOOTSTRAP, '--service', 'web'], field: '--service', says: /no port/ },
      { args: [...BOOTSTRAP, '--service', 'web:8080:web'], field: '--service', says: /TAG/ },
      { args: [...BOOTSTRAP, '--service', 'web:8080:Web:v1'], field: '--service', says: /ECR/ },
      {
        args: [...BOOTSTRAP, '--service', 'web:80', '--service', 'web:81'],
        field: '--service',
        says: /more than once/,
      },
      { args: [...BOOTSTRAP], field: '--service', says: /required/ },
      {
        args: ['infra', 'bootstrap', '--load-balancer', 'berth', '--service', 'web:80'],
        field: '--cluster',
        says: /required/,
      },
      {
        args: ['infra', 'bootstrap', '--cluster', 'prod', '--service', 'web:80'],
        field: '--load-balancer',
        says: /required/,
      },
      {
        args: [
          'infra',
          'bootstrap',
          '--cluster',
          'prod',
          '--load-balancer',
          '-berth-',
          '--service',
          'web:80',
        ],
        field: '--load-balancer',
        says: /load balancer name/,
      },
    ];
    for (const { args, field, says } of cases) {
      const json = await berth('', [...args, '--json'], { env });
      assert.equal(json.code, 2, `${args.join(' ')}: ${json.stderr}`);
      assert.equal(json.stdout, '');
      const error = (JSON.parse(json.stderr) as { error: { field: string; message: string } })
        .error;
      assert.equal(error.field, field, args.join(' '));
      assert.match(error.message, says, args.join(' '));
      const plain = await berth('', args, { env });
      assert.equal(plain.code, 2);
      assert.match(plain.stderr, new RegExp(`^error: ${field}: `));
    }
    const clusters = await clients.ecs.send(new ListClustersCommand({}));
    assert.deepEqual(clusters.clusterArns ?? [], [], 'no bad run made anything');
  });
});
