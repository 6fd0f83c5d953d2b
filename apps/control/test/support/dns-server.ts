/**
 * A tiny authoritative DNS server for tests, on 127.0.0.1 UDP port 0: answers A, AAAA and SRV queries from
 * records a test sets (with the TTLs it chooses), or NXDOMAIN / SERVFAIL, and counts queries so a test can wait
 * for the next lookup instead of sleeping. Only the few record types discovery asks for are encoded, by hand
 * (RFC 1035 §4.1, RFC 3596, RFC 2782).
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

export type RecordType = 'A' | 'AAAA' | 'SRV';

export interface AddressRecord {
  address: string;
  ttl: number;
}

export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  target: string;
  ttl: number;
}

export type Answer<T> = T[] | 'NXDOMAIN' | 'SERVFAIL';

const TYPES: Record<number, RecordType> = { 1: 'A', 28: 'AAAA', 33: 'SRV' };
const CODES: Record<RecordType, number> = { A: 1, AAAA: 28, SRV: 33 };
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;

function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  return Buffer.concat([
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])),
    Buffer.from([0]),
  ]);
}

/** Reads the (uncompressed) question name at `offset`; returns it and where the question's type starts. */
function decodeName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let at = offset;
  for (;;) {
    const len = msg[at];
    if (len === undefined) throw new Error('truncated name');
    at += 1;
    if (len === 0) break;
    labels.push(msg.subarray(at, at + len).toString('latin1'));
    at += len;
  }
  return { name: labels.join('.').toLowerCase(), end: at };
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => {
    out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  });
  return out;
}

function rdata(type: RecordType, record: AddressRecord | SrvRecord): Buffer {
  if (type === 'A') return Buffer.from((record as AddressRecord).address.split('.').map(Number));
  if (type === 'AAAA') return ipv6Bytes((record as AddressRecord).address);
  const srv = record as SrvRecord;
  const head = Buffer.alloc(6);
  head.writeUInt16BE(srv.priority, 0);
  head.writeUInt16BE(srv.weight, 2);
  head.writeUInt16BE(srv.port, 4);
  return Buffer.concat([head, encodeName(srv.target)]);
}

function answerRecord(type: RecordType, record: AddressRecord | SrvRecord): Buffer {
  const data = rdata(type, record);
  const fixed = Buffer.alloc(12);
  fixed.writeUInt16BE(0xc00c, 0); // a pointer to the question's name
  fixed.writeUInt16BE(CODES[type], 2);
  fixed.writeUInt16BE(1, 4); // class IN
  fixed.writeUInt32BE(record.ttl, 6);
  fixed.writeUInt16BE(data.length, 10);
  return Buffer.concat([fixed, data]);
}

export class TestDnsServer {
  private readonly zone = new Map<string, Answer<AddressRecord | SrvRecord>>();
  private readonly counts = new Map<string, number>();
  private readonly waiters: (() => void)[] = [];

  private constructor(
    private readonly socket: Socket,
    readonly port: number,
  ) {}

  static async start(): Promise<TestDnsServer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => resolve());
    });
    const server = new TestDnsServer(socket, socket.address().port);
    socket.on('message', (msg, peer) => {
      const reply = server.reply(msg);
      if (reply) socket.send(reply, peer.port, peer.address);
    });
    return server;
  }

  /** "127.0.0.1:port", for Resolver.setServers / TRELLIS_DNS_SERVERS. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  set(name: string, type: 'A' | 'AAAA', answer: Answer<AddressRecord>): void;
  set(name: string, type: 'SRV', answer: Answer<SrvRecord>): void;
  set(name: string, type: RecordType, answer: Answer<AddressRecord | SrvRecord>): void {
    this.zone.set(`${name.toLowerCase()} ${type}`, answer);
  }

  /** How many queries for `name` and `type` have been answered. */
  queries(name: string, type: RecordType): number {
    return this.counts.get(`${name.toLowerCase()} ${type}`) ?? 0;
  }

  /** Resolves once `name`/`type` has been answered more than `count` times (the next lookup after now). */
  async queried(name: string, type: RecordType, count = this.queries(name, type)): Promise<void> {
    while (this.queries(name, type) <= count)
      await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private reply(msg: Buffer): Buffer | undefined {
    if (msg.length < 12) return undefined;
    const { name, end } = decodeName(msg, 12);
    const type = TYPES[msg.readUInt16BE(end)];
    const question = msg.subarray(12, end + 4);
    const key = `${name} ${type}`;
    // Names the test set for another type exist (NODATA); names it never set do not (NXDOMAIN).
    const known = [...this.zone.keys()].some((k) => k.startsWith(`${name} `));
    const answer = type ? this.zone.get(key) : undefined;
    const records = Array.isArray(answer) ? answer : [];
    let rcode: number = RCODE.NOERROR;
    if (answer === 'SERVFAIL') rcode = RCODE.SERVFAIL;
    else if (answer === 'NXDOMAIN' || (answer === undefined && !known)) rcode = RCODE.NXDOMAIN;
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0); // id
    header.writeUInt16BE(0x8000 | 0x0400 | (msg.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(rcode === RCODE.NOERROR ? records.length : 0, 6);
    const body = rcode === RCODE.NOERROR && type ? records.map((r) => answerRecord(type, r)) : [];
    if (type) this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    for (const wake of this.waiters.splice(0)) wake();
    return Buffer.concat([header, question, ...body]);
  }
}

/** An A or AAAA record (by the address's family) — a shorthand for tests. */
export function addr(address: string, ttl = 60): AddressRecord {
  if (!isIPv4(address) && !isIPv6(address)) throw new Error(`not an IP address: ${address}`);
  return { address, ttl };
}
