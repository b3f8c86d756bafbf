import { randomBytes } from 'node:crypto';
import postgres, { type Sql } from 'postgres';
import { inject } from 'vitest';

export interface TestDatabase {
  name: string;
  url: string;
  /** A pooled client for assertions and for playing the app (not the migration session). */
  sql: Sql;
  drop(): Promise<void>;
}

/** The server the suite runs on (embedded, or DATABASE_URL). */
export function adminUrl(): string {
  return inject('adminUrl');
}

/** A fresh, empty database on the suite's server, so tests run in parallel without sharing state. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = postgres(adminUrl(), { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}"`);
  await admin.end();
  const url = withDatabase(adminUrl(), name);
  const sql = postgres(url, { max: 10, onnotice: () => {} });
  return {
    name,
    url,
    sql,
    async drop() {
      await sql.end({ timeout: 1 });
      const cleanup = postgres(adminUrl(), { max: 1, onnotice: () => {} });
      await cleanup.unsafe(`drop database if exists "${name}" with (force)`);
      await cleanup.end();
    },
  };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
