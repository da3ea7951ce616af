// Proof before use: a combination of layers makes user images only once it has been composed and checked as a whole —
// no two layers at odds on a path, the shared state merged without a disagreement, every component's smoke test,
// `dpkg --audit` and `apt-get check` passing in the composed image. The verdict is kept by the layers' digests: the
// first build of a combination pays one verification, later ones none.
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { findConflicts } from '../core/composition/layer-conflicts.ts';
import { FsView, type IndexEntry, type LayerIndex } from '../core/composition/layer-index.ts';
import { layerRecordKey, serializeRecord } from '../core/composition/layer-record.ts';
import { planMergeLayer, type MergeEntry } from '../core/composition/merge-layer.ts';
import type { CompositionRow } from '../core/db/schema/compositions.ts';
import { compositionsRepository, type ResolvedLayer } from './composition-service.ts';
import { mergeLayerTar, uploadLayer, type PublishedRoot } from './composer.ts';
import { ClaimLost, holdClaim } from './claim-holder.ts';
import { ensureBaseImage } from './docker-engine.ts';
import type { LayerWork } from './layer-build.ts';
import { runVerification } from './verification-run.ts';

/** The merge layer's own index (so images built on a composition know what it holds). */
function mergeIndex(entries: readonly MergeEntry[]): LayerIndex {
  const index: LayerIndex = { entries: [], whiteouts: [], opaque: [] };
  for (const e of entries) {
    if (e.type === 'whiteout') index.whiteouts.push(e.path);
    else if (e.type === 'symlink') index.entries.push({ path: e.path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, linkname: e.linkname });
    else {
      const entry: IndexEntry = { path: e.path, type: 'file', mode: e.mode, uid: e.uid, gid: e.gid, size: e.content.length, sha256: createHash('sha256').update(e.content).digest('hex') };
      index.entries.push(entry);
    }
  }
  return index;
}

/**
 * The verdict on a combination: verified, refused (conflict, or a check failed) — made here if nobody has, waited
 * for if another builder is making it, taken over if that builder's lease lapsed (it died).
 */
export async function ensureVerified(w: LayerWork, root: PublishedRoot, layers: readonly ResolvedLayer[]): Promise<CompositionRow> {
  const key = w.svc.key(root, layers);
  const names = layers.map((l) => l.componentKey).join(' + ');
  let told = false;
  for (;;) {
    w.signal.throwIfAborted();
    const lease = { token: randomUUID(), policy: w.lease };
    const { composition, claimed } = await w.deps.store.claimComposition(
      { key, root: root.root, rootImageId: root.imageId, componentKey: layers.map((l) => l.componentKey).join('+'), layers: layers.map(({ row: _row, ...l }) => l) },
      lease,
    );
    if (claimed) {
      const held = holdClaim(() => w.deps.store.renewComposition(key, lease), w.lease, w.signal, `the verification of ${names}`);
      try {
        return await verify({ ...w, signal: held.signal }, root, layers, key, lease.token);
      } catch (err) {
        // Stopped, or the engine or registry failed: no verdict; the next build of it verifies again.
        await w.deps.store.releaseComposition(key, lease.token).catch(() => undefined);
        if (w.signal.aborted || !(err instanceof ClaimLost || held.lost())) throw err;
        // Another builder holds the verification now: its verdict is this build's too.
        w.appendLog(`kiln: ${(held.signal.reason as Error | undefined)?.message ?? (err as Error).message}; waiting for its verdict\n`);
      } finally {
        held.release();
      }
    } else {
      if (composition.status !== 'verifying') return composition;
      if (!told) w.appendLog(`kiln: waiting for another builder verifying ${names} (its claim lapses unless renewed by ${composition.leaseExpiresAt.toISOString()})\n`);
      told = true;
    }
    await sleep(2000, undefined, { signal: w.signal });
  }
}

