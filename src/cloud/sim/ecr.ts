import { createHash } from 'node:crypto';
import {
  ImageAlreadyExistsException,
  ImageDigestDoesNotMatchException,
  ImageNotFoundException,
  ImageTagAlreadyExistsException,
  InvalidParameterException,
  RepositoryAlreadyExistsException,
  RepositoryNotFoundException,
  type CreateRepositoryCommandInput,
  type CreateRepositoryCommandOutput,
  type DescribeImagesCommandInput,
  type DescribeImagesCommandOutput,
  type DescribeRepositoriesCommandInput,
  type DescribeRepositoriesCommandOutput,
  type ImageDetail,
  type ImageIdentifier,
  type PutImageCommandInput,
  type PutImageCommandOutput,
  type Repository,
} from '@aws-sdk/client-ecr';
import { modeledError } from './aws-errors.ts';
import { imageTag } from '../image-behaviour.ts';
import {
  handler,
  imageId,
  KIND,
  publicFields,
  repositoryArn,
  toDate,
  type ImageDoc,
  type Output,
  type RepositoryDoc,
} from './model.ts';
import type { SimTx } from './sim-store.ts';
import type { SimContext, SimHandler } from './model.ts';

/** ECR repository names: lowercase path components separated by `/`, `.`, `_` or `-`. */
const REPOSITORY_NAME =
  /^(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

async function createRepository(
  tx: SimTx,
  input: CreateRepositoryCommandInput,
  ctx: SimContext,
): Promise<Output<CreateRepositoryCommandOutput>> {
  const name = input.repositoryName ?? '';
  if (!REPOSITORY_NAME.test(name)) {
    throw modeledError(
      InvalidParameterException,
      `Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''`,
    );
  }
  if ((await tx.get<RepositoryDoc>(KIND.repository, name)) !== undefined) {
    throw modeledError(
      RepositoryAlreadyExistsException,
      `The repository with name '${name}' already exists in the registry with id '${ctx.account}'`,
    );
  }
  const repository: RepositoryDoc = {
    repositoryArn: repositoryArn(ctx, name),
    registryId: ctx.account,
    repositoryName: name,
    repositoryUri: `${registryHost(ctx)}/${name}`,
    createdAt: tx.now,
    imageTagMutability: input.imageTagMutability === 'IMMUTABLE' ? 'IMMUTABLE' : 'MUTABLE',
    imageScanningConfiguration: {
      scanOnPush: input.imageScanningConfiguration?.scanOnPush ?? false,
    },
    encryptionConfiguration: { encryptionType: 'AES256' },
  };
  await tx.put(KIND.repository, name, repository);
  return { repository: repositoryOutput(repository) };
}

async function describeRepositories(
  tx: SimTx,
  input: DescribeRepositoriesCommandInput,
  ctx: SimContext,
): Promise<Output<DescribeRepositoriesCommandOutput>> {
  if (input.repositoryNames === undefined) {
    const all = await tx.list<RepositoryDoc>(KIND.repository);
    return { repositories: all.map(repositoryOutput) };
  }
  const repositories: Repository[] = [];
  for (const name of input.repositoryNames) {
    repositories.push(repositoryOutput(await requireRepository(tx, ctx, name)));
  }
  return { repositories };
}

function repositoryOutput(repository: RepositoryDoc): Repository {
  return { ...publicFields(repository), createdAt: toDate(repository.createdAt) };
}

async function requireRepository(
  tx: SimTx,
  ctx: SimContext,
  name: string | undefined,
): Promise<RepositoryDoc> {
  const repository = await tx.get<RepositoryDoc>(KIND.repository, name ?? '');
  if (repository === undefined) {
    throw modeledError(
      RepositoryNotFoundException,
      `The repository with name '${name ?? ''}' does not exist in the registry with id '${ctx.account}'`,
    );
  }
  return repository;
}

/**
 * Stores a manifest under its digest (`sha256:` of the manifest's bytes) and moves the tag to it:
 * in a MUTABLE repository a tag names one image at a time.
 */
async function putImage(
  tx: SimTx,
  input: PutImageCommandInput,
  ctx: SimContext,
): Promise<Output<PutImageCommandOutput>> {
  const repository = await requireRepository(tx, ctx, input.repositoryName);
  const manifest = input.imageManifest ?? '';
  const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  if (input.imageDigest !== undefined && input.imageDigest !== digest) {
    throw modeledError(
      ImageDigestDoesNotMatchException,
      `Invalid parameter at 'imageDigest': the digest ${input.imageDigest} does not match the manifest's ${digest}`,
    );
  }
  const name = repository.repositoryName;
  const tag = input.imageTag;
  const images = await imagesOf(tx, name);
  const existing = images.find((image) => image.imageDigest === digest);
  if (existing !== undefined && (tag === undefined || existing.imageTags.includes(tag))) {
    throw modeledError(
      ImageAlreadyExistsException,
      `Image with digest '${digest}' and tag '${tag ?? 'null'}' already exists in the repository with name '${name}' in registry with id '${ctx.account}'`,
    );
  }
  if (tag !== undefined) {
    const holder = images.find((image) => image.imageTags.includes(tag));
    if (holder !== undefined && repository.imageTagMutability === 'IMMUTABLE') {
      throw modeledError(
        ImageTagAlreadyExistsException,
        `The image tag '${tag}' already exists in the '${name}' repository and cannot be overwritten because the repository is immutable.`,
      );
    }
    if (holder !== undefined) {
      await putImageDoc(tx, { ...holder, imageTags: holder.imageTags.filter((t) => t !== tag) });
    }
  }
  const image: ImageDoc = existing ?? {
    registryId: ctx.account,
    repositoryName: name,
    imageDigest: digest,
    imageTags: [],
    imageManifest: manifest,
    imageManifestMediaType: input.imageManifestMediaType ?? manifestMediaType(manifest),
    imageSizeInBytes: manifestSize(manifest),
    imagePushedAt: tx.now,
  };
  const tagged = {
    ...image,
    imageTags: tag === undefined ? image.imageTags : [...image.imageTags, tag],
  };
  await putImageDoc(tx, tagged);
  return {
    image: {
      registryId: ctx.account,
      repositoryName: name,
      imageId: { imageDigest: digest, imageTag: tag },
      imageManifest: manifest,
      imageManifestMediaType: tagged.imageManifestMediaType,
    },
  };
}

async function describeImages(
  tx: SimTx,
  input: DescribeImagesCommandInput,
  ctx: SimContext,
): Promise<Output<DescribeImagesCommandOutput>> {
  const repository = await requireRepository(tx, ctx, input.repositoryName);
  const images = await imagesOf(tx, repository.repositoryName);
  if (input.imageIds === undefined) return describeImagePage(images, input);
  const imageDetails: ImageDetail[] = [];
  for (const id of input.imageIds) {
    const image = images.find((candidate) => matches(candidate, id));
    if (image === undefined) {
      throw modeledError(
        ImageNotFoundException,
        `The image with imageId {imageDigest:'${id.imageDigest ?? 'null'}', imageTag:'${id.imageTag ?? 'null'}'} does not exist within the repository with name '${repository.repositoryName}' in the registry with id '${ctx.account}'`,
      );
    }
    imageDetails.push(imageDetail(image));
  }
  return { imageDetails };
}

/**
 * One page of a repository's images, as ECR pages them: at most `maxResults` (1–1000, default
 * 100), the rest behind an opaque `nextToken`; `filter.tagStatus` keeps tagged or untagged ones.
 */
function describeImagePage(
  all: ImageDoc[],
  input: DescribeImagesCommandInput,
): Output<DescribeImagesCommandOutput> {
  const maxResults = input.maxResults ?? 100;
  if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 1000) {
    throw modeledError(
      InvalidParameterException,
      `Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value less than or equal to 1000'`,
    );
  }
  const status = input.filter?.tagStatus ?? 'ANY';
  const images = all
    .filter((image) =>
      status === 'TAGGED'
        ? image.imageTags.length > 0
        : status === 'UNTAGGED'
          ? image.imageTags.length === 0
          : true,
    )
    .sort((a, b) => a.imageDigest.localeCompare(b.imageDigest));
  let start = 0;
  if (input.nextToken !== undefined) {
    const offset = Number(Buffer.from(input.nextToken, 'base64url').toString('utf8'));
    if (!Number.isInteger(offset) || offset < 0) {
      throw modeledError(
        InvalidParameterException,
        'Invalid parameter at nextToken: the token is not valid',
      );
    }
    start = offset;
  }
  const end = start + maxResults;
  return {
    imageDetails: images.slice(start, end).map(imageDetail),
    ...(end < images.length
      ? { nextToken: Buffer.from(String(end), 'utf8').toString('base64url') }
      : {}),
  };
}

