// The Docker engine trusts a registry's private CA through /etc/docker/certs.d/<host:port>/ca.crt, which it reads on
// every connection (no restart). `npm start` writes REGISTRY_CA_FILE there for the engine it runs; an engine on
// another host needs the same file put there by whoever runs that host.
import { mkdir, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const ENGINE_CERTS_DIR = '/etc/docker/certs.d';

export const engineCaPath = (registryHost: string, certsDir = ENGINE_CERTS_DIR) => path.join(certsDir, registryHost, 'ca.crt');

/** Writes the CA for `registryHost`; remove() takes away the file and the folder if nothing else is in it. */
export async function installEngineCa(registryHost: string, pem: string, certsDir = ENGINE_CERTS_DIR): Promise<{ path: string; remove(): Promise<void> }> {
  const file = engineCaPath(registryHost, certsDir);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, pem, { mode: 0o644 });
  return {
    path: file,
    async remove() {
      await rm(file, { force: true });
      if ((await readdir(path.dirname(file)).catch(() => ['?'])).length === 0) await rmdir(path.dirname(file)).catch(() => undefined);
    },
  };
}
