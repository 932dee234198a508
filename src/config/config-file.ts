import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Yaml from 'yaml';
import { messageOf, usageError } from '../errors.js';
import { FILE_KEYS } from './option-specs.js';

/** The settings read from a persistd.yml, keyed by file key, with the directory relative paths resolve against. */
export interface ConfigFileSettings {
  path: string;
  baseDir: string;
  values: Record<string, string | string[]>;
}

/** Reads, expands (`${VAR}`, `${VAR:-default}`) and checks a persistd.yml; every problem is a usage error with a hint. */
export function readConfigFile(file: string, env: NodeJS.ProcessEnv, cwd: string): ConfigFileSettings {
  const absolute = path.resolve(cwd, file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw usageError(
      `cannot read config file ${absolute}: ${code === 'ENOENT' ? 'it does not exist' : code === 'EISDIR' ? 'it is a directory' : (code ?? String(err))}`,
      'check --config / PERSISTD_CONFIG',
    );
  }
  // Loaded only when there is a file to read: a command configured by flags and env starts without it.
  const { parse: parseYaml, YAMLParseError } = createRequire(import.meta.url)('yaml') as typeof Yaml;
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` (line ${err.linePos[0].line})` : '';
    throw usageError(
      `config file ${absolute} is not valid YAML${where}: ${messageOf(err).split('\n')[0]}`,
      'fix the YAML syntax; persistd.yml is a flat map such as `to: s3://bucket/app` and `dbs: [./data/app.db]`',
    );
  }
  if (parsed === null || parsed === undefined) return { path: absolute, baseDir: path.dirname(absolute), values: {} };
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw usageError(
      `config file ${absolute} must be a YAML map of settings`,
      'write it as `key: value` lines, e.g. `to: s3://bucket/app`',
    );
  }
  const values: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (!FILE_KEYS.includes(key)) {
      throw usageError(`unknown setting "${key}" in config file ${absolute}`, `known settings: ${FILE_KEYS.join(', ')}`);
    }
    values[key] = normalise(key, value, env, absolute);
  }
  return { path: absolute, baseDir: path.dirname(absolute), values };
}

function normalise(key: string, value: unknown, env: NodeJS.ProcessEnv, file: string): string | string[] {
  if (Array.isArray(value)) return value.map((item) => scalar(key, item, env, file));
  return scalar(key, value, env, file);
}

function scalar(key: string, value: unknown, env: NodeJS.ProcessEnv, file: string): string {
  if (typeof value === 'string') return expandVariables(value, env, `setting "${key}" in ${file}`);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw usageError(
    `setting "${key}" in config file ${file} must be a string, a number or a list of them`,
    'see the configuration reference in the README',
  );
}

/** Replaces `${VAR}` and `${VAR:-default}` with environment values; an unset variable without a default is an error. */
export function expandVariables(text: string, env: NodeJS.ProcessEnv, where: string): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}/g, (_whole, name: string, hasDefault?: string, fallback?: string) => {
    const found = env[name];
    if (found !== undefined && found !== '') return found;
    if (hasDefault !== undefined) return fallback ?? '';
    throw usageError(
      `\${${name}} in ${where} is not set in the environment`,
      `set ${name}, or write \${${name}:-default} to give a default`,
    );
  });
}
