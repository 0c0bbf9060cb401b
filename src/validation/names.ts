import { arnProblem, ECS_CLUSTER_ARN } from './arn.ts';
import { InputError } from './input-error.ts';
import { quote } from './quote.ts';

/** ECS service and cluster names: 1 to 255 letters, digits, hyphens and underscores. */
export const ECS_NAME = /^[A-Za-z0-9_-]{1,255}$/;
const ECS_NAME_RULE = '1 to 255 letters, digits, hyphens and underscores';

/** An ECS service name, e.g. `web` or `billing_api-v2`. */
export function parseServiceName(field: string, raw: string): string {
  if (!ECS_NAME.test(raw)) {
    throw new InputError(
      field,
      `${quote(raw)} is not a valid ECS service name; expected ${ECS_NAME_RULE}, e.g. web-api`,
    );
  }
  return raw;
}

/** Berth's task definitions are registered in the family `berth-<service name>`. */
export const TASK_DEFINITION_FAMILY_PREFIX = 'berth-';
/** ECS limits a task definition family to 255 characters (the same ones as a service name). */
const MAX_FAMILY = 255;

/** The task definition family of a service's releases. */
export function taskDefinitionFamily(serviceName: string): string {
  return `${TASK_DEFINITION_FAMILY_PREFIX}${serviceName}`;
}

/** The CloudWatch Logs group of a service's containers that have no logging of their own. */
export function defaultLogGroup(serviceName: string): string {
  return `/berth/${serviceName}`;
}

const LOG_GROUP = /^[A-Za-z0-9_./#-]{1,512}$/;

/** `--log-group`: a CloudWatch Logs group name. */
export function parseLogGroup(field: string, raw: string): string {
  if (!LOG_GROUP.test(raw)) {
    throw new InputError(
      field,
      `${quote(raw)} is not a log group name; expected 1 to 512 letters, digits and _ - / . #, e.g. /berth/web`,
    );
  }
  return raw;
}

/**
 * The name of a service about to be created: a valid ECS service name whose task definition
 * family (`berth-<name>`) is valid too, so that its first release can be registered at all.
 */
export function parseNewServiceName(field: string, raw: string): string {
  const name = parseServiceName(field, raw);
  const family = taskDefinitionFamily(name);
  if (family.length > MAX_FAMILY) {
    throw new InputError(
      field,
      `${quote(name)} is too long: its task definition family ${TASK_DEFINITION_FAMILY_PREFIX}NAME would be ${family.length} characters and ECS allows ${MAX_FAMILY}; use at most ${MAX_FAMILY - TASK_DEFINITION_FAMILY_PREFIX.length}`,
    );
  }
  return name;
}

/** An ECS cluster name (`prod`) or full cluster ARN, returned as given. */
export function parseClusterName(field: string, raw: string): string {
  if (raw.startsWith('arn:')) {
    const problem = arnProblem(raw, ECS_CLUSTER_ARN);
    if (problem !== undefined) {
      throw new InputError(
        field,
        `${quote(raw)} is not a valid ECS cluster ARN (${problem}); expected ${ECS_CLUSTER_ARN.shape}`,
      );
    }
    return raw;
  }
  if (!ECS_NAME.test(raw)) {
    throw new InputError(
      field,
      `${quote(raw)} is not a valid ECS cluster name; expected ${ECS_NAME_RULE}, e.g. prod, or a cluster ARN ${ECS_CLUSTER_ARN.shape}`,
    );
  }
  return raw;
}
