import type { Command } from 'commander';
import type { RolloutPolicy, ServiceSettings, ServiceUpdate } from '../store/services-write.ts';
import type { ReleaseSpec } from '../store/releases.ts';
import {
  arnParts,
  checkTaskSize,
  formatDuration,
  InputError,
  parseClusterName,
  parseConfidence,
  parseCount,
  parseDuration,
  parseFollowTarget,
  parseHealthPath,
  parseImageRef,
  parseLatency,
  parseLaunchType,
  parseListenerRuleArn,
  parsePort,
  parseRate,
  parseRoleArn,
  parseSecurityGroupIds,
  parseSteps,
  parseSubnetIds,
  parseTargetGroupPair,
  type LaunchType,
} from '../validation/fields.ts';
import type { ServiceKind } from '../store/schema.ts';
import { parseCommand } from '../validation/command.ts';
import { parseAlarmName, parseAlarmNames } from '../validation/alarm.ts';
import { collect } from './input-rules.ts';
import { parseLogGroup } from '../validation/names.ts';
import {
  flagTemplate,
  parseContainerName,
  type ParsedTemplate,
} from '../validation/task-definition.ts';
import { fromTemplate } from '../store/release-template.ts';

/** The flags `service create` and `service update` share, as commander hands them over. */
export interface ServiceFlags {
  cluster?: string;
  image?: string;
  port?: string;
  desired?: string;
  cpu?: string;
  memory?: string;
  listenerRule?: string;
  targetGroups?: string;
  healthPath?: string;
  launchType?: string;
  subnets?: string;
  securityGroups?: string;
  publicIp?: boolean;
  taskRole?: string;
  executionRole?: string;
  steps?: string;
  bake?: string;
  interval?: string;
  max5xxRate?: string;
  maxP99?: string;
  minRequests?: string;
  failureLimit?: string;
  confidence?: string;
  maxAnalysis?: string;
  progressDeadline?: string;
  rollbackWindow?: string;
  max5xxIncrease?: string;
  maxFailedLaunches?: string;
  follow?: string;
  unfollow?: boolean;
  preDeployCommand?: string;
  verifyCommand?: string;
  verifyTimeout?: string;
  alarm?: string[];
  alarmPrefix?: string;
  taskDefinition?: string;
  fromTaskDefinition?: string;
  container?: string;
  logGroup?: string;
  dryRun?: boolean;
  /** False with `--no-load-balancer` (create only): a worker service. */
  loadBalancer?: boolean;
  minRunning?: string;
  keepWarm?: boolean;
}

