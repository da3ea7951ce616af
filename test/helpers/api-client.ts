// Small HTTP helpers over kiln's REST API, used the way a CI job would use it.
export interface BuildView {
  id: string;
  status: string;
  imageRef: string;
  digest: string | null;
  error: string | null;
  attempts: number;
  plan: { components: { key: string; recipeHash: string }[] };
  steps: { component: string; seconds: number; cached: boolean }[];
}

export async function upload(url: string, body: Uint8Array, filename?: string) {
  const res = await fetch(`${url}/v1/uploads${filename ? `?filename=${encodeURIComponent(filename)}` : ''}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Blob([new Uint8Array(body)]),
  });
  return { status: res.status, body: (await res.json()) as { id: string; sha256: string; size: number } & Record<string, unknown> };
}

export async function postBuild(url: string, spec: unknown) {
  const res = await fetch(`${url}/v1/builds`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

export async function getBuild(url: string, id: string): Promise<BuildView> {
  const res = await fetch(`${url}/v1/builds/${id}`);
  if (!res.ok) throw new Error(`GET build ${id}: ${res.status} ${await res.text()}`);
  return (await res.json()) as BuildView;
}

/** Polls until the build ends (or the deadline passes, which fails the test with the last status seen). */
export async function waitForBuild(url: string, id: string, timeoutMs = 300_000): Promise<BuildView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const b = await getBuild(url, id);
    if (['succeeded', 'failed', 'canceled'].includes(b.status)) return b;
    if (Date.now() > deadline) throw new Error(`build ${id} still ${b.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
