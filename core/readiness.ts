// Readiness: can this process do its work right now? Each process names the dependencies it really uses (the api
// has no engine, the analyzer no S3); each is probed with a timeout, and the answer names those that did not answer,
// with why.

export interface CheckResult {
  ok: boolean;
  ms: number;
  error?: string;
}

export interface Readiness<N extends string> {
  ready: boolean;
  down: N[];
  checks: Record<N, CheckResult>;
}

async function probe(check: () => Promise<unknown>, timeoutMs: number): Promise<CheckResult> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, ms: Date.now() - t0 };
  } catch (err) {
    return { ok: false, ms: Date.now() - t0, error: (err as Error).message || String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** All checks at once, in the order of `names`; a check that throws or does not settle in `timeoutMs` is down. */
export function createReadiness<N extends string>(
  names: readonly N[],
  checks: Record<N, () => Promise<unknown>>,
  timeoutMs = 2000,
): () => Promise<Readiness<N>> {
  return async () => {
    const results = await Promise.all(names.map(async (name) => [name, await probe(checks[name], timeoutMs)] as const));
    const all = Object.fromEntries(results) as Record<N, CheckResult>;
    const down = names.filter((n) => !all[n].ok);
    return { ready: down.length === 0, down, checks: all };
  };
}

/** The one-line summary /readyz answers with. */
export function readinessDetail<N extends string>(r: Readiness<N>): string {
  return r.ready ? 'every dependency answers' : `not reachable: ${r.down.map((n) => `${n} (${r.checks[n].error ?? 'no answer'})`).join(', ')}`;
}
