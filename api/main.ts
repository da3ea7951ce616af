// Start file of the api process (`npm run api`).
import { runProcess } from '../core/process-lifecycle.ts';
import { startApi } from './api-process.ts';

await runProcess('api', async (infra) => {
  const api = await startApi(infra, { host: infra.config.KILN_HOST, port: infra.config.KILN_PORT });
  infra.log.info({ url: api.url }, 'kiln api listening');
  return [api];
});
