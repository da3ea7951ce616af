// Waiting for a condition with a deadline, instead of sleeping and hoping.
import { setTimeout as sleep } from 'node:timers/promises';

/** Resolves once `condition()` holds; fails with `what` when it still does not after `timeoutMs`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} (still so after ${timeoutMs} ms)`);
    await sleep(everyMs);
  }
}
