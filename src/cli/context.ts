import { readEnvironment, type BerthEnvironment } from '../config.ts';
import { createLogger, type Logger } from '../logging.ts';
import { openDatabase, type OpenDatabase } from '../store/connection.ts';
import type { Db } from '../store/database.ts';

/** Where the CLI reads and writes: the real process, or a test's capture. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM: long commands (`up`, `events --follow`, `--wait`) end cleanly. */
  signal: AbortSignal;
}

/** What a command produced: the `--json` document and the lines a person reads. */
export interface Output {
  json: unknown;
  text: string;
}

export class CliContext {
  readonly io: CliIo;
  readonly environment: BerthEnvironment;
  readonly logger: Logger;
  json = false;

  constructor(io: CliIo) {
    this.io = io;
    this.environment = readEnvironment(io.env);
    // The CLI speaks through its output; its logs stay quiet unless asked for.
    this.logger = createLogger({ level: this.environment.logLevel ?? 'warn', name: 'berth-cli' });
  }

  get actor(): string {
    return this.environment.actor;
  }

  /** Opens the database for one command and always lets go of it. */
  async withDatabase<T>(
    work: (db: Db, opened: OpenDatabase) => Promise<T>,
    options: { migrate?: boolean } = {},
  ): Promise<T> {
    const opened = await openDatabase(this.environment, this.logger, options);
    try {
      return await work(opened.db, opened);
    } finally {
      await opened.close();
    }
  }

  /** Progress and warnings: stderr, so that stdout stays the command's result. */
  note(line: string): void {
    if (this.json) return;
    this.io.stderr(`${line}\n`);
  }

  /** A warning on stderr: `warning: …`, or `{"warning": …}` with --json. */
  warn(line: string): void {
    this.io.stderr(this.json ? `${JSON.stringify({ warning: line })}\n` : `warning: ${line}\n`);
  }

  /**
   * A change seen while following something (`--wait`): with --json one JSON object on one line
   * of stdout, so that a reader can act on each as it comes; else a note on stderr.
   */
  event(json: Record<string, unknown>, line: string): void {
    if (this.json) this.io.stdout(`${JSON.stringify(json)}\n`);
    else this.io.stderr(`${line}\n`);
  }

  /**
   * The command's result on stdout. `lines`: the JSON document on one line, for output that
   * continues as JSON lines (`--wait`), so that every line of stdout is one JSON object.
   */
  print(output: Output, options: { lines?: boolean } = {}): void {
    if (this.json) {
      this.io.stdout(
        `${JSON.stringify(output.json, null, options.lines === true ? undefined : 2)}\n`,
      );
    } else if (output.text !== '')
      this.io.stdout(output.text.endsWith('\n') ? output.text : `${output.text}\n`);
  }
}
