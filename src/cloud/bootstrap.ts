import { createHash } from 'node:crypto';
import {
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  type EC2Client,
  type Subnet,
} from '@aws-sdk/client-ec2';
import {
  CreateRepositoryCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  PutImageCommand,
  type ECRClient,
} from '@aws-sdk/client-ecr';
import { CreateClusterCommand, DescribeClustersCommand, type ECSClient } from '@aws-sdk/client-ecs';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateRuleCommand,
  CreateTargetGroupCommand,
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  type ElasticLoadBalancingV2Client,
  type Listener,
  type LoadBalancer,
  type Rule,
  type TargetGroup,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  GetRoleCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import type { Logger } from '../logging.ts';
import { withRetries } from './retry.ts';

/** The SDK clients a bootstrap talks to: Berth's own three, and EC2 to find the network. */
export interface BootstrapClients {
  ecs: ECSClient;
  elbv2: ElasticLoadBalancingV2Client;
  ecr: ECRClient;
  ec2: EC2Client;
  /**
   * Where given, the account's conventional task execution role (`ecsTaskExecutionRole`) is made
   * when missing: Berth's task definitions need one on Fargate (ECR images, awslogs), and an
   * emulator such as moto starts with none. `berth infra bootstrap` gives it.
   */
  iam?: IAMClient;
}

/** One service to make room for. */
export interface BootstrapServiceSpec {
  /** The ECS service name; also names its target groups and its path, `/<name>/*`. */
  name: string;
  /** The container port its target groups send traffic to. */
  port: number;
  /**
   * `REPOSITORY:TAG`, e.g. `web:v1`: an ECR repository of that name is made (or reused) and a
   * placeholder image pushed under the tag when the tag is not there yet. Anything else (no
   * tag, a registry host, a digest) is left alone.
   */
  image?: string | undefined;
}

export interface BootstrapSpec {
  /** ECS cluster name (made when missing) or ARN. */
  cluster: string;
  /**
   * Name of the internet-facing application load balancer the services share; every
   * SERVICES_PER_LOAD_BALANCER services another is made, `<name>-2`, `<name>-3`, …
   */
  loadBalancer: string;
  services: BootstrapServiceSpec[];
}

export interface BootstrappedService {
  name: string;
  /** The load balancer whose listener holds the service's rule. */
  loadBalancerArn: string;
  listenerRuleArn: string;
  /** `<name>-a` (weight 100 at first) and `<name>-b` (weight 0). */
  targetGroupArns: [string, string];
  /** The ECR repository, when the spec named an image in one. */
  repositoryUri?: string;
}

/** One load balancer of the family and its HTTP listener. */
export interface BootstrappedLoadBalancer {
  name: string;
  arn: string;
  listenerArn: string;
  /** Its security groups (the VPC's default one where bootstrap made it). */
  securityGroups: string[];
}

export interface BootstrapResult {
  clusterArn: string;
  /** The first load balancer of the family (the one named in the spec) and its listener. */
  loadBalancerArn: string;
  listenerArn: string;
  /** The load balancers of the family this run looked at (all it needed), the first one first. */
  loadBalancers: BootstrappedLoadBalancer[];
  vpcId: string;
  /** The first load balancer's subnets, ordered by availability zone. */
  subnets: string[];
  /** The first load balancer's security groups (the VPC's default one): the services' tasks' too. */
  securityGroups: string[];
  services: BootstrappedService[];
  /** The account's `ecsTaskExecutionRole`, found or made; absent when no IAM client was given. */
  executionRoleArn?: string;
}

/*
 * An application load balancer forwards to at most 100 target groups and holds at most 100
 * rules besides its listeners' default ones, quotas AWS does not raise. A service takes two
 * groups and one rule: 50 services fill a load balancer, and the next one goes on another.
 */
export const SERVICES_PER_LOAD_BALANCER = 50;
const TARGET_GROUPS_PER_LOAD_BALANCER = 100;
const RULES_PER_LOAD_BALANCER = 100;

/** The port of the one listener the services' rules hang off. */
const LISTENER_PORT = 80;

/** Creating a rule races others for the next free priority: look again this often. */
const RULE_ATTEMPTS = 5;

/** The largest page ELB hands out. */
const ELB_PAGE_SIZE = 400;

