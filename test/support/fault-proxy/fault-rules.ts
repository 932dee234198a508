import type { ClassifiedRequest, S3Operation } from './s3-operation.js';

/** Where in a response a body fault strikes: before any byte of the answer, or after part of the body. */
export type FaultMoment = 'before-response' | 'mid-body';

/** One thing that can go wrong with a request. */
export type Fault =
  /** An S3 error answer (500 InternalError, 503 SlowDown, 403 ExpiredToken, ...). `afterForward`: the server did the work, the answer is lost. */
  | { kind: 'error'; status: number; code: string; message?: string; afterForward?: boolean }
  /** A TCP reset: before anything is answered, or after half of the response body. */
  | { kind: 'reset'; when: FaultMoment }
  /** The answer is delayed by `ms` before the request is forwarded. */
  | { kind: 'latency'; ms: number }
  /** Nothing more is ever sent (until the client gives up or the proxy stops). */
  | { kind: 'hang'; when: FaultMoment }
  /** The full Content-Length is declared but only `keepShare` of the body is sent, then the connection is closed cleanly. */
  | { kind: 'truncate'; keepShare?: number }
  /** The whole server goes away (connection refused) for `ms`; the triggering request is reset. */
  | { kind: 'down'; ms: number };

/** A fault that answers with an S3 error. */
export type ErrorFault = Extract<Fault, { kind: 'error' }>;

/** Which requests a rule applies to, and how often. Every field narrows; an empty rule matches every request. */
export interface FaultRule {
  fault: Fault;
  /** HTTP methods, upper-case. */
  methods?: readonly string[];
  operations?: readonly S3Operation[];
  /** Tested against the decoded object key (empty for bucket-level requests). */
  key?: RegExp;
  /** Share of matching requests that get the fault, drawn from the seeded PRNG (default 1). */
  share?: number;
  /** At most this many injections from this rule. */
  limit?: number;
  /** The rule is active only this long after `setRules` (e.g. 403 "for a while"). */
  activeForMs?: number;
}

/** A rule with its bookkeeping. */
export interface ActiveRule {
  rule: FaultRule;
  since: number;
  fired: number;
}

/** Whether `rule` is about this request at all (before the share is drawn). */
export function ruleApplies(active: ActiveRule, request: ClassifiedRequest, now: number): boolean {
  const { rule } = active;
  if (rule.limit !== undefined && active.fired >= rule.limit) return false;
  if (rule.activeForMs !== undefined && now - active.since > rule.activeForMs) return false;
  if (rule.methods !== undefined && !rule.methods.includes(request.method)) return false;
  if (rule.operations !== undefined && !rule.operations.includes(request.operation)) return false;
  if (rule.key !== undefined && !rule.key.test(request.key)) return false;
  return true;
}

/** The S3 error of a 500. */
export const INTERNAL_ERROR: ErrorFault = {
  kind: 'error',
  status: 500,
  code: 'InternalError',
  message: 'We encountered an internal error. Please try again.',
};
/** The S3 error of a 503 throttle. */
export const SLOW_DOWN: ErrorFault = { kind: 'error', status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' };

/** Rules that answer `share` of the matching requests with 500 InternalError or 503 SlowDown, half each. */
export function serverErrors(share: number, narrow: Omit<FaultRule, 'fault' | 'share'> = {}): FaultRule[] {
  // The second rule sees only requests the first let through, so it needs a larger share to make half of `share` overall.
  return [
    { ...narrow, fault: INTERNAL_ERROR, share: share / 2 },
    { ...narrow, fault: SLOW_DOWN, share: share / 2 / (1 - share / 2) },
  ];
}
