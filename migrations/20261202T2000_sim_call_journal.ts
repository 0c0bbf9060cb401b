import type { Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * Made the simulated AWS's call journal (`berth_sim.journal`) until the simulator took its
 * schema over (src/cloud/sim/migrations.ts, where that table is made now). Kept, doing nothing,
 * because kysely refuses a database whose executed migrations are missing from this folder.
 */
export async function up(_db: Kysely<any>): Promise<void> {}

export async function down(_db: Kysely<any>): Promise<void> {}
