import type { Migration } from './peers.ts';
import { ours, run } from './peers.ts';
import { freshDatabase } from './support.ts';

/**
 * `check` as a pull request runs it, from the CLI, on a folder of `count` migrations of the kinds a
 * schema grows by (tables, columns, concurrent indexes, foreign keys, comments): its wall time.
 */
export async function measureCheckSpeed(
  adminUrl: string,
  count = 50,
): Promise<{ migrations: number; ms: number }> {
  const table = (i: number) => `t${(i % 10) + 1}`;
  const migrations: Migration[] = Array.from({ length: count }, (_, index) => {
    const i = index + 1;
    if (i <= 10)
      return { up: `create table t${i} (id bigint primary key, note text)`, down: `drop table t${i}` };
    if (i % 3 === 0)
      return {
        up: `alter table ${table(i)} add column c${i} text`,
        down: `alter table ${table(i)} drop column c${i}`,
      };
    if (i % 3 === 1) {
      return {
        up: `create table u${i} (id bigint primary key, t_id bigint references ${table(i)} (id))`,
        down: `drop table u${i}`,
      };
    }
    return {
      up: `comment on table ${table(i)} is 'note ${i}'`,
      down: `comment on table ${table(i)} is null`,
    };
  });
  const tool = ours('sql');
  const cwd = await tool.write(migrations);
  const db = await freshDatabase(adminUrl);
  try {
    const up = tool.up(cwd, db.url);
    const ms = await run({ ...up, args: [up.args[0] as string, 'check', '--dir', 'db/migrations'] });
    return { migrations: count, ms };
  } finally {
    await db.drop();
  }
}
