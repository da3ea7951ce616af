// Touches the generated OpenAPI document where the schemas cannot say it: error answers are sent as
// application/problem+json (api/error-handler.ts), but a response schema only ever yields application/json.
type Content = Record<string, unknown>;
type Operation = { responses?: Record<string, { content?: Content }> };
type Document = { paths?: Record<string, Record<string, Operation>> };

const isProblem = (media: unknown) => JSON.stringify(media ?? {}).includes('#/components/schemas/Problem');

/** Every 4xx/5xx answer that is a Problem is documented as application/problem+json. */
export function documentProblemMediaType<D>(doc: D): D {
  for (const methods of Object.values((doc as Document).paths ?? {})) {
    for (const op of Object.values(methods)) {
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        const json = response.content?.['application/json'];
        if (Number(status) >= 400 && json && isProblem(json)) {
          response.content = { 'application/problem+json': json };
        }
      }
    }
  }
  return doc;
}
