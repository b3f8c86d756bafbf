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
  /** Blocking locks it took on existing tables (held until its transaction ends). */
  locks: HeldLock[];
  /** Existing tables whose storage was rewritten (their relfilenode changed). */
  rewrites: string[];
  /** Rows of existing tables it read by scanning them, and rows it inserted, updated or deleted, by table. */
  rowsScanned: Record<string, number>;
  rowsWritten: Record<string, number>;
  /** How long it ran, from sending it to its result. */
  durationMs: number;
  /** Whether it ran inside a transaction (the engine's, or a module's own `sql.begin`): its locks outlive it. */
  inTransaction: boolean;
  /** False for the statement that failed (or one sent by the engine): nothing of it was measured. */
  measured: boolean;
}

/** The existing tables' row counts when the migration started: what scans and rewrites are compared with. */
export type TableRows = Record<string, number>;

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
  readonly tableRows: TableRows = {};
  private baseline = new Map<number, { relation: string; filenode: number; kind: string }>();
  /** The transaction's scan and write counters at the last inspection, by table oid: each statement's share is the difference. */
  private counters = new Map<number, { transaction: string; scanned: number; written: number }>();
  private sentAt = 0;
  /** Queries of the migration's own code that were awaited and not yet seen by the debug hook. */
  private ownQueriesSent = 0;
  private readonly observer: Sql;

  constructor(observer: Sql) {
    this.observer = observer;
  }

  /** Call before the migration: the tables that exist now, with their storage. */
  async snapshotExisting(sql: Sql): Promise<void> {
    const rows = await sql<{ oid: number; relation: string; filenode: number; kind: string }[]>`
      select c.oid::int as oid, format('%I.%I', n.nspname, c.relname) as relation, pg_relation_filenode(c.oid)::int as filenode, c.relkind::text as kind
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p', 'm') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%'`;
    this.baseline = new Map(rows.map((row) => [row.oid, row]));
    for (const { relation } of rows) {
      // `relation` is quoted by format('%I.%I') above.
      const [count] = await sql.unsafe<{ rows: number }[]>(`select count(*)::int as rows from ${relation}`);
      this.tableRows[relation] = count?.rows ?? 0;
    }
  }

  /** The session's debug hook: records what was sent, except the observer's own inspections (engine's until inspected). */
  readonly record = (_connection: number, query: string): void => {
    if (query.startsWith(INSPECT)) return;
    const own = this.ownQueriesSent > 0;
    if (own) this.ownQueriesSent--;
    this.statements.push({
      sql: query.trim(),
      byEngine: !own,
      locks: [],
      rewrites: [],
      rowsScanned: {},
      rowsWritten: {},
      durationMs: 0,
      inTransaction: false,
      measured: false,
    });
  };

  /** Wraps the handle the migration receives so that each of its statements is inspected once it ran. */
  instrument(pid: () => number) {
    return (handle: Sql | TransactionSql): Sql | TransactionSql => {
      const observe = <T extends object>(query: T): T => this.afterEach(query, handle, pid);
      const instrumented: Sql | TransactionSql = new Proxy(handle, {
        apply: (target, thisArg, args: unknown[]) => {
          const result = Reflect.apply(target as never, thisArg, args) as object;
          // Only a tagged-template call is a query; sql('name') and sql([...]) build fragments.
          return Array.isArray(args[0]) && 'raw' in (args[0] as object) ? observe(result) : result;
        },
        get: (target, property, receiver) => {
          const value = Reflect.get(target, property, receiver);
          if (property === 'unsafe' && typeof value === 'function')
            return (...args: unknown[]) => observe(value.apply(target, args));
          // A module's own transactions (`sql.begin`, `sql.savepoint`) are its statements too.
          if ((property === 'begin' || property === 'savepoint') && typeof value === 'function') {
            return (...args: unknown[]) =>
              value.apply(
                target,
                args.map((arg) =>
                  typeof arg === 'function' ? (tx: TransactionSql) => arg(this.instrument(pid)(tx)) : arg,
                ),
              );
          }
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      return instrumented;
    };
  }

  private afterEach<T extends object>(query: T, handle: Sql | TransactionSql, pid: () => number): T {
    const then = (query as { then?: PromiseLike<unknown>['then'] }).then;
    if (typeof then !== 'function') return query;
    return new Proxy(query, {
      get: (target, property, receiver) => {
        if (property !== 'then') return Reflect.get(target, property, receiver);
        return (onFulfilled?: (value: unknown) => unknown, onRejected?: (reason: unknown) => unknown) =>
          // The counters first, then the query: postgres sends a query when it is awaited.
          this.startCounting(handle)
            .then(() => {
              // Awaiting a query is what sends it: the next statement the debug hook sees is this one.
              this.ownQueriesSent++;
              this.sentAt = performance.now();
              return then.call(target, async (result: unknown) => {
                const statement = this.statements.at(-1);
                if (statement) statement.durationMs = performance.now() - this.sentAt;
                await this.inspect(handle, pid());
                return result;
              });
            })
            .then(onFulfilled, onRejected);
      },
    });
  }

  private async inspect(handle: Sql | TransactionSql, pid: number): Promise<void> {
    const statement = this.statements.at(-1);
    if (!statement) return;
    const oids = [...this.baseline.keys()];
    statement.inTransaction = 'savepoint' in handle;
    statement.measured = true;
    if (statement.inTransaction) await this.countRows(handle, statement);
    const locks = await this.observer<{ oid: number; mode: string }[]>`
      select l.relation::int as oid, l.mode from pg_locks l
      where l.pid = ${pid} and l.granted and l.locktype = 'relation' and l.relation = any(${oids}::oid[])`;
    for (const lock of locks) {
      // Nobody writes to a materialized view: only a lock that blocks its reads matters.
      const view = this.baseline.get(lock.oid)?.kind === 'm';
      const blocks = view && lock.mode !== 'AccessExclusiveLock' ? undefined : BLOCKING_MODES[lock.mode];
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

  /**
   * The scan and write counters of the existing tables in this session (pg_stat_xact_user_tables,
   * which only the session itself sees): each statement's share is what they grew by while it ran.
   * They hold what the session has not yet reported, earlier transactions included (the seed, the
   * migrations before), and are reset only outside a transaction: so they are read afresh at the
   * first statement of each transaction, known by its start (`now()`), and a retried attempt starts anew.
   */
  private async readCounters(
    handle: Sql | TransactionSql,
  ): Promise<{ oid: number; transaction: string; scanned: number; written: number }[]> {
    return handle.unsafe(
      `${INSPECT} select relid::int as oid, now()::text as transaction,
         (seq_tup_read + coalesce(idx_tup_fetch, 0))::float8 as scanned,
         (n_tup_ins + n_tup_upd + n_tup_del)::float8 as written
       from pg_stat_xact_user_tables where relid = any($1::oid[])`,
      [[...this.baseline.keys()]],
    );
  }

  private async startCounting(handle: Sql | TransactionSql): Promise<void> {
    if (!('savepoint' in handle)) return;
    const rows = await this.readCounters(handle);
    for (const row of rows) {
      if (this.counters.get(row.oid)?.transaction !== row.transaction) this.counters.set(row.oid, row);
    }
  }

  /** What the last statement added to the counters of its transaction. */
  private async countRows(handle: Sql | TransactionSql, statement: ObservedStatement): Promise<void> {
    for (const row of await this.readCounters(handle)) {
      const relation = this.baseline.get(row.oid)?.relation;
      const last = this.counters.get(row.oid);
      const scanned = row.scanned - (last?.transaction === row.transaction ? last.scanned : 0);
      const written = row.written - (last?.transaction === row.transaction ? last.written : 0);
      this.counters.set(row.oid, row);
      if (!relation) continue;
      if (scanned > 0) statement.rowsScanned[relation] = scanned;
      if (written > 0) statement.rowsWritten[relation] = written;
    }
  }
}
