import { createHash, createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** Keys the proxy signs with when a quirk changed a signed header. */
export interface SigningKeys {
  accessKeyId: string;
  secretAccessKey: string;
}

const AUTH_PATTERN =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]+)$/;

/**
 * Recomputes the SigV4 `authorization` header of a request after headers were removed (a quirk that strips
 * If-None-Match must still reach the server with a valid signature). Keeps the client's date, scope and
 * payload hash; signs the headers the client signed that are still present. Returns the new header, or
 * undefined when the request is not header-signed SigV4.
 */
export function resignRequest(method: string, url: string, headers: IncomingHttpHeaders, keys: SigningKeys): string | undefined {
  const match = AUTH_PATTERN.exec(String(headers.authorization ?? ''));
  const amzDate = headers['x-amz-date'];
  if (match === null || typeof amzDate !== 'string') return undefined;
  const [, , date, region, service, signedList] = match as unknown as [string, string, string, string, string, string];
  const signed = signedList.split(';').filter((name) => headers[name] !== undefined);
  const canonicalHeaders = signed.map((name) => `${name}:${headerValue(headers[name])}\n`).join('');
  const [path = '/', query = ''] = url.split('?', 2);
  const payloadHash = typeof headers['x-amz-content-sha256'] === 'string' ? headers['x-amz-content-sha256'] : 'UNSIGNED-PAYLOAD';
  const canonicalRequest = [method.toUpperCase(), path, canonicalQuery(query), canonicalHeaders, signed.join(';'), payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  let key: Buffer = hmac(`AWS4${keys.secretAccessKey}`, date);
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  return `AWS4-HMAC-SHA256 Credential=${keys.accessKeyId}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${signature}`;
}

function headerValue(value: string | string[] | undefined): string {
  const joined = Array.isArray(value) ? value.join(',') : (value ?? '');
  return joined.trim().replace(/\s+/g, ' ');
}

/** Query parameters decoded, re-encoded the SigV4 way, sorted by name then value. */
function canonicalQuery(query: string): string {
  if (query === '') return '';
  const pairs = query
    .split('&')
    .filter((p) => p !== '')
    .map((part) => {
      const eq = part.indexOf('=');
      const name = eq < 0 ? part : part.slice(0, eq);
      const value = eq < 0 ? '' : part.slice(eq + 1);
      return [escape(decode(name)), escape(decode(value))] as const;
    });
  pairs.sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

function decode(text: string): string {
  return decodeURIComponent(text.replace(/\+/g, '%20'));
}

function escape(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
