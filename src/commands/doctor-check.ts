import { messageOf } from '../errors.js';

/** The outcome of one doctor check. */
export interface DoctorCheck {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  hint?: string;
}

/** Runs one check, turning a thrown error into a failed check with its message and hint. */
export async function runCheck(name: string, check: () => Promise<Omit<DoctorCheck, 'name'>>): Promise<DoctorCheck> {
  try {
    return { name, ...(await check()) };
  } catch (err) {
    const hint = (err as { hint?: unknown }).hint;
    return { name, status: 'fail', detail: messageOf(err), ...(typeof hint === 'string' ? { hint } : {}) };
  }
}
