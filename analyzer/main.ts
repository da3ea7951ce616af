// Start file of the analyzer process (`npm run analyzer`).
import { runProcess } from '../core/process-lifecycle.ts';
import { startAnalyzer } from './analyzer-process.ts';

await runProcess('analyzer', async (infra) => {
  const analyzer = await startAnalyzer(infra);
  infra.log.info({ everySeconds: infra.config.KILN_ANALYZER_INTERVAL_SECONDS }, 'kiln analyzer scheduled');
  return [analyzer];
});
