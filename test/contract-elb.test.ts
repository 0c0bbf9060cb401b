import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import {
  GetMetricDataCommand,
  InvalidParameterValueException,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  CreateTaskSetCommand,
  InvalidParameterException,
  RegisterTaskDefinitionCommand,
} from '@aws-sdk/client-ecs';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateRuleCommand,
  CreateTargetGroupCommand,
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  ModifyRuleCommand,
  OperationNotPermittedException,
  TargetGroupAssociationLimitException,
  TooManyRulesException,
  TooManyUniqueTargetGroupsPerLoadBalancerException,
  type Action,
  type ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { analysisWindowMs, windowSchedule } from '../src/analysis/windows.ts';
import { AwsCloud } from '../src/cloud/aws-cloud.ts';
import { bootstrapInfrastructure, SERVICES_PER_LOAD_BALANCER } from '../src/cloud/bootstrap.ts';
import {
  bootstrapSimulatedService,
  createSimulatedAws,
  HEALTHY_5XX_SETTING,
  SIM_NETWORK,
  simulatedClients,
  type SimulatedAwsOptions,
  type SimulatedClients,
} from '../src/cloud/sim/index.ts';
import { createLogger } from '../src/logging.ts';
import { serviceCreateArgs } from './support/builders.ts';
import { berth } from './support/cli.ts';
import { aFargateSpec } from './support/contract.ts';
import { testDatabase } from './support/database.ts';

/*
 * AWS's documented behaviour of the ELB and CloudWatch calls Berth makes, pinned on the simulated
 * AWS. moto 5.2.1 enforces almost none of it, so unlike test/contract.test.ts these scenarios
 * run on the simulator alone; each says what moto does instead. docs/aws-fidelity.md lists them.
 */

const logger = createLogger({ level: 'silent' });

/** A minute boundary: one-minute metric buckets start where the scenario does. */
const T0 = Date.UTC(2026, 11, 7, 3, 0, 0);

async function aCloud(t: TestContext, options: SimulatedAwsOptions = {}) {
  const { db } = await testDatabase(`contract-elb ${t.name}`);
  let now = T0;
  const sim = createSimulatedAws(db, { throttling: false, clock: () => now, ...options });
  return {
    sim,
    aws: simulatedClients(sim),
    advance: (ms: number) => {
      now += ms;
    },
  };
}

async function aLoadBalancer(elbv2: ElasticLoadBalancingV2Client, name: string) {
  const created = await elbv2.send(
    new CreateLoadBalancerCommand({ Name: name, Subnets: [...SIM_NETWORK.subnets] }),
  );
  const arn = created.LoadBalancers?.[0]?.LoadBalancerArn ?? assert.fail('no load balancer');
  const listener = await elbv2.send(
    new CreateListenerCommand({
      LoadBalancerArn: arn,
      Protocol: 'HTTP',
      Port: 80,
      DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404' } }],
    }),
  );
  return { arn, listenerArn: listener.Listeners?.[0]?.ListenerArn ?? assert.fail('no listener') };
}

async function aTargetGroup(
  elbv2: ElasticLoadBalancingV2Client,
  name: string,
  targetType?: 'ip' | 'instance',
): Promise<string> {
  const created = await elbv2.send(
    new CreateTargetGroupCommand({
      Name: name,
      Protocol: 'HTTP',
      Port: 80,
      VpcId: SIM_NETWORK.vpcId,
      ...(targetType !== undefined ? { TargetType: targetType } : {}),
    }),
  );
  return created.TargetGroups?.[0]?.TargetGroupArn ?? assert.fail('no target group');
}

function forward(...groups: string[]): Action[] {
  return [
    {
      Type: 'forward',
      ForwardConfig: { TargetGroups: groups.map((arn) => ({ TargetGroupArn: arn, Weight: 1 })) },
    },
  ];
}

