import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Which vitest project a test file belongs to (vitest.config.ts): "unit" files need nothing but Node and
 * the source tree; "integration" files need the S3 server of test/global-setup.ts, the age CLI, or the
 * built CLI (dist/). A file is integration when it, or a test module it imports (transitively, relative
 * imports under test/), is one of the support modules below or spells one of the markers below.
 * Run `npx tsx test/test-projects.ts` to print the split with the reason for each integration file.
 */

/** Support modules that need the S3 server, the age CLI or the built CLI (paths under test/, "/"-separated). */
export const INTEGRATION_MODULES: readonly RegExp[] = [
  /^support\/test-s3[^/]*\.ts$/,
  /^support\/cli-replicas\.ts$/,
  /^support\/fault-proxy\//,
  /^support\/s3-server\//,
  /^support\/ensure-age-installed\.ts$/,
  /^support\/run-persistd\.ts$/,
  /^global-setup\.ts$/,
];

/** Source text that needs the same: vitest's inject (the S3 server, the age CLI), the built binary. */
export const INTEGRATION_MARKERS: readonly RegExp[] = [/\binject\(/, /bin\/persistd(\.js)?\b/, /['"`/]dist\//];

/** The split of the test files (paths relative to the repository, "/"-separated, sorted). */
export interface TestProjects {
  unit: string[];
  integration: string[];
  /** For each integration file: the chain of modules that makes it one, ending with the reason. */
  reasons: Map<string, string>;
}

const TEST_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(TEST_DIR);

/** Classifies every test/**\/*.test.ts file of the repository at `root`. */
export function classifyTestFiles(root: string = ROOT): TestProjects {
  const testDir = join(root, 'test');
  const cache = new Map<string, string | null>();
  const unit: string[] = [];
  const integration: string[] = [];
  const reasons = new Map<string, string>();
  for (const file of listTestFiles(testDir)) {
    const reason = integrationReason(testDir, file, cache, new Set());
    const name = toPosix(relative(root, file));
    if (reason === null) unit.push(name);
    else {
      integration.push(name);
      reasons.set(name, reason);
    }
  }
  return { unit: unit.sort(), integration: integration.sort(), reasons };
}

/** Why `file` needs the integration setup ("a.ts → b.ts → imports support/test-s3.ts"), or null. */
function integrationReason(testDir: string, file: string, cache: Map<string, string | null>, visiting: Set<string>): string | null {
  const cached = cache.get(file);
  if (cached !== undefined) return cached;
  if (visiting.has(file)) return null; // a cycle: the other modules on it are judged on their own
  visiting.add(file);
  const name = toPosix(relative(testDir, file));
  let reason: string | null = null;
  if (INTEGRATION_MODULES.some((pattern) => pattern.test(name))) reason = `${name} (needs the S3 server, age or the built CLI)`;
  const text = readFileSync(file, 'utf8');
  const marker = reason === null ? INTEGRATION_MARKERS.find((pattern) => pattern.test(text)) : undefined;
  if (marker !== undefined) reason = `${name} (spells ${marker.source})`;
  for (const imported of reason === null ? relativeImports(file, text) : []) {
    if (!imported.startsWith(testDir + sep)) continue; // src/ never reaches into test/
    const inner = integrationReason(testDir, imported, cache, visiting);
    if (inner !== null) {
      reason = `${name} → ${inner}`;
      break;
    }
  }
  visiting.delete(file);
  cache.set(file, reason);
  return reason;
}

/** The .ts files that `text` (the source of `file`) imports by relative path, statically or with import(). */
function relativeImports(file: string, text: string): string[] {
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g)].map((match) => match[1]!);
  return specifiers.map((specifier) => resolveTs(resolve(dirname(file), specifier))).filter((path): path is string => path !== null);
}

function resolveTs(path: string): string | null {
  const candidates = [path.replace(/\.js$/, '.ts'), path, `${path}.ts`, join(path, 'index.ts')];
  return candidates.find((candidate) => candidate.endsWith('.ts') && existsSync(candidate)) ?? null;
}

function listTestFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.test.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((path) => !path.split(sep).includes('node_modules'));
}

function toPosix(path: string): string {
  return path.split(sep).join('/');
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { unit, integration, reasons } = classifyTestFiles();
  console.log(`unit (${unit.length}):\n${unit.map((file) => `  ${file}`).join('\n')}`);
  console.log(`integration (${integration.length}):\n${integration.map((file) => `  ${file}: ${reasons.get(file)}`).join('\n')}`);
}
