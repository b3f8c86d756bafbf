/**
 * A host on this machine: `localhost`, 127.0.0.0/8 or `::1` (bracketed or not). Such a host may be
 * spoken to without TLS (a local PostgreSQL, a test registry); every other host is not.
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}
