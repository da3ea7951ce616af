// What a test or bench starts (a second dockerd, registries, builder processes) is ended when that test or bench is
// itself told to stop (SIGTERM, SIGINT): Node's default on those signals is to exit at once, running no `finally`, and
// a daemon started as its child would keep running (and keep its mounts, bridge and data) after it.

type Cleanup = () => Promise<unknown>;

const cleanups = new Set<Cleanup>();
let listening = false;

async function endAll(signal: NodeJS.Signals): Promise<void> {
  const all = [...cleanups].reverse(); // the last started ends first
  cleanups.clear();
  process.stderr.write(`${signal}: ending ${all.length} process(es) this run started\n`);
  await Promise.allSettled(all.map((c) => c()));
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

/**
 * Runs `cleanup` if this process gets SIGTERM or SIGINT before the returned function is called (call it once the
 * thing is stopped the ordinary way). A second signal during the cleanup ends the process at once (the listeners are
 * `once`).
 */
export function endOnSignal(cleanup: Cleanup): () => void {
  if (!listening) {
    listening = true;
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void endAll(signal));
  }
  cleanups.add(cleanup);
  return () => void cleanups.delete(cleanup);
}
