import { pathToFileURL } from 'node:url';
import type { Worker } from 'node:worker_threads';
import type { MigrationFile } from './files.ts';

/**
 * Imports each module in turn, telling the parent which one it starts. Inline (not a file beside
 * this one) so that it survives bundling. An import that fails is the main thread's to describe:
 * it imports every module again.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  for (const [index, url] of workerData.entries()) {
    parentPort.postMessage(index);
    await import(url).catch(() => {});
  }
  parentPort.postMessage(workerData.length);
})();
`;

/**
 * Imports the modules of a plan in a worker thread ahead of the main thread, so that a module stuck
 * at import, even in a synchronous loop (`while (true) {}`), is found where it can be stopped: in
 * the main thread it would freeze every timer meant to stop it. The main thread imports a module
 * once the worker got past it (`cleared`), so both import side by side. One worker imports the whole
 * plan; a module that ends it (`process.exit()`) is skipped and a new worker goes on.
 */
export class ImportWatchdog {
  private readonly urls: string[];
  private readonly timeoutMs: number;
  /** How many modules, from the first, the workers got past. */
  private checked = 0;
  private stuckAt: number | undefined;
  private worker: Worker | undefined;
  private timer: NodeJS.Timeout | undefined;
  private waiters: (() => void)[] = [];

  constructor(files: readonly MigrationFile[], timeoutMs: number) {
    this.urls = files.map((file) => pathToFileURL(file.path).href);
    this.timeoutMs = timeoutMs;
    if (this.urls.length > 0) this.startWorker();
  }

  /** Whether the module at `index` finished importing in the worker (false: it got stuck there). */
  async cleared(index: number): Promise<boolean> {
    while (this.checked <= index && this.stuckAt === undefined) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return this.checked > index;
  }

  /** Ends the worker, also when all is done: a module's open handle (a timer, a socket) would keep it alive. */
  stop(): void {
    clearTimeout(this.timer);
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private startWorker(): void {
    const from = this.checked;
    // The modules' output is printed once, by the import in the main thread.
    // Loaded on first use: a run with no module to import (SQL files, a status) never pays for it.
    const { Worker } = process.getBuiltinModule('node:worker_threads');
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: this.urls.slice(from),
      stdout: true,
      stderr: true,
    });
    worker.stdout.resume();
    worker.stderr.resume();
    this.worker = worker;
    worker.on('message', (index: number) => {
      this.progress(from + index);
      if (this.checked === this.urls.length) return this.stop();
      this.timer = setTimeout(() => {
        this.stuckAt = this.checked;
        this.stop();
        this.wake();
      }, this.timeoutMs);
    });
    // A module's stray asynchronous error ends the worker: the main thread's import will tell.
    worker.on('error', () => {});
    worker.on('exit', () => {
      if (this.worker !== worker) return;
      // Ended by the module it was importing: skip that one, go on with the next.
      this.progress(this.checked + 1);
      if (this.checked < this.urls.length) this.startWorker();
    });
  }

  private progress(checked: number): void {
    clearTimeout(this.timer);
    this.checked = checked;
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
