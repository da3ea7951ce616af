// Follows a build's log: Server-Sent Events read with fetch (EventSource cannot send the token), resumed with
// Last-Event-ID after a dropped connection; against a kiln without the event stream, the plain log is polled.
import { EventSourceParserStream } from 'eventsource-parser/stream';
import { endedStatuses, rawFetch } from './api.ts';

export interface LogSink {
  /** More log text (may hold several lines). */
  append(text: string): void;
  /** The whole log so far, replacing what was shown (polling mode). */
  replace(text: string): void;
  /** The log is complete; the build ended with this status. */
  end(status: string): void;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

export async function followLog(buildId: string, sink: LogSink, signal: AbortSignal): Promise<void> {
  const url = `/v1/builds/${encodeURIComponent(buildId)}/logs`;
  let lastEventId: string | undefined;
  let failures = 0;
  while (!signal.aborted) {
    let res: Response;
    try {
      res = await rawFetch(url, { signal, headers: { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) } });
    } catch {
      if (signal.aborted) return;
      await sleep(Math.min(10_000, 1000 * 2 ** failures++), signal);
      continue;
    }
    if (!res.ok) {
      if (res.status === 401 || res.status === 404) return;
      await sleep(Math.min(10_000, 1000 * 2 ** failures++), signal);
      continue;
    }
    if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      return pollPlainLog(url, res, sink, signal);
    }
    failures = 0;
    try {
      // A reader loop, not `for await`: not every browser can iterate a ReadableStream.
      const reader = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
      for (;;) {
        const { done, value: ev } = await reader.read();
        if (done) break;
        if (ev.id) lastEventId = ev.id;
        if (ev.event === 'log') sink.append((JSON.parse(ev.data) as { text: string }).text);
        else if (ev.event === 'end') {
          sink.end((JSON.parse(ev.data) as { status: string }).status);
          return;
        }
      }
    } catch {
      if (signal.aborted) return;
    }
    // The stream closed before `end`: reconnect where it stopped.
    await sleep(500, signal);
  }
}

async function pollPlainLog(url: string, first: Response, sink: LogSink, signal: AbortSignal): Promise<void> {
  let res: Response | undefined = first;
  while (!signal.aborted) {
    if (res?.ok) {
      const status = res.headers.get('x-kiln-build-status') ?? '';
      sink.replace(await res.text());
      if (endedStatuses.includes(status)) return sink.end(status);
    }
    await sleep(1500, signal);
    if (signal.aborted) return;
    res = await rawFetch(url, { signal }).catch(() => undefined);
  }
}
