import type { MigrationFile } from '../files.ts';
import { type MigrationsFolder, readablePath, readSource, refusal } from './folder.ts';

/** Flyway's versioned (V), undo (U) and baseline (B) scripts: `V2_1__add_orders.sql`. */
const VERSIONED = /^([VUB])(\d+(?:[._]\d+)*)__(.*)\.sql$/;
/** Flyway's repeatable scripts: `R__refresh_views.sql`. */
const REPEATABLE = /^R__.*\.sql$/;
/** Flyway's SQL callbacks (`beforeMigrate.sql`, `afterEachMigrate__log.sql`…): run around migrations, not as ones. */
const CALLBACK =
  /^(?:before|after)(?:Each)?(?:Migrate|Clean|Validate|Baseline|Repair|Info|Undo|Connect|Version)(?:Statement)?(?:Error|Applied)?(?:__.*)?\.sql$/;
const CONFIG_SUFFIX = '.conf';
/** A Flyway placeholder such as `${schema}` or `${flyway:defaultSchema}`, which Flyway substitutes before running. */
const PLACEHOLDER = /\$\{[^}\s]+\}/;

/** Whether a file name is one of Flyway's (its versioned, undo, baseline or repeatable scripts). */
export function isFlywayName(name: string): boolean {
  return VERSIONED.test(name) || REPEATABLE.test(name);
}

/**
 * Flyway's layout: `V<version>__<description>.sql` applied in version order, compared as versions
 * (`V2` < `V2_1` < `V10`; `.` and `_` separate parts; `V1.0` and `V1` are the same version);
 * `U<version>__…` is the down of the same version; `V….sql.conf` may set `executeInTransaction`.
 * The migration is named by its file name, as Flyway's `script` column does. Repeatables,
 * baseline scripts, callbacks, placeholders and any other SQL file are refused: each means
 * something Flyway would do that this engine does not.
 */
export async function listFlywayMigrations(
  folder: MigrationsFolder,
  names: string[],
): Promise<MigrationFile[]> {
  const versioned = new Map<string, { version: bigint[]; up?: string; down?: string }>();
  for (const name of names.filter((candidate) => candidate.endsWith('.sql'))) {
    const kind = refuseUnsupported(name);
    const [, , digits = ''] = VERSIONED.exec(name) ?? [];
    const version = parseVersion(digits);
    const key = version.join('.');
    const entry = versioned.get(key) ?? { version };
    const slot = kind === 'V' ? 'up' : 'down';
    const other = entry[slot];
    if (other) {
      throw refusal(
        name,
        `it has the same version as ${other} (${key}); Flyway refuses that too. Give one of them the next version.`,
      );
    }
    entry[slot] = name;
    versioned.set(key, entry);
  }
  const configs = new Set(names.filter((name) => name.endsWith(`.sql${CONFIG_SUFFIX}`)));
  const files: MigrationFile[] = [];
  for (const entry of [...versioned.values()].sort((a, b) => compareVersions(a.version, b.version))) {
    if (!entry.up) {
      throw refusal(
        entry.down as string,
        'it undoes a version that has no V script in the folder. Restore the V script or remove this file.',
      );
    }
    const { path, text, checksum } = await readSource(folder, entry.up);
    refusePlaceholders(entry.up, text);
    if (entry.down) refusePlaceholders(entry.down, (await readSource(folder, entry.down)).text);
    const upConfig = await scriptConfig(folder, configs, entry.up);
    const downConfig = entry.down ? await scriptConfig(folder, configs, entry.down) : undefined;
    files.push({
      name: entry.up,
      path,
      checksum,
      plainSql: {
        format: 'flyway',
        ...(upConfig !== undefined ? { transaction: upConfig } : {}),
        ...(downConfig !== undefined ? { downTransaction: downConfig } : {}),
        ...(entry.down ? { downPath: await readablePath(folder, entry.down) } : {}),
      },
    });
  }
  const scripts = new Set([...versioned.values()].flatMap((entry) => [entry.up, entry.down]));
  const orphan = [...configs].find((config) => !scripts.has(config.slice(0, -CONFIG_SUFFIX.length)));
  if (orphan) {
    throw refusal(
      orphan,
      'it configures a script that is not a versioned or undo migration in the folder. Rename or remove it.',
    );
  }
  return files;
}

/** The kind of a script this engine runs (V or U), or a refusal saying why it does not run the others. */
function refuseUnsupported(name: string): 'V' | 'U' {
  if (REPEATABLE.test(name)) {
    throw refusal(
      name,
      'it is a Flyway repeatable migration (R__), run again whenever it changes; a release applies each migration once. ' +
        'Put its current content in a new versioned migration (V…__), and each later change in another one.',
    );
  }
  if (CALLBACK.test(name)) {
    throw refusal(
      name,
      'it is a Flyway callback, run around migrations; this engine runs no callbacks. Move what it does into a versioned migration or into the app.',
    );
  }
  const kind = VERSIONED.exec(name)?.[1];
  if (kind === 'B') {
    throw refusal(
      name,
      'it is a Flyway baseline migration (B…__); adopt an existing database with "migrate baseline --to NAME" instead, and keep the V scripts.',
    );
  }
  if (kind !== 'V' && kind !== 'U') {
    throw refusal(
      name,
      'Flyway would not run it: versioned migrations are named V<version>__<description>.sql (undo: U…). Rename it or move it out of the folder.',
    );
  }
  return kind;
}

function parseVersion(digits: string): bigint[] {
  const parts = digits.split(/[._]/).map((part) => BigInt(part));
  // Flyway compares 1.0 and 1 as the same version.
  while (parts.length > 1 && parts.at(-1) === 0n) parts.pop();
  return parts;
}

/** Part by part as numbers; a version that is a prefix of another comes first (`2` before `2.1`). */
export function compareVersions(a: readonly bigint[], b: readonly bigint[]): number {
  for (let index = 0; index < Math.max(a.length, b.length); index += 1) {
    const left = a[index];
    const right = b[index];
    if (left === undefined) return -1;
    if (right === undefined) return 1;
    if (left !== right) return left < right ? -1 : 1;
  }
  return 0;
}

function refusePlaceholders(name: string, text: string): void {
  const placeholder = PLACEHOLDER.exec(text)?.[0];
  if (!placeholder) return;
  throw refusal(
    name,
    `it uses the Flyway placeholder ${placeholder}, which Flyway substitutes before running and this engine does not. Write the value itself.`,
  );
}

/** A script's `executeInTransaction`, from its `.sql.conf` when it has one. */
async function scriptConfig(
  folder: MigrationsFolder,
  configs: ReadonlySet<string>,
  script: string,
): Promise<boolean | undefined> {
  const name = `${script}${CONFIG_SUFFIX}`;
  return configs.has(name) ? parseScriptConfig(name, (await readSource(folder, name)).text) : undefined;
}

/** A `.sql.conf`: `executeInTransaction` is the only setting that changes how a script runs here. */
function parseScriptConfig(name: string, text: string): boolean | undefined {
  let transaction: boolean | undefined;
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [key = '', value = ''] = line.split('=', 2).map((part) => part.trim());
    if (key === 'executeInTransaction' && (value === 'true' || value === 'false')) {
      transaction = value === 'true';
    } else if (key === 'encoding' && /^utf-?8$/i.test(value)) {
      // Files are read as UTF-8 already.
    } else {
      throw refusal(
        `${name}:${index + 1}`,
        `"${line}" is not a setting this engine applies (executeInTransaction=true|false, encoding=UTF-8). Remove it.`,
      );
    }
  }
  return transaction;
}
