// HTTP over a plain socket, for what a well-behaved client never does: stop half way through the headers or the body
// and sit there. The socket reads everything the server sends, whenever it sends it.
import net from 'node:net';

export interface RawExchange {
  socket: net.Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** The status of the server's answer, once its status line has arrived. */
  status(): number | undefined;
  /** Resolves when the connection is closed (by either side, for any reason). */
  closed: Promise<void>;
  /** Resolves with the answer's status once its status line arrives; rejects if the connection closes first. */
  answered: Promise<number>;
}

/** Opens a connection to `url`'s host and sends `head` (raw text) and then `body`, if any. */
export function rawExchange(url: string, head: string, body?: Buffer): Promise<RawExchange> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => {
      let text = '';
      const status = () => {
        const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
        return m ? Number(m[1]) : undefined;
      };
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      const answered = new Promise<number>((res, rej) => {
        socket.on('data', (c: Buffer) => {
          text += c.toString('latin1');
          if (status() !== undefined) res(status()!);
        });
        void closed.then(() => rej(new Error(`closed without an answer; received ${JSON.stringify(text.slice(0, 200))}`)));
      });
      answered.catch(() => undefined); // a test that does not wait for an answer must not see an unhandled rejection
      socket.on('error', () => undefined); // a reset shows as `closed`
      socket.write(head);
      if (body) socket.write(body);
      resolve({ socket, received: () => text, status, closed, answered });
    });
    socket.once('error', reject);
  });
}

/** Rejects when `promise` has not settled within `ms`, saying `what`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} (not within ${ms} ms)`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
