import type { ImageInput } from '../contract/events.ts';
import { InvalidInput } from '../errors.ts';

/** An image of the allowed repository, pinned as exactly as the input allows. */
export interface ResolvedImage {
  repository: string;
  digest?: string;
  tag?: string;
  /** What the service is pointed at: `repo@sha256:…` when a digest is known, else `repo:tag`. */
  identifier: string;
}

const REFERENCE =
  /^(?<repository>[^@]+?)(?::(?<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?<digest>sha256:[a-f0-9]{64}))?$/;

/** Splits `repository[:tag][@sha256:digest]`; undefined when the text is not an image reference. */
export function parseImageReference(
  uri: string,
): { repository: string; tag?: string; digest?: string } | undefined {
  const groups = REFERENCE.exec(uri)?.groups;
  if (!groups?.repository) return undefined;
  return {
    repository: groups.repository,
    ...(groups.tag ? { tag: groups.tag } : {}),
    ...(groups.digest ? { digest: groups.digest } : {}),
  };
}

/**
 * Checks that the image belongs to the configured ECR repository (a caller of the state machine
 * must not be able to deploy an arbitrary image) and pins it by digest when one is given.
 */
export function resolveImage(image: ImageInput, allowedRepository: string): ResolvedImage {
  const reference = parseImageReference(image.uri);
  const repository = reference?.repository;
  if (!reference || repository !== allowedRepository) {
    throw new InvalidInput(
      `image.uri is not in the repository this pipeline deploys (${allowedRepository}); refusing to deploy it.`,
      { field: 'image.uri' },
    );
  }
  const uriDigest = reference.digest;
  if (uriDigest && image.digest && uriDigest !== image.digest) {
    throw new InvalidInput(
      'image.digest differs from the digest in image.uri; give one or make them agree.',
      { field: 'image.digest' },
    );
  }
  const uriTag = reference.tag;
  if (uriTag && image.tag && uriTag !== image.tag) {
    throw new InvalidInput('image.tag differs from the tag in image.uri; give one or make them agree.', {
      field: 'image.tag',
    });
  }
  const digest = image.digest ?? uriDigest;
  const tag = image.tag ?? uriTag;
  if (!digest && !tag) {
    throw new InvalidInput(
      'image needs a digest or a tag (in image.uri, image.digest or image.tag) to say which image to deploy.',
      {
        field: 'image',
      },
    );
  }
  return {
    repository,
    ...(digest ? { digest } : {}),
    ...(tag ? { tag } : {}),
    identifier: digest ? `${repository}@${digest}` : `${repository}:${tag}`,
  };
}