function matches(image: ImageDoc, id: ImageIdentifier): boolean {
  return (
    (id.imageDigest === undefined || id.imageDigest === image.imageDigest) &&
    (id.imageTag === undefined || image.imageTags.includes(id.imageTag)) &&
    (id.imageDigest !== undefined || id.imageTag !== undefined)
  );
}

function imageDetail(image: ImageDoc): ImageDetail {
  return {
    registryId: image.registryId,
    repositoryName: image.repositoryName,
    imageDigest: image.imageDigest,
    imageTags: image.imageTags.length > 0 ? image.imageTags : undefined,
    imageSizeInBytes: image.imageSizeInBytes,
    imagePushedAt: toDate(image.imagePushedAt),
    imageManifestMediaType: image.imageManifestMediaType,
    artifactMediaType: 'application/vnd.docker.container.image.v1+json',
  };
}

function imagesOf(tx: SimTx, repository: string): Promise<ImageDoc[]> {
  return tx.list<ImageDoc>(KIND.image, `${repository}@`);
}

function putImageDoc(tx: SimTx, image: ImageDoc): Promise<void> {
  return tx.put(KIND.image, imageId(image.repositoryName, image.imageDigest), image);
}

function registryHost(ctx: SimContext): string {
  return `${ctx.account}.dkr.ecr.${ctx.region}.amazonaws.com`;
}

