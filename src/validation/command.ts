import { InputError } from './input-error.ts';
import { quote } from './quote.ts';

/** ECS takes container overrides of up to 8 KiB in all; one command gets half of it. */
const MAX_COMMAND = 4096;

/**
 * A verification command (`--pre-deploy-command`, `--verify-command`): one line of shell, run in
 * the release's container as `sh -c COMMAND`. An empty value (`''`) clears it: null. Control
 * characters (a newline among them) are refused, so that what `status` shows on one line is
 * what runs; chain steps with `&&`.
 */
export function parseCommand(field: string, raw: string): string | null {
  const command = raw.trim();
  if (command === '') return null;
  if (/[\p{Cc}\u2028\u2029]/u.test(command)) {
    throw new InputError(
      field,
      `${quote(command)} contains a line break or other control character; expected one line of shell (chain steps with &&), or '' to clear it`,
    );
  }
  if (command.length > MAX_COMMAND) {
    throw new InputError(
      field,
      `${quote(command)} is ${command.length} characters; expected at most ${MAX_COMMAND}, or '' to clear it`,
    );
  }
  return command;
}
