import { setTimeout as sleep } from 'node:timers/promises';
import postgres, { type Sql, type TransactionSql } from 'postgres';
import { describe, expect, it } from 'vitest';
import { migrateUp } from '../../functions/lib/migrations/index.ts';
import { LOCK_MODES } from '../../functions/lib/migrations/lockTargets.ts';
import { createTestDatabase } from '../support/database.ts';
import { migrationsDir } from '../support/migrationsDir.ts';
import { CHECK_CORPUS } from './corpus.ts';
import type { CheckCase, LockMode } from './corpusCase.ts';

const STRENGTH: readonly LockMode[] = LOCK_MODES;

interface ExistingTable {
  oid: number;
  relation: string;
  /** 'r' table, 'p' partitioned table, 'm' materialized view (which LOCK TABLE refuses). */
  kind: string;
  filenode: number | null;
}

type Handle = Sql | TransactionSql;

/**
 * Watches the pg_locks of one migration session, apart from `check`'s own observer. Every query the
 * session sends, the engine's and the migration's, inside transactions (the engine's, a module's
 * `begin`, `inBatches`) or outside them, goes through `wrap`. Inside a transaction a table lock
 * lasts until its end, so it is read once the statement returned. Outside one, the locks are gone
 * once the statement returns, so a gate holds SHARE UPDATE EXCLUSIVE on every pre-existing table
 * while it runs: a statement needing that lock or a stronger one waits for the gate, and is read
 * while waiting (the lock it asks for and those it holds) before the gate lets it go. Weaker locks
 * taken outside a transaction (a lone INSERT's) pass unseen, and LOCK TABLE refuses materialized
 * views: the corpus runs such statements inside transactions.
 */
class LockProbe {
  readonly seen: { relation: string; mode: LockMode }[] = [];
  private readonly relations: Map<number, string>;
  private readonly lockable: number[];
  private readonly watcher: Sql;
  private readonly gate: Sql;
  private readonly gatePid: number;
  private readonly sessionPid: number;

  constructor(options: {
    watcher: Sql;
    gate: Sql;
    gatePid: number;
    sessionPid: number;
    tables: ExistingTable[];
  }) {
    this.watcher = options.watcher;
    this.gate = options.gate;
    this.gatePid = options.gatePid;
    this.sessionPid = options.sessionPid;
    this.relations = new Map(options.tables.map((table) => [table.oid, table.relation]));
    this.lockable = options.tables.filter((table) => table.kind !== 'm').map((table) => table.oid);
  }

  wrap<T extends Handle>(handle: T, inTransaction: boolean): T {
    return new Proxy(handle, {
      apply: (target, thisArg, args: unknown[]) => {
        const result = Reflect.apply(target as never, thisArg, args) as object;
        // Only a tagged-template call is a query; sql('name') and sql([...]) build fragments.
        return Array.isArray(args[0]) && 'raw' in args[0] ? this.watch(result, inTransaction) : result;
      },
      get: (target, property) => {
        const value = Reflect.get(target, property);
        if (typeof value !== 'function') return value;
        if (property === 'unsafe') {
          return (...args: unknown[]) => this.watch(value.apply(target, args), inTransaction);
        }
        if (property === 'begin' || property === 'savepoint') {
          return (...args: unknown[]) => {
            const body = args.at(-1) as (tx: TransactionSql) => unknown;
            return value.apply(target, [
              ...args.slice(0, -1),
              (tx: TransactionSql) => body(this.wrap(tx, true)),
            ]);
          };
        }
        return value.bind(target);
      },
    });
  }

  private watch<T extends object>(query: T, inTransaction: boolean): T {
    const then = (query as { then?: PromiseLike<unknown>['then'] }).then;
    if (typeof then !== 'function') return query;
    // Awaiting a `postgres` query is what sends it: run it through the probe once, however awaited.
    let outcome: Promise<unknown> | undefined;
    const run = () => {
      outcome ??= this.observe(
        () => new Promise((resolve, reject) => then.call(query, resolve, reject)),
        inTransaction,
      );
      return outcome;
    };
    return new Proxy(query, {
      get: (target, property, receiver) => {
        if (property === 'then')
          return (f?: (v: unknown) => unknown, r?: (e: unknown) => unknown) => run().then(f, r);
        if (property === 'catch') return (r?: (e: unknown) => unknown) => run().catch(r);
        if (property === 'finally') return (f?: () => void) => run().finally(f);
        return Reflect.get(target, property, receiver);
      },
    });
  }

  private async observe(send: () => Promise<unknown>, inTransaction: boolean): Promise<unknown> {
    if (inTransaction) {
      const result = await send();
      await this.readLocks(true);
      return result;
    }
    if (this.lockable.length === 0) return send();
    // By oid: a table the migration renamed or dropped is locked under its new name, or skipped.
    await this.gate.unsafe(`begin; do $$ declare t regclass; begin
      for t in select oid::regclass from pg_class where oid = any('{${this.lockable.join(',')}}'::oid[]) loop
        execute format('lock table %s in share update exclusive mode', t);
      end loop; end $$`);
    let settled = false;
    const sent = send().finally(() => {
      settled = true;
    });
    // Its failure is the caller's, handed back below; not an unhandled rejection while the gate is open.
    sent.catch(() => {});
    try {
      while (!settled) {
        const [row] = await this.watcher<{ blocked: boolean }[]>`
          select ${this.gatePid}::int = any(pg_blocking_pids(${this.sessionPid}::int)) as blocked`;
        if (row?.blocked) {
          await this.readLocks(false);
          break;
        }
        await sleep(1);
      }
    } finally {
      await this.gate.unsafe('commit');
    }
    return sent;
  }

