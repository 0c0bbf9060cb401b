import type {
  AlarmQuery,
  AlarmState,
  Cloud,
  ContainerLogs,
  LogEvent,
  LogQuery,
  LogStreamPage,
  ImageResolution,
  LoadBalancerNetwork,
  MetricsQuery,
  ObservedService,
  ObservedTask,
  ObservedTaskSet,
  OneOffTaskSpec,
  RepositoryImages,
  RuleWeights,
  RunTaskOutcome,
  StoppedTask,
  TargetGroupMetrics,
  TaskDefinitionSpec,
  TaskLogLocation,
  TaskSetSpec,
} from '../cloud/cloud.ts';

/**
 * How long a batch's reads stand for its passes: a pass that got its turn later than this after
 * they were sent reads its own. Every write is absolute and read back, so an older observation
 * would cost at most a write already made, but a pass should see what it acts on as it is now.
 */
export const BATCH_READS_MAX_AGE_MS = 10_000;

const key = (cluster: string, name: string): string => `${cluster}/${name}`;

/** The alarms a batch read: what was asked, and what CloudWatch answered. */
interface BatchAlarms {
  names: ReadonlySet<string>;
  prefixes: ReadonlySet<string>;
  found: ReadonlyMap<string, AlarmState>;
}

/**
 * The services, listener rules and alarms of one claimed batch's rollouts, read together when
 * the batch is claimed: one DescribeServices per ten services of a cluster, one DescribeRules for
 * all the rules and one DescribeAlarms per hundred alarm names, instead of one of each per pass. Handed to that batch's passes only, never kept for
 * another batch: each pass asserts the desired state against what AWS says now.
 */
export class BatchReads {
  /** Services asked for, by `cluster/name`: undefined when ECS has no such service. */
  readonly #services: Map<string, ObservedService | undefined>;
  readonly #rules: Map<string, RuleWeights>;
  /** Undefined when the batch named none, or its DescribeAlarms failed. */
  readonly #alarms: BatchAlarms | undefined;
  /** When the calls were sent (`performance.now()`): the reads are at least this fresh. */
  readonly #sentAt: number;

  private constructor(
    services: Map<string, ObservedService | undefined>,
    rules: Map<string, RuleWeights>,
    alarms: BatchAlarms | undefined,
    sentAt: number,
  ) {
    this.#services = services;
    this.#rules = rules;
    this.#alarms = alarms;
    this.#sentAt = sentAt;
  }

  /**
   * Reads the services (by cluster, ten to a call) and the rules (one DescribeRules) of a batch.
   * Either read failing leaves its part empty: each pass then reads its own, and says what is
   * wrong (a rule deleted behind Berth's back fails the whole DescribeRules).
   */
  static async read(
    cloud: Cloud,
    services: readonly {
      cluster: string;
      ecs_service_name: string;
      listener_rule_arn: string | null;
      /** Absent: the batch reads no alarms (each pass reads its own). */
      alarm_names?: readonly string[];
      alarm_prefix?: string | null;
    }[],
  ): Promise<BatchReads> {
    const sentAt = performance.now();
    const byCluster = new Map<string, string[]>();
    for (const service of services) {
      const names = byCluster.get(service.cluster) ?? [];
      names.push(service.ecs_service_name);
      byCluster.set(service.cluster, names);
    }
    const rules = services.flatMap((service) =>
      service.listener_rule_arn === null ? [] : [service.listener_rule_arn],
    );
    const observed = new Map<string, ObservedService | undefined>();
    const describe = async (cluster: string, names: readonly string[]): Promise<void> => {
      const found = await cloud.describeServices(cluster, names).catch(() => undefined);
      if (found === undefined) return;
      for (const name of names) observed.set(key(cluster, name), found.get(name));
    };
    const alarmNames = new Set(services.flatMap((service) => service.alarm_names ?? []));
    const alarmPrefixes = new Set(
      services.flatMap((service) => (service.alarm_prefix == null ? [] : [service.alarm_prefix])),
    );
    const readAlarms = async (): Promise<BatchAlarms | undefined> => {
      if (alarmNames.size === 0 && alarmPrefixes.size === 0) return undefined;
      const query = { names: [...alarmNames], prefixes: [...alarmPrefixes] };
      const found = await cloud.describeAlarms(query).catch(() => undefined);
      if (found === undefined) return undefined;
      return {
        names: alarmNames,
        prefixes: alarmPrefixes,
        found: new Map(found.map((alarm) => [alarm.name, alarm])),
      };
    };
    const [weights, alarms] = await Promise.all([
      rules.length === 0
        ? new Map<string, RuleWeights>()
        : cloud.readRulesWeights(rules).catch(() => new Map<string, RuleWeights>()),
      readAlarms(),
      ...[...byCluster].map(([cluster, names]) => describe(cluster, names)),
    ]);
    return new BatchReads(observed, weights, alarms, sentAt);
  }

