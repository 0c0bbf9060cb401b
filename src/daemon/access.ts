import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Who may read the daemon when `BERTH_HTTP_TOKEN` is set: a request carries the token as
 * `Authorization: Bearer <token>` (scripts, Prometheus), or as the session cookie a browser
 * got by opening any page once with `?token=<token>`.
 *
 * Why a cookie: a browser cannot add an Authorization header to a link it follows, and a token
 * kept in every URL would end up in the history, in proxies' logs and in Referer headers. So
 * the token is taken from the URL once, answered with a redirect to the same URL without it,
 * and kept as a cookie that is HttpOnly (no script, injected or not, can read it),
 * SameSite=Strict (no other site's page can make the browser send it) and scoped to the
 * daemon's paths. The cookie holds an HMAC of the token, not the token: it opens the daemon's
 * pages but is no `Authorization` header for anything else, and a new token ends old sessions.
 * It is not `Secure`, because the daemon itself speaks plain HTTP (loopback, or behind a TLS
 * proxy that a deployment off loopback should put in front of it).
 */
export type Access =
  | { kind: 'allowed' }
  | { kind: 'denied' }
  /** The token came in the URL: set the cookie and send the browser to `location`. */
  | { kind: 'session'; location: string; cookie: string };

export const SESSION_COOKIE = 'berth_session';

export function checkAccess(request: IncomingMessage, url: URL, token: string): Access {
  const offered = url.searchParams.get('token');
  if (offered !== null) {
    if (!sameSecret(offered, token)) return { kind: 'denied' };
    const rest = new URLSearchParams(url.searchParams);
    rest.delete('token');
    const query = rest.toString();
    return {
      kind: 'session',
      location: `${url.pathname}${query === '' ? '' : `?${query}`}`,
      cookie: `${SESSION_COOKIE}=${sessionOf(token)}; HttpOnly; SameSite=Strict; Path=/`,
    };
  }
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  if (bearer !== null)
    return sameSecret(bearer[1] ?? '', token) ? { kind: 'allowed' } : { kind: 'denied' };
  const session = cookie(request, SESSION_COOKIE);
  if (session !== undefined && sameSecret(session, sessionOf(token))) return { kind: 'allowed' };
  return { kind: 'denied' };
}

function sessionOf(token: string): string {
  return createHmac('sha256', token).update('berth dashboard session').digest('base64url');
}

/** Compares digests, so that neither the time taken nor a length difference tells anything. */
function sameSecret(offered: string, expected: string): boolean {
  const digest = (value: string): Buffer => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(offered), digest(expected));
}

function cookie(request: IncomingMessage, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}
