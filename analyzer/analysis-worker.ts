// Runs one analysis in a worker thread: selection on a big installation's history takes seconds of CPU, and off the
// analyzer's event loop BullMQ keeps extending the job's lock meanwhile, so the job is never taken for stalled.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { Costs } from '../core/templates/savings.ts';
import { analyzeDemand, type Analysis, type AnalysisOptions } from './analysis.ts';
import type { DemandHours } from '../core/templates/demand-hours.ts';
import { aggregateDemand } from './demand.ts';

interface Input {
  kind: 'kiln-analysis';
  history: DemandHours;
  costs: Costs;
  opts: AnalysisOptions;
}

export function analyzeInWorker(history: DemandHours, costs: Costs, opts: AnalysisOptions, signal?: AbortSignal): Promise<Analysis> {
  return new Promise((resolve, reject) => {
    // Maps and Sets cross by structured clone; the history's columns are moved, not copied. Run from TypeScript
    // sources, the worker needs the same loader (tsx) as this process, which a worker does not inherit when the loader
    // was registered in-process (the test runner).
    const transferList = [history.combo.buffer, history.t.buffer, history.count.buffer] as ArrayBuffer[];
    const data = { workerData: { kind: 'kiln-analysis', history, costs, opts } satisfies Input, transferList };
    const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((t) => t.register()).then(() => import(${JSON.stringify(import.meta.url)}))`;
    const worker = import.meta.url.endsWith('.ts') ? new Worker(boot, { ...data, eval: true }) : new Worker(new URL(import.meta.url), data);
    const stop = () => void worker.terminate();
    signal?.addEventListener('abort', stop, { once: true });
    worker.once('message', (a: Analysis) => resolve(a));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      signal?.removeEventListener('abort', stop);
      if (code !== 0) reject(signal?.aborted ? signal.reason : new Error(`analysis worker exited with code ${code}`));
    });
  });
}

if (!isMainThread && (workerData as Input | undefined)?.kind === 'kiln-analysis') {
  const { history, costs, opts } = workerData as Input;
  parentPort!.postMessage(analyzeDemand(aggregateDemand(history, costs), costs, opts));
}