/** ECR's rule for repository names: lowercase path components, 2 to 256 characters in all. */
const ECR_REPOSITORY =
  /^(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const IMAGE_TAG = /^\w[\w.-]{0,127}$/;

/**
 * A manifest that references no blob (an OCI image index with no manifests), so that PutImage
 * needs no layer upload first. It runs nowhere: it is there so that the tag resolves to a
 * digest until a real image is pushed over it.
 */
const PLACEHOLDER_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';
const PLACEHOLDER_MANIFEST = JSON.stringify({
  schemaVersion: 2,
  mediaType: PLACEHOLDER_MEDIA_TYPE,
  manifests: [],
  annotations: {
    'org.opencontainers.image.description': 'placeholder pushed by berth infra bootstrap',
  },
});

/**
 * `REPOSITORY:TAG` with an ECR-style repository name and no registry host, split; undefined for
 * any other image reference.
 */
export function ecrRepositoryImage(image: string): { repository: string; tag: string } | undefined {
  const colon = image.lastIndexOf(':');
  if (colon === -1) return undefined;
  const repository = image.slice(0, colon);
  const tag = image.slice(colon + 1);
  if (!ECR_REPOSITORY.test(repository) || !IMAGE_TAG.test(tag)) return undefined;
  // `registry.example/web` has a dot in its first component: a host, not a repository path.
  const first = repository.split('/')[0] ?? '';
  if (repository.includes('/') && (first.includes('.') || first === 'localhost')) return undefined;
  return { repository, tag };
}

/**
 * `<service>-<suffix>` within ELB's rules for names: at most 32 letters, digits and hyphens. A
 * longer or stranger service name is shortened, with a hash of it to keep names apart.
 */
export function targetGroupName(service: string, suffix: string): string {
  const cleaned = service.replace(/[^A-Za-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  const room = 32 - suffix.length - 1;
  if (cleaned.length > 0 && cleaned.length <= room && cleaned === service) {
    return `${cleaned}-${suffix}`;
  }
  const hash = createHash('sha1').update(service).digest('hex').slice(0, 6);
  const head = cleaned.slice(0, room - hash.length - 1).replace(/-+$/, '');
  return `${head === '' ? 'svc' : head}-${hash}-${suffix}`;
}

/**
 * Makes, through the SDK (so against AWS, moto, the simulated AWS or any AWS-compatible
 * endpoint), what Berth needs before `berth service create`: the ECS cluster, an internet-facing
 * ALB in the default VPC with one HTTP:80 listener answering 404 by default, and per service two
 * ip target groups (`<name>-a`, `<name>-b`), a listener rule forwarding `/<name>/*` to them
 * 100/0, and, when asked, an ECR repository with a placeholder image. The one place either cloud
 * gets this infrastructure made: the simulated AWS's services are bootstrapped by it too
 * (`bootstrapSimulatedService`). Every step finds what exists before it creates
 * anything, so a second run creates nothing and returns the same ARNs. A resource that exists
 * under the expected name but does not fit (a network load balancer, a target group on another
 * port) is an error, never silently reused.
 */
export async function bootstrapInfrastructure(
  clients: BootstrapClients,
  spec: BootstrapSpec,
  logger: Logger,
): Promise<BootstrapResult> {
  const names = new Set<string>();
  for (const service of spec.services) {
    if (names.has(service.name)) throw new Error(`service ${service.name} is listed twice`);
    names.add(service.name);
  }
  const call = <T>(what: string, operation: () => Promise<T>): Promise<T> =>
    withRetries(what, operation, logger);

  const clusterArn = await ensureCluster(clients.ecs, spec.cluster, call, logger);
  // The first of the family is made when missing. The others are looked at only when needed (a
  // service not found on those open so far, or no room on them), in order, until a name is free:
  // that is where a new one goes. One load balancer, the common case, costs no more calls.
  const family = [await openLoadBalancer(clients, spec.loadBalancer, call, logger)];
  const first = family[0] as OpenBalancer;
  let noMore = false;
  const openNext = async (): Promise<OpenBalancer | undefined> => {
    if (noMore) return undefined;
    const name = familyName(spec.loadBalancer, family.length + 1);
    if ((await findLoadBalancer(clients.elbv2, name, call)) === undefined) {
      noMore = true;
      return undefined;
    }
    const opened = await openLoadBalancer(clients, name, call, logger);
    family.push(opened);
    return opened;
  };

  const targetGroups = await listTargetGroups(clients.elbv2, call);
  const services: BootstrappedService[] = [];
  for (const service of spec.services) {
    const names = [targetGroupName(service.name, 'a'), targetGroupName(service.name, 'b')];
    const known = targetGroups.get(names[0] ?? '')?.TargetGroupArn;
    // A service made before keeps its load balancer; a new one goes where there is room.
    const owns = (balancer: OpenBalancer) =>
      known !== undefined && balancer.rules.some((rule) => ownsRule(rule, known));
    let home = family.find(owns);
    while (home === undefined && known !== undefined) {
      const opened = await openNext();
      if (opened === undefined) break;
      if (owns(opened)) home = opened;
    }
    home ??= family.find(hasRoom);
    while (home === undefined) {
      const opened = await openNext();
      if (opened === undefined) break;
      if (hasRoom(opened)) home = opened;
    }
    if (home === undefined) {
      home = await openLoadBalancer(
        clients,
        familyName(spec.loadBalancer, family.length + 1),
        call,
        logger,
      );
      family.push(home);
    }
    const balancer = home;
    const ensureGroup = (name: string) =>
      ensureTargetGroup(clients.elbv2, targetGroups, {
        name,
        port: service.port,
        vpcId: balancer.vpcId,
        call,
        logger,
      });
    const targetGroupArns: [string, string] = [
      await ensureGroup(names[0] ?? ''),
      await ensureGroup(names[1] ?? ''),
    ];
    const listenerRuleArn = await ensureRule(clients.elbv2, balancer, {
      pathPattern: `/${service.name}/*`,
      targetGroupArns,
      call,
      logger,
    });
    const ecr = service.image === undefined ? undefined : ecrRepositoryImage(service.image);
    const repositoryUri =
      ecr === undefined ? undefined : await ensureImage(clients.ecr, ecr, call, logger);
    services.push({
      name: service.name,
      loadBalancerArn: balancer.arn,
      listenerRuleArn,
      targetGroupArns,
      ...(repositoryUri !== undefined ? { repositoryUri } : {}),
    });
  }
  return {
    clusterArn,
    loadBalancerArn: first.arn,
    listenerArn: first.listenerArn,
    loadBalancers: family.map(({ name, arn, listenerArn, securityGroups }) => ({
      name,
      arn,
      listenerArn,
      securityGroups,
    })),
    vpcId: first.vpcId,
    subnets: first.subnets,
    securityGroups:
      first.securityGroups.length > 0
        ? first.securityGroups
        : await defaultSecurityGroup(clients.ec2, first.vpcId, call),
    services,
    ...(clients.iam !== undefined
      ? { executionRoleArn: await ensureTaskExecutionRole(clients.iam, call, logger) }
      : {}),
  };
}

/** A load balancer of the family with its listener, and the rules of that listener as last read. */
interface OpenBalancer extends Balancer {
  name: string;
  listenerArn: string;
  rules: Rule[];
}

async function openLoadBalancer(
  clients: BootstrapClients,
  name: string,
  call: Call,
  logger: Logger,
): Promise<OpenBalancer> {
  const balancer = await ensureLoadBalancer(clients, name, call, logger);
  const listenerArn = await ensureListener(clients.elbv2, balancer.arn, call, logger);
  return {
    ...balancer,
    name,
    listenerArn,
    rules: await listRules(clients.elbv2, listenerArn, call),
  };
}

/** `<base>-<number>`, the base cut so that the name stays within ELB's 32 characters. */
export function familyName(base: string, number: number): string {
  const suffix = `-${number}`;
  return `${base.slice(0, 32 - suffix.length).replace(/-+$/, '')}${suffix}`;
}

/** Whether one more service (one rule, two target groups) fits on the load balancer. */
function hasRoom(balancer: OpenBalancer): boolean {
  const rules = balancer.rules.filter((rule) => rule.IsDefault !== true);
  const groups = new Set(balancer.rules.flatMap((rule) => [...forwardsTo(rule)]));
  return (
    rules.length < SERVICES_PER_LOAD_BALANCER &&
    rules.length + 1 <= RULES_PER_LOAD_BALANCER &&
    groups.size + 2 <= TARGET_GROUPS_PER_LOAD_BALANCER
  );
}

/** The weights move during rollouts; a rule that forwards to group a is its service's. */
function ownsRule(rule: Rule, stableGroup: string): boolean {
  return rule.IsDefault !== true && forwardsTo(rule).has(stableGroup);
}

type Call = <T>(what: string, operation: () => Promise<T>) => Promise<T>;

function errorName(error: unknown): string | undefined {
  return (error as { name?: string } | null)?.name;
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`AWS answered without ${what}`);
  return value;
}

/**
 * What a worker service (no load balancer) needs of the infrastructure: its cluster, and a
 * network for its awsvpc tasks — the default VPC's two subnets and its `default` security group.
 */
export async function bootstrapWorkerNetwork(
  clients: Pick<BootstrapClients, 'ecs' | 'ec2'>,
  cluster: string,
  logger: Logger,
): Promise<{ subnets: string[]; securityGroups: string[] }> {
  const call = <T>(what: string, operation: () => Promise<T>): Promise<T> =>
    withRetries(what, operation, logger);
  await ensureCluster(clients.ecs, cluster, call, logger);
  const network = await defaultNetwork(clients.ec2, call);
  return {
    subnets: [...network.subnets],
    securityGroups: await defaultSecurityGroup(clients.ec2, network.vpcId, call),
  };
}

async function ensureCluster(
  ecs: ECSClient,
  cluster: string,
  call: Call,
  logger: Logger,
): Promise<string> {
  const described = await call('ecs:DescribeClusters', () =>
    ecs.send(new DescribeClustersCommand({ clusters: [cluster] })),
  );
  // A deleted cluster lingers as INACTIVE; creating it again brings it back.
  const existing = described.clusters?.find((found) => found.status === 'ACTIVE');
  if (existing?.clusterArn !== undefined) {
    logger.debug({ cluster: existing.clusterArn }, 'cluster exists');
    return existing.clusterArn;
  }
  const name = cluster.startsWith('arn:')
    ? cluster.slice(cluster.indexOf(':cluster/') + 9)
    : cluster;
  const created = await call('ecs:CreateCluster', () =>
    ecs.send(new CreateClusterCommand({ clusterName: name })),
  );
  const arn = required(created.cluster?.clusterArn, 'a cluster ARN');
  logger.info({ cluster: arn }, 'created cluster');
  return arn;
}

interface Balancer {
  arn: string;
  vpcId: string;
  subnets: string[];
  securityGroups: string[];
}

async function ensureLoadBalancer(
  clients: BootstrapClients,
  name: string,
  call: Call,
  logger: Logger,
): Promise<Balancer> {
  const existing = await findLoadBalancer(clients.elbv2, name, call);
  if (existing !== undefined) {
    logger.debug({ loadBalancer: existing.LoadBalancerArn }, 'load balancer exists');
    return usableBalancer(existing, name);
  }
  const network = await defaultNetwork(clients.ec2, call);
  // Named, not left to AWS's default: an emulator may give none, and the services' tasks run in
  // the same group (Berth reads it off the load balancer).
  const securityGroups = await defaultSecurityGroup(clients.ec2, network.vpcId, call);
  try {
    const created = await call('elbv2:CreateLoadBalancer', () =>
      clients.elbv2.send(
        new CreateLoadBalancerCommand({
          Name: name,
          Type: 'application',
          Scheme: 'internet-facing',
          IpAddressType: 'ipv4',
          Subnets: network.subnets,
          ...(securityGroups.length > 0 ? { SecurityGroups: securityGroups } : {}),
        }),
      ),
    );
    const balancer = usableBalancer(required(created.LoadBalancers?.[0], 'a load balancer'), name);
    logger.info({ loadBalancer: balancer.arn }, 'created load balancer');
    return balancer;
  } catch (error) {
    // Another bootstrap made it meanwhile: use that one.
    if (errorName(error) !== 'DuplicateLoadBalancerNameException') throw error;
    const raced = required(await findLoadBalancer(clients.elbv2, name, call), 'a load balancer');
    return usableBalancer(raced, name);
  }
}

async function findLoadBalancer(
  elbv2: ElasticLoadBalancingV2Client,
  name: string,
  call: Call,
): Promise<LoadBalancer | undefined> {
  try {
    const described = await call('elbv2:DescribeLoadBalancers', () =>
      elbv2.send(new DescribeLoadBalancersCommand({ Names: [name] })),
    );
    return described.LoadBalancers?.[0];
  } catch (error) {
    if (errorName(error) === 'LoadBalancerNotFoundException') return undefined;
    throw error;
  }
}

/** An existing load balancer of that name is reused only if it is an internet-facing ALB. */
function usableBalancer(balancer: LoadBalancer, name: string): Balancer {
  if (balancer.Type !== 'application') {
    throw new Error(
      `load balancer ${name} exists but is of type ${balancer.Type ?? 'unknown'}; Berth needs an application load balancer`,
    );
  }
  if (balancer.Scheme !== undefined && balancer.Scheme !== 'internet-facing') {
    throw new Error(`load balancer ${name} exists but is ${balancer.Scheme}, not internet-facing`);
  }
  const zones = [...(balancer.AvailabilityZones ?? [])].sort(
    (x, y) =>
      (x.ZoneName ?? '').localeCompare(y.ZoneName ?? '') ||
      (x.SubnetId ?? '').localeCompare(y.SubnetId ?? ''),
  );
  return {
    arn: required(balancer.LoadBalancerArn, 'a load balancer ARN'),
    vpcId: required(balancer.VpcId, `the VPC of load balancer ${name}`),
    subnets: zones.flatMap((zone) => (zone.SubnetId !== undefined ? [zone.SubnetId] : [])),
    securityGroups: balancer.SecurityGroups ?? [],
  };
}

/** The VPC's security group named `default` (every VPC has one); none when EC2 lists none. */
async function defaultSecurityGroup(ec2: EC2Client, vpcId: string, call: Call): Promise<string[]> {
  const groups = await call('ec2:DescribeSecurityGroups', () =>
    ec2.send(
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [vpcId] },
          { Name: 'group-name', Values: ['default'] },
        ],
      }),
    ),
  );
  return (groups.SecurityGroups ?? []).flatMap((group) =>
    group.GroupId !== undefined ? [group.GroupId] : [],
  );
}

