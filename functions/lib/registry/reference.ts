import { InvalidInput } from '../errors.ts';

/** An image in an OCI registry: where it is, and which of its manifests (by tag, or pinned by digest). */
export interface ImageReference {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** Docker Hub's short names (`postgres`, `library/postgres`, `docker.io/…`) live at this host. */
const DOCKER_HUB = 'registry-1.docker.io';

// The grammar of github.com/distribution/reference, restricted to sha256 digests (the only ones verified here).
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const DIGEST = /^sha256:[a-f0-9]{64}$/;

/**
 * Parses `host[:port]/repo/path[:tag][@sha256:…]`. A first component without a dot, colon or
 * `localhost` is a Docker Hub name, mapped to registry-1.docker.io (`library/` for one-part names).
 * Neither tag nor digest means `latest`, as with `docker pull`.
 */
export function parseImageReference(ref: string): ImageReference {
  const refuse = (problem: string) =>
    new InvalidInput(
      `The image reference "${ref}" ${problem}. Write it as registry/repository:tag or registry/repository@sha256:<64 hex digits>.`,
      { field: 'image' },
    );
  const text = ref.trim();
  const at = text.lastIndexOf('@');
  const digest = at >= 0 ? text.slice(at + 1) : undefined;
  if (digest !== undefined && !DIGEST.test(digest)) {
    throw refuse('has a digest that is not sha256:<64 lowercase hex digits>');
  }
  const name = at >= 0 ? text.slice(0, at) : text;
  const colon = name.lastIndexOf(':');
  const tag = colon > name.lastIndexOf('/') ? name.slice(colon + 1) : undefined;
  if (tag !== undefined && !TAG.test(tag)) throw refuse('has an invalid tag');
  const path = tag === undefined ? name : name.slice(0, colon);
  const parts = path.split('/');
  const first = parts[0] ?? '';
  const namesHost = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  let registry = namesHost ? first : DOCKER_HUB;
  let repositoryParts = namesHost ? parts.slice(1) : parts;
  if (registry === 'docker.io' || registry === 'index.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && repositoryParts.length === 1)
    repositoryParts = ['library', ...repositoryParts];
  if (!HOST.test(registry)) throw refuse('names an invalid registry host');
  if (repositoryParts.length === 0 || !repositoryParts.every((part) => PATH_COMPONENT.test(part))) {
    throw refuse('has an invalid repository name (lowercase letters, digits and . _ - separators)');
  }
  return {
    registry,
    repository: repositoryParts.join('/'),
    ...(tag !== undefined || digest === undefined ? { tag: tag ?? 'latest' } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** `registry/repository@digest` when the digest is known (what gets deployed), else `registry/repository:tag`. */
export function formatImageReference(ref: ImageReference): string {
  const name = `${ref.registry}/${ref.repository}`;
  if (ref.digest) return `${name}@${ref.digest}`;
  return ref.tag ? `${name}:${ref.tag}` : name;
}
