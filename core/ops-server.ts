// The operators' HTTP server of a process that serves no API — a builder, an analyzer — when KILN_OPS_PORT is set:
// /healthz (the process answers: its event loop runs), /readyz (what it uses answers; 503 naming what does not) and
// /metrics (Prometheus text). It is what their container healthchecks and a scraper read; the api has the same three
// routes on its own port.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Logger } from './logger.ts';
import { readinessDetail, type Readiness } from './readiness.ts';

export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

export interface OpsServerOptions<N extends string> {
  host: string;
  port: number;
  readiness: () => Promise<Readiness<N>>;
  metrics: Registry;
  log: Pick<Logger, 'warn'>;
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
}

export async function startOpsServer<N extends string>(opts: OpsServerOptions<N>): Promise<OpsServer> {
  const server = http.createServer(
    // Probes are GETs without a body; nothing here waits on a client, so short limits free a stalled one soon.
    { headersTimeout: 5000, requestTimeout: 10_000, keepAliveTimeout: 5000 },
    (req, res) => {
      if (req.method !== 'GET') return send(res, 405, 'text/plain', 'only GET\n');
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz') return send(res, 200, 'application/json', JSON.stringify({ status: 'ok' }));
      if (path === '/readyz') {
        void opts.readiness().then(
          (r) => send(res, r.ready ? 200 : 503, 'application/json', JSON.stringify({ status: r.ready ? 'ready' : 'not ready', detail: readinessDetail(r), down: r.down, checks: r.checks })),
          (err: Error) => send(res, 500, 'text/plain', `${err.message}\n`),
        );
        return;
      }
      if (path === '/metrics') {
        void opts.metrics.metrics().then(
          (text) => send(res, 200, opts.metrics.contentType, text),
          (err: Error) => {
            opts.log.warn({ err }, 'metrics could not be collected');
            send(res, 500, 'text/plain', `${err.message}\n`);
          },
        );
        return;
      }
      send(res, 404, 'text/plain', 'not found: /healthz, /readyz, /metrics\n');
    },
  );
  server.listen(opts.port, opts.host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))]);
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A process's own metrics, prefixed like the api's: memory, event-loop lag, the Node version it runs on. */
export function processMetrics(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'kiln_' });
  return registry;
}