/** Adds the flags `service create` and `service update` share; create's three are required. */
export function addServiceFlags(command: Command, mode: 'create' | 'update'): Command {
  const required = mode === 'create';
  const cluster = '--cluster <cluster>';
  const image = '--image <image>';
  const port = '--port <port>';
  if (required) {
    command
      .requiredOption(cluster, 'ECS cluster name or ARN')
      .option(
        image,
        "the main container's image, e.g. nginx:1.27 or repo@sha256:… (required without a template)",
      )
      .option(
        port,
        'container port the target groups send traffic to (required without a template)',
      )
      .option(
        '--task-definition <file>',
        'the task definition to run, as aws ecs describe-task-definition --query taskDefinition prints it',
      )
      .option(
        '--from-task-definition <arn|family[:rev]>',
        'adopt a task definition registered in the account as the template',
      );
  } else {
    command
      .option(cluster, 'ECS cluster name or ARN')
      .option(image, "the main container's image (a new release, deployed as a canary)")
      .option(port, 'container port (a new release)')
      .option('--task-definition <file>', 'a new task definition template (a new release)')
      .option('--dry-run', 'print the release that would be made and its diff; write nothing');
  }
  command
    .option(
      '--container <name>',
      "the template's main container: the one the load balancer routes to and --image sets",
    )
    .option(
      '--log-group <name>',
      'CloudWatch Logs group of containers without their own logging (default /berth/NAME)',
    );
  command
    .option('--desired <count>', `desired task count, 0–5000${required ? ' (default 1)' : ''}`)
    .option('--cpu <units>', `task CPU units${required ? ' (default 256)' : ''}`)
    .option('--memory <mib>', `task memory in MiB${required ? ' (default 512)' : ''}`)
    .option('--listener-rule <arn>', 'ALB listener rule whose weights Berth sets')
    .option('--target-groups <arn,arn>', 'the two target groups stable and canary alternate on')
    .option('--health-path <path>', 'health check path (default /)')
    .option('--launch-type <type>', 'FARGATE or EC2 (default FARGATE)')
    .option('--subnets <ids>', 'awsvpc subnets, comma-separated')
    .option('--security-groups <ids>', 'awsvpc security groups, comma-separated')
    .option('--public-ip', 'assign public IPs to tasks')
    .option('--task-role <arn>', 'IAM role the tasks run as')
    .option('--execution-role <arn>', 'IAM role ECS pulls images and secrets with')
    .option('--steps <percents>', 'canary traffic steps (default 10,100)')
    .option('--bake <duration>', 'time at 100% before the release becomes primary (default 5m)')
    .option('--interval <duration>', 'analysis window length (default 1m)')
    .option('--max-5xx-rate <rate>', 'highest canary 5xx rate that passes (default 0.01)')
    .option('--max-p99 <latency>', 'highest canary p99 latency that passes (default 800ms)')
    .option(
      '--min-requests <count>',
      'requests a step needs, pooled over its windows, before it can pass (default 100)',
    )
    .option(
      '--failure-limit <count>',
      'windows whose p99 breaches the threshold that fail a step (default 2)',
    )
    .option(
      '--confidence <level>',
      'how sure a verdict must be, 0.6–0.9999 or 60%–99.99% (default 0.95)',
    )
    .option(
      '--max-analysis <duration>',
      "longest a step's analysis may stay undecided before the canary is rolled back (default 30m)",
    )
    .option('--progress-deadline <duration>', 'time a step may take to turn healthy (default 10m)')
    .option(
      '--rollback-window <duration>',
      'how long the previous release stays warm for an instant rollback (default 10m)',
    )
    .option(
      '--max-5xx-increase <rate>',
      "fail when the canary's 5xx rate exceeds the stable one's by more than this (default: no check)",
    )
    .option(
      '--max-failed-launches <count>',
      'canary tasks that may stop before turning healthy before a rollback, 0–100; 0 waits for the progress deadline (default 3)',
    );
  if (required) {
    command.option(
      '--no-load-balancer',
      'a worker service: no port, listener rule or target groups; its canary is a share of the tasks',
    );
  }
  command
    .option(
      '--min-running <duration>',
      `worker services: how long a step's canary tasks must stay running to pass${required ? ' (default 2m)' : ''}`,
    )
    .option(
      '--keep-warm',
      'worker services: keep the previous task set running for the rollback window (default: it is removed)',
    );
  if (!required) command.option('--no-keep-warm', 'worker services: remove the previous task set');
  command.option(
    '--follow <repo:pattern>',
    'deploy new pushes to this ECR repository whose tag matches, e.g. web:main-* (* the only wildcard)',
  );
  if (!required) command.option('--unfollow', 'stop deploying pushes to the followed repository');
  addVerificationFlags(command);
  command
    .option(
      '--alarm <name>',
      `a CloudWatch alarm whose state ALARM fails the canary at once (repeatable, up to 100${required ? '' : "; replaces the list, '' clears it"})`,
      collect,
    )
    .option(
      '--alarm-prefix <prefix>',
      `every CloudWatch alarm whose name starts with this, likewise${required ? '' : " ('' clears it)"}`,
    );
  // Defined after --public-ip, so that leaving both out stays undefined (commander's rule).
  if (!required) command.option('--no-public-ip', 'stop assigning public IPs to tasks');
  return command;
}

/** The flags of verification tasks (see `verifyRelease`). */
function addVerificationFlags(command: Command): void {
  command
    .option(
      '--pre-deploy-command <cmd>',
      "run as sh -c CMD in a one-off task of each new release before its canary, e.g. migrations ('' clears it)",
    )
    .option(
      '--verify-command <cmd>',
      "run as sh -c CMD in a one-off task after the pre-deploy command, e.g. integration tests ('' clears it)",
    )
    .option(
      '--verify-timeout <duration>',
      'how long each of those tasks may run before it is stopped and the deployment fails (default 10m)',
    );
}

