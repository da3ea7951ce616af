// What kiln keeps about a normalized layer (or a root) beside its blob: the file index (conflict checks, the binary's
// path) and its copies of the shared state files (the merge layer's input). Stored as JSON in S3, read back when a
// combination is verified or composed. Pure (de)serialization.
import type { LayerIndex } from './layer-index.ts';
import type { StateFile } from './merge-layer.ts';

export interface LayerRecord {
  index: LayerIndex;
  /** Shared state files it holds, by path; null where it deletes one. */
  state: Map<string, StateFile>;
}

type StoredState = { content: string; mode: number; uid: number; gid: number; mtime?: number } | null;

export function serializeRecord(r: LayerRecord): string {
  const state: Record<string, StoredState> = {};
  for (const [p, f] of r.state) state[p] = f ? { content: f.content.toString('base64'), mode: f.mode, uid: f.uid, gid: f.gid, ...(f.mtime !== undefined ? { mtime: f.mtime } : {}) } : null;
  return JSON.stringify({ version: 1, index: r.index, state });
}

export function parseRecord(text: string): LayerRecord {
  const raw = JSON.parse(text) as { version: number; index: LayerIndex; state: Record<string, StoredState> };
  if (raw.version !== 1) throw new Error(`unknown layer record version ${raw.version}`);
  const state = new Map<string, StateFile>();
  // Records written before kiln kept times have none: their merge layers are dated 1970, as they were then.
  for (const [p, f] of Object.entries(raw.state)) state.set(p, f ? { content: Buffer.from(f.content, 'base64'), mode: f.mode, uid: f.uid, gid: f.gid, ...(f.mtime !== undefined ? { mtime: f.mtime } : {}) } : null);
  return { index: raw.index, state };
}

/** S3 keys: one record per root image and per layer diffID (content-addressed: the same bytes, the same record). */
export const rootRecordKey = (imageId: string) => `composition/roots/${imageId.replace(/^sha256:/, '')}.json`;
export const layerRecordKey = (diffId: string) => `composition/layers/${diffId.replace(/^sha256:/, '')}.json`;
