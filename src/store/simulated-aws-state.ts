import { sql } from 'kysely';
import type { Db } from './database.ts';

/**
 * Whether this database holds the state of a simulated AWS (`berth_sim`, which the simulator
 * keeps beside Berth's tables): then the fleet the CLI is changing runs on the simulator. The
 * schema may be missing (a production database), which is a plain no.
 */
export async function simulatedAwsHasState(db: Db): Promise<boolean> {
  const table = await sql<{
    found: boolean;
  }>`select to_regclass('berth_sim.resources') is not null as found`.execute(db);
  if (table.rows[0]?.found !== true) return false;
  const rows = await sql<{
    used: boolean;
  }>`select exists (select 1 from berth_sim.resources) as used`.execute(db);
  return rows.rows[0]?.used === true;
}
