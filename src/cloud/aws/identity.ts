import { GetRoleCommand, type IAMClient } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import type { AwsCall } from './call.ts';

/**
 * STS and IAM, as far as a deploy needs them: which account the credentials act in, and whether
 * a role of it exists (the conventional task execution role).
 */
export class AwsIdentity {
  readonly #sts: STSClient;
  readonly #iam: IAMClient;
  readonly #call: AwsCall;

  constructor(sts: STSClient, iam: IAMClient, call: AwsCall) {
    this.#sts = sts;
    this.#iam = iam;
    this.#call = call;
  }

  /** The account the credentials act in, as STS names it. */
  async accountId(): Promise<string> {
    const output = await this.#call('sts:GetCallerIdentity', 'the caller', (options) =>
      this.#sts.send(new GetCallerIdentityCommand({}), options),
    );
    if (output.Account === undefined) throw new Error('sts:GetCallerIdentity named no account');
    return output.Account;
  }

  /**
   * The ARN of the account's role `name`, or undefined when IAM has none by that name. IAM is a
   * global service: the ARN has no region.
   */
  async findRole(name: string): Promise<string | undefined> {
    try {
      const output = await this.#call('iam:GetRole', `role ${name}`, (options) =>
        this.#iam.send(new GetRoleCommand({ RoleName: name }), options),
      );
      return output.Role?.Arn;
    } catch (error) {
      // The explained error keeps AWS's name (moto's wire code is NoSuchEntity).
      const name = (error as { name?: string }).name;
      if (name === 'NoSuchEntityException' || name === 'NoSuchEntity') return undefined;
      throw error;
    }
  }
}
