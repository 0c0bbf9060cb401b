import { createHash } from 'node:crypto';
import { CreateClusterCommand, DescribeClustersCommand } from '@aws-sdk/client-ecs';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateRuleCommand,
  CreateTargetGroupCommand,
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  LoadBalancerNotFoundException,
  PriorityInUseException,
  TargetGroupNotFoundException,
  type Rule,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SIM_NETWORK } from './model.ts';

/** The one load balancer every simulated service shares. */
export const SIM_LOAD_BALANCER = 'berth-sim';

/** The port of its one listener. */
const LISTENER_PORT = 80;

/** Creating a rule races other processes for the next free priority: try again this often. */
const RULE_ATTEMPTS = 5;

/** What a service's infrastructure is, as Berth is told it. */
export interface SimulatedServiceInfrastructure {
  listenerRuleArn: string;
  /** The service's two target groups, `<name>-a` (weight 100 at first) and `<name>-b`. */
  targetGroupArns: [string, string];
}

/**
 * Creates, through the SDK (so that the simulation stores it), what an infrastructure bootstrap
 * would for one service: the cluster if missing, the shared `berth-sim` load balancer and its
 * HTTP listener, two ip target groups, and a rule forwarding `/<name>/*` to them, 100/0. Every
 * step finds what exists before creating, so a second call returns the same ARNs.
 */
export async function bootstrapSimulatedService(
  clients: { ecs: ECSClient; elbv2: ElasticLoadBalancingV2Client },
  service: { name: string; cluster: string; port: number },
): Promise<SimulatedServiceInfrastructure> {
  await ensureCluster(clients.ecs, service.cluster);
  const loadBalancerArn = await ensureLoadBalancer(clients.elbv2);
  const listenerArn = await ensureListener(clients.elbv2, loadBalancerArn);
  const targetGroupArns: [string, string] = [
    await ensureTargetGroup(clients.elbv2, targetGroupName(service.name, 'a'), service.port),
    await ensureTargetGroup(clients.elbv2, targetGroupName(service.name, 'b'), service.port),
  ];
  const listenerRuleArn = await ensureRule(
    clients.elbv2,
    listenerArn,
    `/${service.name}/*`,
    targetGroupArns,
  );
  return { listenerRuleArn, targetGroupArns };
}

async function ensureCluster(ecs: ECSClient, cluster: string): Promise<void> {
  const described = await ecs.send(new DescribeClustersCommand({ clusters: [cluster] }));
  if ((described.clusters ?? []).length > 0) return;
  const name = cluster.startsWith('arn:')
    ? cluster.slice(cluster.indexOf(':cluster/') + 9)
    : cluster;
  await ecs.send(new CreateClusterCommand({ clusterName: name }));
}

async function ensureLoadBalancer(elbv2: ElasticLoadBalancingV2Client): Promise<string> {
  try {
    const described = await elbv2.send(
      new DescribeLoadBalancersCommand({ Names: [SIM_LOAD_BALANCER] }),
    );
    const arn = described.LoadBalancers?.[0]?.LoadBalancerArn;
    if (arn !== undefined) return arn;
  } catch (error) {
    if (!(error instanceof LoadBalancerNotFoundException)) throw error;
  }
  const created = await elbv2.send(
    new CreateLoadBalancerCommand({
      Name: SIM_LOAD_BALANCER,
      Type: 'application',
      Scheme: 'internet-facing',
      Subnets: [...SIM_NETWORK.subnets],
      SecurityGroups: [...SIM_NETWORK.securityGroups],
    }),
  );
  return required(created.LoadBalancers?.[0]?.LoadBalancerArn, 'load balancer ARN');
}

async function ensureListener(
  elbv2: ElasticLoadBalancingV2Client,
  loadBalancerArn: string,
): Promise<string> {
  const described = await elbv2.send(
    new DescribeListenersCommand({ LoadBalancerArn: loadBalancerArn }),
  );
  const existing = described.Listeners?.find((listener) => listener.Port === LISTENER_PORT);
  if (existing?.ListenerArn !== undefined) return existing.ListenerArn;
  const created = await elbv2.send(
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
  );
  return required(created.Listeners?.[0]?.ListenerArn, 'listener ARN');
}

async function ensureTargetGroup(
  elbv2: ElasticLoadBalancingV2Client,
  name: string,
  port: number,
): Promise<string> {
  try {
    const described = await elbv2.send(new DescribeTargetGroupsCommand({ Names: [name] }));
    const arn = described.TargetGroups?.[0]?.TargetGroupArn;
    if (arn !== undefined) return arn;
  } catch (error) {
    if (!(error instanceof TargetGroupNotFoundException)) throw error;
  }
  const created = await elbv2.send(
    new CreateTargetGroupCommand({
      Name: name,
      Protocol: 'HTTP',
      Port: port,
      VpcId: SIM_NETWORK.vpcId,
      TargetType: 'ip',
      HealthCheckPath: '/',
    }),
  );
  return required(created.TargetGroups?.[0]?.TargetGroupArn, 'target group ARN');
}

async function ensureRule(
  elbv2: ElasticLoadBalancingV2Client,
  listenerArn: string,
  pathPattern: string,
  [stable, idle]: [string, string],
): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const rules =
      (await elbv2.send(new DescribeRulesCommand({ ListenerArn: listenerArn }))).Rules ?? [];
    const existing = rules.find((rule) => matchesPath(rule, pathPattern));
    if (existing?.RuleArn !== undefined) return existing.RuleArn;
    try {
      const created = await elbv2.send(
        new CreateRuleCommand({
          ListenerArn: listenerArn,
          Priority: nextFreePriority(rules),
          Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: [pathPattern] } }],
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
      );
      return required(created.Rules?.[0]?.RuleArn, 'rule ARN');
    } catch (error) {
      // Another process took that priority (or made this very rule) meanwhile: look again.
      if (!(error instanceof PriorityInUseException) || attempt >= RULE_ATTEMPTS) throw error;
    }
  }
}

function matchesPath(rule: Rule, pathPattern: string): boolean {
  return (rule.Conditions ?? []).some(
    (condition) =>
      condition.Field === 'path-pattern' &&
      (condition.PathPatternConfig?.Values ?? condition.Values ?? []).includes(pathPattern),
  );
}

function nextFreePriority(rules: readonly Rule[]): number {
  const taken = rules
    .filter((rule) => rule.IsDefault !== true)
    .map((rule) => Number(rule.Priority));
  return Math.max(0, ...taken) + 1;
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

function required(value: string | undefined, what: string): string {
  if (value === undefined) throw new Error(`the simulated AWS answered without a ${what}`);
  return value;
}