/**
 * The default VPC and two of its subnets in different availability zones (the zone's default
 * subnet where there is one), the first two zones by name.
 */
async function defaultNetwork(
  ec2: EC2Client,
  call: Call,
): Promise<{ vpcId: string; subnets: [string, string] }> {
  const vpcs = await call('ec2:DescribeVpcs', () =>
    ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] })),
  );
  const vpcId = vpcs.Vpcs?.[0]?.VpcId;
  if (vpcId === undefined) {
    throw new Error(
      'this region has no default VPC to put the load balancer in; create one (aws ec2 create-default-vpc) or make the load balancer yourself and give its name',
    );
  }
  const subnets: Subnet[] = [];
  let nextToken: string | undefined;
  do {
    const page = await call('ec2:DescribeSubnets', () =>
      ec2.send(
        new DescribeSubnetsCommand({
          Filters: [{ Name: 'vpc-id', Values: [vpcId] }],
          ...(nextToken !== undefined ? { NextToken: nextToken } : {}),
        }),
      ),
    );
    subnets.push(...(page.Subnets ?? []));
    nextToken = page.NextToken;
  } while (nextToken !== undefined && nextToken !== '');
  const byZone = new Map<string, string>();
  const ordered = subnets
    .filter((subnet) => subnet.SubnetId !== undefined && subnet.AvailabilityZone !== undefined)
    .sort(
      (x, y) =>
        Number(y.DefaultForAz === true) - Number(x.DefaultForAz === true) ||
        (x.SubnetId ?? '').localeCompare(y.SubnetId ?? ''),
    );
  for (const subnet of ordered) {
    const zone = subnet.AvailabilityZone ?? '';
    if (!byZone.has(zone)) byZone.set(zone, subnet.SubnetId ?? '');
  }
  const zones = [...byZone.keys()].sort();
  const [first, second] = zones.map((zone) => byZone.get(zone) ?? '');
  if (first === undefined || second === undefined) {
    throw new Error(
      `the default VPC ${vpcId} has subnets in ${zones.length} availability zone(s); an application load balancer needs two`,
    );
  }
  return { vpcId, subnets: [first, second] };
}

