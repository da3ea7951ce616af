// Queries on builds and their steps: the only place that changes a build's status.
import { randomUUID } from 'node:crypto';
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import type { BuildPlan } from '../build-types.ts';
import type { SubmitEstimate } from '../eta/estimate-types.ts';
import { parseImageName } from '../spec-grammar.ts';
import type { Db } from './database.ts';
import { recordPushedImage } from './image-store.ts';
import { builds, buildSteps, type BuildRow, type BuildStatus, type BuildStepRow } from './schema/builds.ts';
import { templates } from './schema/templates.ts';

export type NewBuildStep = Omit<typeof buildSteps.$inferInsert, 'buildId'>;

export function createBuildStore(db: Db) {
  return {
    async insert(row: typeof builds.$inferInsert): Promise<BuildRow> {
      const [created] = await db.insert(builds).values(row).returning();
      return created!;
    },
    async get(id: string, project?: string): Promise<BuildRow | undefined> {
      const where = project === undefined ? eq(builds.id, id) : and(eq(builds.id, id), eq(builds.project, project));
      const [row] = await db.select().from(builds).where(where);
      return row;
    },
    /** A project's builds, newest first, optionally only those in one status. */
    async list(project: string, opts: { status?: BuildStatus; limit: number }): Promise<BuildRow[]> {
      const where = opts.status ? and(eq(builds.project, project), eq(builds.status, opts.status)) : eq(builds.project, project);
      return db.select().from(builds).where(where).orderBy(desc(builds.queuedAt), desc(builds.id)).limit(opts.limit);
    },
    async steps(id: string): Promise<BuildStepRow[]> {
      return db.select().from(buildSteps).where(eq(buildSteps.buildId, id)).orderBy(asc(buildSteps.position));
    },
    /** Moves a queued (or re-delivered running) build to running; false if it already ended. */
    async markRunning(id: string, attempt: number): Promise<boolean> {
      const rows = await db
        .update(builds)
        .set({ status: 'running', startedAt: new Date(), attempts: attempt, error: null })
        .where(and(eq(builds.id, id), inArray(builds.status, ['queued', 'running'])))
        .returning({ id: builds.id });
      return rows.length === 1;
    },
    /** A running build goes back to waiting (its builder is shutting down); false if it is not running. */
    async requeue(id: string): Promise<boolean> {
      const rows = await db.update(builds).set({ status: 'queued', startedAt: null }).where(and(eq(builds.id, id), eq(builds.status, 'running'))).returning({ id: builds.id });
      return rows.length === 1;
    },
    /** Cancels a build that has not started; false if it already started or ended. */
    async cancelQueued(id: string): Promise<boolean> {
      const rows = await db
        .update(builds)
        .set({ status: 'canceled', error: 'canceled by a user before it started', finishedAt: new Date() })
        .where(and(eq(builds.id, id), eq(builds.status, 'queued')))
        .returning({ id: builds.id });
      return rows.length === 1;
    },
    /** The queue as the estimator sees it: the builds running now (every project), and these waiting builds. */
    async queueView(waitingIds: string[]): Promise<{ running: Pick<BuildRow, 'startedAt' | 'estimate'>[]; waiting: Pick<BuildRow, 'id' | 'estimate'>[] }> {
      const running = await db.select({ startedAt: builds.startedAt, estimate: builds.estimate }).from(builds).where(eq(builds.status, 'running'));
      const ids = waitingIds.filter((id) => /^[0-9a-f-]{36}$/i.test(id));
      const waiting = ids.length ? await db.select({ id: builds.id, estimate: builds.estimate }).from(builds).where(and(inArray(builds.id, ids), eq(builds.status, 'queued'))) : [];
      return { running, waiting };
    },
    /** Keeps what kiln told the user when the build was submitted. */
    async setEstimate(id: string, estimate: SubmitEstimate): Promise<void> {
      await db.update(builds).set({ estimate }).where(eq(builds.id, id));
    },
    /** Records what the build starts FROM (chosen right before it runs). */
    async setBase(id: string, plan: BuildPlan): Promise<BuildRow> {
      const [row] = await db
        .update(builds)
        .set({
          plan,
          templateId: plan.base.kind === 'template' ? plan.base.templateId : null,
          // What a template or the prebuilt layers spared it (a composed build installs nothing at all).
          secondsSaved: plan.base.kind === 'root' ? null : plan.base.secondsSaved,
          secondsSavedEstimated: plan.base.kind === 'root' ? null : (plan.base.secondsSavedEstimated ?? 0),
        })
        .where(eq(builds.id, id))
        .returning();
      return row!;
    },
    /** Records the outcome and, on success, the steps, in one transaction: a build never ends half-recorded. */
    async finish(
      id: string,
      outcome:
        | { status: 'succeeded'; digest: string; imageId: string; steps: NewBuildStep[]; cacheSaved?: { seconds: number; estimated: number } }
        | { status: Exclude<BuildStatus, 'succeeded' | 'queued' | 'running'>; error: string; steps?: NewBuildStep[] },
    ): Promise<void> {
      await db.transaction(async (tx) => {
        await tx.delete(buildSteps).where(eq(buildSteps.buildId, id));
        if (outcome.steps && outcome.steps.length > 0) {
          await tx.insert(buildSteps).values(outcome.steps.map((s) => ({ ...s, buildId: id })));
        }
        if (outcome.status === 'succeeded') {
          const [b] = await tx.select().from(builds).where(eq(builds.id, id));
          // The image catalog learns of the push with the build's success, never one without the other.
          const name = b && parseImageName(b.spec.image);
          if (b && name && typeof name !== 'string') {
            await recordPushedImage(tx, {
              id: randomUUID(),
              project: b.project,
              buildId: b.id,
              repository: name.repository,
              tag: name.tag,
              digest: outcome.digest,
              imageRef: b.imageRef,
              components: b.plan.components.map((c) => c.key),
              componentNames: b.plan.components.map((c) => c.name),
              templateId: b.templateId,
              uploadSha256: b.plan.binary.sha256,
              pushedAt: new Date(),
            });
          }
          // A template's worth is what it really spared builds that succeeded from it.
          if (b?.templateId) {
            await tx
              .update(templates)
              .set({
                hits: sql`${templates.hits} + 1`,
                secondsSaved: sql`${templates.secondsSaved} + ${b.secondsSaved ?? 0}`,
                secondsSavedEstimated: sql`${templates.secondsSavedEstimated} + ${b.secondsSavedEstimated ?? 0}`,
                lastHitAt: new Date(),
              })
              .where(eq(templates.id, b.templateId));
          }
        }
        await tx
          .update(builds)
          .set(
            outcome.status === 'succeeded'
              ? {
                  status: 'succeeded',
                  digest: outcome.digest,
                  imageId: outcome.imageId,
                  error: null,
                  finishedAt: new Date(),
                  ...(outcome.cacheSaved ? { secondsSavedCache: outcome.cacheSaved.seconds, secondsSavedCacheEstimated: outcome.cacheSaved.estimated } : {}),
                }
              : { status: outcome.status, error: outcome.error, finishedAt: new Date() },
          )
          .where(eq(builds.id, id));
      });
    },
  };
}

export type BuildStore = ReturnType<typeof createBuildStore>;
