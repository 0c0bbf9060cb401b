import { DescribeImagesCommand, type ECRClient } from '@aws-sdk/client-ecr';
import type { ImageResolution, PushedImage, RepositoryImages } from '../cloud.ts';
import { AwsService } from './call.ts';

/** DescribeImages returns at most 1,000 images per page. */
const DESCRIBE_IMAGES_PAGE = 1000;

/** The ECR calls Berth makes: a tag's digest, and a repository's pushed images. */
export class AwsEcr extends AwsService<ECRClient> {
  async resolveImage(image: string): Promise<ImageResolution> {
    const ecr = parseEcrImage(image);
    if (ecr === undefined) return { kind: 'not-in-ecr' };
    try {
      const output = await this.call(
        'ecr:DescribeImages',
        `repository ${ecr.repository}`,
        (options) =>
          this.client.send(
            new DescribeImagesCommand({
              registryId: ecr.registryId,
              repositoryName: ecr.repository,
              imageIds: [
                ecr.digest !== undefined
                  ? { imageDigest: ecr.digest }
                  : { imageTag: ecr.tag ?? 'latest' },
              ],
            }),
            options,
          ),
      );
      const digest = output.imageDetails?.[0]?.imageDigest;
      if (digest === undefined) return { kind: 'missing', message: `ECR has no image ${image}` };
      return { kind: 'resolved', digest };
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name === 'ImageNotFoundException' || name === 'RepositoryNotFoundException') {
        return { kind: 'missing', message: `${name}: ${(error as Error).message} (${image})` };
      }
      throw error;
    }
  }

  async listRepositoryImages(
    repository: string,
    options: { pageSize?: number } = {},
  ): Promise<RepositoryImages> {
    const pageSize = Math.min(options.pageSize ?? DESCRIBE_IMAGES_PAGE, DESCRIBE_IMAGES_PAGE);
    const region = await this.client.config.region();
    const suffix = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
    const images: PushedImage[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const token = nextToken;
        const output = await this.call(
          'ecr:DescribeImages',
          `repository ${repository}`,
          (options) =>
            this.client.send(
              new DescribeImagesCommand({
                repositoryName: repository,
                filter: { tagStatus: 'TAGGED' },
                maxResults: pageSize,
                ...(token !== undefined ? { nextToken: token } : {}),
              }),
              options,
            ),
        );
        for (const detail of output.imageDetails ?? []) {
          const tags = detail.imageTags ?? [];
          if (detail.imageDigest === undefined || tags.length === 0) continue;
          images.push({
            digest: detail.imageDigest,
            tags,
            pushedAt: detail.imagePushedAt ?? new Date(0),
            repositoryUri: `${detail.registryId ?? ''}.dkr.ecr.${region}.${suffix}/${repository}`,
          });
        }
        nextToken = output.nextToken;
      } while (nextToken !== undefined && nextToken !== '');
    } catch (error) {
      if ((error as { name?: string }).name === 'RepositoryNotFoundException') {
        return { kind: 'missing', message: (error as Error).message };
      }
      throw error;
    }
    return { kind: 'listed', images };
  }
}

/** An ECR image reference: `ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/REPO[:TAG][@DIGEST]`. */
export function parseEcrImage(
  image: string,
):
  | { registryId: string; repository: string; tag: string | undefined; digest: string | undefined }
  | undefined {
  const match =
    /^(\d{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?\/([^:@]+)(?::([^@]+))?(?:@(sha256:[a-f0-9]{64}))?$/.exec(
      image,
    );
  if (match === null) return undefined;
  const [, registryId, repository, tag, digest] = match;
  if (registryId === undefined || repository === undefined) return undefined;
  return { registryId, repository, tag, digest };
}
