// How long the api lets a connection take, and the two places where it deliberately lets one take longer or linger:
// long-polls and live logs (held open on purpose), and a refusal sent while the client is still sending its body.
import type { Socket } from 'node:net';
import type { ServerOptions } from 'node:http';
import type { FastifyRequest, FastifyServerOptions } from 'fastify';
import type { Config } from '../core/config.ts';

/** Requests whose idle clock kiln paused while it answers, and those held open on purpose (long-polls, live logs). */
const paused = new WeakSet<FastifyRequest>();
const held = new WeakSet<FastifyRequest>();

type TimeoutSettings = Pick<
  Config,
  'KILN_HTTP_IDLE_TIMEOUT_SECONDS' | 'KILN_HTTP_HEADERS_TIMEOUT_SECONDS' | 'KILN_HTTP_REQUEST_TIMEOUT_SECONDS' | 'KILN_HTTP_KEEPALIVE_TIMEOUT_SECONDS'
>;

/** fastify's (and so node's) server timeouts from the configuration. */
export function serverTimeouts(
  c: TimeoutSettings,
): Pick<FastifyServerOptions, 'connectionTimeout' | 'keepAliveTimeout' | 'requestTimeout'> & { http: ServerOptions } {
  const requestTimeout = c.KILN_HTTP_REQUEST_TIMEOUT_SECONDS * 1000;
  return {
    // Socket inactivity: what frees a stalled client's connection (and the body it pinned) in seconds.
    connectionTimeout: c.KILN_HTTP_IDLE_TIMEOUT_SECONDS * 1000,
    keepAliveTimeout: c.KILN_HTTP_KEEPALIVE_TIMEOUT_SECONDS * 1000,
    requestTimeout,
    http: {
      headersTimeout: c.KILN_HTTP_HEADERS_TIMEOUT_SECONDS * 1000,
      requestTimeout,
      // node checks the headers and request timeouts on this interval (default 30 s): enforce them within a second.
      connectionsCheckingInterval: 1000,
    },
  };
}

/**
 * A route that holds its request open on purpose (a long-poll, a live log) is exempt from the idle timeout while it
 * waits; its own limit bounds it. Returns the function that ends the exemption.
 */
export function holdOpen(req: FastifyRequest): () => void {
  const socket = req.raw.socket;
  held.add(req);
  socket.setTimeout(0);
  return () => {
    held.delete(req);
    if (!socket.destroyed) socket.setTimeout(req.server.server.timeout);
  };
}

/**
 * Once a request has wholly arrived, the client is waiting for kiln, not kiln for the client: the idle timeout (socket
 * inactivity, there for clients that stop sending) must not close the connection while kiln works out its answer.
 * Seen in CI on a loaded machine: a build request's database and queue writes took over a second, a 1 s idle timeout
 * reset the connection, and the client got no answer for a build kiln had queued. The clock runs again as soon as the
 * answer starts (idleClockResumesWithAnswer): a client that stops reading it is a stalled client like any other. A body
 * still streaming in (uploads) is not wholly arrived: idleClockOnlyForClient governs it until it is.
 */
export function idleClockPausedWhileAnswering(req: FastifyRequest): void {
  const socket = req.raw.socket;
  if (!socket || socket.destroyed || !req.raw.complete || paused.has(req)) return;
  paused.add(req);
  socket.setTimeout(0);
}

export function idleClockResumesWithAnswer(req: FastifyRequest): void {
  const socket = req.raw.socket;
  if (!paused.has(req) || held.has(req)) return; // a long-poll or live log keeps its own exemption (holdOpen)
  paused.delete(req);
  if (socket && !socket.destroyed) socket.setTimeout(req.server.server.timeout);
}

/**
 * For a route that streams its body through kiln's own work (an upload hashed, inspected and stored as it arrives).
 * The idle timeout is there for clients that stop sending, so here it runs only while kiln waits for the client: not
 * while kiln holds the body back because its own work is behind (a gzip archive that unpacks to gigabytes pauses the
 * request), nor once the whole body has arrived and kiln is finishing before it answers. KILN_HTTP_REQUEST_TIMEOUT_SECONDS
 * still bounds the time the body takes to arrive.
 */
export function idleClockOnlyForClient(req: FastifyRequest, body: NodeJS.ReadableStream): void {
  const socket = req.raw.socket;
  const idleMs = req.server.server.timeout;
  const stop = () => {
    if (!socket.destroyed) socket.setTimeout(0);
  };
  body.on('pause', stop);
  body.on('end', stop);
  body.on('resume', () => {
    if (!socket.destroyed && !req.raw.readableEnded) socket.setTimeout(idleMs);
  });
}

/**
 * For a refusal sent while the client is still sending its body. node ends a `connection: close` answer by destroying
 * the socket once the answer is flushed: what the client sends after that meets a reset, and a client that is still
 * writing can lose the answer with it (EPIPE instead of the 413). So, as RFC 9112 §9.6 asks: half-close after the
 * answer, read and drop what still arrives for `lingerMs`, then close.
 */
export function lingerAfterAnswer(req: FastifyRequest, lingerMs: number): void {
  const socket = req.raw.socket as Socket & { destroySoon?: () => void };
  if (!socket || socket.destroyed || lingerMs <= 0) return;
  socket.destroySoon = function lingeringClose(this: Socket) {
    if (this.writable) this.end();
    req.raw.resume(); // the rest of the body is read and dropped, so the client's writes succeed
    const timer = setTimeout(() => this.destroy(), lingerMs);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
  };
}
