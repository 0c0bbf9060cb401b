import type { Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * Made the simulated AWS's `berth_sim` schema until the simulator took that over: it now makes
 * its schema itself, on first use, with migrations of its own (src/cloud/sim/migrations.ts), so
 * that a production database gets no simulated cloud. This file stays, doing nothing, because
 * kysely refuses a database whose executed migrations are missing from this folder; a database
 * it ran on keeps its `berth_sim`, which the simulator adopts as it stands.
 */
export async function up(_db: Kysely<any>): Promise<void> {}

export async function down(_db: Kysely<any>): Promise<void> {}
