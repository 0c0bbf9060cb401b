import { sql } from 'kysely';
import { InputError } from '../validation/input-error.ts';
import type { Db } from './database.ts';
import type { NewService, Service, ServiceUpdate } from './schema.ts';
import { nearest } from './suggest.ts';

/** The service named `name` (not deleted), or undefined when there is none. */
export async function serviceNamed(db: Db, name: string): Promise<Service | undefined> {
  return db
    .selectFrom('services')
    .selectAll()
    .where('name', '=', name)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

/** The service named `name`, or bad input that names the closest existing service. */
export async function findService(db: Db, name: string, field = 'NAME'): Promise<Service> {
  const service = await serviceNamed(db, name);
  if (service !== undefined) return service;
  throw await unknownService(db, name, field);
}

/**
 * Like `findService`, and a service deleted under that name when none has it now (the newest):
 * what reads its audit log after `berth service delete`.
 */
export async function findServiceOrDeleted(db: Db, name: string, field = 'NAME'): Promise<Service> {
  const service = await serviceNamed(db, name);
  if (service !== undefined) return service;
  const deleted = await db
    .selectFrom('services')
    .selectAll()
    .where('name', '=', name)
    .where('deleted_at', 'is not', null)
    .orderBy('id', 'desc')
    .executeTakeFirst();
  if (deleted !== undefined) return deleted;
  throw await unknownService(db, name, field);
}

/**
 * Like `findService`, and locks the row until the transaction ends: writes to one service queue.
 * A service being deleted takes no more changes.
 */
export async function lockService(db: Db, name: string, field = 'NAME'): Promise<Service> {
  const service = await lockServiceRow(db, name, field);
  if (service.delete_requested_at !== null) {
    throw new InputError(
      field,
      `service ${JSON.stringify(name)} is being deleted (asked by ${service.delete_requested_by ?? 'someone'} at ${service.delete_requested_at.toISOString()}); it takes no more changes`,
    );
  }
  return service;
}

/** The row of the service named `name`, locked, whether or not its deletion was asked for. */
export async function lockServiceRow(db: Db, name: string, field = 'NAME'): Promise<Service> {
  const service = await db
    .selectFrom('services')
    .selectAll()
    .where('name', '=', name)
    .where('deleted_at', 'is', null)
    .forUpdate()
    .executeTakeFirst();
  if (service !== undefined) return service;
  throw await unknownService(db, name, field);
}

async function unknownService(db: Db, name: string, field: string): Promise<InputError> {
  const names = (
    await db.selectFrom('services').select('name').where('deleted_at', 'is', null).execute()
  ).map((row) => row.name);
  const suggestion = nearest(name, names);
  const hint =
    suggestion !== undefined
      ? `; did you mean ${JSON.stringify(suggestion)}?`
      : names.length === 0
        ? '; there are no services yet (berth service create)'
        : '; see berth service list';
  return new InputError(field, `no service named ${JSON.stringify(name)}${hint}`);
}

export async function listServices(db: Db): Promise<Service[]> {
  return db
    .selectFrom('services')
    .selectAll()
    .where('deleted_at', 'is', null)
    .orderBy('name')
    .execute();
}

export async function insertService(db: Db, service: NewService): Promise<Service> {
  return db.insertInto('services').values(service).returningAll().executeTakeFirstOrThrow();
}

/**
 * Writes `changes` and asks the workers to look at the service now rather than at its next
 * scheduled pass.
 */
export async function updateService(db: Db, id: number, changes: ServiceUpdate): Promise<Service> {
  return db
    .updateTable('services')
    .set({ ...changes, updated_at: sql<Date>`now()`, next_reconcile_at: sql<Date>`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}
