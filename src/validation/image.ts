import { InputError } from './input-error.ts';
import { quote } from './quote.ts';

/** A container image reference, split into its parts. */
export interface ImageRef {
  /** The trimmed input, unchanged. */
  reference: string;
  /** e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com` or `localhost:5000`; none for Docker Hub. */
  registry: string | undefined;
  /** The path after the registry, e.g. `web` or `library/nginx`. */
  repository: string;
  /** No tag means no tag: `latest` is never assumed. */
  tag: string | undefined;
  /** `sha256:<64 hex>` */
  digest: string | undefined;
}

// The grammar of github.com/distribution/reference (regexp.go).
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const TAG = /^\w[\w.-]{0,127}$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const ANY_DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:/;
const MAX_NAME = 255;

const SHAPE =
  '[registry/]repository[:tag][@sha256:<64 hex>], e.g. nginx:1.27 or 123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:…';

function split(reference: string): ImageRef | string {
  if (reference === '') return 'it is empty';
  if (/\s/.test(reference)) return 'it contains whitespace';

  let rest = reference;
  let digest: string | undefined;
  const at = reference.indexOf('@');
  if (at !== -1) {
    digest = reference.slice(at + 1);
    rest = reference.slice(0, at);
    if (digest.includes('@')) return 'it has more than one @';
    if (!SHA256_DIGEST.test(digest)) {
      if (digest.startsWith('sha256:')) {
        return 'a sha256 digest is sha256: followed by 64 lowercase hex digits';
      }
      if (ANY_DIGEST.test(digest)) return 'only sha256 digests are accepted';
      return `digest ${quote(digest)} is not sha256:<64 hex>`;
    }
  }

  let name = rest;
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    name = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      return `tag ${quote(tag)} is not 1 to 128 letters, digits, _, . and -, starting with a letter, digit or _`;
    }
  }
  if (name === '') return 'the repository is missing';

  let registry: string | undefined;
  let repository = name;
  const slash = name.indexOf('/');
  if (slash !== -1) {
    const first = name.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      registry = first;
      repository = name.slice(slash + 1);
      if (!DOMAIN.test(registry)) {
        return `registry ${quote(registry)} is not a host name with an optional :port`;
      }
    }
  }

  for (const component of repository.split('/')) {
    if (component === '') return 'the repository has an empty path component';
    if (!PATH_COMPONENT.test(component)) {
      if (PATH_COMPONENT.test(component.toLowerCase())) return 'repository must be lowercase';
      return `repository path component ${quote(component)} is not lowercase letters and digits separated by ., _, __ or -`;
    }
  }
  if (name.length > MAX_NAME) {
    return `the name (registry and repository) is ${name.length} characters; at most ${MAX_NAME} are allowed`;
  }
  return { reference, registry, repository, tag, digest };
}

/**
 * A container image reference such as `nginx:1.27`, `localhost:5000/web` or
 * `123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:<64 hex>`. Surrounding whitespace is
 * trimmed; a reference with neither tag nor digest is valid and keeps `tag` undefined.
 */
export function parseImageRef(field: string, raw: string): ImageRef {
  const reference = raw.trim();
  const result = split(reference);
  if (typeof result === 'string') {
    throw new InputError(
      field,
      `${quote(reference)} is not a valid image reference (${result}); expected ${SHAPE}`,
    );
  }
  return result;
}
