import { mkdtemp, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { UsageError } from './io.ts';

/** The folder a command reads migrations from: `--dir` as it is, or the migrations inside `--image`. */
export interface MigrationsSource {
  dir: string;
  /** The image they were read from, pinned by digest. */
  image?: string;
}

/**
 * `--image REF` reads the migrations inside the image from its registry, as the pipeline's first step
 * does (ECR with the AWS credentials of this shell; plain HTTP only for a registry on this machine),
 * into a folder of their own; otherwise `--dir`. Layers already read are remembered in
 * ~/.cache/migration-pipeline/layers, so asking again about a newer image reads only its new layers.
 */
export async function migrationsSource(
  values: { dir?: string; image?: string; 'migrations-path'?: string },
  io: { cwd: string; env: Record<string, string | undefined> },
  dirGiven: boolean,
): Promise<MigrationsSource> {
  if (!values.image) return { dir: resolve(io.cwd, values.dir ?? 'migrations') };
  if (dirGiven) throw new UsageError('Give --image or --dir, not both: each names where the migrations are.');
  // The registry reader and the ECR client load only for --image: a folder's status parses neither.
  const [
    { ECRClient },
    { ecrCredentials },
    { directoryLayerCache },
    { readImageMigrations },
    { formatImageReference },
  ] = await Promise.all([
    import('@aws-sdk/client-ecr'),
    import('../functions/lib/registry/ecrCredentials.ts'),
    import('../functions/lib/registry/memoryLayerCache.ts'),
    import('../functions/lib/registry/readImageMigrations.ts'),
    import('../functions/lib/registry/reference.ts'),
  ]);
  const read = await readImageMigrations(values.image, {
    access: {
      // ECR hosts only: the token goes to no other registry.
      credentials: ecrCredentials(new ECRClient(io.env.AWS_REGION ? { region: io.env.AWS_REGION } : {})),
      allowPlainHttpOnLoopback: true,
    },
    cache: directoryLayerCache(
      join(io.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'migration-pipeline', 'layers'),
    ),
    ...(values['migrations-path'] ? { pathOverride: values['migrations-path'] } : {}),
  });
  const dir = await mkdtemp(join(tmpdir(), 'image-migrations-'));
  for (const file of read.files) await writeFile(join(dir, file.name), file.content);
  return { dir, image: formatImageReference(read.image) };
}
