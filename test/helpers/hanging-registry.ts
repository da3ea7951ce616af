// A registry that answers the engine's ping (so a push starts) and then never answers again: a push to it hangs until
// kiln stops it, which makes "stopped while pushing" a state a test can reach on purpose instead of by timing.
import net from 'node:net';

export interface HangingRegistry {
  host: string;
  /** Requests it was sent (request lines), e.g. to see that a push reached it. */
  requests: string[];
  close(): Promise<void>;
}

export async function startHangingRegistry(): Promise<HangingRegistry> {
  const sockets = new Set<net.Socket>();
  const requests: string[] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
        const line = buffered.slice(0, buffered.indexOf('\r\n'));
        buffered = buffered.slice(end + 4);
        requests.push(line);
        const answer = (body: string) =>
          socket.write(`HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: registry/2.0\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        // The ping, and the catalog a test's cleanup lists; anything else (the push itself) waits for ever.
        if (/^GET \/v2\/ /.test(line)) answer('{}');
        else if (/^GET \/v2\/_catalog/.test(line)) answer('{"repositories":[]}');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
