// A registry that never answers the pushes of the repositories a test names: a plain HTTP proxy in front of a real
// registry that forwards every other request (so roots publish and kiln's own calls work as usual) and holds those
// pushes without an answer. A push of such a repository hangs until kiln stops it, which makes "stopped while
// pushing" a state a test reaches on purpose instead of by timing. fail() then makes one repository's registry go
// down: its held requests are dropped and its later ones answered 503, so the engine's own push, which can outlive
// the API call that started it, ends too.
import http from 'node:http';
import type { Socket } from 'node:net';

export interface HangingRegistry {
  /** host:port, as kiln and the engine address it (loopback: the engine speaks plain HTTP to it). */
  host: string;
  /** Requests it holds or held without an answer (request lines), in order. */
  held: string[];
  /** Pushes of repositories whose path holds `/${name}/` fail from now on; the ones held so far are dropped. */
  fail(name: string): void;
  close(): Promise<void>;
}

/** Forwards to `upstream` (host:port, plain HTTP), except pushes of repositories whose path holds `/${hang}/`. */
export async function startHangingRegistry(upstream: string, hang: string): Promise<HangingRegistry> {
  const [upHost, upPort] = upstream.split(':') as [string, string];
  const sockets = new Set<Socket>();
  const held: string[] = [];
  const holding: { line: string; socket: Socket }[] = [];
  const failing: string[] = [];
  const server = http.createServer((req, res) => {
    // Only the push itself hangs (blob uploads and checks, the manifest put): listing and reading tags still work,
    // so a test's cleanup can ask what is there.
    const url = req.url ?? '';
    const line = `${req.method} ${url}`;
    if (url.includes(`/${hang}/`) && (url.includes('/blobs/') || req.method === 'PUT')) {
      req.resume(); // read what it sends
      if (failing.some((name) => url.includes(`/${name}/`))) {
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAVAILABLE","message":"registry down"}]}');
        return;
      }
      held.push(line);
      holding.push({ line, socket: req.socket }); // and answer nothing
      return;
    }
    // The Host header goes along unchanged: the registry's Location headers then point back at this proxy.
    const forward = http.request({ host: upHost, port: Number(upPort), method: req.method, path: url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  return {
    host: `127.0.0.1:${port}`,
    held,
    fail(name) {
      failing.push(name);
      for (const h of holding) if (h.line.includes(`/${name}/`)) h.socket.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
