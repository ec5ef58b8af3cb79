import { BlockList, isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import { RpaError } from '../errors.js';

/**
 * Addresses a callback must never reach: loopback, private, link-local (cloud metadata
 * 169.254.169.254 included), unique-local, unspecified, and their IPv4-mapped IPv6 forms.
 */
const forbidden = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  forbidden.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const) {
  forbidden.addSubnet(net, prefix, 'ipv6');
}

/** IPv4-mapped/compatible IPv6 (`::ffff:7f00:1`) → the IPv4 address it carries. */
function embeddedIpv4(address: string): string | undefined {
  const m = /^::(?:ffff:)?([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (m) {
    const hi = Number.parseInt(m[1]!, 16);
    const lo = Number.parseInt(m[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  const dotted = /^::(?:ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return dotted?.[1];
}

export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return forbidden.check(address, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIpv4(address);
    if (v4 !== undefined) return forbidden.check(v4, 'ipv4');
    return forbidden.check(address, 'ipv6');
  }
  return true;
}

export interface CallbackUrlPolicy {
  /** Host names or IPs (lower case) the rule does not apply to. */
  allowHosts: readonly string[];
}

function refuse(message: string): RpaError {
  return new RpaError('CALLBACK_URL_FORBIDDEN', message, { field: 'callback_url' });
}

/**
 * Parses a callback URL and refuses what can be judged without DNS: other schemes,
 * credentials in the URL, and hosts that are (in any spelling: `2130706433`, `0x7f.1`,
 * `[::ffff:127.0.0.1]`) a forbidden address or a localhost name. The WHATWG URL parser
 * normalises the numeric spellings to dotted IPv4 before we look.
 */
export function checkCallbackUrl(raw: string, policy: CallbackUrlPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse('callback_url must be an absolute http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refuse('callback_url must use http or https');
  if (url.username || url.password) throw refuse('callback_url must not carry credentials');
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (isAllowed(host, policy)) return url;
  if (isIP(host)) {
    if (isForbiddenAddress(host)) throw refuse(`callback_url host ${url.hostname} is a loopback, private, link-local or unspecified address`);
    return url;
  }
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local') || host.endsWith('.internal') || !host.includes('.')) {
    throw refuse(`callback_url host ${url.hostname} is not a public host name`);
  }
  return url;
}

/**
 * The check at delivery: resolves the host and refuses when any address it resolves to is
 * forbidden. Returns the address to connect to, so the request goes where we checked
 * (no second lookup an attacker could answer differently).
 */
export async function resolveCallbackTarget(raw: string, policy: CallbackUrlPolicy): Promise<{ url: URL; address: string; family: 4 | 6 }> {
  const url = checkCallbackUrl(raw, policy);
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const family = isIP(host);
  if (family === 4 || family === 6) return { url, address: host, family };
  let addresses: { address: string; family: number }[];
  try {
    addresses = await lookup(host, { all: true, verbatim: true });
  } catch (cause) {
    throw new RpaError('CALLBACK_FAILED', `callback host ${host} does not resolve`, { retryable: true, cause });
  }
  if (addresses.length === 0) throw new RpaError('CALLBACK_FAILED', `callback host ${host} does not resolve`, { retryable: true });
  if (!isAllowed(host, policy)) {
    const bad = addresses.find((a) => isForbiddenAddress(a.address));
    if (bad) throw refuse(`callback_url host ${host} resolves to a forbidden address (${bad.address})`);
  }
  const first = addresses[0]!;
  return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
}

function isAllowed(host: string, policy: CallbackUrlPolicy): boolean {
  return policy.allowHosts.includes(host);
}
