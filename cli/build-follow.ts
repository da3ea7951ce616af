// `kiln build --wait`: follows the build's log as the server streams it (to stdout) and its progress (to stderr): on a
// terminal one bar that updates below the log, elsewhere a plain line whenever the status or the step changes. The
// final status is printed once the log has ended (the server's `end` event comes after the last line), so it is
// always the last thing said.
import { EventSourceParserStream } from 'eventsource-parser/stream';
import { duration } from '../core/duration-text.ts';
import { ended, type BuildState, type KilnApi } from './kiln-api.ts';
import { progressBar, progressWords, type ProgressState } from './progress-text.ts';

type Build = BuildState & ProgressState & { progress?: { submitted?: { seconds: number } | null } | null; startedAt?: string | null; finishedAt?: string | null };

export interface Terminal {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

const CLEAR_LINE = '\r\x1b[K';
/** A plain progress line waits this long for log text to go before (see onBuild). */
const SILENCE_MS = 10_000;

/** Follows build `id` to its end; resolves with the exit code (0 succeeded, 1 failed or canceled). */
export async function followBuild(api: KilnApi, id: string, term: Terminal = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const tty = term.stderr.isTTY === true;
  let shown = '';
  let said = '';
  let latest: Build | undefined;
  let partial = '';
  let logEnded = false;
  let pending: { line: string; at: number } | undefined;

  const draw = () => {
    if (!tty || !latest) return;
    shown = progressBar(latest, term.stderr.columns || 80);
    term.stderr.write(`${CLEAR_LINE}${shown}`);
  };
  const clear = () => {
    if (tty && shown) term.stderr.write(CLEAR_LINE);
    shown = '';
  };
  const onBuild = (b: Build) => {
    latest = b;
    if (tty) return draw();
    // Plain: a line when the status, the place in the queue or the step changes — not every second. It waits for the
    // next log text (or 10 s of silence), so no progress line ever lands between the last log line and the status.
    const key = `${b.status}|${b.queuePosition ?? ''}|${b.progress?.currentStep?.component ?? ''}|${b.progress?.currentStep?.kind ?? ''}`;
    if (key !== said && !ended(b.status)) {
      said = key;
      pending = { line: `build ${id}: ${progressWords(b)}\n`, at: Date.now() };
    }
    if (pending && Date.now() - pending.at >= SILENCE_MS) flushPending();
  };
  const flushPending = () => {
    if (pending) term.stderr.write(pending.line);
    pending = undefined;
  };
  // Log text: only whole lines go out while the bar is drawn under them; the rest waits for its newline.
  const onLog = (text: string) => {
    partial += text;
    const cut = partial.lastIndexOf('\n');
    if (cut < 0) return;
    clear();
    flushPending();
    term.stdout.write(partial.slice(0, cut + 1));
    partial = partial.slice(cut + 1);
    draw();
  };

  const log = (async () => {
    const streamed = await streamLog(api, id, onLog);
    if (!streamed) {
      // A server without the event stream: the plain log, read again until the build ends.
      let printed = 0;
      for (;;) {
        const b = (await api.getBuild(id, 20)) as Build;
        const text = await api.log(id);
        onLog(text.slice(printed));
        printed = text.length;
        if (ended(b.status)) break;
      }
    }
    logEnded = true;
  })();
  const watch = (async () => {
    while (!logEnded) {
      const b = (await api.getBuild(id)) as Build;
      onBuild(b);
      if (ended(b.status)) return;
      await Promise.race([new Promise((r) => setTimeout(r, tty ? 1000 : 2000)), log]);
    }
  })();
  await Promise.all([log, watch]);

  const b = (await api.getBuild(id)) as Build;
  clear();
  if (partial) term.stdout.write(`${partial}\n`);
  const took = b.startedAt && b.finishedAt ? (Date.parse(b.finishedAt) - Date.parse(b.startedAt)) / 1000 : null;
  const submitted = b.progress?.submitted;
  const timing = took !== null ? ` (took ${duration(took)}${submitted ? `; estimated ${duration(submitted.seconds)}` : ''})` : '';
  if (b.status === 'succeeded') {
    term.stderr.write(`succeeded: ${b.imageRef}${b.digest ? `@${b.digest}` : ''}${timing}\n`);
    return 0;
  }
  term.stderr.write(`${b.status}: ${b.error ?? 'no reason recorded'}${timing}\n`);
  return 1;
}

/**
 * The log as Server-Sent Events until the `end` event, resuming after a dropped connection. False when the server
 * does not stream (then nothing was read).
 */
async function streamLog(api: KilnApi, id: string, onText: (text: string) => void): Promise<boolean> {
  let lastId: string | undefined;
  for (let failures = 0; ; ) {
    let res: Response;
    try {
      res = await api.logStream(id, lastId);
    } catch (err) {
      if (++failures > 5) throw err;
      await new Promise((r) => setTimeout(r, 1000 * failures));
      continue;
    }
    if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      await res.body?.cancel();
      return false;
    }
    const reader = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
    try {
      for (;;) {
        const { done, value: ev } = await reader.read();
        if (done) break;
        if (ev.id) lastId = ev.id;
        if (ev.event === 'log') onText((JSON.parse(ev.data) as { text: string }).text);
        else if (ev.event === 'end') return true;
      }
    } catch {
      // The connection broke: resume after the last event.
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
