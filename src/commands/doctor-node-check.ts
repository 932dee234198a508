import type { DoctorCheck } from './doctor-check.js';

/** The last month persistd supports Node 20 in: the AWS SDK's releases after early January 2027 need Node >= 22. */
export const NODE_20_SUPPORTED_UNTIL = 'January 2027';

/**
 * Checks the Node version persistd runs on: 22 and later are ok; 20 (>= 20.19, as package.json's engines say)
 * is supported until January 2027 and warns with that date, since bin/persistd.js keeps the AWS SDK's own
 * notice about it off every start.
 */
export function checkNodeVersion(version: string = process.versions.node): DoctorCheck {
  const major = Number(version.split('.')[0]);
  if (major >= 22) return { name: 'node', status: 'ok', detail: `Node ${version}` };
  return {
    name: 'node',
    status: 'warn',
    detail: `Node ${version}: supported until ${NODE_20_SUPPORTED_UNTIL} (the AWS SDK's releases after that need Node >= 22)`,
    hint: 'run persistd on Node 22 or 24 (the persistd image is built on Node 24)',
  };
}
