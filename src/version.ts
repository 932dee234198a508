import { readFileSync } from 'node:fs';

/** persistd's version, read once from its package.json (two levels above this file in src/ and in dist/). */
export const PERSISTD_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