async function aRule(
  elbv2: ElasticLoadBalancingV2Client,
  listenerArn: string,
  priority: number,
  actions: Action[],
) {
  return elbv2.send(
    new CreateRuleCommand({
      ListenerArn: listenerArn,
      Priority: priority,
      Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: [`/${priority}/*`] } }],
      Actions: actions,
    }),
  );
}

describe('ELB quotas and refusals, as AWS documents them', () => {
  // moto: no quota on rules or target groups per load balancer (its CreateRule has "TODO: check
  // for error 'TooManyRules'"), and any number of groups in one forward action.
  it('refuses a 101st target group on a load balancer, a 101st rule, and 6 groups in one action', async (t) => {
    const { aws } = await aCloud(t);
    const { listenerArn } = await aLoadBalancer(aws.elbv2, 'berth');
    const groups: string[] = [];
    for (let i = 0; i < 102; i++) groups.push(await aTargetGroup(aws.elbv2, `g-${i}`, 'ip'));
    for (let i = 0; i < 50; i++) {
      await aRule(
        aws.elbv2,
        listenerArn,
        i + 1,
        forward(groups[2 * i] ?? '', groups[2 * i + 1] ?? ''),
      );
    }
    await assert.rejects(
      aRule(aws.elbv2, listenerArn, 51, forward(groups[100] ?? '', groups[101] ?? '')),
      (error) =>
        error instanceof TooManyUniqueTargetGroupsPerLoadBalancerException &&
        /unique target groups per load balancer/.test(error.message),
    );
    // A group the load balancer already forwards to is not counted again.
    await aRule(aws.elbv2, listenerArn, 51, forward(groups[0] ?? ''));
    const fixed: Action[] = [
      { Type: 'fixed-response', FixedResponseConfig: { StatusCode: '200' } },
    ];
    for (let priority = 52; priority <= 100; priority++) {
      await aRule(aws.elbv2, listenerArn, priority, fixed);
    }
    await assert.rejects(
      aRule(aws.elbv2, listenerArn, 101, fixed),
      (error) =>
        error instanceof TooManyRulesException &&
        error.message === "You've reached the limit on the number of rules per load balancer.",
    );

    const other = await aLoadBalancer(aws.elbv2, 'other');
    await assert.rejects(
      aRule(aws.elbv2, other.listenerArn, 1, forward(...groups.slice(96, 102))),
      (error) =>
        (error as Error).name === 'ValidationError' &&
        /less than or equal to 5/.test(String(error)),
    );
  });

  // moto: a target group may serve any number of load balancers.
  it('refuses a target group already used by another load balancer', async (t) => {
    const { aws } = await aCloud(t);
    const first = await aLoadBalancer(aws.elbv2, 'first');
    const second = await aLoadBalancer(aws.elbv2, 'second');
    const group = await aTargetGroup(aws.elbv2, 'shared', 'ip');
    await aRule(aws.elbv2, first.listenerArn, 1, forward(group));
    // The same load balancer may forward to it from another rule.
    await aRule(aws.elbv2, first.listenerArn, 2, forward(group));
    await assert.rejects(
      aRule(aws.elbv2, second.listenerArn, 1, forward(group)),
      (error) =>
        error instanceof TargetGroupAssociationLimitException &&
        /load balancers per target group/.test(error.message),
    );
  });

  // moto: ModifyRule changes a default rule's actions.
  it('refuses ModifyRule on a listener’s default rule with OperationNotPermitted', async (t) => {
    const { aws } = await aCloud(t);
    const { listenerArn } = await aLoadBalancer(aws.elbv2, 'berth');
    const rules = await aws.elbv2.send(new DescribeRulesCommand({ ListenerArn: listenerArn }));
    const defaultRule = rules.Rules?.find((rule) => rule.IsDefault === true)?.RuleArn ?? '';
    const group = await aTargetGroup(aws.elbv2, 'web-a', 'ip');
    await assert.rejects(
      aws.elbv2.send(new ModifyRuleCommand({ RuleArn: defaultRule, Actions: forward(group) })),
      (error) =>
        error instanceof OperationNotPermittedException &&
        error.message === `Default rule '${defaultRule}' cannot be modified`,
    );
  });

  // moto: defaults the target type to instance too, but CreateTaskSet takes it for awsvpc tasks.
  it('defaults a target group to type instance, which CreateTaskSet refuses for awsvpc tasks', async (t) => {
    const { aws } = await aCloud(t);
    const { listenerArn } = await aLoadBalancer(aws.elbv2, 'berth');
    const group = await aTargetGroup(aws.elbv2, 'web-a');
    const described = await aws.elbv2.send(
      new DescribeTargetGroupsCommand({ TargetGroupArns: [group] }),
    );
    assert.equal(described.TargetGroups?.[0]?.TargetType, 'instance');
    await aRule(aws.elbv2, listenerArn, 1, forward(group));
    await aws.ecs.send(new CreateClusterCommand({ clusterName: 'default' }));
    await aws.ecs.send(
      new CreateServiceCommand({
        cluster: 'default',
        serviceName: 'web',
        desiredCount: 1,
        deploymentController: { type: 'EXTERNAL' },
      }),
    );
    const taskDefinition = await aws.ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'web',
        networkMode: 'awsvpc',
        requiresCompatibilities: ['FARGATE'],
        cpu: '256',
        memory: '512',
        containerDefinitions: [
          { name: 'app', image: 'nginx:1.27', portMappings: [{ containerPort: 80 }] },
        ],
      }),
    );
    await assert.rejects(
      aws.ecs.send(
        new CreateTaskSetCommand({
          cluster: 'default',
          service: 'web',
          taskDefinition: taskDefinition.taskDefinition?.taskDefinitionArn,
          launchType: 'FARGATE',
          networkConfiguration: {
            awsvpcConfiguration: { subnets: [...SIM_NETWORK.subnets], assignPublicIp: 'DISABLED' },
          },
          loadBalancers: [{ targetGroupArn: group, containerName: 'app', containerPort: 80 }],
          scale: { unit: 'PERCENT', value: 100 },
        }),
      ),
      (error) =>
        error instanceof InvalidParameterException &&
        error.message ===
          `The provided target group ${group} has target type instance, which is incompatible with the awsvpc network mode specified in the task definition.`,
    );
  });
});

