import {
  NoSuchEntityException,
  type DeleteRoleCommandInput,
  type GetRoleCommandInput,
  type GetRoleCommandOutput,
  type Role,
} from '@aws-sdk/client-iam';
import type {
  GetCallerIdentityCommandInput,
  GetCallerIdentityCommandOutput,
} from '@aws-sdk/client-sts';
import { modeledError } from './aws-errors.ts';
import { handler, KIND, type Output } from './model.ts';
import type { SimTx } from './sim-store.ts';
import type { SimContext, SimHandler } from './model.ts';

/*
 * The little of IAM and STS a deploy asks about: who the caller is (its account) and whether a
 * role exists. A new simulated account has the task execution role AWS's guides create,
 * `ecsTaskExecutionRole`, so the quick start deploys ECR images on Fargate as it did; a test
 * that needs an account without it deletes it (DeleteRole).
 */

/** The roles every simulated account starts with. */
export const SIM_ROLES = ['ecsTaskExecutionRole'] as const;

/** A role as the simulation keeps it; `deleted` marks a starting role that was deleted. */
interface RoleDoc {
  name: string;
  deleted?: boolean;
}

function roleOutput(ctx: SimContext, name: string): Role {
  return {
    Path: '/',
    RoleName: name,
    RoleId: `AROA${name.length.toString(16).padStart(4, '0')}SIMULATED${name.length}`,
    Arn: `arn:aws:iam::${ctx.account}:role/${name}`,
    CreateDate: new Date(0),
    AssumeRolePolicyDocument: encodeURIComponent(
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Service: 'ecs-tasks.amazonaws.com' },
            Action: 'sts:AssumeRole',
          },
        ],
      }),
    ),
    MaxSessionDuration: 3600,
  };
}

async function roleExists(tx: SimTx, name: string): Promise<boolean> {
  const doc = await tx.get<RoleDoc>(KIND.iamRole, name);
  if (doc !== undefined) return doc.deleted !== true;
  return (SIM_ROLES as readonly string[]).includes(name);
}

function noSuchRole(name: string): Error {
  return modeledError(NoSuchEntityException, `The role with name ${name} cannot be found.`);
}

async function getRole(
  tx: SimTx,
  input: GetRoleCommandInput,
  ctx: SimContext,
): Promise<Output<GetRoleCommandOutput>> {
  const name = input.RoleName ?? '';
  if (!(await roleExists(tx, name))) throw noSuchRole(name);
  return { Role: roleOutput(ctx, name) };
}

async function deleteRole(tx: SimTx, input: DeleteRoleCommandInput): Promise<object> {
  const name = input.RoleName ?? '';
  if (!(await roleExists(tx, name))) throw noSuchRole(name);
  await tx.put(KIND.iamRole, name, { name, deleted: true } satisfies RoleDoc);
  return {};
}

function getCallerIdentity(
  _tx: unknown,
  _input: GetCallerIdentityCommandInput,
  ctx: SimContext,
): Promise<Output<GetCallerIdentityCommandOutput>> {
  return Promise.resolve({
    UserId: 'AIDASIMULATEDBERTH0001',
    Account: ctx.account,
    Arn: `arn:aws:iam::${ctx.account}:user/berth-sim`,
  });
}

/** The IAM operations the simulation answers, by operation name. */
export const iamHandlers: Record<string, SimHandler> = {
  GetRole: handler(getRole),
  DeleteRole: handler(deleteRole),
};

/** The STS operations the simulation answers, by operation name. */
export const stsHandlers: Record<string, SimHandler> = {
  GetCallerIdentity: handler(getCallerIdentity),
};
