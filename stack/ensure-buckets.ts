// `tsx stack/ensure-buckets.ts BUCKET…`: creates the S3 buckets a stack needs besides kiln's own (which kiln makes
// itself) — in compose.yaml, the registry's — waiting up to a minute for the S3 service to answer. Exits 0 when all exist.
import { createBlobStore, createS3Client } from '../core/blob-store.ts';
import { loadS3Config } from '../core/config.ts';
import { configOrExit } from '../core/process-lifecycle.ts';

const config = configOrExit('ensure-buckets', () => loadS3Config(process.env));
const buckets = process.argv.slice(2);
if (buckets.length === 0) {
  console.error('usage: tsx stack/ensure-buckets.ts BUCKET...');
  process.exit(2);
}
const client = createS3Client(config);
const deadline = Date.now() + 60_000;
for (const bucket of buckets) {
  for (;;) {
    try {
      await createBlobStore(client, bucket).ensureBucket();
      console.log(`bucket ${bucket} is there`);
      break;
    } catch (err) {
      // The S3 service may still be starting (its container came up a moment ago).
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
client.destroy();
