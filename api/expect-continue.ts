// `Expect: 100-continue`: a client asks whether to send its body before it sends it. node says `100 Continue` as
// soon as the headers arrive — before kiln has checked the token, the target or the declared size — and the client
// then sends a body only to have it refused. kiln owes the 100 until a route starts reading the body: a refusal before
// that (401, 404, 413) is the answer itself, and node closes such a connection after it (the body was never sent).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';

type Readable = IncomingMessage & { _read: (size: number) => void };

export function installExpectContinue(app: FastifyInstance): void {
  app.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const raw = req as Readable;
    const read = raw._read;
    // The stream asks for data only when someone reads the body: the moment kiln has decided to take it.
    raw._read = function readAfterContinue(this: Readable, size: number) {
      raw._read = read;
      if (!res.headersSent && !res.writableEnded) res.writeContinue();
      read.call(this, size);
    };
    app.server.emit('request', req, res);
  });
}
