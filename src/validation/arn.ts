import { InputError } from './input-error.ts';
import { oneOf, quote } from './quote.ts';

/** The AWS partitions an ARN may name. */
export const PARTITIONS: readonly string[] = [
  'aws',
  'aws-cn',
  'aws-us-gov',
  'aws-iso',
  'aws-iso-b',
];

/** Region codes such as `us-east-1`, `eu-west-2`, `us-gov-west-1`, `cn-north-1`. */
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
const ACCOUNT = /^\d{12}$/;
const ARN = /^arn:([^:]*):([^:]*):([^:]*):([^:]*):(.*)$/s;

export interface ArnParts {
  partition: string;
  service: string;
  region: string;
  account: string;
  resource: string;
}

/**
 * Splits `arn:<partition>:<service>:<region>:<account>:<resource>` into its parts; the resource
 * is everything after the fifth colon, colons included. Meant for ARNs that have already been
 * through one of the parsers here (to check that two ARNs agree on partition, region or
 * account); for anything that is not shaped like an ARN it throws a plain `Error`.
 */
export function arnParts(arn: string): ArnParts {
  const m = ARN.exec(arn);
  if (m === null) throw new Error(`${quote(arn)} is not an ARN`);
  return {
    partition: m[1] ?? '',
    service: m[2] ?? '',
    region: m[3] ?? '',
    account: m[4] ?? '',
    resource: m[5] ?? '',
  };
}

/** What one kind of ARN must look like. */
export interface ArnKind {
  /** e.g. `target group ARN` */
  readonly what: string;
  /** The service (or services) the ARN may name. */
  readonly services: readonly string[];
  /** IAM ARNs have an empty region; all others need one. */
  readonly global: boolean;
  /** The expected shape, shown in every error message. */
  readonly shape: string;
  /** Describes what is wrong with the resource part (given the service), or `undefined`. */
  readonly resourceProblem: (resource: string, service: string) => string | undefined;
}

/**
 * What is wrong with `raw` as an ARN of this kind, without echoing more than single parts of
 * something that starts with `arn:` — or `undefined` if nothing is.
 */
export function arnProblem(raw: string, kind: ArnKind): string | undefined {
  if (!raw.startsWith('arn:')) return 'it does not start with arn:';
  const m = ARN.exec(raw);
  if (m === null) return 'it has fewer than six colon-separated parts';
  const [partition, service, region, account, resource] = [m[1], m[2], m[3], m[4], m[5]].map(
    (s) => s ?? '',
  ) as [string, string, string, string, string];
  if (!PARTITIONS.includes(partition)) {
    return `partition ${quote(partition)} is not ${oneOf(PARTITIONS)}`;
  }
  if (!kind.services.includes(service)) {
    return `service ${quote(service)} is not ${oneOf(kind.services)}`;
  }
  if (kind.global) {
    if (region !== '') return `IAM ARNs have no region, but this one has ${quote(region)}`;
  } else if (region === '') {
    return 'the region is missing';
  } else if (!REGION.test(region)) {
    return `region ${quote(region)} is not a region code like us-east-1`;
  }
  if (!ACCOUNT.test(account)) return `account ${quote(account)} is not 12 digits`;
  return kind.resourceProblem(resource, service);
}

function checkArn(field: string, raw: string, kind: ArnKind): string {
  const problem = arnProblem(raw, kind);
  if (problem !== undefined) {
    throw new InputError(
      field,
      `${quote(raw)} is not a valid ${kind.what} (${problem}); expected ${kind.shape}`,
    );
  }
  return raw;
}

const REGIONAL = (service: string): string =>
  `arn:<partition>:${service}:<region>:<12-digit account>:`;
const LB_NAME = '[A-Za-z0-9-]{1,32}';
const HEX16 = '[0-9a-f]{16}';

export const ECS_CLUSTER_ARN: ArnKind = {
  what: 'ECS cluster ARN',
  services: ['ecs'],
  global: false,
  shape: `${REGIONAL('ecs')}cluster/<name>`,
  resourceProblem: (resource) =>
    /^cluster\/[A-Za-z0-9_-]{1,255}$/.test(resource)
      ? undefined
      : `resource ${quote(resource)} is not cluster/<1 to 255 letters, digits, hyphens and underscores>`,
};

const LISTENER_RULE_ARN: ArnKind = {
  what: 'listener rule ARN',
  services: ['elasticloadbalancing'],
  global: false,
  shape: `${REGIONAL('elasticloadbalancing')}listener-rule/app/<load balancer name>/<16 hex>/<16 hex>/<16 hex>`,
  resourceProblem: (resource) => {
    if (resource.startsWith('listener/')) {
      return 'this is a listener ARN, not the ARN of one of its rules';
    }
    if (/^listener-rule\/(?:net|gwy)\//.test(resource)) {
      return 'only Application Load Balancer (app/) rules are accepted, because weighted forward actions are an ALB feature';
    }
    return new RegExp(`^listener-rule/app/${LB_NAME}/${HEX16}/${HEX16}/${HEX16}$`).test(resource)
      ? undefined
      : `resource ${quote(resource)} is not listener-rule/app/<name>/<16 hex>/<16 hex>/<16 hex>`;
  },
};

