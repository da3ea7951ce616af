// One attempt of a job that produces an image (a build or a template build), from the builder's side: its log, its
// AbortSignal, and how each way of ending is recorded and told to BullMQ. A running job can be stopped three ways —
// canceled (by a user or an admin), timed out, or requeued by a builder shutting down — all through one signal whose
// reason says which. Failures are retried (rethrown) only when they are transient; never swallowed.
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { BuildLog } from '../core/build-log.ts';
import type { Logger } from '../core/logger.ts';
import { BuildStopped, isTransient, stopReason } from './build-errors.ts';
import { createOutageRetry, type OutageRetry } from './outage-retry.ts';

/** What the lifecycle needs of the thing being made; each method records one way an attempt ends. */
export interface JobSubject<R> {
  /** Words for the log and errors: `build` or `template build`. */
  noun: string;
  /** The build or template id: its log, its cancel flag. */
  id: string;
  timeoutSeconds: number;
  /**
   * Runs the attempt (through produceImage); throws BuildFailure, or anything, on failure. `retry` rides out a
   * registry or S3 outage within this attempt's time budget, telling the log (outage-retry.ts).
   */
  run(signal: AbortSignal, appendLog: (text: string) => void, retry: OutageRetry): Promise<R>;
  succeeded(result: R): Promise<void>;
  canceled(): Promise<void>;
  /** The last attempt failed (or a permanent failure): the record ends failed with `error`. */
  failed(error: string): Promise<void>;
  /** The builder is shutting down: the record goes back to waiting. */
  requeued(): Promise<void>;
}

export interface JobLifecycleDeps {
  logs: Pick<BuildLog, 'writer' | 'finish'>;
  /** Whether someone asked to cancel this id (looked at every `cancelPollMs` while it runs). */
  cancelRequested(id: string): Promise<boolean>;
  /** host:pid, written into the log of each attempt, so a reader sees which builder ran it. */
  builderName: string;
  cancelPollMs?: number;
  /** The longest registry or S3 outage one call of an attempt rides out (KILN_OUTAGE_RETRY_SECONDS); its timeout bounds it too. */
  outageRetrySeconds: number;
  log: Logger;
}

export type JobOutcome<R> = { result: R } | { canceled: true };

export function createJobLifecycle(deps: JobLifecycleDeps) {
  /** Active jobs on this builder, so a shutdown can requeue them. */
  const active = new Map<string, AbortController>();

  async function runAttempt<R>(job: Job, token: string | undefined, subject: JobSubject<R>): Promise<JobOutcome<R>> {
    const attempt = job.attemptsMade + 1;
    const log = deps.log.child({ id: subject.id, kind: subject.noun, attempt });
    // The log is one stream across attempts and builders: a retry (or a takeover after a crash) continues it.
    const out = deps.logs.writer(subject.id);
    out.append(`kiln: attempt ${attempt} on builder ${deps.builderName}\n`);
    const end = async (status: 'succeeded' | 'failed' | 'canceled') => {
      await out.flush();
      await deps.logs.finish(subject.id, status);
    };

    const controller = new AbortController();
    const stop = (reason: BuildStopped) => {
      if (!controller.signal.aborted) controller.abort(reason);
    };
    active.set(subject.id, controller);
    const deadline = Date.now() + subject.timeoutSeconds * 1000;
    const retry = createOutageRetry({ appendLog: out.append, signal: controller.signal, deadline, maxOutageSeconds: deps.outageRetrySeconds });
    const timer = setTimeout(
      () => stop(new BuildStopped('timeout', `the ${subject.noun} ran longer than its timeout of ${subject.timeoutSeconds} s`)),
      subject.timeoutSeconds * 1000,
    );
    const watchCancel = async () => {
      if (await deps.cancelRequested(subject.id)) stop(new BuildStopped('canceled', 'canceled by a user'));
    };
    const cancelWatch = setInterval(
      () => void watchCancel().catch((err: unknown) => log.warn({ err }, 'could not check for cancellation')),
      deps.cancelPollMs ?? 1000,
    );

    try {
      await watchCancel();
      controller.signal.throwIfAborted();
      const result = await subject.run(controller.signal, out.append, retry);
      // The whole log is in Redis before the status says the build ended: whoever sees the end reads every line.
      await out.flush();
      await subject.succeeded(result);
      await end('succeeded');
      log.info(`${subject.noun} succeeded`);
      return { result };
    } catch (err) {
      const stopped = stopReason(controller.signal);
      if (stopped?.kind === 'canceled') {
        out.append(`kiln: canceled; the engine's build was stopped and nothing was pushed\n`);
        await out.flush();
        await subject.canceled();
        await end('canceled');
        log.info(`${subject.noun} canceled`);
        return { canceled: true };
      }
      if (stopped?.kind === 'shutdown') {
        // Not the job's fault: back to the queue without spending an attempt, for another (or this) builder.
        out.append(`kiln: builder ${deps.builderName} is shutting down; the ${subject.noun} goes back to the queue\n`);
        await out.flush();
        await subject.requeued();
        await job.moveToDelayed(Date.now(), token);
        log.info(`${subject.noun} requeued on shutdown`);
        throw new DelayedError();
      }
      const message = stopped?.kind === 'timeout' ? stopped.message : (err as Error).message;
      const transient = !stopped && isTransient(err);
      const lastAttempt = attempt >= (job.opts.attempts ?? 1);
      out.append(`kiln: attempt ${attempt} failed (${transient ? 'transient, may be retried' : 'permanent'}): ${message}\n`);
      if (!transient || lastAttempt) {
        await out.flush();
        await subject.failed(transient ? `${message} (gave up after ${attempt} attempts)` : message);
        await end('failed');
        log.warn({ err }, `${subject.noun} failed`);
      } else {
        await out.flush();
        log.warn({ err }, `${subject.noun} attempt failed; will retry`);
      }
      if (!transient) throw new UnrecoverableError(message);
      throw err;
    } finally {
      clearTimeout(timer);
      clearInterval(cancelWatch);
      active.delete(subject.id);
    }
  }

  return {
    runAttempt,
    /** Stops every active job with `reason` (shutdown past its grace period); returns how many there were. */
    stopAll(reason: BuildStopped): number {
      for (const c of active.values()) if (!c.signal.aborted) c.abort(reason);
      return active.size;
    },
  };
}

export type JobLifecycle = ReturnType<typeof createJobLifecycle>;
