// Start file of a builder process (`npm run builder`); run as many as you like against one Redis.
import { runProcess } from '../core/process-lifecycle.ts';
import { startBuilder } from './builder-process.ts';

await runProcess('builder', async (infra) => {
  const builder = await startBuilder(infra);
  infra.log.info({ concurrency: infra.config.KILN_BUILD_CONCURRENCY }, 'kiln builder waiting for builds');
  return [builder];
});
