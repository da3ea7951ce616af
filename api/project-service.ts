// Projects: created by admins; a project's name is its image namespace, so it must be a registry path component.
import type { ProjectStore } from '../core/db/project-store.ts';
import type { ProjectRow } from '../core/db/schema/projects.ts';
import { ConflictError, ValidationError, type Problem } from '../core/errors.ts';
import { checkPlainText, checkProjectName } from '../core/spec-grammar.ts';

export function createProjectService(deps: { store: Pick<ProjectStore, 'insertProject' | 'listProjects'> }) {
  return {
    async create(input: { name: string; description?: string | undefined }): Promise<ProjectRow> {
      const problems: Problem[] = [];
      const nameProblem = checkProjectName(input.name);
      if (nameProblem) problems.push({ field: 'name', message: nameProblem });
      const descriptionProblem = input.description === undefined ? undefined : checkPlainText(input.description, 500);
      if (descriptionProblem) problems.push({ field: 'description', message: descriptionProblem });
      if (problems.length > 0) throw new ValidationError(problems);
      const row = await deps.store.insertProject({ name: input.name, description: input.description ?? null });
      if (!row) throw new ConflictError(`project "${input.name}" already exists`);
      return row;
    },
    list: () => deps.store.listProjects(),
  };
}

export type ProjectService = ReturnType<typeof createProjectService>;
