import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup } from 'node:dns/promises';
import { RpaError } from '../errors/failures.js';

/**
 * Addresses a callback must never reach: loopback, private, carrier-grade NAT, link-local
 * (cloud metadata 169.254.169.254 included), unique-local, site-local, unspecified, multicast,
 * reserved and documentation ranges, and the IPv6 transition prefixes (NAT64, Teredo) whose
 * far end we cannot judge. IPv6 forms that carry an IPv4 address (mapped, compatible,
 * translated, 6to4) are judged by the IPv4 address they carry (see embeddedIpv4).
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
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  forbidden.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 32],
  ['2001:10::', 28],
  ['2001:db8::', 32],
  ['3fff::', 20],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  forbidden.addSubnet(net, prefix, 'ipv6');
}

/** An IPv6 address as its eight 16-bit groups; undefined when it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  const bare = address.replace(/%.*$/, '');
  if (isIP(bare) !== 6) return undefined;
  let text = bare.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const groups = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 ? groups : undefined;
}

/**
 * The IPv4 address an IPv6 address carries: mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`
 * (`::` and `::1` included, which land in 0.0.0.0/8), translated `::ffff:0:a.b.c.d`, and
 * 6to4 `2002:AABB:CCDD::/48`.
 */
function embeddedIpv4(groups: number[]): string | undefined {
  const zero = (from: number, to: number) => groups.slice(from, to).every((g) => g === 0);
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  if (zero(0, 5) && groups[5] === 0xffff) return v4(groups[6]!, groups[7]!);
  if (zero(0, 6)) return v4(groups[6]!, groups[7]!);
  if (zero(0, 4) && groups[4] === 0xffff && groups[5] === 0) return v4(groups[6]!, groups[7]!);
  if (groups[0] === 0x2002) return v4(groups[1]!, groups[2]!);
  return undefined;
}

/** True when a callback must not go to this literal address (anything that is not an IP is refused too). */
export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return forbidden.check(address, 'ipv4');
  const groups = ipv6Groups(address);
  if (!groups) return true;
  const v4 = embeddedIpv4(groups);
  if (v4 !== undefined && forbidden.check(v4, 'ipv4')) return true;
  return forbidden.check(groups.map((g) => g.toString(16)).join(':'), 'ipv6');
}

export interface CallbackUrlPolicy {
  /**
   * CALLBACK_ALLOW_HOSTS: hosts (lower case) the address rule does not apply to. An entry
   * `host:port` also allows that port on that host; `host:*` any port (local tests only).
   */
  allowHosts: readonly string[];
  /** CALLBACK_ALLOW_PORTS: the ports any callback URL may name (default 80 and 443). */
  allowPorts?: readonly number[];
}

/** The policy the configuration sets (CALLBACK_ALLOW_HOSTS, CALLBACK_ALLOW_PORTS). */
export function callbackPolicyFromConfig(config: { callbackAllowHosts: readonly string[]; callbackAllowPorts: readonly number[] }): CallbackUrlPolicy {
  return { allowHosts: config.callbackAllowHosts, allowPorts: config.callbackAllowPorts };
}

export const DEFAULT_CALLBACK_PORTS: readonly number[] = [80, 443];

/** One CALLBACK_ALLOW_HOSTS entry: the host as the rules compare it, and the port it adds. */
interface AllowedHost {
  host: string;
  port?: number | '*';
}

function normaliseHost(host: string): string {
  return host.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
}

/** `host`, `host:port`, `host:*`, `[v6]`, `[v6]:port`, or a bare IPv6 address (no port). */
export function parseAllowedHost(entry: string): AllowedHost {
  const text = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}|\*))?$/.exec(text);
  if (bracketed) return { host: normaliseHost(bracketed[1]!), port: portOf(bracketed[2]) };
  if (isIP(text)) return { host: normaliseHost(text) };
  const withPort = /^(.*):(\d{1,5}|\*)$/.exec(text);
  if (withPort) return { host: normaliseHost(withPort[1]!), port: portOf(withPort[2]) };
  return { host: normaliseHost(text) };
}

function portOf(text: string | undefined): number | '*' | undefined {
  if (text === undefined) return undefined;
  return text === '*' ? '*' : Number(text);
}

/** One resolved address, as `dns.lookup(host, { all: true })` returns them. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to all its addresses. The default is the system resolver (`dns.lookup`). */
export type HostLookup = (hostname: string) => Promise<readonly ResolvedAddress[]>;

const systemLookup: HostLookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** Where a callback goes: the URL, and the one address that was checked and must be connected to. */
export interface CallbackTarget {
  url: URL;
  address: string;
  family: 4 | 6;
}

function refuse(message: string): RpaError {
  return new RpaError('CALLBACK_URL_FORBIDDEN', message, { field: 'callback_url' });
}

/** The URL's host as the rules compare it: no IPv6 brackets, lower case, no trailing dot. */
function hostOf(url: URL): string {
  return normaliseHost(url.hostname);
}

/** The port a request to `url` goes to (the scheme's default when it names none). */
function portOfUrl(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

function portAllowed(host: string, port: number, policy: CallbackUrlPolicy): boolean {
  if ((policy.allowPorts ?? DEFAULT_CALLBACK_PORTS).includes(port)) return true;
  return policy.allowHosts.map(parseAllowedHost).some((entry) => entry.host === host && (entry.port === '*' || entry.port === port));
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
  const host = hostOf(url);
  // Ports first, allowed hosts included: an open port list on an internal host is a port scanner.
  const port = portOfUrl(url);
  if (!portAllowed(host, port, policy)) {
    throw refuse(`callback_url port ${port} is not allowed (callbacks go to port ${(policy.allowPorts ?? DEFAULT_CALLBACK_PORTS).join(', ')})`);
  }
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
 * (no second lookup an attacker could answer differently). A refusal is an RpaError
 * `CALLBACK_URL_FORBIDDEN` (final); a host that does not resolve is `CALLBACK_FAILED` (tried again).
 */
export async function resolveCallbackTarget(
  raw: string,
  policy: CallbackUrlPolicy,
  options: { lookup?: HostLookup } = {},
): Promise<CallbackTarget> {
  const url = checkCallbackUrl(raw, policy);
  const host = hostOf(url);
  const literal = isIP(host);
  if (literal === 4 || literal === 6) return { url, address: host, family: literal };
  let addresses: readonly ResolvedAddress[];
  try {
    addresses = await (options.lookup ?? systemLookup)(host);
  } catch (cause) {
    throw new RpaError('CALLBACK_FAILED', `callback host ${host} does not resolve`, { cause });
  }
  if (addresses.length === 0) throw new RpaError('CALLBACK_FAILED', `callback host ${host} does not resolve`);
  if (!isAllowed(host, policy)) {
    const bad = addresses.find((a) => isForbiddenAddress(a.address));
    // The address stays out of the message (the submitter sees it): an internal name's address is
    // for the operators' log (details.address), not for whoever chose the URL.
    if (bad) throw new RpaError('CALLBACK_URL_FORBIDDEN', `callback_url host ${host} resolves to a loopback, private, link-local or other internal address`, { field: 'callback_url', details: { address: bad.address } });
  }
  const first = addresses[0]!;
  const family = isIP(first.address);
  if (family !== 4 && family !== 6) throw refuse(`callback_url host ${host} resolves to something that is not an IP address`);
  return { url, address: first.address, family };
}

function isAllowed(host: string, policy: CallbackUrlPolicy): boolean {
  return policy.allowHosts.some((allowed) => parseAllowedHost(allowed).host === host);
}
