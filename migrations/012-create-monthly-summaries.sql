-- Per-account monthly totals for the dashboard, refreshed by a nightly job.
-- A plain SQL migration (dbmate's format), for teams whose migrations are SQL files.

-- migrate:up
create table monthly_summaries (
  account_id bigint not null references accounts (id) on delete cascade,
  month date not null,
  income numeric(14, 2) not null default 0,
  expenses numeric(14, 2) not null default 0,
  refreshed_at timestamptz not null default now(),
  primary key (account_id, month)
);

-- migrate:down
drop table monthly_summaries;
