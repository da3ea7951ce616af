// Which tags a project's retention rule keeps (pure): per repository, a tag is kept while it is among the newest N, or
// while it is younger than D days; every other tag is named for deletion.

export interface RetentionRule {
  /** Keep each repository's newest N tags (null: no count rule). */
  keepNewest: number | null;
  /** Keep tags pushed less than D days ago (null: no age rule). */
  keepDays: number | null;
}

export interface TaggedImage {
  id: string;
  repository: string;
  tag: string;
  pushedAt: Date;
}

export interface RetentionDecision<T extends TaggedImage> {
  keep: T[];
  delete: T[];
}

/** A rule with neither part keeps everything (it names nothing to delete). */
export function decideRetention<T extends TaggedImage>(current: readonly T[], rule: RetentionRule, now: Date): RetentionDecision<T> {
  const out: RetentionDecision<T> = { keep: [], delete: [] };
  if (rule.keepNewest === null && rule.keepDays === null) return { keep: [...current], delete: [] };
  const byRepository = new Map<string, T[]>();
  for (const image of current) byRepository.set(image.repository, [...(byRepository.get(image.repository) ?? []), image]);
  const youngerThan = rule.keepDays === null ? undefined : now.getTime() - rule.keepDays * 86_400_000;
  for (const list of byRepository.values()) {
    // Newest first; the same instant is ordered by id, so a decision never depends on the order rows came in.
    list.sort((a, b) => b.pushedAt.getTime() - a.pushedAt.getTime() || (a.id < b.id ? 1 : -1));
    list.forEach((image, rank) => {
      const newEnough = rule.keepNewest !== null && rank < rule.keepNewest;
      const youngEnough = youngerThan !== undefined && image.pushedAt.getTime() > youngerThan;
      (newEnough || youngEnough ? out.keep : out.delete).push(image);
    });
  }
  return out;
}
