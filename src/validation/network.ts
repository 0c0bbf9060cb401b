import { InputError } from './input-error.ts';
import { quote } from './quote.ts';

interface IdList {
  readonly noun: string;
  readonly prefix: string;
  readonly max: number;
  readonly example: string;
}

function parseIdList(field: string, raw: string, list: IdList): string[] {
  const pattern = new RegExp(`^${list.prefix}(?:[0-9a-f]{8}|[0-9a-f]{17})$`);
  const expected = `expected 1 to ${list.max} comma-separated ${list.noun}s, each ${list.prefix} followed by 8 or 17 lowercase hex digits, e.g. ${list.example}`;
  if (raw.trim() === '') throw new InputError(field, `${quote(raw)} is empty; ${expected}`);
  const ids = raw.split(',').map((s) => s.trim());
  const seen = new Set<string>();
  for (const id of ids) {
    if (id === '') throw new InputError(field, `${quote(raw)} has an empty entry; ${expected}`);
    if (!pattern.test(id)) {
      const where = ids.length > 1 ? ` in ${quote(raw)}` : '';
      throw new InputError(field, `${quote(id)}${where} is not a ${list.noun}; ${expected}`);
    }
    if (seen.has(id)) {
      throw new InputError(
        field,
        `${quote(id)} is listed more than once in ${quote(raw)}; give each ${list.noun} once`,
      );
    }
    seen.add(id);
  }
  if (ids.length > list.max) {
    throw new InputError(field, `${quote(raw)} has ${ids.length} ${list.noun}s; ${expected}`);
  }
  return ids;
}

/** 1 to 16 comma-separated subnet IDs (`subnet-` and 8 or 17 hex digits), no duplicates. */
export function parseSubnetIds(field: string, raw: string): string[] {
  return parseIdList(field, raw, {
    noun: 'subnet ID',
    prefix: 'subnet-',
    max: 16,
    example: 'subnet-0123456789abcdef0,subnet-0fedcba9876543210',
  });
}

/** 1 to 5 comma-separated security group IDs (`sg-` and 8 or 17 hex digits), no duplicates. */
export function parseSecurityGroupIds(field: string, raw: string): string[] {
  return parseIdList(field, raw, {
    noun: 'security group ID',
    prefix: 'sg-',
    max: 5,
    example: 'sg-0123456789abcdef0',
  });
}

/** A TCP port number, 1 to 65535, written as plain digits. */
export function parsePort(field: string, raw: string): number {
  const port = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new InputError(field, `${quote(raw)} is not a port number from 1 to 65535`);
  }
  return port;
}

const MAX_HEALTH_PATH = 1024;

/** A load balancer health check path: `/` then printable ASCII without spaces, at most 1024. */
export function parseHealthPath(field: string, raw: string): string {
  if (!/^\/[\x21-\x7e]*$/.test(raw) || raw.length > MAX_HEALTH_PATH) {
    throw new InputError(
      field,
      `${quote(raw)} is not a valid health check path; expected / followed by printable ASCII characters without spaces, at most ${MAX_HEALTH_PATH} in all, e.g. /healthz`,
    );
  }
  return raw;
}
