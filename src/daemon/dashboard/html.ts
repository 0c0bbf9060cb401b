/**
 * HTML built so that escaping is the default: every value interpolated into `html` is escaped
 * unless it is itself `Html` made by this module. Service names, messages, reasons and event
 * text are written by users and workers; none of them may become markup.
 */

const SAFE = Symbol('berth.html');

/** A fragment of markup made by `html` (or `raw`): already safe to concatenate. */
export interface Html {
  readonly [SAFE]: true;
  readonly text: string;
}

/** What may be interpolated: text and numbers are escaped, fragments kept, absent ones empty. */
export type Interpolation =
  Html | string | number | null | undefined | false | readonly Interpolation[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Text made safe for an element's content and for a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (character) => ESCAPES[character] ?? character);
}

function isHtml(value: unknown): value is Html {
  return typeof value === 'object' && value !== null && SAFE in value;
}

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return '';
  if (typeof value === 'string') return escapeHtml(value);
  if (typeof value === 'number') return String(value);
  if (isHtml(value)) return value.text;
  return value.map(render).join('');
}

/** A template literal whose interpolations are escaped (see `Interpolation`). */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Html {
  let text = strings[0] ?? '';
  for (const [index, value] of values.entries()) text += render(value) + (strings[index + 1] ?? '');
  return { [SAFE]: true, text };
}

/** Markup this program wrote itself (never user data): kept as it is. */
export function raw(text: string): Html {
  return { [SAFE]: true, text };
}
