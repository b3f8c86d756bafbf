import type { StallRun } from './stall.ts';

/**
 * App-query latency over time on one timeline (log scale, 1 ms to 30 s): the floor (the same load
 * and blocker, no migration), ours and the best peer, with the blocker's lifetime shaded. Each run
 * is drawn as the slowest query sent in each 100 ms, as a step line.
 */
export function stallChartSvg(runs: StallRun[]): string {
  const width = 900;
  const height = 380;
  const left = 64;
  const right = 20;
  const top = 40;
  const bottom = 70;
  const panel = height - top - bottom;
  const maxS = Math.max(...runs.flatMap((run) => run.timeline.map(([s]) => s)), 1);
  const x = (s: number) => left + (s / maxS) * (width - left - right);
  const maxLog = Math.log10(30_000);
  const y = (ms: number) => top + panel - (Math.log10(Math.max(ms, 1)) / maxLog) * panel;
  const blocker = runs[0]?.blocker ?? { fromS: 0, toS: 0 };
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>App-query latency over time while a migration waits behind a long transaction: ${runs
      .map((run) => `${run.tool} worst ${(run.worstMs / 1000).toFixed(2)} s`)
      .join(', ')}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">Slowest app query sent in each 100 ms (log scale) while a migration waits behind a long transaction</text>`,
    `<rect x="${x(blocker.fromS)}" y="${top}" width="${x(blocker.toS) - x(blocker.fromS)}" height="${panel}" fill="#eaeef2"/>`,
    `<text x="${x(blocker.fromS) + 4}" y="${top + 14}" fill="#57606a">blocking transaction open</text>`,
  ];
  for (const ms of [1, 10, 100, 1000, 10_000]) {
    parts.push(
      `<line x1="${left}" x2="${width - right}" y1="${y(ms)}" y2="${y(ms)}" stroke="#d0d7de" stroke-dasharray="2 3"/>`,
      `<text x="${left - 6}" y="${y(ms) + 4}" text-anchor="end" fill="#57606a">${ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`}</text>`,
    );
  }
  for (let s = 0; s <= maxS; s += 5) {
    parts.push(`<text x="${x(s)}" y="${top + panel + 16}" text-anchor="middle" fill="#57606a">${s} s</text>`);
  }
  parts.push(
    `<line x1="${left}" x2="${width - right}" y1="${top + panel}" y2="${top + panel}" stroke="#57606a"/>`,
  );
  runs.forEach((run, index) => {
    const color = colorOf(run);
    // A step line through each 100 ms bucket: a gap (no query sent) means every client was stuck.
    const points = run.timeline.flatMap(([s, ms]) => [
      `${x(s).toFixed(1)},${y(ms).toFixed(1)}`,
      `${x(s + 0.1).toFixed(1)},${y(ms).toFixed(1)}`,
    ]);
    parts.push(
      `<polyline points="${points.join(' ')}" fill="none" stroke="${color}" stroke-width="${run.tool.startsWith('migration-pipeline') ? 2 : 1.4}" stroke-opacity="0.9"/>`,
      `<line x1="${left}" x2="${left + 24}" y1="${top + panel + 34 + index * 14}" y2="${top + panel + 34 + index * 14}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${left + 30}" y="${top + panel + 38 + index * 14}" fill="${color}">${run.tool}: worst ${(run.worstMs / 1000).toFixed(2)} s, ${run.slowClientSeconds.toFixed(1)} client-seconds in queries over 100 ms, ${run.failedQueries} failed</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** Ours green, the floor grey, a peer red. */
function colorOf(run: StallRun): string {
  if (run.tool.startsWith('migration-pipeline')) return '#1a7f37';
  if (run.tool.startsWith('no migration')) return '#8c959f';
  return '#cf222e';
}
