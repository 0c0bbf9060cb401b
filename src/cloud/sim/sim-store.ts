import { sql, type Kysely } from 'kysely';
import type { JournalEntry } from './journal.ts';
import { ensureSimulatedAwsSchema } from './migrations.ts';

/** One simulated operation's view of the cloud: documents by kind and id, in one transaction. */
export interface SimTx {
  /** Milliseconds since the epoch, the same for the whole operation. */
  readonly now: number;
  get<T>(kind: string, id: string): Promise<T | undefined>;
  /** Every document of a kind, or those whose id starts with `idPrefix`. */
  list<T>(kind: string, idPrefix?: string): Promise<T[]>;
  put(kind: string, id: string, doc: unknown): Promise<void>;
  delete(kind: string, id: string): Promise<void>;
  setting<T>(key: string): Promise<T | undefined>;
  /**
   * A setting, locked until the operation ends: a change written back from it with
   * `putSetting` cannot be lost to a concurrent writer in another process.
   */
  settingForUpdate<T>(key: string): Promise<T | undefined>;
  putSetting(key: string, value: unknown): Promise<void>;
  /** Logs a write the operation answered, committed with it (see `JournalEntry`). */
  journal(api: string, operation: string, request: unknown, arns: readonly string[]): Promise<void>;
}

/** Serialises the simulated AWS's operations across every process sharing the database. */
const SIM_LOCK = 0x73696d; // "sim"

// The simulated AWS is a cloud, not part of Berth's store: its persistence lives beside it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

export class SimStore {
  readonly #db: AnyDb;
  readonly #clock: () => number;

  constructor(db: AnyDb, clock: () => number = Date.now) {
    this.#db = db;
    this.#clock = clock;
  }

  now(): number {
    return this.#clock();
  }

  /**
   * The `berth_sim` schema, made or brought up to date by the simulator itself before its first
   * read or write in this process (see migrations.ts): Berth's own migrations do not make it.
   */
  async #ready(): Promise<AnyDb> {
    await ensureSimulatedAwsSchema(this.#db);
    return this.#db;
  }

