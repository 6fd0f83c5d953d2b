/**
 * GET /api/v1/proxies: every proxy and how far it has converged. A proxy streams from one control-plane replica,
 * which alone knows what it acknowledged, so this replica adds the others' answers (asked with `scope=local`,
 * in parallel, each with a deadline) to its own. A replica that cannot be asked is named in `replicas` with the
 * error, and the answer still comes: a partial list that says it is partial beats none.
 */
import { API_PREFIX, type ProxyStatus, ProxyStatusList, type ReplicaReport } from '@trellis/schema';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseWith } from '../../errors.ts';
import type { ReplicaRegistry } from '../../replicas.ts';
import type { ProxyStream } from '../../stream/hub.ts';

export const ProxiesQuery = z.strictObject({
  /** `local`: only the proxies streaming from this replica. */
  scope: z.enum(['all', 'local'], { error: 'must be "all" or "local"' }).default('all'),
});

const ASK_TIMEOUT_MS = 2000;

function keyOf(p: ProxyStatus): string {
  return `${p.node.service}/${p.node.instance}`;
}

/** Of two entries for one proxy (it moved between replicas), the connected one, else the latest. */
function better(a: ProxyStatus, b: ProxyStatus): ProxyStatus {
  const aUp = a.status !== 'DISCONNECTED';
  const bUp = b.status !== 'DISCONNECTED';
  if (aUp !== bUp) return aUp ? a : b;
  return Date.parse(b.connectedAt) > Date.parse(a.connectedAt) ? b : a;
}

/** Asks another replica, with the caller's own credentials (the replicas share the users and tokens). */
async function ask(
  replica: { id: string; url: string },
  credentials: Record<string, string>,
): Promise<ProxyStatus[]> {
  const res = await fetch(`${replica.url}${API_PREFIX}/proxies?scope=local`, {
    headers: credentials,
    signal: AbortSignal.timeout(ASK_TIMEOUT_MS),
  });
  if (!res.ok) throw new Error(`answered ${res.status}`);
  const parsed = ProxyStatusList.safeParse(await res.json());
  if (!parsed.success) throw new Error('answered something that is not a proxy list');
  // A wrong advertised URL (e.g. 127.0.0.1 on another host) reaches some other replica, often the asker itself.
  const answering = parsed.data.replicas[0]?.id;
  if (answering !== replica.id) {
    throw new Error(
      `another replica (${answering ?? 'unknown'}) answered at this URL; check TRELLIS_ADVERTISE_URL`,
    );
  }
  return parsed.data.items;
}

export function registerProxyRoutes(app: FastifyInstance, stream: ProxyStream, replicas?: ReplicaRegistry) {
  app.get(`${API_PREFIX}/proxies`, async (request): Promise<ProxyStatusList> => {
    const { scope } = parseWith(ProxiesQuery, request.query);
    const self = replicas?.self ?? { id: 'local', url: '' };
    const local = stream.list().map((p) => ({ ...p, replica: self.id }));
    const reports: ReplicaReport[] = [{ ...self, proxies: local.length, error: null }];
    if (scope === 'local' || !replicas) return { items: local, replicas: reports };

    const merged = new Map(local.map((p) => [keyOf(p), p]));
    const others = await replicas.others();
    const credentials: Record<string, string> = {};
    for (const name of ['authorization', 'cookie'] as const) {
      const value = request.headers[name];
      if (typeof value === 'string') credentials[name] = value;
    }
    const answers = await Promise.allSettled(others.map((r) => ask(r, credentials)));
    others.forEach((replica, i) => {
      const answer = answers[i];
      if (answer?.status === 'fulfilled') {
        for (const p of answer.value) {
          const seen = merged.get(keyOf(p));
          merged.set(keyOf(p), seen ? better(seen, p) : p);
        }
        reports.push({ ...replica, proxies: answer.value.length, error: null });
      } else {
        const reason = answer?.reason as Error | undefined;
        reports.push({ ...replica, proxies: 0, error: reason?.message ?? 'no answer' });
      }
    });
    const items = [...merged.values()].sort(
      (a, b) =>
        a.node.service.localeCompare(b.node.service) ||
        a.node.instance.localeCompare(b.node.instance) ||
        Date.parse(a.connectedAt) - Date.parse(b.connectedAt),
    );
    return { items, replicas: reports };
  });
}
