import type { CallPriority, Rate, SharedBudget } from '../cloud/rate-limit.ts';
import type { Db } from '../store/database.ts';
import { takeSharedToken } from '../store/rate-budget.ts';

/**
 * The AWS request budget of every worker on this database, held in Postgres: one token bucket
 * per API group and operation for the account and region (`scope`), whichever process calls.
 * Chosen over apportioning a share to each worker through its lease: a share sits idle wherever
 * its worker has nothing to send (the tail of a fleet deploy, when a few workers hold the last
 * rollouts), while a shared bucket lets the calls that are waiting have all of it, and needs no
 * re-balancing when a worker dies. It costs one short statement per AWS call.
 */
export function fleetBudget(db: Db, scope: string): SharedBudget {
  return {
    take: (bucket: string, rate: Rate, priority: CallPriority) =>
      takeSharedToken(db, `${scope} ${bucket}`, rate, priority === 'rollback'),
  };
}

/** The account and region a worker's calls count against, as far as its settings say. */
export function budgetScope(cloud: 'sim' | 'aws', env: NodeJS.ProcessEnv): string {
  if (cloud === 'sim') return 'sim';
  const region = env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? 'default-region';
  const endpoint = env['AWS_ENDPOINT_URL'];
  return endpoint !== undefined && endpoint !== '' ? `${region} ${endpoint}` : region;
}