async function ensureListener(
  elbv2: ElasticLoadBalancingV2Client,
  loadBalancerArn: string,
  call: Call,
  logger: Logger,
): Promise<string> {
  const listeners: Listener[] = [];
  let marker: string | undefined;
  do {
    const page = await call('elbv2:DescribeListeners', () =>
      elbv2.send(
        new DescribeListenersCommand({
          LoadBalancerArn: loadBalancerArn,
          PageSize: ELB_PAGE_SIZE,
          ...(marker !== undefined ? { Marker: marker } : {}),
        }),
      ),
    );
    listeners.push(...(page.Listeners ?? []));
    marker = page.NextMarker;
  } while (marker !== undefined && marker !== '');
  const existing = listeners.find((listener) => listener.Port === LISTENER_PORT);
  if (existing !== undefined) {
    if (existing.Protocol !== 'HTTP') {
      throw new Error(
        `the load balancer's listener on port ${LISTENER_PORT} speaks ${existing.Protocol ?? 'an unknown protocol'}, not HTTP`,
      );
    }
    logger.debug({ listener: existing.ListenerArn }, 'listener exists');
    return required(existing.ListenerArn, 'a listener ARN');
  }
  const created = await call('elbv2:CreateListener', () =>
    elbv2.send(
      new CreateListenerCommand({
        LoadBalancerArn: loadBalancerArn,
        Protocol: 'HTTP',
        Port: LISTENER_PORT,
        DefaultActions: [
          {
            Type: 'fixed-response',
            FixedResponseConfig: {
              StatusCode: '404',
              ContentType: 'text/plain',
              MessageBody: 'no such service',
            },
          },
        ],
      }),
    ),
  );
  const arn = required(created.Listeners?.[0]?.ListenerArn, 'a listener ARN');
  logger.info({ listener: arn }, 'created listener');
  return arn;
}

