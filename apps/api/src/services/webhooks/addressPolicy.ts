import { lookup, promises as dns, type LookupAddress, type LookupAllOptions } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";

/** A webhook URL that resolves to an address the service must not reach; retrying will not help. */
export class RefusedAddressError extends Error {
  constructor(host: string, address: string) {
    super(`refused to deliver to ${host} (${address}): loopback, private and link-local addresses are not allowed`);
  }
}

/** Addresses that are not on the public internet (RFC 6890 and friends), where a webhook could reach internal services. */
const nonPublic = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const)
  nonPublic.addSubnet(network, prefix, "ipv4");
// BlockList matches IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) against the IPv4 rules too.
for (const [network, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b:1::", 48],
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7],
  ["fe80::", 10],
  ["fec0::", 10],
  ["ff00::", 8],
] as const)
  nonPublic.addSubnet(network, prefix, "ipv6");

/** The 16 bytes of an IPv6 address (`::` expanded, a trailing dotted quad and a zone id allowed). */
function ipv6Bytes(address: string): number[] {
  let text = address.split("%")[0]!;
  const dotted = text.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  if (dotted) {
    const [a, b, c, d] = dotted[2]!.split(".").map(Number) as [number, number, number, number];
    text = `${dotted[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const parse = (part: string | undefined) => (part ? part.split(":").map((group) => parseInt(group, 16)) : []);
  const high = parse(head);
  const low = parse(tail);
  const groups = tail === undefined ? high : [...high, ...Array<number>(8 - high.length - low.length).fill(0), ...low];
  return groups.flatMap((group) => [group >> 8, group & 0xff]);
}

const startsWith = (bytes: number[], prefix: number[]) => prefix.every((byte, index) => bytes[index] === byte);
const zeros = (count: number) => Array<number>(count).fill(0);
const dottedQuad = (bytes: number[]) => bytes.join(".");

/**
 * The IPv4 addresses an IPv6 address carries, which a packet to it may end up at: IPv4-compatible
 * (::a.b.c.d), IPv4-mapped (::ffff:a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d), NAT64
 * (64:ff9b::a.b.c.d), 6to4 (2002:aabb:ccdd::) and Teredo (2001:0::, server and client).
 */
export function embeddedIpv4(address: string): string[] {
  const bytes = ipv6Bytes(address);
  if (startsWith(bytes, zeros(12))) return [dottedQuad(bytes.slice(12))];
  if (startsWith(bytes, [...zeros(10), 0xff, 0xff])) return [dottedQuad(bytes.slice(12))];
  if (startsWith(bytes, [...zeros(8), 0xff, 0xff, 0, 0])) return [dottedQuad(bytes.slice(12))];
  if (startsWith(bytes, [0, 0x64, 0xff, 0x9b, ...zeros(8)])) return [dottedQuad(bytes.slice(12))];
  if (startsWith(bytes, [0x20, 0x02])) return [dottedQuad(bytes.slice(2, 6))];
  if (startsWith(bytes, [0x20, 0x01, 0, 0])) return [dottedQuad(bytes.slice(4, 8)), dottedQuad(bytes.slice(12).map((byte) => byte ^ 0xff))];
  return [];
}

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) throw new Error(`${address} is not an IP address`);
  if (family === 4) return nonPublic.check(address, "ipv4");
  return nonPublic.check(address.split("%")[0]!, "ipv6") || embeddedIpv4(address).some((ipv4) => nonPublic.check(ipv4, "ipv4"));
}

/** How long a submit waits for DNS before leaving the check to delivery (which checks every connection). */
const SUBMIT_LOOKUP_TIMEOUT_MS = 2_000;

/**
 * Why a webhook URL is refused at submit, or null: credentials in it (they would be stored and
 * shown in the job; the secret signs deliveries instead), or a host that is, or resolves to, an
 * address delivery would refuse (the same classification). A name that does not resolve now is
 * let through: delivery resolves and checks again on every attempt.
 */
export async function webhookUrlProblem(url: string, allowPrivateAddresses: boolean): Promise<string | null> {
  const target = new URL(url);
  if (target.username || target.password)
    return "must not contain credentials (user:password@); use webhook.secret to authenticate deliveries";
  if (allowPrivateAddresses) return null;
  const literal = literalAddress(target.hostname);
  let addresses: string[];
  if (literal) addresses = [literal];
  else {
    const timeout = new Promise<null>((resolve) => setTimeout(resolve, SUBMIT_LOOKUP_TIMEOUT_MS, null).unref());
    const found = await Promise.race([dns.lookup(target.hostname, { all: true }).catch(() => null), timeout]);
    addresses = found?.map((entry) => entry.address) ?? [];
  }
  const refused = addresses.find(isPrivateAddress);
  if (!refused) return null;
  const what = literal ? `${target.hostname} is` : `${target.hostname} resolves to ${refused},`;
  return `${what} a loopback, private or link-local address; webhooks are not sent there`;
}

/** The host of a URL as an address, or null when it is a name (`[::1]` → `::1`). */
export function literalAddress(hostname: string): string | null {
  const bare = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
  return isIP(bare) ? bare : null;
}

/**
 * A `lookup` for http.request that refuses names resolving to a non-public address. The check
 * happens on the addresses the socket then connects to, so DNS rebinding between a check and
 * the connection cannot slip through.
 */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  lookup(hostname, { ...options, all: true } as LookupAllOptions, (error, addresses: LookupAddress[]) => {
    if (error) return callback(error, "", 0);
    const refused = addresses.find((entry) => isPrivateAddress(entry.address));
    if (refused) return callback(new RefusedAddressError(hostname, refused.address) as NodeJS.ErrnoException, "", 0);
    if (options.all) return (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, addresses);
    const [first] = addresses;
    callback(null, first!.address, first!.family);
  });
};