describe('paging of the ELB Describe calls (Marker, PageSize)', () => {
  // moto pages DescribeRules and DescribeLoadBalancers (50 a page), not DescribeTargetGroups or
  // DescribeListeners, and takes any PageSize.
  it('hands out PageSize items at a time and a NextMarker until the last page', async (t) => {
    const { aws } = await aCloud(t);
    const balancers = [
      await aLoadBalancer(aws.elbv2, 'one'),
      await aLoadBalancer(aws.elbv2, 'two'),
    ];
    const listenerArn = balancers[0]?.listenerArn ?? '';
    for (const name of ['a', 'b', 'c']) {
      const group = await aTargetGroup(aws.elbv2, name, 'ip');
      await aRule(aws.elbv2, listenerArn, name.charCodeAt(0), forward(group));
    }
    async function all<T>(read: (marker?: string) => Promise<{ items: T[]; next?: string }>) {
      const items: T[] = [];
      let pages = 0;
      let marker: string | undefined;
      do {
        const page = await read(marker);
        assert.ok(page.items.length <= 1, 'one item a page');
        items.push(...page.items);
        marker = page.next;
        pages++;
      } while (marker !== undefined);
      return { items, pages };
    }
    const rules = await all(async (Marker) => {
      const page = await aws.elbv2.send(
        new DescribeRulesCommand({ ListenerArn: listenerArn, PageSize: 1, Marker }),
      );
      return { items: page.Rules ?? [], next: page.NextMarker };
    });
    assert.deepEqual(
      rules.items.map((rule) => rule.Priority),
      ['97', '98', '99', 'default'],
    );
    const groups = await all(async (Marker) => {
      const page = await aws.elbv2.send(new DescribeTargetGroupsCommand({ PageSize: 1, Marker }));
      return { items: page.TargetGroups ?? [], next: page.NextMarker };
    });
    assert.equal(groups.pages, 3);
    const loadBalancers = await all(async (Marker) => {
      const page = await aws.elbv2.send(new DescribeLoadBalancersCommand({ PageSize: 1, Marker }));
      return { items: page.LoadBalancers ?? [], next: page.NextMarker };
    });
    assert.deepEqual(
      loadBalancers.items.map((balancer) => balancer.LoadBalancerName),
      ['one', 'two'],
    );
    const listeners = await all(async (Marker) => {
      const page = await aws.elbv2.send(
        new DescribeListenersCommand({ LoadBalancerArn: balancers[1]?.arn, PageSize: 1, Marker }),
      );
      return { items: page.Listeners ?? [], next: page.NextMarker };
    });
    assert.equal(listeners.items.length, 1);
    await assert.rejects(
      aws.elbv2.send(new DescribeTargetGroupsCommand({ PageSize: 401 })),
      (error) => (error as Error).name === 'ValidationError' && /pageSize/.test(String(error)),
    );
  });
});

