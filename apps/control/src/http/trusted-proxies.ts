/**
 * Which peers may say who the client is. X-Forwarded-For (and -Host, -Proto) is believed only from the addresses
 * configured in TRELLIS_TRUSTED_PROXIES, such as the console's server, which forwards each browser's address; from
 * any other peer it is ignored. A caller who could name its own address would escape the login limit, and one
 * proxy that is not believed makes every client behind it one client to that limit.
 */
import { BlockList, isIP } from 'node:net';

/** Every loopback address (127.0.0.0/8 and ::1): a console on the same machine. */
export const LOOPBACK = 'loopback';

const CIDR = /^(.+)\/(\d{1,3})$/;

/** Whether `entry` is an IP address, a CIDR range (`10.0.0.0/8`, `fd00::/8`) or `loopback`. */
export function isProxyEntry(entry: string): boolean {
  if (entry === LOOPBACK) return true;
  const range = CIDR.exec(entry);
  if (!range) return isIP(entry) !== 0;
  const family = isIP(range[1] as string);
  return family !== 0 && Number(range[2]) <= (family === 4 ? 32 : 128);
}

/** `::ffff:10.0.0.1` (IPv4 on a dual-stack socket) as the IPv4 address it is. */
function plain(address: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}

/** Whether a peer address is one of `entries` (checked with isProxyEntry), in the shape fastify's trustProxy takes. */
export function trustedProxies(entries: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    if (entry === LOOPBACK) {
      list.addSubnet('127.0.0.0', 8, 'ipv4');
      list.addAddress('::1', 'ipv6');
      continue;
    }
    const range = CIDR.exec(entry);
    const address = plain(range ? (range[1] as string) : entry);
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (range) list.addSubnet(address, Number(range[2]), type);
    else list.addAddress(address, type);
  }
  return (address) => {
    const peer = plain(address);
    const family = isIP(peer);
    return family !== 0 && list.check(peer, family === 6 ? 'ipv6' : 'ipv4');
  };
}
