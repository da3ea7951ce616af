// Follows the classic builder's event stream: which step is running, how long each took, whether it came from the
// layer cache, the image id, and the first error. Pure (time is passed in), so it is tested on recorded events.
import { LANE_OWNER, type Instruction } from './dockerfile-render.ts';

/** One JSON object of the engine's build (or push) stream. */
export interface EngineEvent {
  stream?: string;
  status?: string;
  id?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: { ID?: string; Digest?: string; Tag?: string; Size?: number };
  /** Push and pull progress of one layer (`id`). */
  progressDetail?: { current?: number; total?: number };
}

export interface StepTiming {
  /** Component key or `binary`. */
  owner: string;
  seconds: number;
  cached: boolean;
  /** Bytes the step's layers added to the image (uncompressed); absent when the engine could not say. */
  bytes?: number;
}

/** Told when a plan step starts, and again when the engine answers it from its layer cache. */
export type StepListener = (owner: string, cached: boolean) => void;

const stepLine = /^Step (\d+)\/(\d+) : /;
/** The image a finished step left (classic builder: ` ---> 3944758bade6`). */
const resultLine = /^ ---> ([0-9a-f]{12,64})$/;

export class BuildProgress {
  private current: { index: number; startedAt: number; cached: boolean; image?: string } | undefined;
  private readonly done: { index: number; seconds: number; cached: boolean; image?: string }[] = [];
  imageId: string | undefined;
  error: string | undefined;

  constructor(
    private readonly instructions: Instruction[],
    private readonly onStep: StepListener = () => undefined,
  ) {}

  private ownerOf(index: number): string {
    return this.instructions[index]?.owner ?? 'binary';
  }

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
          const previous = this.current ? this.ownerOf(this.current.index) : undefined;
          this.closeStep(now);
          this.current = { index: Number(m[1]) - 1, startedAt: now, cached: false };
          const owner = this.ownerOf(this.current.index);
          if (owner !== previous && owner !== 'base' && owner !== LANE_OWNER) this.onStep(owner, false);
        } else if (line.trim() === '---> Using cache' && this.current) {
          this.current.cached = true;
          const owner = this.ownerOf(this.current.index);
          if (owner !== 'base' && owner !== LANE_OWNER) this.onStep(owner, true);
        } else if (this.current) {
          const image = resultLine.exec(line.trimEnd());
          if (image) this.current.image = image[1]!;
        }
      }
      return ev.stream;
    }
    if (ev.status) return `${ev.id ? `${ev.id}: ` : ''}${ev.status}\n`;
    return '';
  }

  private closeStep(now: number): void {
    if (!this.current) return;
    this.done.push({
      index: this.current.index,
      seconds: (now - this.current.startedAt) / 1000,
      cached: this.current.cached,
      ...(this.current.image ? { image: this.current.image } : {}),
    });
    this.current = undefined;
  }

  /**
   * Whether the engine may be running the build's own steps (its COPY of the upload onwards, and the engine's label
   * step): the first of them starts as soon as the step before it has its image. Stopping the engine's build from then
   * on would not stop the step it is in — the engine finishes it and commits its layer after the request is gone,
   * where nothing of kiln's sees it.
   */
  ownStepsBegun(): boolean {
    const first = this.instructions.findIndex((i) => i.owner === 'binary');
    const firstOwn = first === -1 ? this.instructions.length : first;
    const steps = this.current ? [...this.done, this.current] : this.done;
    return steps.some((s) => s.index >= firstOwn || (s.index === firstOwn - 1 && s.image !== undefined));
  }

  /**
   * The images the user's part of the build left (its COPY, ENV, ENTRYPOINT and label steps), last first. They hold
   * this build's binary and serve no other build, unlike the component steps' images, which are the layer cache, and
   * the lane step's image they stand on, which stays (engine-lanes.ts).
   */
  binaryStepImages(): string[] {
    return this.done
      .filter((s) => (this.instructions[s.index]?.owner ?? 'binary') === 'binary' && s.image)
      .map((s) => s.image!)
      .reverse();
  }

  /** The image each plan step (component or binary) ended with, in order: the sizes between them are its layers. */
  stepImages(): { owner: string; image: string | undefined }[] {
    const last = new Map<string, string | undefined>();
    for (const s of this.done) {
      const owner = this.ownerOf(s.index);
      if (owner !== 'base' && owner !== LANE_OWNER) last.set(owner, s.image ?? last.get(owner));
    }
    return [...last].map(([owner, image]) => ({ owner, image }));
  }

  /** Per plan step (component or binary), in plan order; FROM is not a step of ours. */
  finish(now: number): StepTiming[] {
    this.closeStep(now);
    const byOwner = new Map<string, StepTiming>();
    for (const s of this.done) {
      // Steps past the Dockerfile's own (the engine adds one for build labels) belong to the user's part.
      const owner = this.instructions[s.index]?.owner ?? 'binary';
      if (owner === 'base' || owner === LANE_OWNER) continue;
      const t = byOwner.get(owner);
      if (t) {
        t.seconds += s.seconds;
        t.cached &&= s.cached;
      } else byOwner.set(owner, { owner, seconds: s.seconds, cached: s.cached });
    }
    return [...byOwner.values()];
  }
}