/** Every target group of the account and region, by name, one paginated listing. */
async function listTargetGroups(
  elbv2: ElasticLoadBalancingV2Client,
  call: Call,
): Promise<Map<string, TargetGroup>> {
  const groups = new Map<string, TargetGroup>();
  let marker: string | undefined;
  do {
    const page = await call('elbv2:DescribeTargetGroups', () =>
      elbv2.send(
        new DescribeTargetGroupsCommand({
          PageSize: ELB_PAGE_SIZE,
          ...(marker !== undefined ? { Marker: marker } : {}),
        }),
      ),
    );
    for (const group of page.TargetGroups ?? []) {
      if (group.TargetGroupName !== undefined) groups.set(group.TargetGroupName, group);
    }
    marker = page.NextMarker;
  } while (marker !== undefined && marker !== '');
  return groups;
}

async function ensureTargetGroup(
  elbv2: ElasticLoadBalancingV2Client,
  known: Map<string, TargetGroup>,
  wanted: { name: string; port: number; vpcId: string; call: Call; logger: Logger },
): Promise<string> {
  const existing = known.get(wanted.name);
  if (existing !== undefined) {
    const misfits = [
      existing.Port !== wanted.port ? `port ${existing.Port ?? '?'} (not ${wanted.port})` : '',
      existing.VpcId !== wanted.vpcId
        ? `VPC ${existing.VpcId ?? '?'} (not the load balancer's ${wanted.vpcId})`
        : '',
      existing.TargetType !== 'ip' ? `target type ${existing.TargetType ?? '?'} (not ip)` : '',
    ].filter((misfit) => misfit !== '');
    if (misfits.length > 0) {
      throw new Error(
        `target group ${wanted.name} exists with ${misfits.join(', ')}; delete or rename it, or choose another service name`,
      );
    }
    wanted.logger.debug({ targetGroup: existing.TargetGroupArn }, 'target group exists');
    return required(existing.TargetGroupArn, 'a target group ARN');
  }
  // Same name and settings as one made meanwhile: ELB answers with that one.
  const created = await wanted.call('elbv2:CreateTargetGroup', () =>
    elbv2.send(
      new CreateTargetGroupCommand({
        Name: wanted.name,
        Protocol: 'HTTP',
        Port: wanted.port,
        VpcId: wanted.vpcId,
        TargetType: 'ip',
        HealthCheckPath: '/',
      }),
    ),
  );
  const group = required(created.TargetGroups?.[0], 'a target group');
  known.set(wanted.name, group);
  const arn = required(group.TargetGroupArn, 'a target group ARN');
  wanted.logger.info({ targetGroup: arn }, 'created target group');
  return arn;
}