  private async readLocks(grantedOnly: boolean): Promise<void> {
    const rows = await this.watcher<{ oid: number; mode: LockMode }[]>`
      select relation::int as oid, mode from pg_locks
      where pid = ${this.sessionPid}::int and locktype = 'relation'
        and relation = any(${[...this.relations.keys()]}::oid[]) and (granted or not ${grantedOnly})`;
    for (const { oid, mode } of rows) this.seen.push({ relation: this.relations.get(oid) as string, mode });
  }
}

async function existingTables(sql: Sql): Promise<ExistingTable[]> {
  return sql<ExistingTable[]>`
    select c.oid::int as oid, format('%I.%I', n.nspname, c.relname) as relation, c.relkind as kind,
           pg_relation_filenode(c.oid)::int as filenode
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p', 'm') and n.nspname not in ('pg_catalog', 'information_schema')
      and n.nspname not like 'pg\\_toast%'`;
}

interface Measured {
  lock: CheckCase['lock'];
  rewrites: boolean;
}

/** Runs the case's setup and migration on a fresh database, through the real engine, and measures it. */
async function measure(testCase: CheckCase): Promise<Measured> {
  const db = await createTestDatabase();
  const connections: Sql[] = [];
  const open = () => {
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    connections.push(sql);
    return sql;
  };
  try {
    await db.sql.unsafe(testCase.setup);
    const before = await existingTables(db.sql);
    expect(before.length, 'the setup creates the tables the migration finds').toBeGreaterThan(0);
    for (const { relation } of before) {
      const [row] = await db.sql.unsafe(`select exists (select from ${relation}) as filled`);
      expect(row?.filled, `${relation} has rows, so scans and rewrites are real`).toBe(true);
    }
    const [session, watcher, gate] = [open(), open(), open()];
    const pidOf = async (sql: Sql) => (await sql<[{ pid: number }]>`select pg_backend_pid() as pid`)[0].pid;
    const probe = new LockProbe({
      watcher,
      gate,
      gatePid: await pidOf(gate),
      sessionPid: await pidOf(session),
      tables: before,
    });
    const file =
      'sql' in testCase.migration
        ? { [`001-${testCase.id}.sql`]: testCase.migration.sql }
        : { [`001-${testCase.id}.mjs`]: testCase.migration.module };
    await migrateUp({ database: probe.wrap(session, false), migrationsDir: await migrationsDir(file) });

    const after = new Map((await existingTables(db.sql)).map((table) => [table.oid, table.filenode]));
    const rewrites = before.some((table) => after.has(table.oid) && after.get(table.oid) !== table.filenode);
    const strongest = probe.seen.reduce<LockMode | undefined>(
      (max, { mode }) => (max === undefined || STRENGTH.indexOf(mode) > STRENGTH.indexOf(max) ? mode : max),
      undefined,
    );
    if (!strongest) return { lock: null, rewrites };
    const holders = probe.seen.filter((lock) => lock.mode === strongest).map((lock) => lock.relation);
    // Several tables may hold the strongest mode (a foreign key locks both): the label names one of them.
    const table = testCase.lock && holders.includes(testCase.lock.table) ? testCase.lock.table : holders[0];
    return { lock: { table: table as string, mode: strongest }, rewrites };
  } finally {
    await Promise.all(connections.map((sql) => sql.end({ timeout: 1 })));
    await db.drop();
  }
}

describe('the check corpus', () => {
  it('has unique ids, at least 60 cases (30 dangerous, 25 safe), and advice for every dangerous one', () => {
    const ids = CHECK_CORPUS.map((testCase) => testCase.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => !/^[a-z0-9]+(-[a-z0-9]+)*$/.test(id))).toEqual([]);
    expect(CHECK_CORPUS.length).toBeGreaterThanOrEqual(60);
    expect(CHECK_CORPUS.filter((testCase) => testCase.dangerous).length).toBeGreaterThanOrEqual(30);
    expect(CHECK_CORPUS.filter((testCase) => !testCase.dangerous).length).toBeGreaterThanOrEqual(25);
    expect(
      CHECK_CORPUS.filter((testCase) => testCase.dangerous && !testCase.advice).map((c) => c.id),
    ).toEqual([]);
    expect(
      CHECK_CORPUS.filter((testCase) => !testCase.dangerous && testCase.advice).map((c) => c.id),
    ).toEqual([]);
  });

  describe.concurrent('each case holds the lock and rewrites the tables its label says, on a real server', () => {
    for (const testCase of CHECK_CORPUS) {
      it(testCase.id, async () => {
        expect(await measure(testCase)).toEqual({ lock: testCase.lock, rewrites: testCase.rewrites });
      });
    }
  });
});
