import { InputError } from './input-error.ts';
import { oneOf, quote } from './quote.ts';

export const NOTIFICATION_FORMATS = ['json', 'slack'] as const;

/** A URL this long is not a webhook (and the column refuses more). */
const MAX_URL = 2048;

/** The fetch standard's "bad ports": Node's fetch (undici) refuses to connect to them. */
const FETCH_BLOCKED_PORTS = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102,
  103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465,
  512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993,
  995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668,
  6669, 6679, 6697, 10080,
]);

/**
 * A webhook URL as `berth notify add` accepts it: http or https, a host, at most 2,048
 * characters, and credentials (`user:password@`) only when the target is marked secret. A
 * webhook URL often is a credential in itself (a Slack hook's path is its token), so messages
 * never repeat it: they say what is wrong and show at most `scheme://host/…`.
 */
export function parseWebhookUrl(field: string, raw: string, options: { secret: boolean }): string {
  if (raw.length > MAX_URL) {
    throw new InputError(field, `is ${raw.length} characters long; at most ${MAX_URL}`);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InputError(
      field,
      'is not a URL (not shown: it may hold a token); expected http(s)://host/path, e.g. https://hooks.example.com/berth',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputError(
      field,
      `is a ${quote(url.protocol)} URL; expected an http:// or https:// URL`,
    );
  }
  if (url.hostname === '') throw new InputError(field, 'has no host; expected http(s)://host/path');
  // fetch refuses these ports outright ("bad port"): such a target could never be reached.
  const port = Number(url.port);
  if (url.port !== '' && FETCH_BLOCKED_PORTS.has(port)) {
    throw new InputError(
      field,
      `uses port ${port}, which HTTP clients refuse to connect to (the fetch standard's blocked ports); use another port`,
    );
  }
  if ((url.username !== '' || url.password !== '') && !options.secret) {
    throw new InputError(
      field,
      `carries credentials (${webhookDisplay(raw)} with user:password@, not shown); mark the target --secret to store them, or use a URL without them`,
    );
  }
  return url.toString();
}

export function parseNotificationFormat(
  field: string,
  raw: string | undefined,
): (typeof NOTIFICATION_FORMATS)[number] {
  if (raw === undefined) return 'json';
  const format = NOTIFICATION_FORMATS.find((known) => known === raw);
  if (format === undefined) {
    throw new InputError(
      field,
      `${quote(raw)} is not a format; expected ${oneOf(NOTIFICATION_FORMATS)}`,
    );
  }
  return format;
}

/**
 * A webhook URL as Berth shows it anywhere — in `list`, `status`, logs, errors: scheme and host
 * (with its port), then `/…` when anything follows. Never the credentials, path or query.
 */
export function webhookDisplay(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return '(not a URL)';
  }
  const more =
    (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '';
  return `${url.protocol}//${url.host}/${more ? '…' : ''}`;
}
