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
