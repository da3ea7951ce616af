// The shapes a build travels in: the spec a user asks for and the plan the builder follows.

/** A build as asked (POST /v1/builds body), stored verbatim. */
export interface BuildSpec {
  root: string;
  /** `name@version` or `name` (the catalog's default version). */
  components: string[];
  uploadId: string;
  /** Absolute path of the binary inside the image. */
  binaryPath: string;
  /** Exec-form entrypoint. */
  entrypoint: string[];
  cmd?: string[];
  env?: Record<string, string>;
  /** `repository:tag`, pushed under the registry prefix. */
  image: string;
  /** Queue class; absent means interactive. See core/queues.ts for the rule. */
  priority?: BuildPriority;
  /** Overrides the server's default build timeout, up to its max. */
  timeoutSeconds?: number;
  /** Where the binary's source lives (an http(s) URL) and which revision it was built from: the image's OCI labels. */
  source?: string;
  revision?: string;
  /** auto (absent): kiln picks composed, a template or the root; install: installs even where it could compose. */
  route?: RequestedRoute;
}

/**
 * The ways a build may be asked to go. `install` is for a user who suspects composition and wants the installed image
 * to compare: it may still start FROM a template, which is an installed image too (its components ran their recipes).
 */
export const requestedRoutes = ['auto', 'install'] as const;
export type RequestedRoute = (typeof requestedRoutes)[number];

export const buildPriorities = ['interactive', 'ci'] as const;
export type BuildPriority = (typeof buildPriorities)[number];

export interface PlannedComponent {
  name: string;
  version: string;
  /** `name@version` */
  key: string;
  recipeHash: string;
}

export type PlanBase =
  | { kind: 'root'; image: string }
  | {
      kind: 'template';
      /** Pullable reference of the template (registry/…:tag); `digest` pins the exact image. */
      image: string;
      digest: string;
      templateId: string;
      /** Component keys the template already holds: the Dockerfile skips them. */
      covers: string[];
      /** Install seconds those components would have cost (from component costs when planned). */
      secondsSaved: number;
      /** Of secondsSaved, the part priced by catalog estimates (components never measured installing here). */
      secondsSavedEstimated?: number;
    }
  | {
      kind: 'composed';
      /** The verified combination (root + component layers + merge layer) the image was assembled from. */
      image: string;
      digest: string;
      compositionKey: string;
      /** Each component's layer, in install order, and the merge layer: the blobs the image is made of. */
      layers: { key: string; digest: string }[];
      merge: string | null;
      /** Whether this build paid for the combination's verification (its first build) or found it verified. */
      verifiedNow: boolean;
      /** Install seconds no step spent: every component came as a prebuilt layer. */
      secondsSaved: number;
      /** Of secondsSaved, the part priced by catalog estimates (components never measured installing here). */
      secondsSavedEstimated?: number;
    };

/** A build as resolved: everything the builder needs, nothing it must look up again but the bytes. */
export interface BuildPlan {
  root: { name: string; image: string };
  /** What the Dockerfile starts FROM: the root image, or a template that already holds some of the components. */
  base: PlanBase;
  /** In canonical install order. */
  components: PlannedComponent[];
  /**
   * The upload and where it goes. `kind: 'tar'`: an archive unpacked into the directory `path`, holding `entries`
   * entries and `unpackedSize` bytes of tar (the builder refuses more); absent: one file copied to `path`.
   */
  binary: { uploadId: string; sha256: string; size: number; s3Key: string; path: string; kind?: 'tar'; entries?: number; unpackedSize?: number };
  entrypoint: string[];
  cmd?: string[];
  env: Record<string, string>;
  /** Full reference the image is pushed to: registry/prefix/repository:tag. */
  imageRef: string;
  /** Present only when the build asked to install (spec `route`), so every other plan is the same as before. */
  route?: 'install';
}

/**
 * The bytes a build's binary puts into the image, which is what copying, assembling and pushing it cost: an archive's
 * unpacked size (a 4 MB gzip can hold 4 GiB), a file's size.
 */
export const binaryBytesOf = (binary: Pick<BuildPlan['binary'], 'size' | 'unpackedSize'>): number => binary.unpackedSize ?? binary.size;
