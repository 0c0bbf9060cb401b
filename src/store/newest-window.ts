import type { Db } from './database.ts';
import type { AnalysisWindow } from './schema.ts';

// Apart from history.ts, which reads deployments: the notifications read this one in the
// transaction that ends a deployment, which settles its app deployment too (apps-settle.ts).

/** The newest judged window of a deployment, of one step when `stepIndex` is given. */
export async function newestWindow(
  db: Db,
  deploymentId: number,
  stepIndex?: number,
): Promise<AnalysisWindow | undefined> {
  let query = db
    .selectFrom('analysis_windows')
    .selectAll()
    .where('deployment_id', '=', deploymentId);
  if (stepIndex !== undefined) query = query.where('step_index', '=', stepIndex);
  return query
    .orderBy('step_index', 'desc')
    .orderBy('window_index', 'desc')
    .limit(1)
    .executeTakeFirst();
}
