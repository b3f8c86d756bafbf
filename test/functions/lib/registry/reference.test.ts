import { describe, expect, it } from 'vitest';
import { formatImageReference, parseImageReference } from '../../../../functions/lib/registry/reference.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const ECR = '123456789012.dkr.ecr.us-east-2.amazonaws.com';

describe('parseImageReference', () => {
  it.each([
    [`${ECR}/team/app:v42`, { registry: ECR, repository: 'team/app', tag: 'v42' }],
    [`${ECR}/app@${DIGEST}`, { registry: ECR, repository: 'app', digest: DIGEST }],
    [`${ECR}/app:v1@${DIGEST}`, { registry: ECR, repository: 'app', tag: 'v1', digest: DIGEST }],
    ['127.0.0.1:5000/app', { registry: '127.0.0.1:5000', repository: 'app', tag: 'latest' }],
    ['localhost/a/b/c:1.0', { registry: 'localhost', repository: 'a/b/c', tag: '1.0' }],
    ['[::1]:5000/app:v1', { registry: '[::1]:5000', repository: 'app', tag: 'v1' }],
    ['postgres:17', { registry: 'registry-1.docker.io', repository: 'library/postgres', tag: '17' }],
    [
      'docker.io/bitnami/redis',
      { registry: 'registry-1.docker.io', repository: 'bitnami/redis', tag: 'latest' },
    ],
  ])('parses %s', (text, expected) => {
    expect(parseImageReference(text)).toEqual(expected);
  });

  it.each([
    ['', 'an empty reference'],
    [`${ECR}/App:v1`, 'an uppercase repository'],
    [`${ECR}/app:-v1`, 'a tag starting with a dash'],
    [`${ECR}/app@sha256:abc`, 'a short digest'],
    [`${ECR}/app@sha512:${'ab'.repeat(64)}`, 'a digest other than sha256'],
    [`${ECR}/app/../etc:v1`, 'a path climbing up'],
    ['bad_host:5000/app:v1', 'an invalid host'],
  ])('refuses %s (%s) as InvalidInput naming the field image', (text) => {
    expect(() => parseImageReference(text)).toThrowError(
      expect.objectContaining({ name: 'InvalidInput', context: { field: 'image' } }),
    );
  });
});

describe('formatImageReference', () => {
  it('names the digest when it is known, else the tag', () => {
    expect(formatImageReference({ registry: ECR, repository: 'app', tag: 'v1', digest: DIGEST })).toBe(
      `${ECR}/app@${DIGEST}`,
    );
    expect(formatImageReference({ registry: ECR, repository: 'app', tag: 'v1' })).toBe(`${ECR}/app:v1`);
  });

  it('round-trips through parseImageReference', () => {
    const reference = parseImageReference(`${ECR}/team/app@${DIGEST}`);
    expect(parseImageReference(formatImageReference(reference))).toEqual(reference);
  });
});
