// Engine lanes: where each engine build of this process starts its own steps, so that removing them never breaks
// another build on the same engine. The classic builder's cache lookup at a step lists every child of the step's parent
// image and then loads each one; a child removed in between fails that lookup — and the whole build — with `unable to
// find image "sha256:…"`, whichever build the child belonged to. A build's own steps therefore start with one empty
// step naming its lane (an ARG: it leaves nothing in the image's config). That step's image, a child of the shared
// base or component image, is kept as cache and never removed; everything the build removes afterwards stands on it,
// where only the next build of the same lane looks, and a lane runs one engine build at a time.
import { randomBytes } from 'node:crypto';

export interface EngineLane {
  /** `<process nonce>.<index>`: no other process uses it, so no other build ever stands on this lane's images. */
  readonly id: string;
  release(): void;
}

export interface EngineLanes {
  /** A lane no running engine build of this process holds; the lowest free one, so a process keeps few lanes. */
  acquire(): EngineLane;
}

/** `nonce` names this process's lanes (a new one each start: a lane is never shared with a process that ran before). */
export function createEngineLanes(nonce: string = randomBytes(6).toString('hex')): EngineLanes {
  const busy = new Set<number>();
  return {
    acquire() {
      let index = 0;
      while (busy.has(index)) index++;
      busy.add(index);
      let released = false;
      return {
        id: `${nonce}.${index}`,
        release() {
          if (released) return;
          released = true;
          busy.delete(index);
        },
      };
    },
  };
}