  /** Reads made already: an idle batch's DescribeServices of `names` in `cluster`, its rules. */
  static of(
    cluster: string,
    names: readonly string[],
    found: ReadonlyMap<string, ObservedService>,
    rules: Map<string, RuleWeights>,
    sentAt: number,
  ): BatchReads {
    const services = new Map<string, ObservedService | undefined>();
    for (const name of names) services.set(key(cluster, name), found.get(name));
    return new BatchReads(services, rules, undefined, sentAt);
  }

  get fresh(): boolean {
    return performance.now() - this.#sentAt <= BATCH_READS_MAX_AGE_MS;
  }

  /** `{ observed }` when the batch read this service (observed undefined: ECS has none). */
  service(cluster: string, name: string): { observed: ObservedService | undefined } | undefined {
    const found = key(cluster, name);
    return this.#services.has(found) ? { observed: this.#services.get(found) } : undefined;
  }

  ruleWeights(ruleArn: string): RuleWeights | undefined {
    return this.#rules.get(ruleArn);
  }

  /** The answer to `query` when the batch asked everything in it; else undefined. */
  alarms(query: AlarmQuery): AlarmState[] | undefined {
    const read = this.#alarms;
    if (read === undefined) return undefined;
    if (!query.names.every((name) => read.names.has(name))) return undefined;
    if (!query.prefixes.every((prefix) => read.prefixes.has(prefix))) return undefined;
    return [...read.found.values()].filter(
      (alarm) =>
        query.names.includes(alarm.name) ||
        query.prefixes.some((prefix) => alarm.name.startsWith(prefix)),
    );
  }
}

/**
 * The cloud as one pass sees it. Its reads of services, rules and target health are answered
 * once each: from the batch's reads while they are fresh, else by AWS, and kept for the rest of
 * the pass (a rollout pass looks at its service two or three times) — until the pass writes
 * anything: from then on every read goes to AWS, so that what a pass reads back after a write is
 * what AWS says now, not what it said before. Writes are the pass's own, made under its lease as
 * ever; only what it reads is shared.
 */
export class PassCloud implements Cloud {
  readonly #cloud: Cloud;
  /** The batch's reads, maybe still under way; dropped at the pass's first write. */
  #batch: Promise<BatchReads | undefined> | undefined;
  readonly #patienceMs: number;
  readonly #services = new Map<string, ObservedService | undefined>();
  readonly #rules = new Map<string, RuleWeights>();
  readonly #health = new Map<string, number>();

  /**
   * `patienceMs`: how long the pass waits for the batch's reads when it needs them before they
   * are in, after which it reads its own — a batch-mate's slow read holds it up no longer.
   */
  constructor(cloud: Cloud, batch?: Promise<BatchReads | undefined>, patienceMs = 0) {
    this.#cloud = cloud;
    this.#batch = batch;
    this.#patienceMs = patienceMs;
  }

