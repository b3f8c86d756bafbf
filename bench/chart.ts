import type { StallRun } from './stall.ts';

/**
 * App-query latency over time for each run, on a log scale (1 ms to 30 s), with the blocker's
 * lifetime shaded: the picture of what a migration behind a long transaction does to the app.
 */
export function stallChartSvg(runs: StallRun[]): string {
  const width = 900;
  const panel = 170;
  const left = 64;
  const right = 20;
  const top = 30;
  const gap = 40;
  const height = top + runs.length * (panel + gap);
  const maxS = Math.max(...runs.flatMap((run) => run.timeline.map(([s]) => s)), 1);
  const x = (s: number) => left + (s / maxS) * (width - left - right);
  const minLog = 0; // 1 ms
  const maxLog = Math.log10(30_000);
  // Ours green, the floor grey, peers red.
  const color = (run: StallRun) =>
    run.tool.startsWith('migration-pipeline')
      ? '#1a7f37'
      : run.tool.startsWith('no migration')
        ? '#57606a'
        : '#cf222e';
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>App-query latency over time while a migration waits behind a long transaction: ${runs
      .map((run) => `${run.tool} worst ${(run.worstMs / 1000).toFixed(2)} s`)
      .join(', ')}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="18" font-size="14" font-weight="bold">Slowest app query sent in each 100 ms (log scale) while a migration waits behind a 20 s transaction</text>`,
  ];
  runs.forEach((run, index) => {
    const y0 = top + index * (panel + gap) + 10;
    const y = (ms: number) =>
      y0 + panel - ((Math.log10(Math.max(ms, 1)) - minLog) / (maxLog - minLog)) * panel;
    parts.push(
      `<rect x="${x(run.blocker.fromS)}" y="${y0}" width="${x(run.blocker.toS) - x(run.blocker.fromS)}" height="${panel}" fill="#eaeef2"/>`,
      `<text x="${x(run.blocker.fromS) + 4}" y="${y0 + 14}" fill="#57606a">blocking transaction open</text>`,
    );
    for (const ms of [1, 10, 100, 1000, 10_000]) {
      parts.push(
        `<line x1="${left}" x2="${width - right}" y1="${y(ms)}" y2="${y(ms)}" stroke="#d0d7de" stroke-dasharray="2 3"/>`,
        `<text x="${left - 6}" y="${y(ms) + 4}" text-anchor="end" fill="#57606a">${ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`}</text>`,
      );
    }
    // One column per 100 ms bucket, at the time the queries were sent: a gap means every client was
    // still stuck in an earlier query.
    for (const [s, ms] of run.timeline) {
      parts.push(
        `<line x1="${x(s).toFixed(1)}" x2="${x(s).toFixed(1)}" y1="${y0 + panel}" y2="${y(ms).toFixed(1)}" stroke="${color(run)}" stroke-width="1.2"/>`,
      );
    }
    parts.push(
      `<text x="${left}" y="${y0 - 4}" font-weight="bold" fill="${color(run)}">${run.tool}: worst ${(run.worstMs / 1000).toFixed(2)} s, ${run.slowClientSeconds.toFixed(1)} client-seconds in queries over 100 ms, ${run.failedQueries} failed</text>`,
      `<line x1="${left}" x2="${width - right}" y1="${y0 + panel}" y2="${y0 + panel}" stroke="#57606a"/>`,
    );
    for (let s = 0; s <= maxS; s += 5)
      parts.push(
        `<text x="${x(s)}" y="${y0 + panel + 14}" text-anchor="middle" fill="#57606a">${s} s</text>`,
      );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