interface ManifestShape {
  mediaType?: string;
  config?: { size?: number };
  layers?: { size?: number }[];
}

function parseManifest(manifest: string): ManifestShape | undefined {
  try {
    return JSON.parse(manifest) as ManifestShape;
  } catch {
    return undefined;
  }
}

function manifestMediaType(manifest: string): string {
  return parseManifest(manifest)?.mediaType ?? DOCKER_MANIFEST;
}

/** The image's size as ECR reports it: its layers and config, else the manifest's own bytes. */
function manifestSize(manifest: string): number {
  const parsed = parseManifest(manifest);
  const layers = (parsed?.layers ?? []).reduce((sum, layer) => sum + (layer.size ?? 0), 0);
  const total = layers + (parsed?.config?.size ?? 0);
  return total > 0 ? total : Buffer.byteLength(manifest);
}

/**
 * The image a task's behaviour is read from. Berth pins images by digest, which has no tag to
 * read words from, so a digest pushed to the simulated ECR is named by its tags:
 * `…/web@sha256:…` becomes `…/web:v2-5xx@sha256:…` (several tags joined by commas).
 */
export async function behaviourImage(tx: SimTx, image: string): Promise<string> {
  const [name = '', digest] = image.split('@');
  if (digest === undefined || imageTag(image) !== '') return image;
  // `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO` names repository REPO.
  const repository = name.includes('.dkr.ecr.') ? name.slice(name.indexOf('/') + 1) : name;
  const pushed = await tx.get<ImageDoc>(KIND.image, imageId(repository, digest));
  if (pushed === undefined || pushed.imageTags.length === 0) return image;
  return `${name}:${pushed.imageTags.join(',')}@${digest}`;
}

/**
 * Why a task cannot pull `image`, in ECS's words, or undefined when it can. Only the account's
 * own registry (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG|@DIGEST]`) is checked: its
 * repository and its tag (`latest` when none is named) or digest must exist in the simulated ECR
 * when the task starts. The simulation has no public registry, so any other image (Docker Hub's
 * `nginx:1.28`, another account's ECR) is taken to be pullable.
 */
export async function pullFailure(
  tx: SimTx,
  ctx: SimContext,
  image: string,
): Promise<string | undefined> {
  const host = `${registryHost(ctx)}/`;
  if (!image.startsWith(host)) return undefined;
  const [path = '', digest] = image.slice(host.length).split('@');
  const colon = path.lastIndexOf(':');
  const repository = colon === -1 ? path : path.slice(0, colon);
  const tag = colon === -1 ? 'latest' : path.slice(colon + 1);
  const ref = `${host}${repository}${digest === undefined ? `:${tag}` : `@${digest}`}`;
  const exists =
    (await tx.get<RepositoryDoc>(KIND.repository, repository)) !== undefined &&
    (digest === undefined
      ? (await imagesOf(tx, repository)).some((pushed) => pushed.imageTags.includes(tag))
      : (await tx.get<ImageDoc>(KIND.image, imageId(repository, digest))) !== undefined);
  if (exists) return undefined;
  return (
    `CannotPullContainerError: pull image manifest has been retried 5 time(s): ` +
    `failed to resolve ref ${ref}: ${ref}: not found`
  );
}

/** The ECR operations the simulation answers, by operation name. */
export const ecrHandlers: Record<string, SimHandler> = {
  CreateRepository: handler(createRepository),
  DescribeRepositories: handler(describeRepositories),
  PutImage: handler(putImage),
  DescribeImages: handler(describeImages),
};
