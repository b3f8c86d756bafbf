import { repeat } from './overhead.ts';
import { run, type Tool } from './peers.ts';
import { freshDatabase, median } from './support.ts';

export interface CliStart {
  tool: string;
  helpMs: number;
  /** Its status on an empty database and an empty folder; undefined when it has no status command. */
  statusOnNothingMs: number | undefined;
}

/** How fast each CLI answers: `--help`, and a status with nothing applied or pending (median of 11). */
export async function measureCliStart(adminUrl: string, tools: readonly Tool[]): Promise<CliStart[]> {
  const results: CliStart[] = [];
  for (const tool of tools) {
    const help = await repeat(11, () => run(tool.help));
    const statusOf = tool.status;
    let status: number[] = [];
    if (statusOf) {
      const db = await freshDatabase(adminUrl);
      const cwd = await tool.write([]);
      status = await repeat(11, () => run(statusOf(cwd, db.url)));
      await db.drop();
    }
    results.push({
      tool: tool.label,
      helpMs: median(help),
      statusOnNothingMs: status.length > 0 ? median(status) : undefined,
    });
  }
  return results;
}
