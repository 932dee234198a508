import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** Every file under `dir` (lock files aside) with its size and mtime, sorted: a fingerprint of what a file:// replica holds. */
export function fileListing(dir: string): string[] {
  const out: string[] = [];
  const walk = (current: string): void => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (!entry.name.startsWith('.persistd-lock'))
        out.push(`${path.relative(dir, full)} ${statSync(full).size} ${statSync(full).mtimeMs}`);
    }
  };
  walk(dir);
  return out.sort();
}