const DEFAULT_POLICY: RolloutPolicy = {
  steps: [10, 100],
  bakeSeconds: 300,
  analysisIntervalSeconds: 60,
  max5xxRate: 0.01,
  maxP99Ms: 800,
  minRequests: 100,
  failureLimit: 2,
  confidence: 0.95,
  maxAnalysisSeconds: 1800,
  progressDeadlineSeconds: 600,
  rollbackWindowSeconds: 600,
  max5xxRateIncrease: null,
  maxFailedLaunches: 3,
  preDeployCommand: null,
  verifyCommand: null,
  verifyTimeoutSeconds: 600,
  alarmNames: [],
  alarmPrefix: null,
};

/** A worker's canary passes a step once its tasks ran this long (`--min-running`). */
const DEFAULT_MIN_RUNNING_SECONDS = 120;

/** Every flag parsed on its own; undefined where it was not given. */
export function parseServiceFlags(flags: ServiceFlags, mode: 'create' | 'update') {
  const opt = <T>(raw: string | undefined, parse: (raw: string) => T): T | undefined =>
    raw === undefined ? undefined : parse(raw);
  const parsed = {
    cluster: opt(flags.cluster, (raw) => parseClusterName('--cluster', raw)),
    image: opt(flags.image, (raw) => parseImageRef('--image', raw)),
    port: opt(flags.port, (raw) => parsePort('--port', raw)),
    desired: opt(flags.desired, (raw) => parseCount('--desired', raw, { min: 0, max: 5000 })),
    cpu: opt(flags.cpu, (raw) => parseCount('--cpu', raw, { min: 128, max: 196608 })),
    memory: opt(flags.memory, (raw) => parseCount('--memory', raw, { min: 6, max: 1048576 })),
    listenerRule: opt(flags.listenerRule, (raw) => parseListenerRuleArn('--listener-rule', raw)),
    targetGroups: opt(flags.targetGroups, (raw) => parseTargetGroupPair('--target-groups', raw)),
    healthPath: opt(flags.healthPath, (raw) => parseHealthPath('--health-path', raw)),
    launchType: opt(flags.launchType, (raw) => parseLaunchType('--launch-type', raw)),
    subnets: opt(flags.subnets, (raw) => parseSubnetIds('--subnets', raw)),
    securityGroups: opt(flags.securityGroups, (raw) =>
      parseSecurityGroupIds('--security-groups', raw),
    ),
    publicIp: flags.publicIp,
    taskRole: opt(flags.taskRole, (raw) => parseRoleArn('--task-role', raw)),
    executionRole: opt(flags.executionRole, (raw) => parseRoleArn('--execution-role', raw)),
    steps: opt(flags.steps, (raw) => parseSteps('--steps', raw)),
    bake: opt(flags.bake, (raw) =>
      parseDuration('--bake', raw, { minSeconds: 0, maxSeconds: 86400 }),
    ),
    interval: opt(flags.interval, (raw) =>
      parseDuration('--interval', raw, { minSeconds: 1, maxSeconds: 3600 }),
    ),
    max5xxRate: opt(flags.max5xxRate, (raw) => parseRate('--max-5xx-rate', raw)),
    maxP99: opt(flags.maxP99, (raw) => parseLatency('--max-p99', raw)),
    minRequests: opt(flags.minRequests, (raw) =>
      parseCount('--min-requests', raw, { min: 0, max: 1_000_000_000 }),
    ),
    failureLimit: opt(flags.failureLimit, (raw) =>
      parseCount('--failure-limit', raw, { min: 1, max: 100 }),
    ),
    confidence: opt(flags.confidence, (raw) => parseConfidence('--confidence', raw)),
    maxAnalysis: opt(flags.maxAnalysis, (raw) =>
      parseDuration('--max-analysis', raw, { minSeconds: 1, maxSeconds: 86400 }),
    ),
    progressDeadline: opt(flags.progressDeadline, (raw) =>
      parseDuration('--progress-deadline', raw, { minSeconds: 10, maxSeconds: 86400 }),
    ),
    rollbackWindow: opt(flags.rollbackWindow, (raw) =>
      parseDuration('--rollback-window', raw, { minSeconds: 0, maxSeconds: 86400 }),
    ),
    max5xxIncrease: opt(flags.max5xxIncrease, (raw) => parseRate('--max-5xx-increase', raw)),
    maxFailedLaunches: opt(flags.maxFailedLaunches, (raw) =>
      parseCount('--max-failed-launches', raw, { min: 0, max: 100 }),
    ),
    follow: opt(flags.follow, (raw) => parseFollowTarget('--follow', raw)),
    unfollow: flags.unfollow,
    preDeployCommand: opt(flags.preDeployCommand, (raw) =>
      parseCommand('--pre-deploy-command', raw),
    ),
    verifyCommand: opt(flags.verifyCommand, (raw) => parseCommand('--verify-command', raw)),
    verifyTimeout: opt(flags.verifyTimeout, (raw) =>
      parseDuration('--verify-timeout', raw, { minSeconds: 1, maxSeconds: 86400 }),
    ),
    alarms: flags.alarm === undefined ? undefined : alarmList(flags.alarm, mode),
    alarmPrefix: opt(flags.alarmPrefix, (raw) =>
      mode === 'update' && raw === '' ? null : parseAlarmName('--alarm-prefix', raw),
    ),
    container: opt(flags.container, (raw) => parseContainerName('--container', raw)),
    logGroup: opt(flags.logGroup, (raw) => parseLogGroup('--log-group', raw)),
    worker: flags.loadBalancer === false,
    minRunning: opt(flags.minRunning, (raw) =>
      parseDuration('--min-running', raw, { minSeconds: 1, maxSeconds: 86400 }),
    ),
    keepWarm: flags.keepWarm,
  };
  if (parsed.worker) {
    // One line naming the first flag that has no meaning without a load balancer.
    for (const [given, flag] of [
      [parsed.port, '--port'],
      [parsed.listenerRule, '--listener-rule'],
      [parsed.targetGroups, '--target-groups'],
      [parsed.healthPath, '--health-path'],
    ] as const) {
      if (given !== undefined) {
        throw new InputError(
          flag,
          'cannot be given with --no-load-balancer: a worker service has no port, listener rule or target groups',
        );
      }
    }
  } else if (mode === 'create') {
    for (const [given, flag] of [
      [parsed.minRunning, '--min-running'],
      [parsed.keepWarm, '--keep-warm'],
    ] as const) {
      if (given !== undefined) {
        throw new InputError(flag, 'applies to worker services; give --no-load-balancer with it');
      }
    }
  }
  if (flags.taskDefinition !== undefined && flags.fromTaskDefinition !== undefined) {
    throw new InputError(
      '--from-task-definition',
      'cannot be given with --task-definition; give one of them',
    );
  }
  if (parsed.follow !== undefined && parsed.unfollow === true) {
    throw new InputError('--unfollow', 'cannot be given with --follow; give one of them');
  }
  checkTogether(flags, ['listenerRule', '--listener-rule'], ['targetGroups', '--target-groups']);
  checkTogether(flags, ['subnets', '--subnets'], ['securityGroups', '--security-groups']);
  if (mode === 'create' && parsed.publicIp === true && parsed.subnets === undefined) {
    throw new InputError(
      '--public-ip',
      'applies to awsvpc networking; give --subnets and --security-groups with it',
    );
  }
  if (parsed.listenerRule !== undefined && parsed.targetGroups !== undefined) {
    const rule = arnParts(parsed.listenerRule);
    for (const group of parsed.targetGroups) {
      const parts = arnParts(group);
      if (parts.region !== rule.region || parts.account !== rule.account) {
        throw new InputError(
          '--target-groups',
          `${group} is in ${parts.region}/${parts.account} but the listener rule is in ${rule.region}/${rule.account}; they must be in the same region and account`,
        );
      }
    }
  }
  return parsed;
}

