import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the database untyped */

/**
 * Webhook notifications as an outbox. A target is a URL, global or for one service. Each audit
 * event of a notified kind writes one outbox row per matching target in its own transaction, so
 * a notification exists exactly when the change it reports committed. Workers claim due rows by
 * pushing `next_attempt_at` past the attempt's deadline (a visibility timeout: a worker that dies
 * mid-delivery leaves the row due again), and fence their result by the attempt number. Every
 * attempt is a row of its own: who tried, when, what the receiver answered.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table notification_targets (
      id bigint generated always as identity primary key,
      url text not null check (url ~ '^https?://' and length(url) <= 2048),
      -- Marked secret: its URL may carry credentials (user:password@).
      secret boolean not null default false,
      -- Null: every service.
      service_id bigint references services (id) on delete cascade,
      format text not null check (format in ('json', 'slack')),
      created_by text not null check (length(created_by) between 1 and 512),
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table notification_outbox (
      id bigint generated always as identity primary key,
      target_id bigint not null references notification_targets (id) on delete cascade,
      -- The audit-log entry reported. No foreign key: events are never deleted, and one would
      -- make Postgres refuse TRUNCATE events for it before the append-only trigger could.
      event_id bigint not null,
      -- Sent with every attempt (header and body): the receiver's way to drop a redelivery.
      idempotency_key uuid not null unique default gen_random_uuid(),
      type text not null,
      facts jsonb not null check (jsonb_typeof(facts) = 'object'),
      state text not null default 'pending' check (state in ('pending', 'delivered', 'gave_up')),
      attempts integer not null default 0 check (attempts >= 0),
      next_attempt_at timestamptz not null default now(),
      created_at timestamptz not null default now(),
      delivered_at timestamptz,
      unique (event_id, target_id)
    )`.execute(db);
  await sql`
    create index notification_outbox_due on notification_outbox (next_attempt_at)
      where state = 'pending'`.execute(db);
  await sql`
    create table notification_attempts (
      id bigint generated always as identity primary key,
      outbox_id bigint not null references notification_outbox (id) on delete cascade,
      target_id bigint not null references notification_targets (id) on delete cascade,
      attempt integer not null check (attempt >= 1),
      worker text not null,
      started_at timestamptz not null default now(),
      -- Null while under way, and for ever when the worker died during it.
      finished_at timestamptz,
      ok boolean,
      -- The receiver's HTTP status; null when it gave none (timeout, refused connection).
      status integer,
      error text,
      duration_ms integer,
      unique (outbox_id, attempt)
    )`.execute(db);
  await sql`
    create index notification_attempts_target on notification_attempts (target_id, finished_at)`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table notification_attempts`.execute(db);
  await sql`drop table notification_outbox`.execute(db);
  await sql`drop table notification_targets`.execute(db);
}