describe('the bootstrap within the ALB quotas', () => {
  it(`puts ${SERVICES_PER_LOAD_BALANCER} services on a load balancer and the next on another, and finds them again`, async (t) => {
    const { aws } = await aCloud(t);
    const services = Array.from({ length: SERVICES_PER_LOAD_BALANCER + 1 }, (_, i) => ({
      name: `svc-${i}`,
      port: 80,
    }));
    const spec = { cluster: 'fleet', loadBalancer: 'berth', services };
    const first = await bootstrapInfrastructure(aws, spec, logger);
    assert.deepEqual(
      first.loadBalancers.map((balancer) => balancer.name),
      ['berth', 'berth-2'],
    );
    const [one, two] = first.loadBalancers;
    const on = (arn: string | undefined) =>
      first.services.filter((service) => service.loadBalancerArn === arn).length;
    assert.equal(on(one?.arn), SERVICES_PER_LOAD_BALANCER);
    assert.equal(on(two?.arn), 1);
    for (const balancer of first.loadBalancers) {
      const groups = await aws.elbv2.send(
        new DescribeTargetGroupsCommand({ LoadBalancerArn: balancer.arn }),
      );
      assert.ok((groups.TargetGroups ?? []).length <= 100, `${balancer.name}'s target groups`);
      assert.ok(
        (groups.TargetGroups ?? []).every((group) => group.TargetType === 'ip'),
        'ip target groups, which awsvpc tasks register in',
      );
    }
    // Again: every service found where it is, nothing new.
    assert.deepEqual(await bootstrapInfrastructure(aws, spec, logger), first);
  });
});

