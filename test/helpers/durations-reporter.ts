// A node:test reporter that writes how long each test file ran, as JSON `{ "test/x.test.ts": seconds }`, for
// `test/run-tests.ts` to start the longest files first next time. A file's time is the sum of its top-level tests'
// (they run one after another inside the file's process).
import path from 'node:path';

interface TestEvent {
  type: string;
  data: { nesting?: number; file?: string; details?: { duration_ms?: number } };
}

const repo = path.resolve(import.meta.dirname, '..', '..');

export default async function* durationsReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const seconds = new Map<string, number>();
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { nesting, file, details } = event.data;
    if (nesting !== 0 || !file || details?.duration_ms === undefined) continue;
    const key = path.relative(repo, file);
    seconds.set(key, (seconds.get(key) ?? 0) + details.duration_ms / 1000);
  }
  yield `${JSON.stringify(Object.fromEntries([...seconds].map(([f, s]) => [f, Math.round(s * 10) / 10])), null, 2)}\n`;
}