/** `--alarm` as given; on update a single `--alarm ''` clears the list. */
function alarmList(raws: readonly string[], mode: 'create' | 'update'): string[] {
  if (mode === 'update' && raws.length === 1 && raws[0] === '') return [];
  return parseAlarmNames('--alarm', raws);
}

export type ParsedServiceFlags = ReturnType<typeof parseServiceFlags>;

function checkTogether(
  flags: ServiceFlags,
  [a, aFlag]: [keyof ServiceFlags, string],
  [b, bFlag]: [keyof ServiceFlags, string],
): void {
  if (flags[a] !== undefined && flags[b] === undefined) {
    throw new InputError(bFlag, `is required with ${aFlag}`);
  }
  if (flags[b] !== undefined && flags[a] === undefined) {
    throw new InputError(aFlag, `is required with ${bFlag}`);
  }
}

/**
 * A step's analysis must outlast at least one window, or every step would roll back undecided
 * with no window judged.
 */
function checkAnalysisSpan(intervalSeconds: number, maxAnalysisSeconds: number): void {
  if (maxAnalysisSeconds < intervalSeconds) {
    throw new InputError(
      '--max-analysis',
      `${formatDuration(maxAnalysisSeconds)} is shorter than one analysis window (--interval ${formatDuration(intervalSeconds)}); give at least the interval, better several`,
    );
  }
}

