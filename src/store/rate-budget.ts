import { sql } from 'kysely';
import type { Db } from './database.ts';

/** How long a rollback that found no token keeps the next one of its bucket for itself. */
const ROLLBACK_HOLD = '2 seconds';

/**
 * Takes one token of a bucket shared by every process on the database, refilled at `perSecond`
 * up to `burst` by the database's clock (one clock for every worker, wherever it runs). Returns
 * 0 when taken, else how many milliseconds until a token may be there. A rollback that finds
 * none marks the bucket for a moment: other callers then leave it the next token.
 */
export async function takeSharedToken(
  db: Db,
  bucket: string,
  rate: { perSecond: number; burst: number },
  rollback: boolean,
): Promise<number> {
  // One statement, the row locked for its length only: it runs before every AWS call.
  const take = async () =>
    (
      await sql<{ tokens: number; granted: boolean; reserved: boolean }>`
        with clock as (select clock_timestamp() as now),
        x as (
          select b.bucket,
            least(${rate.burst}::float8, b.tokens + greatest(0, extract(epoch from clock.now - b.refilled_at)::float8) * ${rate.perSecond}::float8) as tokens,
            (not ${rollback} and coalesce(b.rollback_until > clock.now, false)) as reserved,
            clock.now
          from aws_rate_buckets b, clock where b.bucket = ${bucket} for update of b
        ),
        y as (
          select x.*, x.tokens >= (case when x.reserved then 2 else 1 end) as granted from x
        )
        update aws_rate_buckets b
        set tokens = case when y.granted then y.tokens - 1 else y.tokens end,
            refilled_at = greatest(b.refilled_at, y.now),
            rollback_until = case
              when ${rollback} and y.granted then null
              when ${rollback} then y.now + ${ROLLBACK_HOLD}::interval
              else b.rollback_until end
        from y where b.bucket = y.bucket
        returning y.tokens, y.granted, y.reserved`.execute(db)
    ).rows[0];
  let row = await take();
  if (row === undefined) {
    // The bucket's first call, fleet-wide: made full.
    await sql`
      insert into aws_rate_buckets (bucket, tokens, refilled_at)
      values (${bucket}, ${rate.burst}, clock_timestamp())
      on conflict (bucket) do nothing`.execute(db);
    row = await take();
  }
  if (row === undefined || row.granted) return 0;
  const need = row.reserved ? 2 : 1;
  return Math.max(1, Math.ceil(((need - row.tokens) / rate.perSecond) * 1000));
}
