import type { ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';

/** Answers with an S3-style XML error document, the shape the SDK parses into an error `Code`. */
export function sendS3Error(res: ServerResponse, status: number, code: string, message: string, resource: string): void {
  const requestId = randomBytes(8).toString('hex');
  const body = Buffer.from(
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message>` +
      `<Resource>${escapeXml(resource)}</Resource><RequestId>${requestId}</RequestId></Error>`,
    'utf8',
  );
  const headers: Record<string, string | number> = {
    'content-type': 'application/xml',
    'content-length': body.length,
    'x-amz-request-id': requestId,
  };
  if (code === 'SlowDown' || status === 503) headers['retry-after'] = 1;
  res.writeHead(status, headers);
  res.end(body);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
