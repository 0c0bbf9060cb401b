import { sql } from 'kysely';
import type { Fleet } from './fleet.ts';

/** One deployment the follow loop recorded (actor `ecr`). */
export interface EcrDeployment {
  id: number;
  service: string;
  image: string;
  digest: string | null;
  outcome: string | null;
}

/** The deployments the follow loop recorded (actor `ecr`), oldest first; of one service if named. */
export async function ecrDeployments(fleet: Fleet, service?: string): Promise<EcrDeployment[]> {
  const rows = await sql<EcrDeployment>`
    select d.id, s.name as service, r.image, r.image_digest as digest, d.outcome
      from deployments d
      join releases r on r.id = d.to_release_id
      join services s on s.id = d.service_id
     where d.requested_by = 'ecr' order by d.id`.execute(fleet.db);
  return rows.rows.filter((row) => service === undefined || row.service === service);
}

/** Waits until a look at `repository` that began after now has finished on some worker. */
export async function aWholeLookAt(fleet: Fleet, repository: string): Promise<void> {
  const since = (await sql<{ now: Date }>`select now() as now`.execute(fleet.db)).rows[0]?.now;
  await fleet.until(
    `a look at ${repository} that began after ${since?.toISOString() ?? ''}`,
    async () => {
      const row = await fleet.db
        .selectFrom('follow_polls')
        .select('last_listed_at')
        .where('repository', '=', repository)
        .executeTakeFirst();
      return row?.last_listed_at !== null &&
        row?.last_listed_at !== undefined &&
        since !== undefined &&
        row.last_listed_at > since
        ? true
        : undefined;
    },
  );
}

/** Waits for the `n`th deployment by ecr (of `service`, if named) to be recorded and to finish. */
export async function nthEcrDeploymentFinished(
  fleet: Fleet,
  n: number,
  service?: string,
  timeoutMs = 60_000,
): Promise<EcrDeployment> {
  return fleet.until(
    `deployment number ${n} by ecr${service !== undefined ? ` of ${service}` : ''} to finish`,
    async () => {
      const deployment = (await ecrDeployments(fleet, service))[n - 1];
      return deployment?.outcome !== null ? deployment : undefined;
    },
    timeoutMs,
  );
}

/** `berth sim push IMAGE`: the digest of the image pushed. */
export async function push(fleet: Fleet, image: string): Promise<string> {
  const pushed = await fleet.json<{ digest: string }>(['sim', 'push', image]);
  return pushed.digest;
}
