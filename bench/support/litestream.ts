/** Finding the Litestream 0.3.13 binary that benchmarks compare against. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Where the npm package `@flydotio/litestream-linux-x64` puts its binary, relative to the install dir. */
const PACKAGE_BINARY = 'node_modules/@flydotio/litestream-linux-x64/litestream';

/** The Litestream binary: `explicit` (a `--litestream` flag), else the install named by PERSISTD_LITESTREAM_DIR; undefined when neither exists. */
export function findLitestream(explicit?: string): string | undefined {
  const dir = process.env['PERSISTD_LITESTREAM_DIR'];
  const candidates = [explicit, dir && join(dir, PACKAGE_BINARY)];
  return candidates.find((c): c is string => typeof c === 'string' && c !== '' && existsSync(c));
}

/** What to print when Litestream was not found. */
export const LITESTREAM_MISSING_NOTE =
  'litestream: not run (pass --litestream <binary> or set PERSISTD_LITESTREAM_DIR to a dir where `npm install --no-save @flydotio/litestream-linux-x64` ran)';