  /** The batch's reads while this pass may still use them. */
  async #shared(): Promise<BatchReads | undefined> {
    const pending = this.#batch;
    if (pending === undefined) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const reads = await Promise.race([
      pending,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => {
          resolve(undefined);
        }, this.#patienceMs);
      }),
    ]).finally(() => {
      clearTimeout(timer);
    });
    // Not in time, or too old: not waited for again in this pass.
    if (reads === undefined || !reads.fresh) this.#batch = undefined;
    return this.#batch === pending ? reads : undefined;
  }

  /** Forgets every read before and after a write, whatever its outcome. */
  async #write<T>(call: () => Promise<T>): Promise<T> {
    this.#forget();
    try {
      return await call();
    } finally {
      this.#forget();
    }
  }

  #forget(): void {
    this.#batch = undefined;
    this.#services.clear();
    this.#rules.clear();
    this.#health.clear();
  }

  async describeServices(
    cluster: string,
    names: readonly string[],
  ): Promise<Map<string, ObservedService>> {
    const found = new Map<string, ObservedService>();
    const missing: string[] = [];
    const unknown = names.some((name) => !this.#services.has(key(cluster, name)));
    const shared = unknown ? await this.#shared() : undefined;
    for (const name of names) {
      const known = this.#services.has(key(cluster, name))
        ? { observed: this.#services.get(key(cluster, name)) }
        : shared?.service(cluster, name);
      if (known === undefined) missing.push(name);
      else if (known.observed !== undefined) found.set(name, known.observed);
      if (known !== undefined) this.#services.set(key(cluster, name), known.observed);
    }
    if (missing.length === 0) return found;
    const read = await this.#cloud.describeServices(cluster, missing);
    for (const name of missing) {
      const observed = read.get(name);
      this.#services.set(key(cluster, name), observed);
      if (observed !== undefined) found.set(name, observed);
    }
    return found;
  }

  async readRuleWeights(ruleArn: string): Promise<RuleWeights> {
    const known = this.#rules.get(ruleArn) ?? (await this.#shared())?.ruleWeights(ruleArn);
    const weights = known ?? (await this.#cloud.readRuleWeights(ruleArn));
    this.#rules.set(ruleArn, weights);
    return weights;
  }

  readRulesWeights(ruleArns: readonly string[]): Promise<Map<string, RuleWeights>> {
    return this.#cloud.readRulesWeights(ruleArns);
  }

  /** No batch form (DescribeTargetHealth takes one target group): read when needed, once. */
  async healthyTargetCount(targetGroupArn: string): Promise<number> {
    const known = this.#health.get(targetGroupArn);
    if (known !== undefined) return known;
    const healthy = await this.#cloud.healthyTargetCount(targetGroupArn);
    this.#health.set(targetGroupArn, healthy);
    return healthy;
  }

  createService(input: {
    cluster: string;
    name: string;
    desiredCount: number;
    clientToken: string;
  }): Promise<void> {
    return this.#write(() => this.#cloud.createService(input));
  }

  setDesiredCount(cluster: string, service: string, count: number): Promise<void> {
    return this.#write(() => this.#cloud.setDesiredCount(cluster, service, count));
  }

  resolveImage(image: string): Promise<ImageResolution> {
    return this.#cloud.resolveImage(image);
  }

  accountId(): Promise<string> {
    return this.#cloud.accountId();
  }

  loadBalancerNetwork(ruleArn: string): Promise<LoadBalancerNetwork | undefined> {
    return this.#cloud.loadBalancerNetwork(ruleArn);
  }

  findRole(name: string): Promise<string | undefined> {
    return this.#cloud.findRole(name);
  }

  listRepositoryImages(
    repository: string,
    options?: { pageSize?: number },
  ): Promise<RepositoryImages> {
    return this.#cloud.listRepositoryImages(repository, options);
  }

  /**
   * A registration changes nothing this pass has read, but may have waited minutes for its turn
   * at AWS's one registration a second (its pass parked meanwhile): what the pass read before
   * is forgotten like after a write, so that it acts on what AWS says now.
   */
  ensureTaskDefinition(
    spec: TaskDefinitionSpec,
    beforeRegister?: (attempt: number, tokenWaitMs: number) => Promise<void>,
    options?: { unregistered?: boolean },
  ): Promise<string> {
    return this.#write(() => this.#cloud.ensureTaskDefinition(spec, beforeRegister, options));
  }

  describeTaskDefinition(reference: string): Promise<Record<string, unknown> | undefined> {
    return this.#cloud.describeTaskDefinition(reference);
  }

  createTaskSet(spec: TaskSetSpec): Promise<ObservedTaskSet> {
    return this.#write(() => this.#cloud.createTaskSet(spec));
  }

  setTaskSetScale(
    cluster: string,
    service: string,
    taskSetArn: string,
    percent: number,
  ): Promise<void> {
    return this.#write(() => this.#cloud.setTaskSetScale(cluster, service, taskSetArn, percent));
  }

  setPrimaryTaskSet(cluster: string, service: string, taskSetArn: string): Promise<void> {
    return this.#write(() => this.#cloud.setPrimaryTaskSet(cluster, service, taskSetArn));
  }

  deleteService(cluster: string, service: string): Promise<void> {
    return this.#write(() => this.#cloud.deleteService(cluster, service));
  }

  deleteTaskSet(cluster: string, service: string, taskSetArn: string): Promise<void> {
    return this.#write(() => this.#cloud.deleteTaskSet(cluster, service, taskSetArn));
  }

  setRuleWeights(ruleArn: string, weights: RuleWeights): Promise<void> {
    return this.#write(() => this.#cloud.setRuleWeights(ruleArn, weights));
  }

  stoppedTasks(cluster: string, taskSetArn: string): Promise<StoppedTask[]> {
    return this.#cloud.stoppedTasks(cluster, taskSetArn);
  }

  taskSetTasks(cluster: string, taskSetArn: string): Promise<ObservedTask[]> {
    return this.#cloud.taskSetTasks(cluster, taskSetArn);
  }

  runTask(spec: OneOffTaskSpec): Promise<RunTaskOutcome> {
    return this.#write(() => this.#cloud.runTask(spec));
  }

  describeTasks(cluster: string, taskArns: readonly string[]): Promise<Map<string, ObservedTask>> {
    return this.#cloud.describeTasks(cluster, taskArns);
  }

  stopTask(cluster: string, taskArn: string, reason: string): Promise<void> {
    return this.#write(() => this.#cloud.stopTask(cluster, taskArn, reason));
  }

  taskLogLocation(
    taskDefinitionArn: string,
    containerName: string,
    taskArn: string,
  ): Promise<TaskLogLocation | undefined> {
    return this.#cloud.taskLogLocation(taskDefinitionArn, containerName, taskArn);
  }

  containerLogs(taskDefinitionArn: string): Promise<ContainerLogs[]> {
    return this.#cloud.containerLogs(taskDefinitionArn);
  }

  logEvents(query: LogQuery, limit?: number): Promise<LogEvent[]> {
    return this.#cloud.logEvents(query, limit);
  }

  tailLogEvents(query: LogQuery, signal: AbortSignal): AsyncIterable<LogEvent> {
    return this.#cloud.tailLogEvents(query, signal);
  }

  logStreamEvents(
    group: string,
    stream: string,
    token: string | undefined,
  ): Promise<LogStreamPage> {
    return this.#cloud.logStreamEvents(group, stream, token);
  }

  targetGroupMetrics(
    queries: readonly MetricsQuery[],
    start: Date,
    end: Date,
  ): Promise<Map<string, TargetGroupMetrics>> {
    return this.#cloud.targetGroupMetrics(queries, start, end);
  }

  targetGroupMetricWindows(
    queries: readonly MetricsQuery[],
    start: Date,
    windowMs: number,
    count: number,
  ): Promise<Map<string, TargetGroupMetrics[]>> {
    return this.#cloud.targetGroupMetricWindows(queries, start, windowMs, count);
  }

  /** From the batch's DescribeAlarms when it asked for all of these, else CloudWatch's own. */
  async describeAlarms(query: AlarmQuery): Promise<AlarmState[]> {
    return (await this.#shared())?.alarms(query) ?? this.#cloud.describeAlarms(query);
  }
}
