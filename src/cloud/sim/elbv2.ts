import {
  DuplicateListenerException,
  DuplicateTargetGroupNameException,
  ListenerNotFoundException,
  LoadBalancerNotFoundException,
  OperationNotPermittedException,
  PriorityInUseException,
  RuleNotFoundException,
  TargetGroupAssociationLimitException,
  TargetGroupNotFoundException,
  TooManyRulesException,
  TooManyUniqueTargetGroupsPerLoadBalancerException,
  type Action,
  type CreateListenerCommandInput,
  type CreateListenerCommandOutput,
  type CreateLoadBalancerCommandInput,
  type CreateLoadBalancerCommandOutput,
  type CreateRuleCommandInput,
  type CreateRuleCommandOutput,
  type CreateTargetGroupCommandInput,
  type CreateTargetGroupCommandOutput,
  type DescribeListenersCommandInput,
  type DescribeListenersCommandOutput,
  type DescribeLoadBalancersCommandInput,
  type DescribeLoadBalancersCommandOutput,
  type DescribeRulesCommandInput,
  type DescribeRulesCommandOutput,
  type DescribeTargetGroupsCommandInput,
  type DescribeTargetGroupsCommandOutput,
  type DescribeTargetHealthCommandInput,
  type DescribeTargetHealthCommandOutput,
  type Listener,
  type LoadBalancer,
  type ModifyRuleCommandInput,
  type ModifyRuleCommandOutput,
  type Rule,
  type RuleCondition,
  type TargetGroup,
  type TargetHealth,
  type TargetHealthDescription,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { awsError, modeledError } from './aws-errors.ts';
import {
  digitId,
  handler,
  hexId,
  KIND,
  listenerArn,
  loadBalancerArn,
  nextSerial,
  publicFields,
  ruleArn,
  SIM_NETWORK,
  targetGroupArn,
  targetStateAt,
  toDate,
  type ListenerDoc,
  type LoadBalancerDoc,
  type Output,
  type RegisteredTarget,
  type RuleDoc,
  type TargetGroupDoc,
  type TargetState,
} from './model.ts';
import type { SimTx } from './sim-store.ts';
import type { SimContext, SimHandler } from './model.ts';

/** Load balancer and target group names: up to 32 letters, digits and inner hyphens. */
const ELB_NAME = /^(?!-)[A-Za-z0-9-]{1,32}(?<!-)$/;

/** Rule priorities a listener accepts; the default rule has none. */
const MAX_PRIORITY = 50000;

/** A forward weight's range. */
const MAX_WEIGHT = 999;

/*
 * Quotas of an application load balancer that AWS does not let an account raise ("Quotas for
 * your Application Load Balancers"): 100 rules (default rules not counted), 100 target groups,
 * 5 target groups in one action; and a target group serves one load balancer.
 */
const RULES_PER_LOAD_BALANCER = 100;
const TARGET_GROUPS_PER_LOAD_BALANCER = 100;
const TARGET_GROUPS_PER_ACTION = 5;

/** Describe calls answer at most this many items a page (`PageSize`, 1 to 400). */
const MAX_PAGE_SIZE = 400;

const validationError = (message: string) => awsError('elbv2', 'ValidationError', message);

// ---------------------------------------------------------------------------------------------
// Load balancers

async function createLoadBalancer(
  tx: SimTx,
  input: CreateLoadBalancerCommandInput,
  ctx: SimContext,
): Promise<Output<CreateLoadBalancerCommandOutput>> {
  const name = requireName('load balancer', input.Name);
  if (name.startsWith('internal-')) {
    throw validationError("Load balancer names cannot start with 'internal-'");
  }
  if ((input.Type ?? 'application') !== 'application') {
    throw validationError('the simulated AWS models application load balancers only');
  }
  // Creating a load balancer that exists answers with it, as AWS does.
  const existing = (await tx.list<LoadBalancerDoc>(KIND.loadBalancer)).find(
    (candidate) => candidate.LoadBalancerName === name,
  );
  if (existing !== undefined) return { LoadBalancers: [loadBalancerOutput(existing)] };

  const subnets = input.Subnets ?? input.SubnetMappings?.map((mapping) => mapping.SubnetId) ?? [];
  if (subnets.length < 2) {
    throw validationError(
      'At least two subnets in two different Availability Zones must be specified',
    );
  }
  const serial = await nextSerial(tx, 'load-balancer');
  const arn = loadBalancerArn(ctx, name, hexId(ctx, `load-balancer:${serial}`));
  const doc: LoadBalancerDoc = {
    LoadBalancerArn: arn,
    LoadBalancerName: name,
    DNSName: `${name}-${digitId(ctx, `load-balancer-dns:${serial}`, 10)}.${ctx.region}.elb.amazonaws.com`,
    CanonicalHostedZoneId: 'Z35SXDOTRQ7X7K',
    CreatedTime: tx.now,
    Scheme: input.Scheme ?? 'internet-facing',
    // EC2 is simulated read-only and has one VPC: every subnet is in it.
    VpcId: SIM_NETWORK.vpcId,
    State: { Code: 'active' },
    Type: 'application',
    AvailabilityZones: subnets.map((subnet, index) => ({
      ZoneName: availabilityZone(ctx, index),
      SubnetId: subnet,
      LoadBalancerAddresses: [],
    })),
    // None given, AWS gives an ALB its VPC's default security group.
    SecurityGroups: input.SecurityGroups ?? [...SIM_NETWORK.securityGroups],
    IpAddressType: input.IpAddressType === 'dualstack' ? 'dualstack' : 'ipv4',
  };
  await tx.put(KIND.loadBalancer, arn, doc);
  return { LoadBalancers: [loadBalancerOutput(doc)] };
}

async function describeLoadBalancers(
  tx: SimTx,
  input: DescribeLoadBalancersCommandInput,
): Promise<Output<DescribeLoadBalancersCommandOutput>> {
  const all = await tx.list<LoadBalancerDoc>(KIND.loadBalancer);
  const found = selectAll(
    all,
    input.LoadBalancerArns,
    (doc) => doc.LoadBalancerArn,
    input.Names,
    (doc) => doc.LoadBalancerName,
  );
  if (found === undefined) throw loadBalancerNotFound();
  const { items, NextMarker } = page(found, input);
  return { LoadBalancers: items.map(loadBalancerOutput), ...nextMarker(NextMarker) };
}

function loadBalancerOutput(doc: LoadBalancerDoc): LoadBalancer {
  return { ...publicFields(doc), CreatedTime: toDate(doc.CreatedTime) };
}

async function requireLoadBalancer(tx: SimTx, arn: string | undefined): Promise<LoadBalancerDoc> {
  const doc = await tx.get<LoadBalancerDoc>(KIND.loadBalancer, arn ?? '');
  if (doc === undefined) throw loadBalancerNotFound();
  return doc;
}

function loadBalancerNotFound(): Error {
  return modeledError(LoadBalancerNotFoundException, 'One or more load balancers not found');
}

function availabilityZone(ctx: SimContext, index: number): string {
  return `${ctx.region}${'abcdef'[index % 6] ?? 'a'}`;
}

// ---------------------------------------------------------------------------------------------
// Target groups

async function createTargetGroup(
  tx: SimTx,
  input: CreateTargetGroupCommandInput,
  ctx: SimContext,
): Promise<Output<CreateTargetGroupCommandOutput>> {
  const name = requireName('target group', input.Name);
  const targetType = input.TargetType ?? 'instance';
  if (targetType !== 'ip' && targetType !== 'instance') {
    throw validationError('the simulated AWS models target groups of ip and instance targets');
  }
  if (input.VpcId === undefined) throw validationError('A VPC ID must be specified');
  if (input.Port === undefined) throw validationError('A port must be specified');
  const protocol = input.Protocol ?? 'HTTP';
  const existing = (await tx.list<TargetGroupDoc>(KIND.targetGroup)).find(
    (candidate) => candidate.TargetGroupName === name,
  );
  if (existing !== undefined) {
    // The same create again answers with the target group; different settings are refused.
    const same =
      existing.Port === input.Port &&
      existing.Protocol === protocol &&
      existing.VpcId === input.VpcId &&
      existing.TargetType === targetType;
    if (!same) {
      throw modeledError(
        DuplicateTargetGroupNameException,
        `A target group with the same name '${name}' exists, but with different settings`,
      );
    }
    return { TargetGroups: [await targetGroupOutput(tx, existing)] };
  }
  const serial = await nextSerial(tx, 'target-group');
  const arn = targetGroupArn(ctx, name, hexId(ctx, `target-group:${serial}`));
  const doc: TargetGroupDoc = {
    TargetGroupArn: arn,
    TargetGroupName: name,
    Protocol: protocol,
    Port: input.Port,
    VpcId: input.VpcId,
    HealthCheckProtocol: input.HealthCheckProtocol ?? protocol,
    HealthCheckPort: input.HealthCheckPort ?? 'traffic-port',
    HealthCheckEnabled: input.HealthCheckEnabled ?? true,
    HealthCheckIntervalSeconds: input.HealthCheckIntervalSeconds ?? 30,
    HealthCheckTimeoutSeconds: input.HealthCheckTimeoutSeconds ?? 5,
    HealthyThresholdCount: input.HealthyThresholdCount ?? 5,
    UnhealthyThresholdCount: input.UnhealthyThresholdCount ?? 2,
    HealthCheckPath: input.HealthCheckPath ?? '/',
    Matcher: input.Matcher ?? { HttpCode: '200' },
    TargetType: targetType,
    ProtocolVersion: input.ProtocolVersion ?? 'HTTP1',
    IpAddressType: input.IpAddressType === 'ipv6' ? 'ipv6' : 'ipv4',
    _targets: [],
  };
  await tx.put(KIND.targetGroup, arn, doc);
  return { TargetGroups: [await targetGroupOutput(tx, doc)] };
}

async function describeTargetGroups(
  tx: SimTx,
  input: DescribeTargetGroupsCommandInput,
): Promise<Output<DescribeTargetGroupsCommandOutput>> {
  let all = await tx.list<TargetGroupDoc>(KIND.targetGroup);
  // Read once for the whole answer: the bootstrap lists every target group of the account.
  const associations = await targetGroupAssociations(tx);
  if (input.LoadBalancerArn !== undefined) {
    await requireLoadBalancer(tx, input.LoadBalancerArn);
    all = all.filter(
      (doc) => associations.get(doc.TargetGroupArn)?.has(input.LoadBalancerArn ?? '') === true,
    );
  }
  const found = selectAll(
    all,
    input.TargetGroupArns,
    (doc) => doc.TargetGroupArn,
    input.Names,
    (doc) => doc.TargetGroupName,
  );
  if (found === undefined) {
    throw modeledError(TargetGroupNotFoundException, 'One or more target groups not found');
  }
  const { items, NextMarker } = page(found, input);
  const TargetGroups: TargetGroup[] = [];
  for (const doc of items) TargetGroups.push(await targetGroupOutput(tx, doc, associations));
  return { TargetGroups, ...nextMarker(NextMarker) };
}

async function targetGroupOutput(
  tx: SimTx,
  doc: TargetGroupDoc,
  associations?: Map<string, Set<string>>,
): Promise<TargetGroup> {
  const loadBalancers = (associations ?? (await targetGroupAssociations(tx))).get(
    doc.TargetGroupArn,
  );
  return { ...publicFields(doc), LoadBalancerArns: [...(loadBalancers ?? [])] };
}

/** The load balancers whose listeners or rules forward to the target group. */
export async function targetGroupLoadBalancers(tx: SimTx, targetGroup: string): Promise<string[]> {
  return [...((await targetGroupAssociations(tx)).get(targetGroup) ?? [])];
}

/** Target group ARN → the load balancers that forward to it (through any rule, default or not). */
async function targetGroupAssociations(tx: SimTx): Promise<Map<string, Set<string>>> {
  const associations = new Map<string, Set<string>>();
  for (const rule of await tx.list<RuleDoc>(KIND.rule)) {
    for (const targetGroup of Object.keys(forwardWeights(rule.Actions))) {
      const loadBalancers = associations.get(targetGroup) ?? new Set<string>();
      loadBalancers.add(rule._loadBalancerArn);
      associations.set(targetGroup, loadBalancers);
    }
  }
  return associations;
}

async function describeTargetHealth(
  tx: SimTx,
  input: DescribeTargetHealthCommandInput,
  ctx: SimContext,
): Promise<Output<DescribeTargetHealthCommandOutput>> {
  const group = await tx.get<TargetGroupDoc>(KIND.targetGroup, input.TargetGroupArn ?? '');
  if (group === undefined) {
    throw modeledError(TargetGroupNotFoundException, 'One or more target groups not found');
  }
  const current = group._targets.filter(
    (target) => targetStateAt(target, tx.now) !== 'unregistered',
  );
  if (input.Targets === undefined) {
    return {
      TargetHealthDescriptions: current.map((target) => targetHealthOutput(ctx, target, tx.now)),
    };
  }
  // Asked about targets by id, AWS answers for each, the unregistered ones as `unused`.
  return {
    TargetHealthDescriptions: input.Targets.map((asked): TargetHealthDescription => {
      const target = current.find(
        (candidate) =>
          candidate.ip === asked.Id && (asked.Port === undefined || candidate.port === asked.Port),
      );
      if (target !== undefined) return targetHealthOutput(ctx, target, tx.now);
      return {
        Target: { Id: asked.Id, Port: asked.Port },
        TargetHealth: {
          State: 'unused',
          Reason: 'Target.NotRegistered',
          Description: 'Target is not registered to the target group',
        },
      };
    }),
  };
}

function targetHealthOutput(
  ctx: SimContext,
  target: RegisteredTarget,
  now: number,
): TargetHealthDescription {
  const lastOctet = Number(target.ip.split('.').at(-1));
  return {
    Target: {
      Id: target.ip,
      Port: target.port,
      AvailabilityZone: availabilityZone(ctx, lastOctet),
    },
    HealthCheckPort: String(target.port),
    TargetHealth: TARGET_HEALTH[targetStateAt(target, now)],
  };
}

const TARGET_HEALTH: Record<TargetState, TargetHealth> = {
  healthy: { State: 'healthy' },
  initial: {
    State: 'initial',
    Reason: 'Elb.RegistrationInProgress',
    Description: 'Target registration is in progress',
  },
  unhealthy: {
    State: 'unhealthy',
    Reason: 'Target.FailedHealthChecks',
    Description: 'Health checks failed',
  },
  unregistered: {
    State: 'unused',
    Reason: 'Target.NotRegistered',
    Description: 'Target is not registered to the target group',
  },
};

// ---------------------------------------------------------------------------------------------
// Listeners

async function createListener(
  tx: SimTx,
  input: CreateListenerCommandInput,
  ctx: SimContext,
): Promise<Output<CreateListenerCommandOutput>> {
  const loadBalancer = await requireLoadBalancer(tx, input.LoadBalancerArn);
  const protocol = input.Protocol ?? 'HTTP';
  if (protocol !== 'HTTP' && protocol !== 'HTTPS') {
    throw validationError('the simulated AWS models HTTP and HTTPS listeners');
  }
  const port = input.Port ?? (protocol === 'HTTPS' ? 443 : 80);
  const actions = await requireActions(tx, input.DefaultActions);
  const existing = (await listenersOf(tx, loadBalancer.LoadBalancerArn)).find(
    (listener) => listener.Port === port,
  );
  if (existing !== undefined) {
    // CreateListener is idempotent: the same settings again answer with the listener.
    if (
      existing.Protocol === protocol &&
      JSON.stringify(existing.DefaultActions) === JSON.stringify(actions)
    ) {
      return { Listeners: [existing] };
    }
    throw modeledError(
      DuplicateListenerException,
      'A listener already exists on this port for this load balancer',
    );
  }
  await requireTargetGroupQuotas(
    tx,
    loadBalancer.LoadBalancerArn,
    actions,
    await tx.list<RuleDoc>(KIND.rule, ruleArnPrefix(loadBalancer.LoadBalancerArn)),
  );
  const serial = await nextSerial(tx, 'listener');
  const arn = listenerArn(loadBalancer.LoadBalancerArn, hexId(ctx, `listener:${serial}`));
  const listener: ListenerDoc = {
    ListenerArn: arn,
    LoadBalancerArn: loadBalancer.LoadBalancerArn,
    Port: port,
    Protocol: protocol,
    DefaultActions: actions,
  };
  await tx.put(KIND.listener, arn, listener);
  // Every listener has a default rule, listed by DescribeRules with priority `default`.
  await putNewRule(tx, ctx, listener, 'default', [], actions);
  return { Listeners: [listener] };
}

async function describeListeners(
  tx: SimTx,
  input: DescribeListenersCommandInput,
): Promise<Output<DescribeListenersCommandOutput>> {
  let listeners: Listener[];
  if (input.ListenerArns !== undefined) {
    listeners = [];
    for (const arn of input.ListenerArns) listeners.push(await requireListener(tx, arn));
  } else {
    const loadBalancer = await requireLoadBalancer(tx, input.LoadBalancerArn);
    listeners = await listenersOf(tx, loadBalancer.LoadBalancerArn);
  }
  const { items, NextMarker } = page(listeners, input);
  return { Listeners: items, ...nextMarker(NextMarker) };
}

function listenersOf(tx: SimTx, loadBalancer: string): Promise<ListenerDoc[]> {
  return tx.list<ListenerDoc>(
    KIND.listener,
    `${loadBalancer.replace(':loadbalancer/', ':listener/')}/`,
  );
}

async function requireListener(tx: SimTx, arn: string | undefined): Promise<ListenerDoc> {
  const listener = await tx.get<ListenerDoc>(KIND.listener, arn ?? '');
  if (listener === undefined) {
    throw modeledError(ListenerNotFoundException, 'One or more listeners not found');
  }
  return listener;
}

// ---------------------------------------------------------------------------------------------
// Rules

async function createRule(
  tx: SimTx,
  input: CreateRuleCommandInput,
  ctx: SimContext,
): Promise<Output<CreateRuleCommandOutput>> {
  const listener = await requireListener(tx, input.ListenerArn);
  const priority = input.Priority ?? 0;
  if (!Number.isInteger(priority) || priority < 1 || priority > MAX_PRIORITY) {
    throw validationError(`Priority must be between 1 and ${MAX_PRIORITY}`);
  }
  const conditions = requireConditions(input.Conditions);
  const actions = await requireActions(tx, input.Actions);
  const taken = (await rulesOf(tx, listener.ListenerArn)).some(
    (rule) => rule.Priority === String(priority),
  );
  if (taken) {
    throw modeledError(PriorityInUseException, `Priority '${priority}' is currently in use`);
  }
  const rulesOfBalancer = await tx.list<RuleDoc>(
    KIND.rule,
    ruleArnPrefix(listener.LoadBalancerArn),
  );
  if (rulesOfBalancer.filter((rule) => !rule.IsDefault).length >= RULES_PER_LOAD_BALANCER) {
    throw modeledError(
      TooManyRulesException,
      "You've reached the limit on the number of rules per load balancer.",
    );
  }
  await requireTargetGroupQuotas(tx, listener.LoadBalancerArn, actions, rulesOfBalancer);
  const rule = await putNewRule(tx, ctx, listener, String(priority), conditions, actions);
  return { Rules: [publicFields(rule)] };
}

async function putNewRule(
  tx: SimTx,
  ctx: SimContext,
  listener: ListenerDoc,
  priority: string,
  conditions: RuleCondition[],
  actions: Action[],
): Promise<RuleDoc> {
  const serial = await nextSerial(tx, 'rule');
  const arn = ruleArn(listener.ListenerArn, hexId(ctx, `rule:${serial}`));
  const rule: RuleDoc = {
    RuleArn: arn,
    Priority: priority,
    Conditions: conditions,
    Actions: actions,
    IsDefault: priority === 'default',
    _listenerArn: listener.ListenerArn,
    _loadBalancerArn: listener.LoadBalancerArn,
    _weights: [{ at: tx.now, weights: forwardWeights(actions) }],
  };
  await tx.put(KIND.rule, arn, rule);
  return rule;
}

async function describeRules(
  tx: SimTx,
  input: DescribeRulesCommandInput,
): Promise<Output<DescribeRulesCommandOutput>> {
  let rules: RuleDoc[];
  if (input.RuleArns !== undefined) {
    rules = [];
    for (const arn of input.RuleArns) rules.push(await requireRule(tx, arn));
  } else {
    const listener = await requireListener(tx, input.ListenerArn);
    rules = await rulesOf(tx, listener.ListenerArn);
  }
  const { items, NextMarker } = page(rules, input);
  return { Rules: items.map((rule): Rule => publicFields(rule)), ...nextMarker(NextMarker) };
}

async function modifyRule(
  tx: SimTx,
  input: ModifyRuleCommandInput,
): Promise<Output<ModifyRuleCommandOutput>> {
  const rule = await requireRule(tx, input.RuleArn);
  // A listener's default rule changes through ModifyListener only.
  if (rule.IsDefault) {
    throw modeledError(
      OperationNotPermittedException,
      `Default rule '${rule.RuleArn}' cannot be modified`,
    );
  }
  const conditions =
    input.Conditions === undefined ? rule.Conditions : requireConditions(input.Conditions);
  const actions =
    input.Actions === undefined ? rule.Actions : await requireActions(tx, input.Actions);
  const weights = forwardWeights(actions);
  // A weight shift forwards to the groups it forwarded to: only a group new to the rule can
  // break a quota, and only then is the load balancer's every rule read.
  const current = new Set(Object.keys(forwardWeights(rule.Actions)));
  if (Object.keys(weights).some((group) => !current.has(group))) {
    const others = (await tx.list<RuleDoc>(KIND.rule, ruleArnPrefix(rule._loadBalancerArn))).filter(
      (other) => other.RuleArn !== rule.RuleArn,
    );
    await requireTargetGroupQuotas(tx, rule._loadBalancerArn, actions, others);
  }
  const last = rule._weights.at(-1)?.weights;
  // The history of weights is the traffic history that generated metrics are computed from.
  const changed = JSON.stringify(last) !== JSON.stringify(weights);
  const updated: RuleDoc = {
    ...rule,
    Conditions: conditions,
    Actions: actions,
    _weights: changed ? [...rule._weights, { at: tx.now, weights }] : rule._weights,
  };
  await tx.put(KIND.rule, rule.RuleArn, updated);
  return { Rules: [publicFields(updated)] };
}

/** A listener's rules by priority, the default rule last, as DescribeRules lists them. */
export async function rulesOf(tx: SimTx, listener: string): Promise<RuleDoc[]> {
  const rules = await tx.list<RuleDoc>(
    KIND.rule,
    `${listener.replace(':listener/', ':listener-rule/')}/`,
  );
  const order = (rule: RuleDoc) => (rule.IsDefault ? Infinity : Number(rule.Priority));
  return rules.sort((a, b) => order(a) - order(b));
}

/** The prefix of every rule ARN of a load balancer's listeners. */
function ruleArnPrefix(loadBalancer: string): string {
  return `${loadBalancer.replace(':loadbalancer/', ':listener-rule/')}/`;
}

/**
 * A load balancer forwarding with `actions` beside its other rules (`rules`, without the one being
 * replaced) stays within AWS's quotas: each target group serves no other load balancer, and the
 * load balancer forwards to at most 100 target groups in all.
 */
async function requireTargetGroupQuotas(
  tx: SimTx,
  loadBalancer: string,
  actions: readonly Action[],
  rules: readonly RuleDoc[],
): Promise<void> {
  const groups = Object.keys(forwardWeights(actions));
  if (groups.length === 0) return;
  const associations = await targetGroupAssociations(tx);
  for (const group of groups) {
    const elsewhere = [...(associations.get(group) ?? [])].some((arn) => arn !== loadBalancer);
    if (elsewhere) {
      throw modeledError(
        TargetGroupAssociationLimitException,
        "You've reached the limit on the number of load balancers per target group.",
      );
    }
  }
  const unique = new Set(groups);
  for (const rule of rules) {
    for (const group of Object.keys(forwardWeights(rule.Actions))) unique.add(group);
  }
  if (unique.size > TARGET_GROUPS_PER_LOAD_BALANCER) {
    throw modeledError(
      TooManyUniqueTargetGroupsPerLoadBalancerException,
      "You've reached the limit on the number of unique target groups per load balancer across all listeners. If a target group is used by multiple actions for a load balancer, it is counted as only one use.",
    );
  }
}

async function requireRule(tx: SimTx, arn: string | undefined): Promise<RuleDoc> {
  const rule = await tx.get<RuleDoc>(KIND.rule, arn ?? '');
  if (rule === undefined) throw modeledError(RuleNotFoundException, 'One or more rules not found');
  return rule;
}

/** Conditions as AWS returns them: path and host patterns in both their old and new forms. */
function requireConditions(conditions: RuleCondition[] | undefined): RuleCondition[] {
  if (conditions === undefined || conditions.length === 0) {
    throw validationError('A rule must have at least one condition');
  }
  return conditions.map((condition) => {
    if (condition.Field === 'path-pattern') {
      const values = condition.PathPatternConfig?.Values ?? condition.Values ?? [];
      return { ...condition, Values: values, PathPatternConfig: { Values: values } };
    }
    if (condition.Field === 'host-header') {
      const values = condition.HostHeaderConfig?.Values ?? condition.Values ?? [];
      return { ...condition, Values: values, HostHeaderConfig: { Values: values } };
    }
    return condition;
  });
}

/**
 * Actions as AWS returns them: a forward to one group also carries `TargetGroupArn`, and every
 * forward carries a weighted `ForwardConfig`. Forwarded-to target groups must exist.
 */
async function requireActions(tx: SimTx, actions: Action[] | undefined): Promise<Action[]> {
  if (actions === undefined || actions.length === 0) {
    throw validationError('At least one action must be specified');
  }
  const normalized: Action[] = [];
  for (const action of actions) {
    if (action.Type !== 'forward') {
      normalized.push(action);
      continue;
    }
    const tuples =
      action.ForwardConfig?.TargetGroups ??
      (action.TargetGroupArn === undefined ? [] : [{ TargetGroupArn: action.TargetGroupArn }]);
    if (tuples.length === 0) throw validationError('A forward action must name a target group');
    if (tuples.length > TARGET_GROUPS_PER_ACTION) {
      throw validationError(
        `1 validation error detected: Value at 'actions.member.forwardConfig.targetGroups' failed to satisfy constraint: Member must have length less than or equal to ${TARGET_GROUPS_PER_ACTION}`,
      );
    }
    const groups = [];
    for (const tuple of tuples) {
      const weight = tuple.Weight ?? 1;
      if (!Number.isInteger(weight) || weight < 0 || weight > MAX_WEIGHT) {
        throw validationError(`Target group weights must be between 0 and ${MAX_WEIGHT}`);
      }
      const group = await tx.get<TargetGroupDoc>(KIND.targetGroup, tuple.TargetGroupArn ?? '');
      if (group === undefined) {
        throw modeledError(TargetGroupNotFoundException, 'One or more target groups not found');
      }
      groups.push({ TargetGroupArn: group.TargetGroupArn, Weight: weight });
    }
    normalized.push({
      ...action,
      TargetGroupArn: groups.length === 1 ? groups[0]?.TargetGroupArn : undefined,
      ForwardConfig: {
        TargetGroups: groups,
        TargetGroupStickinessConfig: action.ForwardConfig?.TargetGroupStickinessConfig ?? {
          Enabled: false,
        },
      },
    });
  }
  return normalized;
}

/** Weight by target group of the rule's forward action; empty when it forwards nowhere. */
export function forwardWeights(actions: readonly Action[]): Record<string, number> {
  const forward = actions.find((action) => action.Type === 'forward');
  const weights: Record<string, number> = {};
  for (const tuple of forward?.ForwardConfig?.TargetGroups ?? []) {
    if (tuple.TargetGroupArn !== undefined) weights[tuple.TargetGroupArn] = tuple.Weight ?? 1;
  }
  return weights;
}

// ---------------------------------------------------------------------------------------------

function requireName(what: string, name: string | undefined): string {
  if (name === undefined || !ELB_NAME.test(name)) {
    throw validationError(
      `The ${what} name '${name ?? ''}' must be up to 32 letters, digits and hyphens, and must not begin or end with a hyphen`,
    );
  }
  return name;
}

/**
 * One page of a Describe call's answer: `PageSize` items (at most 400) after the `Marker` the
 * previous page gave, and the marker of the next page when there is one. The marker is opaque
 * to the caller, as AWS's is.
 */
function page<T>(
  all: readonly T[],
  input: { Marker?: string | undefined; PageSize?: number | undefined },
): { items: T[]; NextMarker: string | undefined } {
  const size = input.PageSize ?? MAX_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw validationError(
      `1 validation error detected: Value '${size}' at 'pageSize' failed to satisfy constraint: Member must have value between 1 and ${MAX_PAGE_SIZE}`,
    );
  }
  let from = 0;
  if (input.Marker !== undefined) {
    const decoded = /^page:(\d+)$/.exec(Buffer.from(input.Marker, 'base64').toString('utf8'));
    from = Number(decoded?.[1] ?? Number.NaN);
    if (!Number.isSafeInteger(from)) throw validationError(`Invalid marker '${input.Marker}'`);
  }
  const to = from + size;
  return {
    items: all.slice(from, to),
    NextMarker: to < all.length ? Buffer.from(`page:${to}`).toString('base64') : undefined,
  };
}

