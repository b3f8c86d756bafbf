/** The metrics the pipeline steps emit; the handlers back it with Powertools Metrics (EMF). */
export interface MetricsRecorder {
  count(name: string, value?: number): void;
  milliseconds(name: string, value: number): void;
}

export const noMetrics: MetricsRecorder = { count() {}, milliseconds() {} };
