import { GetRoleCommand, type IAMClient } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';

/** How `AwsCloud` makes each call (rate limit, retries, lease deadline, explained errors). */
export type AdapterCall = <T>(
  what: string,
  resource: string,
  operation: (options: { abortSignal?: AbortSignal }) => Promise<T>,
) => Promise<T>;

/** The account the credentials act in, as STS names it. */
export async function callerAccount(call: AdapterCall, sts: STSClient): Promise<string> {
  const output = await call('sts:GetCallerIdentity', 'the caller', (options) =>
    sts.send(new GetCallerIdentityCommand({}), options),
  );
  if (output.Account === undefined) throw new Error('sts:GetCallerIdentity named no account');
  return output.Account;
}

/**
 * The ARN of the account's role `name`, or undefined when IAM has none by that name. IAM is a
 * global service: the ARN has no region.
 */
export async function findRoleArn(
  call: AdapterCall,
  iam: IAMClient,
  name: string,
): Promise<string | undefined> {
  try {
    const output = await call('iam:GetRole', `role ${name}`, (options) =>
      iam.send(new GetRoleCommand({ RoleName: name }), options),
    );
    return output.Role?.Arn;
  } catch (error) {
    // The explained error keeps AWS's own in its cause.
    const names = [error, (error as { cause?: unknown }).cause].map(
      (each) => (each as { name?: string } | undefined)?.name,
    );
    if (names.includes('NoSuchEntityException') || names.includes('NoSuchEntity')) {
      return undefined;
    }
    throw error;
  }
}
