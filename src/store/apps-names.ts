import { sql } from 'kysely';
import { InputError } from '../validation/input-error.ts';
import type { Db } from './database.ts';

/**
 * One name, one thing: `berth deploy NAME`, `abort NAME`, `history NAME` take a service or an
 * app, so the two never share a name. Both creates take this transaction lock first, so that
 * two at once cannot each find the name free.
 */
export async function lockNames(db: Db): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('berth.app-or-service-name'))`.execute(db);
}

/** Refuses a new service named like an app (`berth service create`). */
export async function checkNotAppName(db: Db, name: string): Promise<void> {
  await lockNames(db);
  const app = await db.selectFrom('apps').select('id').where('name', '=', name).executeTakeFirst();
  if (app !== undefined) {
    throw new InputError(
      'NAME',
      `${JSON.stringify(name)} is an app's name; an app and a service cannot share a name (berth deploy NAME must mean one of them)`,
    );
  }
}
