/** Where the buf-built descriptor sets are, from `src/api` or from the built `dist/src/api`. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function descriptorPath(name: string): string | null {
  for (const rel of [`../gen/${name}`, `../../../src/gen/${name}`]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return null;
}
