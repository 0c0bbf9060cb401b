import { webhookDisplay } from '../validation/webhook.ts';

/** What one POST to a webhook came to. */
export interface PostOutcome {
  ok: boolean;
  /** The receiver's HTTP status; null when it gave none. */
  status: number | null;
  /** Why it failed, in a few words and never with the URL: `HTTP 500`, `timed out after 5s`. */
  error: string | null;
  /** Whether trying again may help: not after a 4xx (but 408, 425 and 429) or a redirect. */
  retryable: boolean;
  /** What a 429 or 503 asked for in `Retry-After`, in ms. */
  retryAfterMs: number | undefined;
  durationMs: number;
}

/** Statuses that say "not now" rather than "never". */
const TRY_AGAIN = new Set([408, 425, 429]);

/**
 * POSTs one notification. The request is abandoned after `timeoutMs`, so a receiver that hangs
 * costs one slot for that long and no more. Redirects are not followed: a webhook that moved is
 * a configuration to fix, and following one would send the payload to a host nobody named.
 * Credentials in the URL (a target marked secret) go as HTTP Basic authorization, which is what
 * they mean and what `fetch` wants.
 */
export async function postNotification(
  rawUrl: string,
  body: unknown,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<PostOutcome> {
  const url = new URL(rawUrl);
  const authorization =
    url.username !== '' || url.password !== ''
      ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
      : undefined;
  url.username = '';
  url.password = '';
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'berth-notify',
        ...headers,
        ...(authorization !== undefined ? { authorization } : {}),
      },
      body: JSON.stringify(body),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    return {
      ok: false,
      status: null,
      error: describeFailure(error, timeoutMs),
      retryable: true,
      retryAfterMs: undefined,
      durationMs: elapsed(),
    };
  }
  // The answer's body says nothing Berth acts on; let the connection go.
  await response.body?.cancel().catch(() => undefined);
  const { status } = response;
  if (status >= 200 && status < 300) {
    return {
      ok: true,
      status,
      error: null,
      retryable: false,
      retryAfterMs: undefined,
      durationMs: elapsed(),
    };
  }
  const redirect = status >= 300 && status < 400;
  return {
    ok: false,
    status,
    error: redirect ? `HTTP ${status} (redirects are not followed)` : `HTTP ${status}`,
    retryable: status >= 500 || TRY_AGAIN.has(status),
    retryAfterMs: retryAfterMs(response.headers.get('retry-after')),
    durationMs: elapsed(),
  };
}

/** `Retry-After` in seconds or as a date, in ms from now; undefined when absent or unreadable. */
function retryAfterMs(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Node's network codes, said in words. */
const NETWORK_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed by the receiver',
  UND_ERR_HEADERS_TIMEOUT: 'no answer',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed TLS certificate',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate for another host',
};

/** A failed fetch in a few words. undici's messages name no URL; its causes carry the code. */
function describeFailure(error: unknown, timeoutMs: number): string {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth++) {
    if (current.name === 'TimeoutError' || current.name === 'AbortError') {
      return `timed out after ${timeoutMs / 1000}s`;
    }
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return NETWORK_WORDS[code] ?? code;
    // undici's "fetch failed" says nothing; a cause without a code ("bad port") says why.
    if (
      current.cause instanceof Error &&
      (current.cause as { code?: unknown }).code === undefined
    ) {
      return current.cause.message.replace(/https?:\/\/\S+/g, (url) => webhookDisplay(url));
    }
    current = current.cause;
  }
  // Whatever else it says, never a URL in full.
  return error instanceof Error
    ? `${error.name}: ${error.message.replace(/https?:\/\/\S+/g, (url) => webhookDisplay(url))}`
    : 'request failed';
}