describe('ALB metrics at AWS’s resolution (60 s, the simulator’s default)', () => {
  /** A service whose group a serves all traffic from T0 + 2 s, healthy, then `minutes` pass. */
  async function aLiveService(t: TestContext, minutes: number) {
    const cloud = await aCloud(t);
    await cloud.sim.store.putSetting('rps', 100);
    await cloud.sim.store.putSetting(HEALTHY_5XX_SETTING, 0);
    const infrastructure = await bootstrapSimulatedService(cloud.aws, {
      name: 'web',
      cluster: 'prod',
      port: 80,
    });
    await cloud.aws.ecs.send(
      new CreateServiceCommand({
        cluster: 'prod',
        serviceName: 'web',
        desiredCount: 2,
        deploymentController: { type: 'EXTERNAL' },
      }),
    );
    const adapter = new AwsCloud(cloud.aws, logger);
    const taskDefinitionArn = await adapter.ensureTaskDefinition(
      aFargateSpec({
        family: 'web',
        containerName: 'app',
        image: 'web:v1',
        contentHash: 'f'.repeat(64),
      }),
    );
    await adapter.createTaskSet({
      cluster: 'prod',
      service: 'web',
      taskDefinitionArn,
      targetGroupArn: infrastructure.targetGroupArns[0],
      containerName: 'app',
      containerPort: 80,
      scalePercent: 100,
      launchType: 'FARGATE',
      network: {
        subnets: [...SIM_NETWORK.subnets],
        securityGroups: [...SIM_NETWORK.securityGroups],
        assignPublicIp: false,
      },
      clientToken: 'contract-elb-live',
      externalId: 'web:v1',
    });
    cloud.advance(minutes * 60_000);
    return { ...cloud, adapter, infrastructure };
  }

  function query(
    id: string,
    live: { infrastructure: { listenerRuleArn: string; targetGroupArns: [string, string] } },
    metric: string,
    period: number,
  ): MetricDataQuery {
    const rule = live.infrastructure.listenerRuleArn;
    const loadBalancer = /listener-rule\/(app\/[^/]+\/[^/]+)/.exec(rule)?.[1] ?? '';
    const group = /:(targetgroup\/.+)$/.exec(live.infrastructure.targetGroupArns[0])?.[1] ?? '';
    return {
      Id: id,
      MetricStat: {
        Metric: {
          Namespace: 'AWS/ApplicationELB',
          MetricName: metric,
          Dimensions: [
            { Name: 'LoadBalancer', Value: loadBalancer },
            { Name: 'TargetGroup', Value: group },
          ],
        },
        Period: period,
        Stat: 'Sum',
      },
    };
  }

  async function points(aws: SimulatedClients, q: MetricDataQuery, start: number, end: number) {
    const answer = await aws.cloudwatch.send(
      new GetMetricDataCommand({
        MetricDataQueries: [q],
        StartTime: new Date(start),
        EndTime: new Date(end),
        ScanBy: 'TimestampAscending',
      }),
    );
    const result = answer.MetricDataResults?.[0];
    return (result?.Timestamps ?? []).map((at, i) => ({
      at: at.getTime(),
      value: result?.Values?.[i] ?? Number.NaN,
    }));
  }

  // moto answers whatever was put, at any period; it generates no ALB metrics.
  it('answers a sub-minute period with whole minutes or nothing, publishes no zero 5xx count, and refuses a period CloudWatch does not take', async (t) => {
    const live = await aLiveService(t, 3.5);
    const minute = await points(
      live.aws,
      query('m', live, 'RequestCount', 60),
      T0 + 60_000,
      T0 + 120_000,
    );
    assert.equal(minute.length, 1);
    const whole = minute[0]?.value ?? 0;
    assert.ok(whole > 5000, `a minute of 100 requests a second: ${whole}`);
    // A one-second window at the minute's start gets the whole minute; one inside it, nothing.
    assert.deepEqual(
      await points(live.aws, query('s', live, 'RequestCount', 1), T0 + 60_000, T0 + 61_000),
      [{ at: T0 + 60_000, value: whole }],
    );
    assert.deepEqual(
      await points(live.aws, query('s', live, 'RequestCount', 1), T0 + 61_000, T0 + 62_000),
      [],
    );
    // The minute in progress (3:00 to 3:30 of 4:00) is not published yet.
    assert.deepEqual(
      await points(live.aws, query('s', live, 'RequestCount', 10), T0 + 180_000, T0 + 210_000),
      [],
    );
    // Healthy tasks answer no 5xx: no datapoint, not zeros.
    assert.deepEqual(
      await points(live.aws, query('e', live, 'HTTPCode_Target_5XX_Count', 60), T0, T0 + 180_000),
      [],
    );
    await assert.rejects(
      points(live.aws, query('p', live, 'RequestCount', 45), T0, T0 + 180_000),
      InvalidParameterValueException,
    );
  });

  it('Berth judges minute-aligned windows on AWS: a 1-second interval becomes whole minutes, each with its minute’s requests and 0 5xx', async (t) => {
    const live = await aLiveService(t, 3.5);
    const windowMs = analysisWindowMs(1_000, 60_000);
    assert.equal(windowMs, 60_000);
    const schedule = windowSchedule({
      weightsVerifiedAt: new Date(T0 + 2_000),
      intervalMs: windowMs,
      metricsDelayMs: 0,
      now: new Date(T0 + 3.5 * 60_000),
      judged: 0,
    });
    assert.deepEqual(
      schedule.due.map((span) => [span.start.getTime() - T0, span.end.getTime() - T0]),
      [
        [60_000, 120_000],
        [120_000, 180_000],
      ],
      'whole minutes from the first minute after the weights',
    );
    const key = {
      key: 'canary',
      loadBalancerArn: live.infrastructure.listenerRuleArn,
      targetGroupArn: live.infrastructure.targetGroupArns[0],
    };
    const first = schedule.due[0]?.start ?? new Date(0);
    const windows = (await live.adapter.targetGroupMetricWindows([key], first, windowMs, 2)).get(
      'canary',
    );
    const minutes = await points(
      live.aws,
      query('m', live, 'RequestCount', 60),
      T0 + 60_000,
      T0 + 180_000,
    );
    assert.deepEqual(
      windows?.map((window) => [window.requests, window.errors5xx]),
      minutes.map((point) => [point.value, 0]),
    );
    // Cut in seconds instead, the same minutes fall whole into the window at each minute's start
    // and leave the others empty: what Berth would have judged without rounding.
    const seconds = (await live.adapter.targetGroupMetricWindows([key], first, 1_000, 61)).get(
      'canary',
    );
    assert.equal(seconds?.[0]?.requests, minutes[0]?.value);
    assert.equal(seconds?.[1]?.requests, null);
    assert.equal(seconds?.[60]?.requests, minutes[1]?.value);
  });
});

