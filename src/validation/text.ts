import { InputError } from './input-error.ts';
import { quote } from './quote.ts';

const MAX_MESSAGE = 1024;

/**
 * A one-line free-text message (e.g. why a deploy happened): trimmed, 1 to 1024 characters, no
 * control characters (so no newlines or tabs) and no Unicode line or paragraph separators.
 */
export function parseMessage(field: string, raw: string): string {
  const message = raw.trim();
  if (message === '') {
    throw new InputError(
      field,
      `${quote(raw)} is empty; expected one line of text of at most ${MAX_MESSAGE} characters, or leave the option out`,
    );
  }
  if (/[\p{Cc}\u2028\u2029]/u.test(message)) {
    throw new InputError(
      field,
      `${quote(message)} contains a line break or other control character; expected one line of text of at most ${MAX_MESSAGE} characters`,
    );
  }
  const length = Array.from(message).length;
  if (length > MAX_MESSAGE) {
    throw new InputError(
      field,
      `${quote(message)} is ${length} characters; expected one line of text of at most ${MAX_MESSAGE} characters`,
    );
  }
  return message;
}
