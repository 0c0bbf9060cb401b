import { InvalidParameterException } from '@aws-sdk/client-ecs';
import { modeledError } from './aws-errors.ts';
import { KIND } from './model.ts';
import type { SimTx } from './sim-store.ts';

/** What the simulated AWS remembers of a create made with a client token. */
export interface ClientTokenRecord {
  /** `ecs:CreateTaskSet`, `ecs:CreateService`. */
  operation: string;
  token: string;
  /** The ARN of what the first request made. */
  resourceArn: string;
  issuedAt: number;
  /** How many later requests with this token were answered with the first one's result. */
  replays: number;
}

interface ClientTokenDoc extends ClientTokenRecord {
  /** ECS scopes tokens to a cluster: the same token may be used once in each. */
  scope: string;
  /** The first answer, for a replay that finds the resource gone. */
  answer: unknown;
}

/**
 * How long a token is remembered. ECS documents 24 hours for RunTask's tokens and no lifetime
 * for CreateService's and CreateTaskSet's ("Ensuring idempotency", ECS API reference); the
 * simulation gives them all RunTask's.
 */
export const CLIENT_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;

/** ECS: "up to 36 ASCII characters in the range of 33-126 (inclusive)". */
const CLIENT_TOKEN = /^[\x21-\x7e]{1,36}$/;

export function requireClientToken(token: string): void {
  if (!CLIENT_TOKEN.test(token)) {
    throw modeledError(
      InvalidParameterException,
      'The client token must be 1 to 36 ASCII characters in the range of 33-126 (inclusive).',
    );
  }
}

/**
 * The earlier request made with `token` in `scope` within the token's lifetime, counted as
 * replayed; undefined when there is none. ECS documents a ConflictException for a token reused
 * with other parameters only for RunTask; for CreateService and CreateTaskSet the simulation
 * answers any repeat with the first result.
 */
export async function earlierRequest(
  tx: SimTx,
  request: { operation: string; scope: string; token: string },
): Promise<{ resourceArn: string; answer: unknown } | undefined> {
  const id = tokenId(request);
  const earlier = await tx.get<ClientTokenDoc>(KIND.clientToken, id);
  if (earlier === undefined || tx.now - earlier.issuedAt > CLIENT_TOKEN_TTL_MS) return undefined;
  await tx.put(KIND.clientToken, id, { ...earlier, replays: earlier.replays + 1 });
  return { resourceArn: earlier.resourceArn, answer: reviveDates(earlier.answer) };
}

/** Remembers what a create made with `token` answered, in the create's own transaction. */
export async function rememberRequest(
  tx: SimTx,
  request: { operation: string; scope: string; token: string },
  resourceArn: string,
  answer: unknown,
): Promise<void> {
  const doc: ClientTokenDoc = {
    operation: request.operation,
    token: request.token,
    scope: request.scope,
    resourceArn,
    issuedAt: tx.now,
    replays: 0,
    answer,
  };
  await tx.put(KIND.clientToken, tokenId(request), doc);
}

/** The public part of a stored record. */
export function clientTokenRecord(doc: ClientTokenRecord): ClientTokenRecord {
  const { operation, token, resourceArn, issuedAt, replays } = doc;
  return { operation, token, resourceArn, issuedAt, replays };
}

function tokenId(request: { operation: string; scope: string; token: string }): string {
  return `${request.operation} ${request.scope} ${request.token}`;
}

/** A stored answer as the SDK gives it: its `…At` members as Dates again. */
function reviveDates(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reviveDates);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, member]) => [
      key,
      key.endsWith('At') && typeof member === 'string' ? new Date(member) : reviveDates(member),
    ]),
  );
}
