import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { PreconditionFailedError } from '../store/store-errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { runCheck, type DoctorCheck } from './doctor-check.js';

/** Probe objects live here for a moment while doctor runs (FORMAT.md reserves the prefix). */
const PROBE_PREFIX = 'probe/doctor-';
const MULTIPART_PROBE_BYTES = 9 * 1024 * 1024;

/** Probes a store for real: reachability, put/get/list/delete, multipart, conditional writes and clock skew. Cleans up after itself. */
export async function probeStore(store: ObjectStore, signal: AbortSignal): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const reachable = await runCheck('replica reachable', async () => {
    const started = Date.now();
    let count = 0;
    for await (const _ of store.list('', { signal })) {
      if (++count >= 1) break;
    }
    return { status: 'ok', detail: `listed ${store.description} in ${Date.now() - started} ms (${count === 0 ? 'empty' : 'has objects'})` };
  });
  checks.push(reachable);
  if (reachable.status === 'fail') return checks;

  const key = `${PROBE_PREFIX}${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const body = randomBytes(1024);
  let skewMs: number | undefined;
  checks.push(
    await runCheck('put/get/list/delete probe', async () => {
      const before = Date.now();
      await store.put(key, body, { metadata: { 'persistd-probe': 'yes' }, signal });
      const after = Date.now();
      const info = await store.head(key, { signal });
      if (!info) throw new Error('the object just written is not there (HEAD returned nothing)');
      if (info.metadata?.['persistd-probe'] !== 'yes') throw new Error('user metadata did not round-trip');
      skewMs = info.lastModified.getTime() - (before + after) / 2;
      const read = await readAll(await store.get(key, { signal }));
      if (!read.equals(body)) throw new Error('the bytes read back differ from the bytes written');
      let listed = false;
      for await (const item of store.list(PROBE_PREFIX, { signal })) if (item.key === key) listed = true;
      if (!listed) throw new Error('the object just written is missing from the listing');
      await store.delete([key], { signal });
      if (await store.head(key, { signal })) throw new Error('the object is still there after DELETE');
      return { status: 'ok', detail: 'wrote, read back, listed and deleted a 1 KiB object with metadata' };
    }),
  );

  checks.push(
    await runCheck('multipart upload probe', async () => {
      const multipartKey = `${key}-multipart`;
      const payload = randomBytes(MULTIPART_PROBE_BYTES);
      try {
        await store.put(multipartKey, Readable.from(chunks(payload)), { signal });
        const info = await store.head(multipartKey, { signal });
        if (info?.size !== payload.length) throw new Error(`stored size ${info?.size ?? 'none'} differs from ${payload.length} bytes sent`);
        const read = await readAll(await store.get(multipartKey, { range: { start: payload.length - 4096 }, signal }));
        if (!read.equals(payload.subarray(payload.length - 4096))) throw new Error('a ranged read of the upload returned other bytes');
      } finally {
        await store.delete([multipartKey], { signal }).catch(() => undefined);
      }
      return {
        status: 'ok',
        detail: `uploaded ${MULTIPART_PROBE_BYTES / 1048576} MiB as a stream of unknown length and read a range back`,
      };
    }),
  );

  checks.push(
    await runCheck('conditional writes', async () => {
      const lockKey = `${key}-conditional`;
      try {
        await store.put(lockKey, 'first', { ifNoneMatch: '*', signal });
        try {
          await store.put(lockKey, 'second', { ifNoneMatch: '*', signal });
        } catch (err) {
          if (err instanceof PreconditionFailedError)
            return { status: 'ok', detail: 'honoured (a second If-None-Match: * write was refused with 412)' };
          throw err;
        }
        return {
          status: 'warn',
          detail: 'NOT honoured: the provider overwrote an object despite If-None-Match: *',
          hint: 'two overlapping instances cannot be fenced safely on this provider; avoid running two at once (e.g. turn off zero-downtime overlap)',
        };
      } finally {
        await store.delete([lockKey], { signal }).catch(() => undefined);
      }
    }),
  );

  checks.push(
    await runCheck('clock skew', async () => {
      if (skewMs === undefined) return { status: 'warn', detail: 'not measured (the put probe failed)' };
      const seconds = Math.abs(skewMs) / 1000;
      // LastModified has one-second resolution on S3, so skew under ~2 s is noise.
      if (seconds < 2) return { status: 'ok', detail: `within ${Math.max(1, Math.ceil(seconds))} s of the store` };
      return {
        status: seconds > 300 ? 'fail' : 'warn',
        detail: `local clock is ${seconds.toFixed(1)} s ${skewMs > 0 ? 'behind' : 'ahead of'} the store`,
        hint: 'sync the clock (NTP); S3 rejects requests signed more than 15 minutes off, and point-in-time restore relies on timestamps',
      };
    }),
  );
  return checks;
}

function* chunks(buffer: Buffer): Generator<Buffer> {
  for (let offset = 0; offset < buffer.length; offset += 256 * 1024) yield buffer.subarray(offset, offset + 256 * 1024);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(Buffer.isBuffer(part) ? part : Buffer.from(part as string));
  return Buffer.concat(parts);
}
