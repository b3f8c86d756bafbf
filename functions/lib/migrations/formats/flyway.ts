import type { Dirent } from 'node:fs';
import { posix } from 'node:path';
import type { MigrationFile } from '../files.ts';
import { type MigrationsFolder, readablePath, readSource, refusal, subfolderEntries } from './folder.ts';

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
 * Flyway reads its location's subfolders too: scripts one level down count, named by their path
 * (`v2/V2__x.sql`, as Flyway's `script` column records them); deeper ones are refused, since a
 * release carries two levels. Repeatables, baseline scripts, callbacks and placeholders are refused:
 * each means something Flyway would do that this engine does not. Other files Flyway skips, as here.
 */
export async function listFlywayMigrations(
  folder: MigrationsFolder,
  entries: Dirent[],
): Promise<MigrationFile[]> {
  const names = await scriptPaths(folder, entries);
  const versioned = new Map<string, { version: bigint[]; up?: string; down?: string }>();
  for (const name of names.filter((candidate) => candidate.endsWith('.sql'))) {
    const kind = refuseUnsupported(name);
    if (!kind) continue;
    const [, , digits = ''] = VERSIONED.exec(posix.basename(name)) ?? [];
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
    const upConfig = await scriptConfig(folder, configs, entry.up);
    const downConfig = entry.down ? await scriptConfig(folder, configs, entry.down) : {};
    if (upConfig.placeholders) refusePlaceholders(entry.up, text);
    if (entry.down && downConfig.placeholders) {
      refusePlaceholders(entry.down, (await readSource(folder, entry.down)).text);
    }
    files.push({
      name: entry.up,
      path,
      checksum,
      plainSql: {
        format: 'flyway',
        ...(upConfig.transaction !== undefined ? { transaction: upConfig.transaction } : {}),
        ...(downConfig.transaction !== undefined ? { downTransaction: downConfig.transaction } : {}),
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

/**
 * The kind of a script this engine runs (V or U); a refusal for what Flyway would run and this engine
 * does not; undefined for a name Flyway itself skips (a seed file, notes).
 */
function refuseUnsupported(path: string): 'V' | 'U' | undefined {
  const name = posix.basename(path);
  if (REPEATABLE.test(name)) {
    throw refusal(
      path,
      'it is a Flyway repeatable migration (R__), run again whenever it changes; a release applies each migration once. ' +
        'Put its current content in a new versioned migration (V…__), and each later change in another one.',
    );
  }
  if (CALLBACK.test(name)) {
    throw refusal(
      path,
      'it is a Flyway callback, run around migrations; this engine runs no callbacks. Move what it does into a versioned migration or into the app.',
    );
  }
  const kind = VERSIONED.exec(name)?.[1];
  if (kind === 'B') {
    throw refusal(
      path,
      'it is a Flyway baseline migration (B…__); adopt an existing database with "migrate baseline --to NAME" instead, and keep the V scripts.',
    );
  }
  return kind === 'V' || kind === 'U' ? kind : undefined;
}

/** The folder's files and its subfolders' (one level), as relative paths; a script deeper is refused. */
async function scriptPaths(folder: MigrationsFolder, entries: Dirent[]): Promise<string[]> {
  const paths = entries.filter((entry) => !entry.isDirectory()).map((entry) => entry.name);
  for (const entry of entries.filter((candidate) => candidate.isDirectory())) {
    for (const inside of (await subfolderEntries(folder, entry.name)) ?? []) {
      const path = `${entry.name}/${inside.name}`;
      if (!inside.isDirectory()) {
        paths.push(path);
        continue;
      }
      const deeper = (await subfolderEntries(folder, path)) ?? [];
      const script = deeper.find((file) => isFlywayName(file.name));
      if (script) {
        throw refusal(
          `${path}/${script.name}`,
          'it is more than one folder below the migrations folder, deeper than a release carries. Move it up a level.',
        );
      }
    }
  }
  return paths;
}

function parseVersion(digits: string): bigint[] {
  const parts = digits.split(/[._]/).map((part) => BigInt(part));
  // Flyway compares 1.0 and 1 as the same version.
  while (parts.length > 1 && parts.at(-1) === 0n) parts.pop();
  return parts;
}

/** Part by part as numbers; a version that is a prefix of another comes first (`2` before `2.1`). */
function compareVersions(a: readonly bigint[], b: readonly bigint[]): number {
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
interface ScriptConfig {
  transaction?: boolean;
  /** False when the script says `placeholderReplacement=false`: Flyway then runs `${…}` as written. */
  placeholders?: boolean;
}

/** A script's settings, from its `.sql.conf` when it has one. */
async function scriptConfig(
  folder: MigrationsFolder,
  configs: ReadonlySet<string>,
  script: string,
): Promise<ScriptConfig> {
  const name = `${script}${CONFIG_SUFFIX}`;
  return configs.has(name)
    ? parseScriptConfig(name, (await readSource(folder, name)).text)
    : { placeholders: true };
}

/** A `.sql.conf`: the settings that change how a script runs here; the rest is refused, not ignored. */
function parseScriptConfig(name: string, text: string): ScriptConfig {
  const config: ScriptConfig = { placeholders: true };
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [key = '', value = ''] = line.split('=', 2).map((part) => part.trim());
    const flag = value === 'true' ? true : value === 'false' ? false : undefined;
    if (key === 'executeInTransaction' && flag !== undefined) {
      config.transaction = flag;
    } else if (key === 'placeholderReplacement' && flag !== undefined) {
      config.placeholders = flag;
    } else if (key === 'encoding' && /^utf-?8$/i.test(value)) {
      // Files are read as UTF-8 already.
    } else {
      throw refusal(
        `${name}:${index + 1}`,
        `"${line}" is not a setting this engine applies (executeInTransaction, placeholderReplacement: true|false; encoding=UTF-8). Remove it.`,
      );
    }
  }
  return config;
}