async function listRules(
  elbv2: ElasticLoadBalancingV2Client,
  listenerArn: string,
  call: Call,
): Promise<Rule[]> {
  const rules: Rule[] = [];
  let marker: string | undefined;
  do {
    const page = await call('elbv2:DescribeRules', () =>
      elbv2.send(
        new DescribeRulesCommand({
          ListenerArn: listenerArn,
          PageSize: ELB_PAGE_SIZE,
          ...(marker !== undefined ? { Marker: marker } : {}),
        }),
      ),
    );
    rules.push(...(page.Rules ?? []));
    marker = page.NextMarker;
  } while (marker !== undefined && marker !== '');
  return rules;
}

/** The target groups a rule forwards to, whatever their weights (0 included). */
function forwardsTo(rule: Rule): Set<string> {
  const groups = new Set<string>();
  for (const action of rule.Actions ?? []) {
    if (action.Type !== 'forward') continue;
    if (action.TargetGroupArn !== undefined) groups.add(action.TargetGroupArn);
    for (const group of action.ForwardConfig?.TargetGroups ?? []) {
      if (group.TargetGroupArn !== undefined) groups.add(group.TargetGroupArn);
    }
  }
  return groups;
}

function pathPatterns(rule: Rule): string[] {
  return (rule.Conditions ?? []).flatMap((condition) =>
    condition.Field === 'path-pattern'
      ? (condition.PathPatternConfig?.Values ?? condition.Values ?? [])
      : [],
  );
}

