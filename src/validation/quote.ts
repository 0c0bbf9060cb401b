/** Values longer than this are shown shortened, with their length, so a message stays readable. */
const MAX_SHOWN = 512;
const SHOWN_PREFIX = 100;

/**
 * `JSON.stringify` of a user's value for an error message, guaranteed to be one line: besides
 * the escapes JSON already makes, DEL, the C1 controls and U+2028/U+2029 are escaped too. Very
 * long values (over 512 characters) are cut to their first 100 characters and their length.
 */
export function quote(value: string): string {
  const long = value.length > MAX_SHOWN;
  const shown = long ? `${value.slice(0, SHOWN_PREFIX)}…` : value;
  const quoted = JSON.stringify(shown).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return long ? `${quoted} (${value.length} characters)` : quoted;
}

/** `a, b or c` */
export function oneOf(items: readonly (string | number)[]): string {
  const words = items.map(String);
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} or ${words[words.length - 1] ?? ''}`;
}
