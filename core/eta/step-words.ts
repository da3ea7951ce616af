// A build step as words, the same in the web form, the build page and the CLI: "installing jdk@17",
// "from the layer cache: gcc@12", "pushing the image". Pure.

const VERBS: Record<string, string> = {
  pull: 'pulling the base image',
  push: 'pushing the image',
  verify: 'verifying the combination',
  assemble: 'assembling the image',
};

export function stepText(step: { kind: string | null; component: string }): string {
  if (step.kind && VERBS[step.kind]) return VERBS[step.kind]!;
  if (step.component === 'binary') return 'copying your binary';
  if (step.kind === 'cache') return `from the layer cache: ${step.component}`;
  if (step.kind === 'layer') return `prebuilt layer of ${step.component}`;
  return `installing ${step.component}`;
}