async function verify(w: LayerWork, root: PublishedRoot, layers: readonly ResolvedLayer[], key: string, token: string): Promise<CompositionRow> {
  const { deps, svc, appendLog } = w;
  const started = Date.now();
  const names = layers.map((l) => l.componentKey).join(' + ');
  const lost = () => new ClaimLost(`the verification of ${names}: another builder took the claim over (its lease had lapsed)`);
  const refuse = async (status: 'conflict' | 'failed', error: string, conflicts: string[]) => {
    appendLog(`kiln: ${names} is not composable: ${error}\n${conflicts.map((c) => `  ${c}\n`).join('')}`);
    w.signal.throwIfAborted();
    if (!(await deps.store.markRefused(key, token, status, { error, conflicts, verifySeconds: (Date.now() - started) / 1000 }))) throw lost();
    return (await deps.store.composition(key))!;
  };
  appendLog(`kiln: verifying the combination ${names} (${key.slice(0, 12)})\n`);

  const rootRec = await svc.rootRecord(root);
  const records = await Promise.all(layers.map((l) => svc.layerRecord(l.row)));
  const { conflicts, total } = findConflicts(layers.map((l, i) => ({ layer: l.componentKey, index: records[i]!.index })));
  if (total > 0) return refuse('conflict', `${total} path(s) written differently by two layers`, conflicts.map((c) => `${c.path}: ${c.reason} (${c.layers.join(' vs ')})`));
  const states = layers.map((l, i) => ({ layer: l.componentKey, files: records[i]!.state }));
  // The composed filesystem below the merge layer: its files' directories keep the modes they have there.
  const view = new FsView().apply(rootRec.record.index);
  for (const r of records) view.apply(r.index);
  const draft = planMergeLayer(rootRec.record.state, states);
  if (draft.conflicts.length > 0) return refuse('conflict', 'two layers changed the same shared record differently', draft.conflicts);

  // A candidate image (the merge layer without the linker cache) to run the checks in; ldconfig makes the cache there.
  const repository = compositionsRepository(deps.prefix, root.root);
  const draftLayer = await uploadLayer(deps.blobs, repository, mergeLayerTar(draft, view), w.signal);
  const env = svc.envOf(root, layers.map((l) => parseKey(l.componentKey)));
  const candidateTag = `candidate-${key.slice(0, 40)}`;
  const candidate = await svc.assemble(
    { repository, tag: candidateTag },
    {
      root,
      layers: svc.stack(root, layers, { mergeDigest: draftLayer.digest, mergeDiffId: draftLayer.diffId, mergeSize: draftLayer.size }),
      env,
      // The claim's token makes this candidate's digest its own: a former holder deleting its candidate (by digest)
      // cannot delete the one a builder that took the verification over is checking.
      labels: { 'dev.kiln.composition': key, 'dev.kiln.claim': token },
    },
    w.signal,
    w.retry,
  );
  const ref = `${deps.host}/${repository}:${candidateTag}`;
  let result;
  try {
    appendLog(`kiln: pulling ${ref} to run the checks\n`);
    await ensureBaseImage(deps.docker, { kind: 'template', image: ref, digest: candidate.digest }, { auth: deps.registryAuth, roots: deps.roots });
    result = await runVerification(deps.docker, ref, {
      env,
      smokes: layers.map((l) => ({ key: l.componentKey, script: svc.versionOf(parseKey(l.componentKey)).smoke })),
      signal: w.signal,
    });
  } catch (err) {
    await deps.docker.getImage(ref).remove({ force: true }).catch(() => undefined);
    throw err;
  } finally {
    await deps.registry.deleteManifest(repository, candidate.digest).catch(() => undefined);
  }
  if (result.failures.length > 0) {
    await deps.docker.getImage(ref).remove({ force: true }).catch(() => undefined);
    return refuse(
      'failed',
      `${result.failures.map((f) => f.check).join(', ')} failed in the composed image`,
      result.failures.map((f) => `${f.check}: ${f.output.split('\n').slice(-5).join(' | ')}`),
    );
  }

  const final = planMergeLayer(rootRec.record.state, states, result.regenerated);
  const merge = await uploadLayer(deps.blobs, repository, mergeLayerTar(final, view), w.signal);
  await deps.s3.putText(layerRecordKey(merge.diffId), serializeRecord({ index: mergeIndex(final.entries), state: new Map() }));
  const image = await svc.assemble(
    { repository, tag: key },
    { root, layers: svc.stack(root, layers, { mergeDigest: merge.digest, mergeDiffId: merge.diffId, mergeSize: merge.size }), env, labels: { 'dev.kiln.composition': key } },
    w.signal,
    w.retry,
  );
  // The engine keeps the verified image (pulling it now moves only the final merge layer: the rest is the candidate's),
  // as it keeps templates: a layer built on this combination starts FROM it, and images composed of it (or of a
  // longer combination with the same first layers) run here without pulling those layers again.
  const finalRef = `${deps.host}/${repository}:${key}`;
  await ensureBaseImage(deps.docker, { kind: 'template', image: finalRef, digest: image.digest }, { auth: deps.registryAuth, roots: deps.roots }).catch((err: unknown) =>
    appendLog(`kiln: could not keep the verified image on this engine (${(err as Error).message}); it stays in the registry\n`),
  );
  await deps.docker.getImage(ref).remove({ noprune: true }).catch(() => undefined);
  const seconds = (Date.now() - started) / 1000;
  w.signal.throwIfAborted();
  const mine = await deps.store.markVerified(key, token, {
    mergeDigest: merge.digest,
    mergeDiffId: merge.diffId,
    mergeSize: merge.size,
    mergeUnpackedBytes: merge.unpackedBytes,
    imageRef: `${repository}:${key}`,
    imageDigest: image.digest,
    verifySeconds: seconds,
  });
  if (!mine) throw lost();
  appendLog(`kiln: ${names} verified in ${seconds.toFixed(1)} s: every smoke test, dpkg --audit and apt-get check passed in the composed image\n`);
  return (await deps.store.composition(key))!;
}

export const parseKey = (key: string) => {
  const at = key.indexOf('@');
  return { name: key.slice(0, at), version: key.slice(at + 1) };
};