describe('berth service create --listener-rule, checked against the cloud', () => {
  it('refuses a default rule and a target group of type instance with exit 2, writing nothing, and takes a rule of ip groups', async (t) => {
    const { db, url } = await testDatabase(`contract-elb ${t.name}`);
    const aws = simulatedClients(createSimulatedAws(db, { throttling: false }));
    const { listenerArn } = await aLoadBalancer(aws.elbv2, 'berth');
    const ip = [
      await aTargetGroup(aws.elbv2, 'web-a', 'ip'),
      await aTargetGroup(aws.elbv2, 'web-b', 'ip'),
    ];
    const instance = [
      await aTargetGroup(aws.elbv2, 'old-a'),
      await aTargetGroup(aws.elbv2, 'old-b'),
    ];
    const rule = (await aRule(aws.elbv2, listenerArn, 1, forward(...ip))).Rules?.[0]?.RuleArn ?? '';
    const oldRule =
      (await aRule(aws.elbv2, listenerArn, 2, forward(...instance))).Rules?.[0]?.RuleArn ?? '';
    const defaultRule =
      (await aws.elbv2.send(new DescribeRulesCommand({ ListenerArn: listenerArn }))).Rules?.find(
        (candidate) => candidate.IsDefault === true,
      )?.RuleArn ?? '';
    const env = { BERTH_CLOUD: 'sim' };
    const create = (ruleArn: string, groups: string[]) =>
      berth(
        url,
        serviceCreateArgs('web', ['--listener-rule', ruleArn, '--target-groups', groups.join(',')]),
        { env },
      );

    const onDefault = await create(defaultRule, ip);
    assert.equal(onDefault.code, 2, onDefault.stderr);
    assert.match(onDefault.stderr, /--listener-rule: .*default rule.*ModifyListener/);
    assert.equal(onDefault.stderr.trim().split('\n').length, 1, 'one line');

    const onInstance = await create(oldRule, instance);
    assert.equal(onInstance.code, 2, onInstance.stderr);
    assert.match(onInstance.stderr, /--target-groups: .*target type instance.*type ip/);

    const list = await berth(url, ['service', 'list', '--json']);
    assert.deepEqual(JSON.parse(list.stdout), [], 'nothing written');

    const fits = await create(rule, ip);
    assert.equal(fits.code, 0, fits.stderr);
  });
});
