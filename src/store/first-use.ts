import { sql } from 'kysely';
import type { Db } from './database.ts';

/** Held while a first use is decided, so that two `berth up` starting at once seed only once. */
const FIRST_USE_LOCK = 0x62657266; // "berf"

/**
 * Runs `seed` in one transaction when the database has never recorded anything — its audit log
 * is empty — and says whether it ran. The audit log refuses deletes, so "never used" stays false
 * for good once anything has happened: whatever `seed` writes is made at most once per database,
 * and services a person removed later are not brought back.
 */
export async function seedIfNeverUsed(db: Db, seed: (trx: Db) => Promise<void>): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${FIRST_USE_LOCK})`.execute(trx);
    const anything = await trx.selectFrom('events').select('id').limit(1).executeTakeFirst();
    if (anything !== undefined) return false;
    await seed(trx);
    return true;
  });
}

/** Whether the database has never recorded anything (nothing in its audit log), read outside any lock. */
export async function isNeverUsed(db: Db): Promise<boolean> {
  return (await db.selectFrom('events').select('id').limit(1).executeTakeFirst()) === undefined;
}
