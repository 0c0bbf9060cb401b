import pg from 'pg';
import type { Logger } from '../logging.ts';
import { CHANGES_CHANNEL } from '../store/events.ts';

/**
 * The LISTEN wake-up: a dedicated connection (not one from the pool) that LISTENs for changes
 * and calls `onChange` for each notification. It reconnects by itself with randomised backoff,
 * so that a database restart does not bring every worker back at the same instant; the loop's
 * poll interval covers the gaps.
 */
export class ChangeListener {
  readonly #databaseUrl: string;
  readonly #logger: Logger;
  readonly #onChange: () => void;
  #stopping = false;
  #client: pg.Client | undefined;
  #retry: NodeJS.Timeout | undefined;

  constructor(databaseUrl: string, logger: Logger, onChange: () => void) {
    this.#databaseUrl = databaseUrl;
    this.#logger = logger;
    this.#onChange = onChange;
  }

  /** Set by `stop()`, possibly while connecting. */
  get stopping(): boolean {
    return this.#stopping;
  }

  start(): void {
    void this.#listen();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #listen(attempt = 0): Promise<void> {
    if (this.#stopping) return;
    const client = new pg.Client({
      connectionString: this.#databaseUrl,
      application_name: 'berth-listen',
    });
    const retry = () => {
      if (this.#stopping || this.#client !== client) return;
      this.#client = undefined;
      const delay = Math.min(30_000, 500 * 2 ** attempt) * (0.5 + Math.random());
      this.#retry = setTimeout(() => void this.#listen(attempt + 1), delay);
    };
    client.on('error', (error) => {
      this.#logger.warn({ err: error }, 'listen connection lost');
      void client.end().catch(() => undefined);
      retry();
    });
    client.on('notification', () => {
      this.#onChange();
    });
    this.#client = client;
    try {
      await client.connect();
      await client.query(`listen ${CHANGES_CHANNEL}`);
      attempt = 0;
      if (this.stopping) await client.end();
    } catch (error) {
      this.#logger.warn({ err: error }, 'could not listen for changes');
      await client.end().catch(() => undefined);
      retry();
    }
  }
}