/** The full description of a new service, defaults filled in. */
export function newServiceFrom(
  flags: ParsedServiceFlags,
  name: string,
  template?: ParsedTemplate,
): { settings: ServiceSettings; policy: RolloutPolicy; release: ReleaseSpec } {
  if (flags.cluster === undefined) {
    throw new Error('commander let a required option through'); // requiredOption guarantees it
  }
  const release =
    template !== undefined ? templateRelease(flags, template) : flagRelease(flags, name);
  const kind: ServiceKind = flags.worker ? 'worker' : 'web';
  const launchType: LaunchType = template?.launchType ?? flags.launchType ?? 'FARGATE';
  checkAnalysisSpan(
    flags.interval ?? DEFAULT_POLICY.analysisIntervalSeconds,
    flags.maxAnalysis ?? DEFAULT_POLICY.maxAnalysisSeconds,
  );
  return {
    settings: {
      cluster: flags.cluster,
      ecsServiceName: name,
      desiredCount: flags.desired ?? 1,
      containerName: release.mainContainer,
      launchType,
      subnets: flags.subnets ?? [],
      securityGroups: flags.securityGroups ?? [],
      assignPublicIp: flags.publicIp ?? false,
      healthCheckPath: flags.healthPath ?? '/',
      listenerRuleArn: flags.listenerRule ?? null,
      targetGroupArns: flags.targetGroups ?? null,
      follow: flags.follow ?? null,
      logGroup: flags.logGroup ?? null,
      kind,
    },
    policy: {
      steps: flags.steps ?? DEFAULT_POLICY.steps,
      bakeSeconds: flags.bake ?? DEFAULT_POLICY.bakeSeconds,
      analysisIntervalSeconds: flags.interval ?? DEFAULT_POLICY.analysisIntervalSeconds,
      max5xxRate: flags.max5xxRate ?? DEFAULT_POLICY.max5xxRate,
      maxP99Ms: flags.maxP99 ?? DEFAULT_POLICY.maxP99Ms,
      minRequests: flags.minRequests ?? DEFAULT_POLICY.minRequests,
      failureLimit: flags.failureLimit ?? DEFAULT_POLICY.failureLimit,
      confidence: flags.confidence ?? DEFAULT_POLICY.confidence,
      maxAnalysisSeconds: flags.maxAnalysis ?? DEFAULT_POLICY.maxAnalysisSeconds,
      progressDeadlineSeconds: flags.progressDeadline ?? DEFAULT_POLICY.progressDeadlineSeconds,
      rollbackWindowSeconds: flags.rollbackWindow ?? DEFAULT_POLICY.rollbackWindowSeconds,
      max5xxRateIncrease: flags.max5xxIncrease ?? DEFAULT_POLICY.max5xxRateIncrease,
      maxFailedLaunches: flags.maxFailedLaunches ?? DEFAULT_POLICY.maxFailedLaunches,
      preDeployCommand: flags.preDeployCommand ?? DEFAULT_POLICY.preDeployCommand,
      verifyCommand: flags.verifyCommand ?? DEFAULT_POLICY.verifyCommand,
      verifyTimeoutSeconds: flags.verifyTimeout ?? DEFAULT_POLICY.verifyTimeoutSeconds,
      alarmNames: flags.alarms ?? DEFAULT_POLICY.alarmNames,
      alarmPrefix: flags.alarmPrefix ?? DEFAULT_POLICY.alarmPrefix,
      ...(kind === 'worker'
        ? {
            minRunningSeconds: flags.minRunning ?? DEFAULT_MIN_RUNNING_SECONDS,
            keepWarm: flags.keepWarm ?? false,
          }
        : {}),
    },
    release,
  };
}