  /** Runs one operation atomically: no two operations, from any process, interleave. */
  async operation<T>(work: (tx: SimTx) => Promise<T>): Promise<T> {
    return (await this.#ready()).transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${SIM_LOCK})`.execute(trx);
      const now = this.#clock();
      const tx: SimTx = {
        now,
        get: async <T>(kind: string, id: string) => {
          const row = await sql<{ doc: T }>`
            select doc from berth_sim.resources where kind = ${kind} and id = ${id}`.execute(trx);
          return row.rows[0]?.doc;
        },
        list: async <T>(kind: string, idPrefix?: string) => {
          const rows =
            idPrefix === undefined
              ? await sql<{ doc: T }>`
                  select doc from berth_sim.resources where kind = ${kind} order by id`.execute(trx)
              : await sql<{ doc: T }>`
                  select doc from berth_sim.resources
                  where kind = ${kind} and starts_with(id, ${idPrefix}) order by id`.execute(trx);
          return rows.rows.map((row) => row.doc);
        },
        put: async (kind: string, id: string, doc: unknown) => {
          await sql`
            insert into berth_sim.resources (kind, id, doc, updated_at)
            values (${kind}, ${id}, ${JSON.stringify(doc)}::jsonb, now())
            on conflict (kind, id) do update set doc = excluded.doc, updated_at = now()`.execute(
            trx,
          );
        },
        delete: async (kind: string, id: string) => {
          await sql`delete from berth_sim.resources where kind = ${kind} and id = ${id}`.execute(
            trx,
          );
        },
        setting: async <T>(key: string) => {
          const row = await sql<{ value: T }>`
            select value from berth_sim.settings where key = ${key}`.execute(trx);
          return row.rows[0]?.value;
        },
        settingForUpdate: async <T>(key: string) => {
          const row = await sql<{ value: T }>`
            select value from berth_sim.settings where key = ${key} for update`.execute(trx);
          return row.rows[0]?.value;
        },
        putSetting: async (key: string, value: unknown) => {
          await sql`
            insert into berth_sim.settings (key, value) values (${key}, ${JSON.stringify(value)}::jsonb)
            on conflict (key) do update set value = excluded.value`.execute(trx);
        },
        journal: async (api, operation, request, arns) => {
          await sql`
            insert into berth_sim.journal (api, operation, request, response)
            values (${api}, ${operation}, ${JSON.stringify(request)}::jsonb,
              ${JSON.stringify({ arns })}::jsonb)`.execute(trx);
        },
      };
      return work(tx);
    });
  }

  /** Counts one call; returns its ordinal among the calls of that operation, from any process. */
  async countCall(api: string, operation: string): Promise<number> {
    const row = await sql<{ count: number }>`
      insert into berth_sim.calls (api, operation, count) values (${api}, ${operation}, 1)
      on conflict (api, operation) do update set count = berth_sim.calls.count + 1
      returning count::int as count`.execute(await this.#ready());
    return row.rows[0]?.count ?? 0;
  }

  async callCounts(): Promise<Record<string, number>> {
    const rows = await sql<{ api: string; operation: string; count: number }>`
      select api, operation, count::int as count from berth_sim.calls`.execute(await this.#ready());
    return Object.fromEntries(rows.rows.map((row) => [`${row.api}:${row.operation}`, row.count]));
  }

  /** The writes the cloud answered, oldest first. */
  async journal(): Promise<JournalEntry[]> {
    const rows = await sql<{
      seq: string;
      at: Date;
      api: string;
      operation: string;
      request: Record<string, unknown>;
      response: { arns: string[] };
    }>`select seq, at, api, operation, request, response from berth_sim.journal order by seq`.execute(
      await this.#ready(),
    );
    return rows.rows.map((row) => ({
      seq: Number(row.seq),
      at: row.at,
      api: row.api,
      operation: row.operation,
      request: row.request,
      arns: row.response.arns,
    }));
  }

  async resetCalls(): Promise<void> {
    await sql`delete from berth_sim.calls`.execute(await this.#ready());
  }

  async putSetting(key: string, value: unknown): Promise<void> {
    await sql`
      insert into berth_sim.settings (key, value) values (${key}, ${JSON.stringify(value)}::jsonb)
      on conflict (key) do update set value = excluded.value`.execute(await this.#ready());
  }

  /**
   * Sets the given top-level members of an object setting and keeps the others, in one
   * statement: two processes changing different members both win.
   */
  async mergeSetting(key: string, members: Record<string, unknown>): Promise<void> {
    await sql`
      insert into berth_sim.settings (key, value) values (${key}, ${JSON.stringify(members)}::jsonb)
      on conflict (key) do update set value = case
        when jsonb_typeof(berth_sim.settings.value) = 'object'
        then berth_sim.settings.value || excluded.value
        else excluded.value end`.execute(await this.#ready());
  }

  async setting<T>(key: string): Promise<T | undefined> {
    const row = await sql<{ value: T }>`
      select value from berth_sim.settings where key = ${key}`.execute(await this.#ready());
    return row.rows[0]?.value;
  }

  /**
   * Takes one token from a shared bucket refilled at `ratePerSecond` up to `burst`; false when
   * empty (the caller answers with a throttling error).
   */
  async takeToken(name: string, burst: number, ratePerSecond: number): Promise<boolean> {
    const db = await this.#ready();
    // One statement (it runs for every call): the row locked, refilled for the time since, and
    // a token taken when there is one; what was there is returned to say which.
    const take = async (now: number) =>
      (
        await sql<{ allowed: boolean }>`
          update berth_sim.buckets b
          set tokens = case when x.tokens >= 1 then x.tokens - 1 else x.tokens end,
              -- Never back: a call whose clock was read before it waited for the row must not
              -- let the next one be credited the same time again.
              refilled_at = greatest(b.refilled_at, to_timestamp(${now / 1000}))
          from (
            select name, least(
              ${burst}::float8,
              tokens + greatest(0, ${now / 1000}::float8 - extract(epoch from refilled_at)::float8)
                * ${ratePerSecond}::float8
            ) as tokens
            from berth_sim.buckets where name = ${name} for update
          ) x
          where b.name = x.name
          returning x.tokens >= 1 as allowed`.execute(db)
      ).rows[0]?.allowed;
    const allowed = await take(this.#clock());
    if (allowed !== undefined) return allowed;
    // The bucket's first call: made full.
    await sql`
      insert into berth_sim.buckets (name, tokens, refilled_at)
      values (${name}, ${burst}, to_timestamp(${this.#clock() / 1000}))
      on conflict (name) do nothing`.execute(db);
    return (await take(this.#clock())) ?? true;
  }

  /** Forgets the whole cloud: resources, counts, settings and buckets. */
  async reset(): Promise<void> {
    await sql`truncate berth_sim.resources, berth_sim.calls, berth_sim.settings, berth_sim.buckets,
      berth_sim.journal`.execute(await this.#ready());
  }
}

/**
 * Whether this database holds the state of a simulated AWS (`berth_sim`, which the simulator
 * keeps beside Berth's tables): then the fleet the CLI is changing runs on the simulator. The
 * schema may be missing (a production database), which is a plain no. Asked of the simulator,
 * not of Berth's store, which knows nothing of the simulator's schema.
 */
export async function simulatedAwsHasState(db: AnyDb): Promise<boolean> {
  const table = await sql<{
    found: boolean;
  }>`select to_regclass('berth_sim.resources') is not null as found`.execute(db);
  if (table.rows[0]?.found !== true) return false;
  const rows = await sql<{
    used: boolean;
  }>`select exists (select 1 from berth_sim.resources) as used`.execute(db);
  return rows.rows[0]?.used === true;
}
