/** An endpoint URL fit for messages and logs: no user info, no query string, no fragment. */
export function printableEndpoint(endpoint: string | undefined, region: string): string {
  if (endpoint === undefined || endpoint === '') return `AWS S3 (${region})`;
  try {
    const url = new URL(endpoint);
    return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
  } catch {
    return '(an endpoint that is not a valid URL)';
  }
}