/** Release v1 of a service without a template: one container, built from the flags. */
function flagRelease(flags: ParsedServiceFlags, name: string): ReleaseSpec {
  if (flags.image === undefined) {
    throw new InputError(
      '--image',
      'is required without a template (--task-definition FILE or --from-task-definition ARN)',
    );
  }
  if (flags.port === undefined && !flags.worker) {
    throw new InputError(
      '--port',
      'is required without a template (--task-definition FILE or --from-task-definition ARN), or --no-load-balancer for a worker service',
    );
  }
  const port = flags.port ?? null;
  if (flags.container !== undefined) {
    throw new InputError('--container', 'names a container of a template; give --task-definition');
  }
  const launchType: LaunchType = flags.launchType ?? 'FARGATE';
  const cpu = flags.cpu ?? 256;
  const memory = flags.memory ?? 512;
  checkTaskSize(launchType, cpu, memory);
  const taskRoleArn = flags.taskRole ?? null;
  const executionRoleArn = flags.executionRole ?? null;
  return {
    template: flagTemplate({
      container: name,
      port,
      cpu,
      memory,
      launchType,
      taskRoleArn,
      executionRoleArn,
    }),
    mainContainer: name,
    sidecars: {},
    image: flags.image.reference,
    imageDigest: flags.image.digest ?? null,
    environment: {},
    secrets: {},
    cpu,
    memory,
    containerPort: port,
    taskRoleArn,
    executionRoleArn,
  };
}

/** Release v1 from a template; --image, --cpu, --memory and the roles, when given, win. */
function templateRelease(flags: ParsedServiceFlags, template: ParsedTemplate): ReleaseSpec {
  const main = template.containers[template.mainContainer];
  const given =
    flags.image !== undefined && main !== undefined
      ? {
          ...template,
          containers: {
            ...template.containers,
            [template.mainContainer]: {
              ...main,
              image: flags.image.reference,
              imageDigest: flags.image.digest ?? null,
            },
          },
        }
      : template;
  const spec = fromTemplate(given, undefined);
  const cpu = flags.cpu ?? spec.cpu;
  const memory = flags.memory ?? spec.memory;
  if (template.launchType === 'FARGATE' || flags.cpu !== undefined || flags.memory !== undefined) {
    checkTaskSize(template.launchType, cpu, memory);
  }
  return {
    ...spec,
    cpu,
    memory,
    taskRoleArn: flags.taskRole ?? spec.taskRoleArn,
    executionRoleArn: flags.executionRole ?? spec.executionRoleArn,
  };
}

