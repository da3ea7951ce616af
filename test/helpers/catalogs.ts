// Catalogs for tests that need one the shipped catalog does not have.
import { cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** The shipped catalog, in `<parent>/catalog`, plus a component `broken@1` whose install step cannot succeed. */
export async function brokenCatalog(parent: string): Promise<string> {
  const catalog = path.join(parent, 'catalog');
  await cp(path.resolve(import.meta.dirname, '../../base-images'), catalog, { recursive: true });
  await mkdir(path.join(catalog, 'components/broken'));
  await writeFile(path.join(catalog, 'components/broken/component.yaml'), 'name: broken\ndescription: cannot install\nrank: 99\ndefault: "1"\n');
  await writeFile(
    path.join(catalog, 'components/broken/1.yaml'),
    'name: broken\nversion: "1"\nroots: [debian-bookworm]\ninstall: {packages: [kiln-no-such-package]}\nsmoke: "false"\ncostEstimateSeconds: 1\n',
  );
  return catalog;
}