async function ensureRule(
  elbv2: ElasticLoadBalancingV2Client,
  balancer: OpenBalancer,
  wanted: { pathPattern: string; targetGroupArns: [string, string]; call: Call; logger: Logger },
): Promise<string> {
  const [stable, idle] = wanted.targetGroupArns;
  const listenerArn = balancer.listenerArn;
  for (let attempt = 1; ; attempt++) {
    // The first attempt trusts the listing the balancer was opened with, kept up to date below.
    const rules = attempt === 1 ? balancer.rules : await listRules(elbv2, listenerArn, wanted.call);
    balancer.rules = rules;
    const existing = rules.find((rule) => ownsRule(rule, stable));
    if (existing !== undefined) {
      wanted.logger.debug({ rule: existing.RuleArn }, 'listener rule exists');
      return required(existing.RuleArn, 'a rule ARN');
    }
    const shadowing = rules.find(
      (rule) => rule.IsDefault !== true && pathPatterns(rule).includes(wanted.pathPattern),
    );
    if (shadowing !== undefined) {
      throw new Error(
        `listener rule ${shadowing.RuleArn ?? '?'} already routes ${wanted.pathPattern} to other target groups; delete it or choose another service name`,
      );
    }
    try {
      const created = await wanted.call('elbv2:CreateRule', () =>
        elbv2.send(
          new CreateRuleCommand({
            ListenerArn: listenerArn,
            Priority: nextFreePriority(rules),
            Conditions: [
              { Field: 'path-pattern', PathPatternConfig: { Values: [wanted.pathPattern] } },
            ],
            Actions: [
              {
                Type: 'forward',
                ForwardConfig: {
                  TargetGroups: [
                    { TargetGroupArn: stable, Weight: 100 },
                    { TargetGroupArn: idle, Weight: 0 },
                  ],
                },
              },
            ],
          }),
        ),
      );
      const rule = required(created.Rules?.[0], 'a rule');
      const arn = required(rule.RuleArn, 'a rule ARN');
      balancer.rules = [...rules, rule];
      wanted.logger.info({ rule: arn, path: wanted.pathPattern }, 'created listener rule');
      return arn;
    } catch (error) {
      // Another process took that priority (or made this very rule) meanwhile: look again.
      if (errorName(error) !== 'PriorityInUseException' || attempt >= RULE_ATTEMPTS) throw error;
    }
  }
}

function nextFreePriority(rules: readonly Rule[]): number {
  const taken = rules
    .filter((rule) => rule.IsDefault !== true)
    .map((rule) => Number(rule.Priority))
    .filter((priority) => Number.isInteger(priority));
  return Math.max(0, ...taken) + 1;
}