/** Only what was given, for `service update`. */
export function serviceUpdateFrom(
  flags: ParsedServiceFlags,
  current: {
    launchType: LaunchType;
    cpu: number;
    memory: number;
    hasNetwork: boolean;
    intervalSeconds: number;
    maxAnalysisSeconds: number;
    kind: ServiceKind;
  },
): ServiceUpdate {
  const onlyFor: ServiceKind = current.kind === 'worker' ? 'web' : 'worker';
  for (const [given, flag] of (current.kind === 'worker'
    ? [
        [flags.port, '--port'],
        [flags.listenerRule, '--listener-rule'],
        [flags.targetGroups, '--target-groups'],
        [flags.healthPath, '--health-path'],
      ]
    : [
        [flags.minRunning, '--min-running'],
        [flags.keepWarm, '--keep-warm'],
      ]) as [unknown, string][]) {
    if (given !== undefined) {
      throw new InputError(
        flag,
        `applies to ${onlyFor} services; this one is a ${current.kind} service (a service's kind is fixed when it is created)`,
      );
    }
  }
  if (flags.publicIp === true && flags.subnets === undefined && !current.hasNetwork) {
    throw new InputError(
      '--public-ip',
      'applies to awsvpc networking and this service has none; give --subnets and --security-groups with it',
    );
  }
  if (flags.launchType !== undefined && flags.launchType !== current.launchType) {
    throw new InputError(
      '--launch-type',
      `cannot change from ${current.launchType} on an existing service; create a new service instead`,
    );
  }
  if (flags.cpu !== undefined || flags.memory !== undefined) {
    checkTaskSize(current.launchType, flags.cpu ?? current.cpu, flags.memory ?? current.memory);
  }
  if (flags.interval !== undefined || flags.maxAnalysis !== undefined) {
    checkAnalysisSpan(
      flags.interval ?? current.intervalSeconds,
      flags.maxAnalysis ?? current.maxAnalysisSeconds,
    );
  }
  const release: ServiceUpdate['release'] = {};
  if (flags.image !== undefined) {
    release.image = flags.image.reference;
    release.imageDigest = flags.image.digest ?? null;
  }
  if (flags.cpu !== undefined) release.cpu = flags.cpu;
  if (flags.memory !== undefined) release.memory = flags.memory;
  if (flags.port !== undefined) release.containerPort = flags.port;
  if (flags.taskRole !== undefined) release.taskRoleArn = flags.taskRole;
  if (flags.executionRole !== undefined) release.executionRoleArn = flags.executionRole;
  const settings: Partial<ServiceSettings> = {};
  if (flags.cluster !== undefined) settings.cluster = flags.cluster;
  if (flags.desired !== undefined) settings.desiredCount = flags.desired;
  if (flags.listenerRule !== undefined) settings.listenerRuleArn = flags.listenerRule;
  if (flags.targetGroups !== undefined) settings.targetGroupArns = flags.targetGroups;
  if (flags.healthPath !== undefined) settings.healthCheckPath = flags.healthPath;
  if (flags.subnets !== undefined) settings.subnets = flags.subnets;
  if (flags.securityGroups !== undefined) settings.securityGroups = flags.securityGroups;
  if (flags.publicIp !== undefined) settings.assignPublicIp = flags.publicIp;
  if (flags.follow !== undefined) settings.follow = flags.follow;
  if (flags.unfollow === true) settings.follow = null;
  if (flags.logGroup !== undefined) settings.logGroup = flags.logGroup;
  const policy: Partial<RolloutPolicy> = {};
  if (flags.steps !== undefined) policy.steps = flags.steps;
  if (flags.bake !== undefined) policy.bakeSeconds = flags.bake;
  if (flags.interval !== undefined) policy.analysisIntervalSeconds = flags.interval;
  if (flags.max5xxRate !== undefined) policy.max5xxRate = flags.max5xxRate;
  if (flags.maxP99 !== undefined) policy.maxP99Ms = flags.maxP99;
  if (flags.minRequests !== undefined) policy.minRequests = flags.minRequests;
  if (flags.failureLimit !== undefined) policy.failureLimit = flags.failureLimit;
  if (flags.confidence !== undefined) policy.confidence = flags.confidence;
  if (flags.maxAnalysis !== undefined) policy.maxAnalysisSeconds = flags.maxAnalysis;
  if (flags.progressDeadline !== undefined) policy.progressDeadlineSeconds = flags.progressDeadline;
  if (flags.rollbackWindow !== undefined) policy.rollbackWindowSeconds = flags.rollbackWindow;
  if (flags.max5xxIncrease !== undefined) policy.max5xxRateIncrease = flags.max5xxIncrease;
  if (flags.maxFailedLaunches !== undefined) policy.maxFailedLaunches = flags.maxFailedLaunches;
  // Null (an empty value) clears a command; undefined leaves it alone.
  if (flags.preDeployCommand !== undefined) policy.preDeployCommand = flags.preDeployCommand;
  if (flags.verifyCommand !== undefined) policy.verifyCommand = flags.verifyCommand;
  if (flags.verifyTimeout !== undefined) policy.verifyTimeoutSeconds = flags.verifyTimeout;
  if (flags.alarms !== undefined) policy.alarmNames = flags.alarms;
  if (flags.alarmPrefix !== undefined) policy.alarmPrefix = flags.alarmPrefix;
  if (flags.minRunning !== undefined) policy.minRunningSeconds = flags.minRunning;
  if (flags.keepWarm !== undefined) policy.keepWarm = flags.keepWarm;
  return { settings, policy, release };
}