const TARGET_GROUP_ARN: ArnKind = {
  what: 'target group ARN',
  services: ['elasticloadbalancing'],
  global: false,
  shape: `${REGIONAL('elasticloadbalancing')}targetgroup/<name: 1 to 32 letters, digits and hyphens>/<16 hex>`,
  resourceProblem: (resource) =>
    new RegExp(`^targetgroup/${LB_NAME}/${HEX16}$`).test(resource)
      ? undefined
      : `resource ${quote(resource)} is not targetgroup/<name>/<16 hex>`,
};

/**
 * Secrets Manager: `secret:<name>` where the name may carry the `-AbCdEf` suffix AWS adds, and
 * may be followed (as ECS allows) by `:<json-key>:<version-stage>:<version-id>`, any of them
 * empty. SSM Parameter Store: `parameter/<name>`, hierarchical names included.
 */
const SECRET_ARN: ArnKind = {
  what: 'Secrets Manager or SSM parameter ARN',
  services: ['secretsmanager', 'ssm'],
  global: false,
  shape: `${REGIONAL('secretsmanager')}secret:<name>[:<json-key>:<version-stage>:<version-id>] or ${REGIONAL('ssm')}parameter/<name>`,
  resourceProblem: (resource, service) => {
    if (service === 'ssm') {
      return /^parameter\/[A-Za-z0-9_.\-/]{1,2048}$/.test(resource) && !resource.includes('//')
        ? undefined
        : 'the resource is not parameter/<name> with a name of letters, digits, _, ., - and /';
    }
    return /^secret:[A-Za-z0-9/_+=.@-]{1,512}(?::[^:\s]*:[^:\s]*:[^:\s]*)?$/.test(resource)
      ? undefined
      : 'the resource is not secret:<name> (letters, digits and /_+=.@-), optionally followed by :<json-key>:<version-stage>:<version-id>';
  },
};

const ROLE_ARN: ArnKind = {
  what: 'IAM role ARN',
  services: ['iam'],
  global: true,
  shape: 'arn:<partition>:iam::<12-digit account>:role/[<path>/]<name>',
  resourceProblem: (resource) =>
    /^role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/.test(resource)
      ? undefined
      : `resource ${quote(resource)} is not role/[<path>/]<name> with a name of 1 to 64 letters, digits and +=,.@_-`,
};

/** An Application Load Balancer listener rule ARN (the rule whose forward weights are shifted). */
export function parseListenerRuleArn(field: string, raw: string): string {
  return checkArn(field, raw, LISTENER_RULE_ARN);
}

/** An Elastic Load Balancing target group ARN. */
export function parseTargetGroupArn(field: string, raw: string): string {
  return checkArn(field, raw, TARGET_GROUP_ARN);
}

/** A Secrets Manager secret ARN or an SSM Parameter Store parameter ARN. */
export function parseSecretArn(field: string, raw: string): string {
  return checkArn(field, raw, SECRET_ARN);
}

/** What is wrong with `raw` as a secret ARN, without quoting it, or `undefined`. */
export function secretArnProblem(raw: string): string | undefined {
  return arnProblem(raw, SECRET_ARN);
}

/** The expected shape of a secret ARN, for messages. */
export const SECRET_ARN_SHAPE = SECRET_ARN.shape;

/** An IAM role ARN, e.g. `arn:aws:iam::123456789012:role/ecsTaskExecutionRole`. */
export function parseRoleArn(field: string, raw: string): string {
  return checkArn(field, raw, ROLE_ARN);
}

/**
 * Exactly two distinct target group ARNs separated by a comma (blue and green), in the same
 * partition, region and account.
 */
export function parseTargetGroupPair(field: string, raw: string): [string, string] {
  const items = raw.split(',').map((s) => s.trim());
  const [first, second] = items;
  if (items.length !== 2 || first === undefined || second === undefined) {
    throw new InputError(
      field,
      `${quote(raw)} is not two target group ARNs; expected <target group ARN>,<target group ARN> with each ${TARGET_GROUP_ARN.shape}`,
    );
  }
  parseTargetGroupArn(field, first);
  parseTargetGroupArn(field, second);
  if (first === second) {
    throw new InputError(
      field,
      `${quote(raw)} names the same target group twice; expected two different target group ARNs`,
    );
  }
  const a = arnParts(first);
  const b = arnParts(second);
  if (a.partition !== b.partition || a.region !== b.region || a.account !== b.account) {
    throw new InputError(
      field,
      `${quote(raw)} names target groups in different regions or accounts (${a.region}/${a.account} and ${b.region}/${b.account}); both must be in the same region and account`,
    );
  }
  return [first, second];
}
