import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Fault } from './fault-rules.js';
import { unquoteEtag, unquoteEtagsInXml } from './provider-quirks.js';

/** A fault that strikes inside the response body. */
export type BodyFault = Extract<Fault, { kind: 'reset' | 'hang' | 'truncate' }>;

/** How the proxy changes a response on its way back. */
export interface RelayOptions {
  unquotedEtags: boolean;
  bodyFault?: BodyFault;
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'trailer'];

/** Headers to pass on, without those that belong to one connection. */
export function endToEndHeaders(headers: IncomingHttpHeaders, drop: readonly string[] = HOP_BY_HOP): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !drop.includes(name)) out[name] = value;
  return out;
}

/**
 * Sends the server's response to the client: streamed byte for byte, unless a quirk rewrites ETags
 * in an XML body or a body fault must cut it (then the body is buffered; test bodies are small).
 */
export function relayResponse(upstream: IncomingMessage, res: ServerResponse, options: RelayOptions): void {
  const status = upstream.statusCode ?? 502;
  const headers = endToEndHeaders(upstream.headers);
  if (options.unquotedEtags && typeof headers.etag === 'string') headers.etag = unquoteEtag(headers.etag);
  const rewriteXml = options.unquotedEtags && /xml/i.test(String(upstream.headers['content-type'] ?? ''));
  // A HEAD answer declares a length but has no body: there is nothing to rewrite or cut.
  if ((!rewriteXml && options.bodyFault === undefined) || res.req.method === 'HEAD') {
    res.writeHead(status, headers);
    upstream.pipe(res);
    return;
  }
  const chunks: Buffer[] = [];
  upstream.on('data', (chunk: Buffer) => chunks.push(chunk));
  upstream.on('error', () => res.destroy());
  upstream.on('end', () => {
    let body = Buffer.concat(chunks);
    if (rewriteXml) body = Buffer.from(unquoteEtagsInXml(body.toString('utf8')), 'utf8');
    headers['content-length'] = body.length;
    res.writeHead(status, headers);
    if (options.bodyFault === undefined) res.end(body);
    else sendCutBody(res, body, options.bodyFault);
  });
}

/** Declares the full length, sends only part of the body, then resets, stalls or closes cleanly. */
function sendCutBody(res: ServerResponse, body: Buffer, fault: BodyFault): void {
  const keep = Math.floor(body.length * (fault.kind === 'truncate' ? (fault.keepShare ?? 0.5) : 0.5));
  res.write(body.subarray(0, keep), () => {
    const socket = res.socket;
    if (socket === null) return;
    // A short pause lets the client start reading the body before the connection breaks.
    if (fault.kind === 'reset') setTimeout(() => socket.resetAndDestroy(), 20);
    else if (fault.kind === 'truncate') socket.end();
    // 'hang': nothing more is sent; the proxy destroys the socket when it stops.
  });
}
