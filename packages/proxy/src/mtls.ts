/**
 * Mutual TLS between sidecars, with the certificates of the proxy's workload identity (identity.ts). The outbound
 * side connects to another mesh proxy's inbound listener over TLS 1.3, presents its own certificate and accepts
 * the peer only if it is the destination service's SPIFFE ID, signed by a root of the mesh. The inbound side
 * reads the caller's identity from its certificate instead of trusting a header.
 *
 * Modes, as Istio's PeerAuthentication: inbound listeners accept TLS and plaintext on the same port, telling them
 * apart by the first byte a client sends (a TLS handshake starts with 0x16), except in `strict` mode, which
 * refuses plaintext. Outbound, `off` (the default for now) calls other sidecars in plaintext, `permissive` with
 * mutual TLS but in plaintext to a sidecar that cuts the handshake off (no certificate yet), `strict` with mutual
 * TLS only. Until the proxy holds a certificate, it neither offers nor requires TLS (strict inbound listeners
 * refuse connections until then).
 *
 * Certificates change at each renewal: a new server context is used for new connections, and outbound pools
 * are keyed by the certificate generation, so new requests use the new certificate while old connections finish.
 */
import type { Server, Socket } from 'node:net';
import tls from 'node:tls';
import { parseSpiffeId, spiffeId } from '@trellis/schema';
import type { IdentityManager, WorkloadCertificate } from './identity.ts';

export type MtlsMode = 'off' | 'permissive' | 'strict';

/** The first byte of a TLS record carrying a handshake. */
const TLS_HANDSHAKE = 0x16;

export interface ClientTls {
  /** Changes with every certificate: part of the pool key. */
  generation: number;
  connect: tls.ConnectionOptions;
  /** Permissive mode: a peer that refuses the TLS handshake is reached in plaintext. */
  fallback: boolean;
}

/** A certificate, its key and the roots to trust, as node:tls takes them; `generation` counts renewals. */
export interface TlsMaterial {
  generation: number;
  key: string;
  cert: string;
  ca: string[];
  /**
   * The same, parsed once: every outbound handshake reuses it, where passing the PEM strings would parse the key,
   * the chain and the roots again for each new connection (about 1.5 ms of CPU each on this class of machine).
   */
  context: tls.SecureContext;
}

export class MeshTls {
  private material: TlsMaterial | undefined;
  generation = 0;

  constructor(
    readonly trustDomain: string,
    identity?: IdentityManager,
  ) {
    if (identity) {
      if (identity.current) this.install(identity.current);
      identity.onChange((cert) => this.install(cert));
    }
  }

  install(cert: WorkloadCertificate): void {
    this.generation += 1;
    const key = cert.keyPem;
    const chain = cert.chainPem.join('');
    const ca = cert.rootsPem;
    this.material = {
      generation: this.generation,
      key,
      cert: chain,
      ca,
      context: tls.createSecureContext({ key, cert: chain, ca, minVersion: 'TLSv1.3' }),
    };
  }

  get ready(): boolean {
    return this.material !== undefined;
  }

  /** What an inbound listener serves TLS with; undefined until the first certificate. */
  get server(): TlsMaterial | undefined {
    return this.material;
  }

  /** How to connect to a sidecar of `service`: only its identity is accepted. Undefined without a certificate. */
  client(service: string, mode: MtlsMode): ClientTls | undefined {
    const material = this.material;
    if (!material) return undefined;
    const expected = spiffeId(this.trustDomain, service);
    const { generation, context } = material;
    return {
      generation,
      fallback: mode !== 'strict',
      connect: {
        secureContext: context,
        minVersion: 'TLSv1.3',
        rejectUnauthorized: true,
        checkServerIdentity: (_host, peer) =>
          peer.subjectaltname === `URI:${expected}`
            ? undefined
            : new Error(`the peer is ${peer.subjectaltname ?? 'nobody'}, not ${expected}`),
      },
    };
  }
}

/** The SPIFFE ID a verified TLS peer presented, if the connection is mutual TLS. */
function peerIdentity(socket: Socket): string | undefined {
  if (!(socket instanceof tls.TLSSocket) || !socket.authorized) return undefined;
  const san = socket.getPeerCertificate().subjectaltname ?? '';
  const uri = san.split(', ').find((name) => name.startsWith('URI:'));
  return uri?.slice(4);
}

/** A verified caller: its SPIFFE ID, and the service it names in this trust domain. */
export interface Peer {
  identity: string;
  service: string | undefined;
}

const PEERS = new WeakMap<Socket, Peer | null>();

/**
 * The verified peer of a mutual-TLS connection (undefined for plaintext). Its certificate cannot change on the
 * connection, so it is read and parsed once per connection, not on every request it carries.
 */
export function connectionPeer(socket: Socket, trustDomain: string): Peer | undefined {
  let peer = PEERS.get(socket);
  if (peer === undefined) {
    const identity = peerIdentity(socket);
    const parsed = identity ? parseSpiffeId(identity) : null;
    peer = identity
      ? { identity, service: parsed && parsed.trustDomain === trustDomain ? parsed.service : undefined }
      : null;
    PEERS.set(socket, peer);
  }
  return peer ?? undefined;
}

/**
 * Makes an HTTP server accept mutual TLS (and, when permissive, plaintext) on its port: each new connection's
 * first byte decides. TLS connections go through a node:tls server of their own (which verifies the client's
 * certificate against the mesh roots and refuses the handshake otherwise) and then, decrypted, to the HTTP
 * server. A renewal swaps the certificate for new handshakes; established connections keep theirs.
 */
export function acceptMeshConnections(
  server: Server,
  material: () => TlsMaterial | undefined,
  mode: () => MtlsMode,
): void {
  const handlers = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  const hand = (socket: Socket) => {
    for (const handler of handlers) handler.call(server, socket);
  };
  let tlsServer: tls.Server | undefined;
  let installed = 0;
  const secureServer = (m: TlsMaterial): tls.Server => {
    const options = { key: m.key, cert: m.cert, ca: m.ca };
    if (!tlsServer) {
      tlsServer = tls.createServer({
        ...options,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
      });
      tlsServer.on('secureConnection', (secure) => hand(secure));
      tlsServer.on('tlsClientError', (_error, socket) => socket.destroy());
    } else if (installed !== m.generation) {
      tlsServer.setSecureContext({ ...options, minVersion: 'TLSv1.3' });
    }
    installed = m.generation;
    return tlsServer;
  };
  server.on('connection', (socket: Socket) => {
    socket.once('error', () => socket.destroy());
    socket.once('readable', () => {
      const first = socket.read(1) as Buffer | null;
      if (first === null) {
        socket.destroy();
        return;
      }
      socket.unshift(first);
      const m = material();
      if (first[0] === TLS_HANDSHAKE && m) {
        secureServer(m).emit('connection', socket);
        return;
      }
      if (mode() === 'strict' || first[0] === TLS_HANDSHAKE) {
        socket.destroy();
        return;
      }
      hand(socket);
    });
  });
}
