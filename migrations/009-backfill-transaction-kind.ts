import type { Sql } from 'postgres';
import type { MigrationContext } from '../functions/lib/migrations/index.ts';

/**
 * Fills `kind` from the sign of the amount, 5000 rows per short transaction, so no row lock is
 * held for long and the work is visible as it goes. Outside a migration transaction on purpose.
 */
export const transaction = false;

export async function up(_sql: Sql, { inBatches }: MigrationContext): Promise<void> {
  await inBatches(
    async (tx, batchSize) => {
      const rows = await tx`
        update transactions set kind = case when amount >= 0 then 'income' else 'expense' end::transaction_kind
        where id in (select id from transactions where kind is null order by id limit ${batchSize} for update skip locked)`;
      return rows.count;
    },
    { batchSize: 5000 },
  );
}

/** The column stays (008 owns it); only the values this migration wrote are cleared. */
export async function down(_sql: Sql, { inBatches }: MigrationContext): Promise<void> {
  await inBatches(
    async (tx, batchSize) => {
      const rows = await tx`
        update transactions set kind = null
        where id in (select id from transactions where kind is not null order by id limit ${batchSize} for update skip locked)`;
      return rows.count;
    },
    { batchSize: 5000 },
  );
}
