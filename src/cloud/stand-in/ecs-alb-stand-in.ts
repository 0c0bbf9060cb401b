import { PutMetricDataCommand, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ListClustersCommand,
  ListServicesCommand,
  type Service,
} from '@aws-sdk/client-ecs';
import {
  DeregisterTargetsCommand,
  DescribeListenersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../logging.ts';
import type { AwsClients } from '../aws/clients.ts';
import { loadBalancerDimension, targetGroupDimension } from '../aws/cloudwatch.ts';
import { behaviourOf, type BehaviourProfile } from '../image-behaviour.ts';

/** How the stand-in runs. */
export interface StandInOptions {
  /** Clusters to play for; undefined: every cluster the endpoint lists, looked up each tick. */
  clusters: string[] | undefined;
  /** Requests a second each service's listener rule receives, split by its weights. */
  requestsPerSecond: number;
  /** One tick: targets matched to the task sets, then this long's metrics put. */
  tickMs: number;
  logger: Logger;
}

/** What one tick did, for the log and the tests. */
export interface StandInTick {
  services: number;
  registered: number;
  deregistered: number;
  /** Requests published per target group ARN in this tick. */
  requests: Map<string, number>;
}

/** ECS describes at most ten services a call. */
const DESCRIBE_SERVICES_BATCH = 10;
/** CloudWatch takes at most 1,000 metrics a PutMetricData call. */
const PUT_METRICS_BATCH = 1000;

/**
 * A stand-in for ECS's task scheduler and the ALB's data plane, for an AWS emulator that stores
 * API state only (moto: it starts no task, routes no request and computes no metric). Each tick
 * it plays what the real services would do, through the same API calls Berth reads back:
 *
 * - **tasks**: each task set should run `ceil(desiredCount × scale %)` tasks; a running, healthy
 *   task is a registered target in the task set's target group, which moto reports `healthy`.
 *   An image whose tag says `crash` never registers one (its tasks never turn healthy).
 * - **traffic**: the listener rule's weights split `requestsPerSecond`; each target group with
 *   weight and targets gets its share as `RequestCount`, the 5xx its image's error rate draws
 *   (per request, as real traffic scatters) as `HTTPCode_Target_5XX_Count`, and the image's p99
 *   as `TargetResponseTime` — a single value a tick, so moto's average and p99 both read it.
 *
 * An image behaves by the words in its tag, as on the simulated AWS (`5xx`, `slow`, `crash`;
 * `BERTH_SIM_PROFILES` too). It never touches what Berth writes: weights, task sets, scale.
 */
export class EcsAlbStandIn {
  readonly #clients: AwsClients;
  readonly #options: StandInOptions;
  /** Target group → the listener rule forwarding to it (rules are infrastructure: stable). */
  readonly #ruleOfGroup = new Map<string, string>();
  readonly #imageOfTaskDefinition = new Map<string, string>();
  #nextAddress = 0;

  constructor(clients: AwsClients, options: StandInOptions) {
    this.#clients = clients;
    this.#options = options;
  }

  /** Ticks until `signal` aborts; a failing tick is logged and the next one tries again. */
  async run(signal: AbortSignal): Promise<void> {
    const { logger, tickMs } = this.#options;
    while (!signal.aborted) {
      const started = Date.now();
      try {
        const tick = await this.tick();
        if (tick.registered > 0 || tick.deregistered > 0) {
          logger.info(
            { registered: tick.registered, deregistered: tick.deregistered },
            `targets matched to the task sets of ${tick.services} service(s)`,
          );
        }
      } catch (error) {
        logger.warn({ err: error }, 'stand-in tick failed; trying again next tick');
      }
      await sleep(Math.max(0, tickMs - (Date.now() - started)), undefined, { signal }).catch(
        () => undefined,
      );
    }
  }

  /** One tick: targets for every task set, then the metrics of this tick's traffic. */
  async tick(): Promise<StandInTick> {
    const services = await this.#services();
    const result: StandInTick = {
      services: services.length,
      registered: 0,
      deregistered: 0,
      requests: new Map(),
    };
    const metrics: MetricDatum[] = [];
    const now = new Date();
    for (const service of services) {
      const groups = await this.#playTasks(service, result);
      if (groups !== undefined) metrics.push(...(await this.#traffic(groups, now, result)));
    }
    for (let start = 0; start < metrics.length; start += PUT_METRICS_BATCH) {
      await this.#clients.cloudwatch.send(
        new PutMetricDataCommand({
          Namespace: 'AWS/ApplicationELB',
          MetricData: metrics.slice(start, start + PUT_METRICS_BATCH),
        }),
      );
    }
    return result;
  }

  async #services(): Promise<Service[]> {
    const clusters =
      this.#options.clusters ??
      (await this.#clients.ecs.send(new ListClustersCommand({}))).clusterArns ??
      [];
    const services: Service[] = [];
    for (const cluster of clusters) {
      const arns: string[] = [];
      let nextToken: string | undefined;
      do {
        const page = await this.#clients.ecs.send(new ListServicesCommand({ cluster, nextToken }));
        arns.push(...(page.serviceArns ?? []));
        nextToken = page.nextToken;
      } while (nextToken !== undefined);
      for (let start = 0; start < arns.length; start += DESCRIBE_SERVICES_BATCH) {
        const described = await this.#clients.ecs.send(
          new DescribeServicesCommand({
            cluster,
            services: arns.slice(start, start + DESCRIBE_SERVICES_BATCH),
          }),
        );
        services.push(...(described.services ?? []).filter((s) => s.status === 'ACTIVE'));
      }
    }
    return services;
  }

  /**
   * Registers or deregisters targets so that each of the service's target groups holds as many
   * as its task sets run. Returns the groups with the image serving each, or undefined when the
   * service has no task set on a load balancer (nothing to play yet).
   */
  async #playTasks(
    service: Service,
    tick: StandInTick,
  ): Promise<{ rule: string; images: Map<string, string> } | undefined> {
    const desired = service.desiredCount ?? 0;
    const wanted = new Map<string, number>();
    const images = new Map<string, string>();
    let rule: string | undefined;
    for (const set of service.taskSets ?? []) {
      const group = set.loadBalancers?.[0]?.targetGroupArn;
      if (group === undefined || set.taskDefinition === undefined) continue;
      rule ??= await this.#ruleOf(group);
      const image = await this.#imageOf(set.taskDefinition, set.loadBalancers?.[0]?.containerName);
      images.set(group, image);
      const tasks = behaviourOf(image).crash
        ? 0
        : Math.ceil((desired * (set.scale?.value ?? 0)) / 100);
      wanted.set(group, (wanted.get(group) ?? 0) + tasks);
    }
    if (rule === undefined) return undefined;
    // A group the rule forwards to with no task set left (a canary rolled back) drains.
    for (const group of this.#groupsOfRule(rule)) {
      if (!wanted.has(group)) wanted.set(group, 0);
    }
    for (const [group, count] of wanted) {
      const port = 80;
      const targets =
        (await this.#clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: group })))
          .TargetHealthDescriptions ?? [];
      if (targets.length < count) {
        const add = Array.from({ length: count - targets.length }, () => ({
          Id: this.#address(),
          Port: port,
        }));
        await this.#clients.elbv2.send(
          new RegisterTargetsCommand({ TargetGroupArn: group, Targets: add }),
        );
        tick.registered += add.length;
      } else if (targets.length > count) {
        const remove = targets.slice(count).map((target) => ({
          Id: target.Target?.Id ?? '',
          Port: target.Target?.Port ?? port,
        }));
        await this.#clients.elbv2.send(
          new DeregisterTargetsCommand({ TargetGroupArn: group, Targets: remove }),
        );
        tick.deregistered += remove.length;
      }
      if (count === 0) images.delete(group);
    }
    return { rule, images };
  }

  /** This tick's traffic through the rule, as the ALB would report it per target group. */
  async #traffic(
    service: { rule: string; images: Map<string, string> },
    timestamp: Date,
    tick: StandInTick,
  ): Promise<MetricDatum[]> {
    const forwards =
      (
        await this.#clients.elbv2.send(new DescribeRulesCommand({ RuleArns: [service.rule] }))
      ).Rules?.[0]?.Actions?.find((action) => action.Type === 'forward')?.ForwardConfig
        ?.TargetGroups ?? [];
    const totalWeight = forwards.reduce((sum, group) => sum + (group.Weight ?? 0), 0);
    const metrics: MetricDatum[] = [];
    const seconds = this.#options.tickMs / 1000;
    for (const { TargetGroupArn: group, Weight: weight = 0 } of forwards) {
      const image = group === undefined ? undefined : service.images.get(group);
      // No weight, or no healthy target to take it: the ALB sends this group nothing.
      if (group === undefined || image === undefined || weight === 0 || totalWeight === 0) continue;
      const profile = behaviourOf(image);
      const requests = poisson((this.#options.requestsPerSecond * seconds * weight) / totalWeight);
      tick.requests.set(group, requests);
      metrics.push(...albMetrics(service.rule, group, timestamp, requests, profile));
    }
    return metrics;
  }

  async #ruleOf(group: string): Promise<string | undefined> {
    const known = this.#ruleOfGroup.get(group);
    if (known !== undefined) return known;
    const { elbv2 } = this.#clients;
    const loadBalancers =
      (await elbv2.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [group] })))
        .TargetGroups?.[0]?.LoadBalancerArns ?? [];
    for (const loadBalancer of loadBalancers) {
      // ELB pages these answers (moto 50 rules a page): every page is read.
      const listeners = await allPages(async (Marker) => {
        const page = await elbv2.send(
          new DescribeListenersCommand({ LoadBalancerArn: loadBalancer, Marker }),
        );
        return { items: page.Listeners ?? [], next: page.NextMarker };
      });
      for (const listener of listeners) {
        const rules = await allPages(async (Marker) => {
          const page = await elbv2.send(
            new DescribeRulesCommand({ ListenerArn: listener.ListenerArn, Marker }),
          );
          return { items: page.Rules ?? [], next: page.NextMarker };
        });
        for (const rule of rules) {
          const groups = (rule.Actions ?? []).flatMap((action) =>
            (action.ForwardConfig?.TargetGroups ?? []).map((g) => g.TargetGroupArn),
          );
          if (rule.RuleArn !== undefined && groups.includes(group)) {
            for (const other of groups) {
              if (other !== undefined) this.#ruleOfGroup.set(other, rule.RuleArn);
            }
          }
        }
      }
    }
    return this.#ruleOfGroup.get(group);
  }

  #groupsOfRule(rule: string): string[] {
    return [...this.#ruleOfGroup].filter(([, arn]) => arn === rule).map(([group]) => group);
  }

  /** The image of the container the load balancer routes to (a sidecar's says nothing). */
  async #imageOf(taskDefinition: string, containerName: string | undefined): Promise<string> {
    const key = `${taskDefinition} ${containerName ?? ''}`;
    const known = this.#imageOfTaskDefinition.get(key);
    if (known !== undefined) return known;
    const described = await this.#clients.ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition }),
    );
    const containers = described.taskDefinition?.containerDefinitions ?? [];
    const served =
      containers.find((container) => container.name === containerName) ?? containers[0];
    const image = served?.image ?? '';
    this.#imageOfTaskDefinition.set(key, image);
    return image;
  }

  /** A private address per target, never reused while this stand-in runs. */
  #address(): string {
    const n = this.#nextAddress++;
    return `10.${100 + Math.floor(n / 62_500)}.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
  }
}

/** The three ALB metrics Berth reads, for one target group and one tick. */
function albMetrics(
  rule: string,
  group: string,
  timestamp: Date,
  requests: number,
  profile: BehaviourProfile,
): MetricDatum[] {
  const dimensions = [
    { Name: 'LoadBalancer', Value: loadBalancerDimension(rule) },
    { Name: 'TargetGroup', Value: targetGroupDimension(group) },
  ];
  let errors = 0;
  for (let i = 0; i < requests; i++) if (Math.random() < profile.errorRate) errors++;
  return [
    {
      MetricName: 'RequestCount',
      Dimensions: dimensions,
      Timestamp: timestamp,
      Value: requests,
      Unit: 'Count',
    },
    {
      MetricName: 'HTTPCode_Target_5XX_Count',
      Dimensions: dimensions,
      Timestamp: timestamp,
      Value: errors,
      Unit: 'Count',
    },
    {
      MetricName: 'TargetResponseTime',
      Dimensions: dimensions,
      Timestamp: timestamp,
      Value: profile.p99Ms / 1000,
      Unit: 'Seconds',
    },
  ];
}

/** A Poisson draw around `mean` (Knuth's method for small means, a normal beyond). */
function poisson(mean: number): number {
  if (mean <= 0) return 0;
  if (mean > 50) {
    const u = 1 - Math.random();
    const v = Math.random();
    const normal = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal));
  }
  const limit = Math.exp(-mean);
  let count = 0;
  for (let product = Math.random(); product > limit; product *= Math.random()) count++;
  return count;
}

/** Every item of a Describe call that ELB pages with `Marker`/`NextMarker`. */
async function allPages<T>(
  read: (marker: string | undefined) => Promise<{ items: T[]; next: string | undefined }>,
): Promise<T[]> {
  const items: T[] = [];
  let marker: string | undefined;
  do {
    const page = await read(marker);
    items.push(...page.items);
    marker = page.next === '' ? undefined : page.next;
  } while (marker !== undefined);
  return items;
}