/** `NextMarker` in an answer only when there is a next page, as AWS leaves it out otherwise. */
function nextMarker(marker: string | undefined): { NextMarker?: string } {
  return marker === undefined ? {} : { NextMarker: marker };
}

/**
 * The documents named by ARNs or names (or all when neither is given); `undefined` when any named
 * one is missing, which AWS answers with a not-found error for the whole call.
 */
function selectAll<T>(
  all: readonly T[],
  arns: readonly string[] | undefined,
  arnOf: (doc: T) => string,
  names: readonly string[] | undefined,
  nameOf: (doc: T) => string,
): T[] | undefined {
  const wanted = arns ?? names;
  if (wanted === undefined) return [...all];
  const keyOf = arns !== undefined ? arnOf : nameOf;
  const found: T[] = [];
  for (const key of wanted) {
    const doc = all.find((candidate) => keyOf(candidate) === key);
    if (doc === undefined) return undefined;
    found.push(doc);
  }
  return found;
}

/** The Elastic Load Balancing (v2) operations the simulation answers, by operation name. */
export const elbv2Handlers: Record<string, SimHandler> = {
  CreateLoadBalancer: handler(createLoadBalancer),
  DescribeLoadBalancers: handler(describeLoadBalancers),
  CreateTargetGroup: handler(createTargetGroup),
  DescribeTargetGroups: handler(describeTargetGroups),
  DescribeTargetHealth: handler(describeTargetHealth),
  CreateListener: handler(createListener),
  DescribeListeners: handler(describeListeners),
  CreateRule: handler(createRule),
  DescribeRules: handler(describeRules),
  ModifyRule: handler(modifyRule),
};
