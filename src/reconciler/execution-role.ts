import type { LaunchType } from '../domain.ts';

/** The role AWS's guides create for the ECS agent: the account's conventional execution role. */
export const CONVENTIONAL_EXECUTION_ROLE = 'ecsTaskExecutionRole';

/** What of a task definition decides whether AWS requires it an execution role. */
export interface ExecutionRoleNeeds {
  launchType: LaunchType;
  images: readonly string[];
  hasSecrets: boolean;
  /** Each container's `logConfiguration.logDriver`, where it has one. */
  logDrivers: readonly string[];
}

/** An image in a private ECR registry, which the Fargate agent pulls with the execution role. */
const ECR_IMAGE = /^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\//;

/**
 * Why AWS would refuse this task definition without an execution role (RegisterTaskDefinition:
 * ClientException), or undefined when it needs none: on Fargate an ECR image or the awslogs
 * driver, anywhere `secrets`.
 */
export function executionRoleNeed(needs: ExecutionRoleNeeds): string | undefined {
  const fargate = needs.launchType === 'FARGATE';
  if (fargate && needs.images.some((image) => ECR_IMAGE.test(image))) {
    return 'Fargate pulls ECR images with it';
  }
  if (fargate && needs.logDrivers.includes('awslogs')) {
    return 'Fargate sends awslogs lines with it';
  }
  if (needs.hasSecrets) return 'ECS fetches secrets with it';
  return undefined;
}

/** The execution role a release's task definition gets, or what is still to be found out. */
export type ExecutionRoleChoice =
  | { kind: 'given'; arn: string }
  | { kind: 'none-needed' }
  /** The account's conventional role, found and recorded already. */
  | { kind: 'conventional'; arn: string }
  /** Needed, none given, the conventional role not looked up yet. */
  | { kind: 'look-up'; need: string };

/**
 * The first role given (the service's `--execution-role`, then its template's: candidates in
 * that order), else, where AWS requires one, the account's conventional role once known.
 */
export function chooseExecutionRole(
  candidates: readonly (string | null | undefined)[],
  needs: ExecutionRoleNeeds,
  conventional: string | null,
): ExecutionRoleChoice {
  const given = candidates.find((arn): arn is string => arn !== null && arn !== undefined);
  if (given !== undefined) return { kind: 'given', arn: given };
  const need = executionRoleNeed(needs);
  if (need === undefined) return { kind: 'none-needed' };
  if (conventional !== null) return { kind: 'conventional', arn: conventional };
  return { kind: 'look-up', need };
}

/** What a deployment fails with (after its reason) when the account has no role to give it. */
export function missingExecutionRoleReason(need: string, account: string, service: string): string {
  return (
    `${need}, and account ${account} has no IAM role ${CONVENTIONAL_EXECUTION_ROLE}; ` +
    `create it, or pass one: berth service update ${service} --execution-role ARN`
  );
}
