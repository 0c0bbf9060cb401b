import { InputError } from './input-error.ts';
import { quote } from './quote.ts';

/** What `--follow REPO:PATTERN` names: an ECR repository and the tags whose pushes deploy. */
export interface FollowTarget {
  /** An ECR repository name in the workers' account and region, e.g. `web` or `team/web`. */
  repository: string;
  /** A tag pattern, `*` the only wildcard: `main-*` matches `main-42` and `main-` but not `dev-1`. */
  tagPattern: string;
}

/** ECR's rule for repository names: lowercase components separated by `/`, `.`, `_` or `-`. */
const ECR_REPOSITORY = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
/** A tag (OCI: a word character, then up to 127 word characters, `.` and `-`), `*` allowed too. */
const TAG_PATTERN = /^[\w*][\w.*-]{0,127}$/;

const SHAPE =
  'REPO:PATTERN, e.g. web:main-* (an ECR repository name and a tag pattern, * the only wildcard)';

/** `--follow web:main-*` → `{ repository: 'web', tagPattern: 'main-*' }`, or bad input naming the field. */
export function parseFollowTarget(field: string, raw: string): FollowTarget {
  const value = raw.trim();
  const colon = value.lastIndexOf(':');
  if (colon === -1) {
    throw new InputError(field, `${quote(value)} has no tag pattern; expected ${SHAPE}`);
  }
  const repository = value.slice(0, colon);
  const tagPattern = value.slice(colon + 1);
  if (repository.includes('.dkr.ecr.') || repository.includes(':')) {
    throw new InputError(
      field,
      `${quote(repository)} is a registry address; give the repository name only (e.g. web for 123456789012.dkr.ecr.us-east-1.amazonaws.com/web), in the workers' account and region`,
    );
  }
  if (repository.length < 2 || repository.length > 256 || !ECR_REPOSITORY.test(repository)) {
    throw new InputError(
      field,
      `repository ${quote(repository)} is not an ECR repository name (2 to 256 lowercase letters and digits, separated by /, ., _ or -); expected ${SHAPE}`,
    );
  }
  if (tagPattern === '') {
    throw new InputError(
      field,
      `the tag pattern after ${quote(`${repository}:`)} is empty; expected ${SHAPE}`,
    );
  }
  const wildcard = /[?[\]{}!^]/.exec(tagPattern);
  if (wildcard !== null) {
    throw new InputError(
      field,
      `tag pattern ${quote(tagPattern)} uses ${quote(wildcard[0])}; only * is a wildcard (e.g. main-*)`,
    );
  }
  if (!TAG_PATTERN.test(tagPattern)) {
    throw new InputError(
      field,
      `tag pattern ${quote(tagPattern)} is not 1 to 128 letters, digits, _, ., - and *, starting with a letter, digit, _ or *`,
    );
  }
  return { repository, tagPattern };
}

/** Whether `tag` matches `pattern`, where `*` stands for any run of characters (none included). */
export function tagMatches(pattern: string, tag: string): boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.]/g, '\\.'))
    .join('.*');
  return new RegExp(`^${source}$`).test(tag);
}

/** What `berth sim push REPO:TAG` names. */
export interface RepositoryTag {
  repository: string;
  tag: string;
}

const TAG = /^\w[\w.-]{0,127}$/;

/** `web:main-42` → `{ repository: 'web', tag: 'main-42' }`, or bad input naming the field. */
export function parseRepositoryTag(field: string, raw: string): RepositoryTag {
  const value = raw.trim();
  const colon = value.lastIndexOf(':');
  const shape = 'REPO:TAG, e.g. web:main-42 (an ECR repository name and a tag)';
  if (colon === -1) throw new InputError(field, `${quote(value)} has no tag; expected ${shape}`);
  const repository = value.slice(0, colon);
  const tag = value.slice(colon + 1);
  if (repository.length < 2 || repository.length > 256 || !ECR_REPOSITORY.test(repository)) {
    throw new InputError(
      field,
      `repository ${quote(repository)} is not an ECR repository name (2 to 256 lowercase letters and digits, separated by /, ., _ or -); expected ${shape}`,
    );
  }
  if (!TAG.test(tag)) {
    throw new InputError(
      field,
      `tag ${quote(tag)} is not 1 to 128 letters, digits, _, . and -, starting with a letter, digit or _`,
    );
  }
  return { repository, tag };
}
