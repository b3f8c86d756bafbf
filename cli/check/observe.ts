import type { Sql, TransactionSql } from 'postgres';

/** A lock a statement held on a table that existed before the migration. */
export interface HeldLock {
  relation: string;
  mode: string;
  /** What the lock stops the app from doing while it is held. */
  blocks: 'reads and writes' | 'writes';
}

/** One statement as the migration sent it, with what it did to tables that existed before. */
export interface ObservedStatement {
  sql: string;
  /** Sent by the engine (transaction, timeouts, history), not by the migration's own code. */
  byEngine: boolean;
  locks: HeldLock[];
  /** Existing tables whose storage was rewritten (their relfilenode changed). */
  rewrites: string[];
}

const INSPECT = '/* migration-pipeline:inspect */';

const BLOCKING_MODES: Record<string, HeldLock['blocks']> = {
  AccessExclusiveLock: 'reads and writes',
  ExclusiveLock: 'writes',
  ShareRowExclusiveLock: 'writes',
  ShareLock: 'writes',
};

/**
 * Watches one migration run: every statement the session sends (through the `postgres` client's debug
 * hook), and, after each statement of the migration's own code, from a second connection, the locks
 * its session holds on pre-existing tables and, from inside its transaction, which of those tables
 * were rewritten. A relation the migration created itself is never reported.
 */
export class MigrationObserver {
  readonly statements: ObservedStatement[] = [];
  private baseline = new Map<number, { relation: string; filenode: number }>();
  /** Queries of the migration's own code that were awaited and not yet seen by the debug hook. */
  private ownQueriesSent = 0;
  private readonly observer: Sql;

  constructor(observer: Sql) {
    this.observer = observer;
  }

  /** Call before the migration: the tables that exist now, with their storage. */
  async snapshotExisting(sql: Sql): Promise<void> {
    const rows = await sql<{ oid: number; relation: string; filenode: number }[]>`
      select c.oid::int as oid, format('%I.%I', n.nspname, c.relname) as relation, pg_relation_filenode(c.oid)::int as filenode
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p', 'm') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%'`;
    this.baseline = new Map(rows.map((row) => [row.oid, row]));
  }

  /** The session's debug hook: records what was sent, except the observer's own inspections (engine's until inspected). */
  readonly record = (_connection: number, query: string): void => {
    if (query.startsWith(INSPECT)) return;
    const own = this.ownQueriesSent > 0;
    if (own) this.ownQueriesSent--;
    this.statements.push({ sql: query.trim(), byEngine: !own, locks: [], rewrites: [] });
  };

  /** Wraps the handle the migration receives so that each of its statements is inspected once it ran. */
  instrument(pid: () => number) {
    return (handle: Sql | TransactionSql): Sql | TransactionSql => {
      const observe = <T extends object>(query: T): T => this.afterEach(query, handle, pid);
      return new Proxy(handle, {
        apply: (target, thisArg, args: unknown[]) => {
          const result = Reflect.apply(target as never, thisArg, args) as object;
          // Only a tagged-template call is a query; sql('name') and sql([...]) build fragments.
          return Array.isArray(args[0]) && 'raw' in (args[0] as object) ? observe(result) : result;
        },
        get: (target, property, receiver) => {
          const value = Reflect.get(target, property, receiver);
          if (property === 'unsafe' && typeof value === 'function')
            return (...args: unknown[]) => observe(value.apply(target, args));
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    };
  }

  private afterEach<T extends object>(query: T, handle: Sql | TransactionSql, pid: () => number): T {
    const then = (query as { then?: PromiseLike<unknown>['then'] }).then;
    if (typeof then !== 'function') return query;
    return new Proxy(query, {
      get: (target, property, receiver) => {
        if (property !== 'then') return Reflect.get(target, property, receiver);
        return (onFulfilled?: (value: unknown) => unknown, onRejected?: (reason: unknown) => unknown) => {
          // Awaiting a query is what sends it: the next statement the debug hook sees is this one.
          this.ownQueriesSent++;
          return then
            .call(target, async (result: unknown) => {
              await this.inspect(handle, pid());
              return result;
            })
            .then(onFulfilled, onRejected);
        };
      },
    });
  }

  private async inspect(handle: Sql | TransactionSql, pid: number): Promise<void> {
    const statement = this.statements.at(-1);
    if (!statement) return;
    const oids = [...this.baseline.keys()];
    const locks = await this.observer<{ oid: number; mode: string }[]>`
      select l.relation::int as oid, l.mode from pg_locks l
      where l.pid = ${pid} and l.granted and l.locktype = 'relation' and l.relation = any(${oids}::oid[])`;
    for (const lock of locks) {
      const blocks = BLOCKING_MODES[lock.mode];
      const relation = this.baseline.get(lock.oid)?.relation;
      // A lock held since an earlier statement of the same transaction belongs to that statement.
      const earlier = this.statements.some(
        (s) => s !== statement && s.locks.some((l) => l.relation === relation && l.mode === lock.mode),
      );
      if (blocks && relation && !earlier) statement.locks.push({ relation, mode: lock.mode, blocks });
    }
    // Inside the migration's transaction: a rewrite is visible only there until it commits.
    const nodes = await handle.unsafe<{ oid: number; filenode: number | null }[]>(
      `${INSPECT} select oid::int as oid, pg_relation_filenode(oid)::int as filenode from pg_class where oid = any($1::oid[])`,
      [oids],
    );
    for (const node of nodes) {
      const before = this.baseline.get(node.oid);
      if (
        before &&
        node.filenode !== null &&
        node.filenode !== before.filenode &&
        !this.statements.some((s) => s.rewrites.includes(before.relation))
      ) {
        statement.rewrites.push(before.relation);
      }
    }
  }
}
