/**
 * Why a report webhook URL is refused, or undefined when it is allowed:
 * `https:` to any host, `http:` only to this machine (127.0.0.0/8, `::1`,
 * `localhost`). A report names clients, paths that could not be read and
 * error texts: it never crosses a network in clear text. No credentials in
 * the URL (they would be written into settings and logs).
 */
export function webhookUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'not a URL';
  }
  if (url.username !== '' || url.password !== '') return 'credentials in the URL are refused (use a token in the path or a proxy)';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol !== 'http:') return `${url.protocol} is not http: or https:`;
  return isLoopback(url.hostname) ? undefined : 'http: only to this machine (127.0.0.1, ::1, localhost); use https: for any other host';
}

function isLoopback(hostname: string): boolean {
  if (hostname === 'localhost' || hostname === '[::1]') return true;
  const octets = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(hostname);
  return octets !== null && octets[1] === '127' && octets.slice(1).every((o) => Number(o) <= 255);
}
