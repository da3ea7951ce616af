// Follows the classic builder's event stream: which step is running, how long each took, whether it came from the
// layer cache, the image id, and the first error. Pure (time is passed in), so it is tested on recorded events.
import type { Instruction } from './dockerfile-render.ts';

/** One JSON object of the engine's build (or push) stream. */
export interface EngineEvent {
  stream?: string;
  status?: string;
  id?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: { ID?: string; Digest?: string; Tag?: string; Size?: number };
}

export interface StepTiming {
  /** Component key or `binary`. */
  owner: string;
  seconds: number;
  cached: boolean;
}

const stepLine = /^Step (\d+)\/(\d+) : /;

export class BuildProgress {
  private current: { index: number; startedAt: number; cached: boolean } | undefined;
  private readonly done: { index: number; seconds: number; cached: boolean }[] = [];
  imageId: string | undefined;
  error: string | undefined;

  constructor(private readonly instructions: Instruction[]) {}

  /** Feeds one event received at `now` (ms); returns the text it adds to the build log. */
  onEvent(ev: EngineEvent, now: number): string {
    if (ev.error || ev.errorDetail) {
      this.error ??= (ev.errorDetail?.message ?? ev.error ?? 'unknown engine error').trim();
      return `ERROR: ${this.error}\n`;
    }
    if (ev.aux?.ID) this.imageId = ev.aux.ID;
    if (typeof ev.stream === 'string') {
      for (const line of ev.stream.split('\n')) {
        const m = stepLine.exec(line);
        if (m) {
          this.closeStep(now);
          this.current = { index: Number(m[1]) - 1, startedAt: now, cached: false };
        } else if (line.trim() === '---> Using cache' && this.current) {
          this.current.cached = true;
        }
      }
      return ev.stream;
    }
    if (ev.status) return `${ev.id ? `${ev.id}: ` : ''}${ev.status}\n`;
    return '';
  }

  private closeStep(now: number): void {
    if (!this.current) return;
    this.done.push({ index: this.current.index, seconds: (now - this.current.startedAt) / 1000, cached: this.current.cached });
    this.current = undefined;
  }

  /** Per plan step (component or binary), in plan order; FROM is not a step of ours. */
  finish(now: number): StepTiming[] {
    this.closeStep(now);
    const byOwner = new Map<string, StepTiming>();
    for (const s of this.done) {
      // Steps past the Dockerfile's own (the engine adds one for build labels) belong to the user's part.
      const owner = this.instructions[s.index]?.owner ?? 'binary';
      if (owner === 'base') continue;
      const t = byOwner.get(owner);
      if (t) {
        t.seconds += s.seconds;
        t.cached &&= s.cached;
      } else byOwner.set(owner, { owner, seconds: s.seconds, cached: s.cached });
    }
    return [...byOwner.values()];
  }
}