/** The repository (made when missing) and the placeholder under the tag (pushed when missing). */
async function ensureImage(
  ecr: ECRClient,
  image: { repository: string; tag: string },
  call: Call,
  logger: Logger,
): Promise<string> {
  const repositoryUri = await ensureRepository(ecr, image.repository, call, logger);
  try {
    const described = await call('ecr:DescribeImages', () =>
      ecr.send(
        new DescribeImagesCommand({
          repositoryName: image.repository,
          imageIds: [{ imageTag: image.tag }],
        }),
      ),
    );
    if ((described.imageDetails ?? []).length > 0) {
      logger.debug({ repository: image.repository, tag: image.tag }, 'image exists');
      return repositoryUri;
    }
  } catch (error) {
    if (errorName(error) !== 'ImageNotFoundException') throw error;
  }
  try {
    await call('ecr:PutImage', () =>
      ecr.send(
        new PutImageCommand({
          repositoryName: image.repository,
          imageTag: image.tag,
          imageManifest: PLACEHOLDER_MANIFEST,
          imageManifestMediaType: PLACEHOLDER_MEDIA_TYPE,
        }),
      ),
    );
    logger.info({ repository: image.repository, tag: image.tag }, 'pushed placeholder image');
  } catch (error) {
    // Pushed meanwhile, by another bootstrap: the tag is there, which is all this wants.
    if (errorName(error) !== 'ImageAlreadyExistsException') throw error;
  }
  return repositoryUri;
}

async function ensureRepository(
  ecr: ECRClient,
  repository: string,
  call: Call,
  logger: Logger,
): Promise<string> {
  const describe = async (): Promise<string | undefined> => {
    try {
      const described = await call('ecr:DescribeRepositories', () =>
        ecr.send(new DescribeRepositoriesCommand({ repositoryNames: [repository] })),
      );
      return described.repositories?.[0]?.repositoryUri;
    } catch (error) {
      if (errorName(error) === 'RepositoryNotFoundException') return undefined;
      throw error;
    }
  };
  const existing = await describe();
  if (existing !== undefined) {
    logger.debug({ repository: existing }, 'repository exists');
    return existing;
  }
  try {
    const created = await call('ecr:CreateRepository', () =>
      ecr.send(new CreateRepositoryCommand({ repositoryName: repository })),
    );
    const uri = required(created.repository?.repositoryUri, 'a repository URI');
    logger.info({ repository: uri }, 'created repository');
    return uri;
  } catch (error) {
    if (errorName(error) !== 'RepositoryAlreadyExistsException') throw error;
    return required(await describe(), 'a repository URI');
  }
}

/** The name AWS's guides give the role ECS tasks pull images and write logs with. */
const TASK_EXECUTION_ROLE = 'ecsTaskExecutionRole';

/**
 * The account's `ecsTaskExecutionRole`, made as AWS's guides make it when missing: trusted by
 * ECS tasks, with the managed AmazonECSTaskExecutionRolePolicy (ECR pulls, awslogs).
 */
async function ensureTaskExecutionRole(
  iam: IAMClient,
  call: Call,
  logger: Logger,
): Promise<string> {
  const found = await call('iam:GetRole', () =>
    iam.send(new GetRoleCommand({ RoleName: TASK_EXECUTION_ROLE })).then(
      (output) => output.Role?.Arn,
      (error: unknown) => {
        if ((error as { name?: string }).name === 'NoSuchEntityException') return undefined;
        throw error;
      },
    ),
  );
  if (found !== undefined) return found;
  const made = await call('iam:CreateRole', () =>
    iam.send(
      new CreateRoleCommand({
        RoleName: TASK_EXECUTION_ROLE,
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { Service: 'ecs-tasks.amazonaws.com' },
              Action: 'sts:AssumeRole',
            },
          ],
        }),
      }),
    ),
  );
  const policyArn = 'arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy';
  await call('iam:AttachRolePolicy', () =>
    iam
      .send(new AttachRolePolicyCommand({ RoleName: TASK_EXECUTION_ROLE, PolicyArn: policyArn }))
      .catch((error: unknown) => {
        // An emulator without AWS's managed policies (moto) has none to attach; AWS always has it.
        if (!(error as { name?: string }).name?.startsWith('NoSuchEntity')) throw error;
        logger.warn(
          { policy: policyArn },
          'no such managed policy here: the role has none attached',
        );
      }),
  );
  const arn = made.Role?.Arn ?? '';
  logger.info({ role: arn }, 'created the task execution role');
  return arn;
}
