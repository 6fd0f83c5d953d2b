/**
 * trellis-demo: the live demo mesh that `npm start` runs beside the control plane (scripts/start.mjs starts it
 * once the control plane is ready, with --control-url). It starts the topology of topology.ts under supervision,
 * sends steady traffic through the ingress, prints what runs and how to reach it, then a traffic summary every
 * few seconds, so the canary split, load balancing and the flaky instance's retried failures show in the terminal.
 *
 * SIGINT/SIGTERM stop the traffic, then every process (SIGTERM, SIGKILL after a timeout), then exit 0. If the
 * control plane goes away, nothing here stops: the proxies keep serving from their last-known-good snapshots and
 * reconnect when it is back.
 */
import { parseArgs } from 'node:util';
import { DemoConfigError, loadDemoConfig } from './config.ts';
import { ensureServices, foreignEndpoints, issueJoinTokens, waitForControlPlane } from './control-api.ts';
import { type Mesh, PortInUseError, startMesh } from './launcher.ts';
import type { ExitInfo } from './supervisor.ts';
import { DEMO_INGRESS, DEMO_INSTANCES } from './topology.ts';
import { TrafficGenerator, type TrafficStats } from './traffic.ts';

const out = (line = '') => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/**
 * Prints children's lines, but not the same line of the same process again within a minute: during a control-plane
 * outage every proxy logs each failed reconnect, and one line per proxy says it all.
 */
function childPrinter(print: (line: string) => void): (name: string, line: string) => void {
  const lastPrinted = new Map<string, number>();
  return (name, line) => {
    const text = describeLine(name, line);
    const now = Date.now();
    if (now - (lastPrinted.get(text) ?? Number.NEGATIVE_INFINITY) < 60_000) return;
    lastPrinted.set(text, now);
    if (lastPrinted.size > 1000) lastPrinted.clear();
    print(text);
  };
}

/** A child's log line, shortened for a terminal: pino JSON becomes "level: message". */
function describeLine(name: string, line: string): string {
  try {
    const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
    const level = LEVELS[entry.level ?? 30] ?? 'info';
    const detail = entry.err?.message ? ` (${entry.err.message})` : '';
    return `[${name}] ${level}: ${entry.msg ?? line}${detail}`;
  } catch {
    return `[${name}] ${line}`;
  }
}

/** "service-b v1 181 · v2 19": the share of answers per version or instance of each service, since `before`. */
function splitSummary(now: TrafficStats, before: Record<string, number>): string {
  const parts: string[] = [];
  const services = [...new Set(DEMO_INSTANCES.map((i) => i.service))];
  for (const service of services) {
    const of = DEMO_INSTANCES.filter((i) => i.service === service);
    const versions = [...new Set(of.map((i) => i.version))];
    const keys = versions.length > 1 ? versions : of.length > 1 ? of.map((i) => i.instance) : [];
    if (keys.length === 0) continue;
    const counts = keys.map((k) => {
      const key = `${service} ${k}`;
      return `${k} ${(now.seen[key] ?? 0) - (before[key] ?? 0)}`;
    });
    parts.push(`${service} ${counts.join(' · ')}`);
  }
  return parts.join(' | ');
}

function banner(mesh: Mesh, controlUrl: string, rate: number, reportSeconds: number): string {
  const lines = [
    '',
    'Trellis demo mesh is up: ingress → service-a → service-b (v1, v2 canary) → service-c (×3, c-3 flaky)',
    `  try        curl -s ${mesh.ingressUrl}`,
    rate > 0
      ? `  traffic    ${rate} requests/s to the ingress${reportSeconds > 0 ? `, a summary every ${reportSeconds} s` : ''}`
      : '  traffic    off (TRELLIS_DEMO_RATE=0)',
    `  proxies    curl -s -H "authorization: Bearer $TRELLIS_TOKEN" ${controlUrl}/api/v1/proxies`,
    '  processes  (each proxy has an admin listener: /clusters, /config, /stats, /metrics)',
  ];
  if (mesh.ingress) {
    const g = mesh.ingress;
    lines.push(
      `    ${g.spec.instance.padEnd(10)} ${'gateway'.padEnd(13)} proxy pid ${String(g.proxy.pid).padEnd(7)} ingress :${g.ports.listener}  admin ${g.adminUrl}`,
    );
  }
  for (const i of mesh.instances) {
    lines.push(
      `    ${i.spec.instance.padEnd(10)} ${`${i.spec.service} ${i.spec.version}`.padEnd(13)} app pid ${String(i.app.pid).padEnd(7)} :${i.ports.app}   sidecar pid ${String(i.sidecar.pid).padEnd(7)} in :${i.ports.inbound} out :${i.ports.outbound}  admin ${i.adminUrl}`,
    );
  }
  lines.push('  Ctrl-C stops everything.', '');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'control-url': { type: 'string' },
      'stream-url': { type: 'string' },
      'control-plane-ca': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    out(
      'usage: trellis-demo [--control-url http://127.0.0.1:7070] [--stream-url wss://127.0.0.1:7443/api/v1/stream/proxy --control-plane-ca FILE]   (environment: TRELLIS_DEMO*, see README)',
    );
    return;
  }
  const config = loadDemoConfig(process.env, {
    ...(values['control-url'] ? { controlUrl: values['control-url'] } : {}),
    ...(values['stream-url'] ? { streamUrl: values['stream-url'] } : {}),
    ...(values['control-plane-ca'] ? { controlPlaneCa: values['control-plane-ca'] } : {}),
  });
  if (!config.enabled) {
    out('Trellis demo mesh is off (TRELLIS_DEMO=false)');
    return;
  }

  const startup = new AbortController();
  let mesh: Mesh | undefined;
  let traffic: TrafficGenerator | undefined;
  let report: NodeJS.Timeout | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    // A terminal's Ctrl-C reaches this process twice under `npm start` (from the terminal and forwarded by
    // start.mjs), so a repeated signal is ignored; the stop is bounded anyway (SIGKILL after the stop timeout).
    if (stopping) return;
    stopping = true;
    out(`[demo] ${signal}: stopping the demo mesh…`);
    clearInterval(report);
    startup.abort(new Error(`stopped by ${signal} during start-up`));
    (async () => {
      const stats = await traffic?.stop();
      await mesh?.stop();
      if (stats) out(`[demo] traffic in total: ${stats.sent} sent, ${stats.ok} ok, ${stats.failed} failed`);
      out('[demo] every demo process has stopped');
      process.exit(0);
    })().catch((error: Error) => {
      err(`[demo] stop failed: ${error.message}`);
      process.exit(1);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  await waitForControlPlane(config.controlUrl);
  const needed = [...new Set([...DEMO_INSTANCES.map((i) => i.service), DEMO_INGRESS.service])];
  const created = await ensureServices(config.controlUrl, needed, config.controlToken);
  if (created.length > 0)
    out(`[demo] created the services ${created.join(', ')} (this database lacked them)`);
  const foreign = await foreignEndpoints(config.controlUrl, needed, config.controlToken);
  if (foreign.length > 0) {
    err(
      `[demo] warning: endpoints not registered by a proxy point into the demo's services: ${foreign
        .map((e) => `${e.service} ${e.address}:${e.port} (${e.source})`)
        .join(', ')}; if nothing runs there, delete them (or delete .trellis/ to start over)`,
    );
  }

  const meshToken = config.joinToken;
  const perService = meshToken
    ? undefined
    : await issueJoinTokens(config.controlUrl, needed, config.controlToken, config.stateDir);
  const joinTokens = (service: string): string => {
    const token = meshToken ?? perService?.get(service);
    if (token === undefined) throw new Error(`no join token for service ${service}`);
    return token;
  };
  out(
    meshToken
      ? '[demo] warning: the proxies join with the mesh-wide TRELLIS_JOIN_TOKEN (any of them could claim any service)'
      : `[demo] made a join token for each service (${needed.join(', ')}); each admits its own service only`,
  );
  out('[demo] starting the demo mesh…');
  try {
    mesh = await startMesh({
      controlUrl: config.controlUrl,
      streamUrl: config.streamUrl,
      controlPlaneCa: config.controlPlaneCa,
      joinTokens,
      controlToken: config.controlToken,
      services: DEMO_INSTANCES,
      ingress: DEMO_INGRESS,
      stateDir: config.stateDir,
      basePort: config.basePort,
      proxyLogLevel: config.proxyLogLevel,
      onOutput: childPrinter(err),
      signal: startup.signal,
    });
  } catch (error) {
    if (stopping) return;
    if (error instanceof PortInUseError) {
      throw new Error(
        `${error.message}: set TRELLIS_DEMO_PORT_BASE to another base port, or 0 for free ports`,
      );
    }
    throw error;
  }
  for (const p of mesh.processes()) {
    p.on('exit', (exit: ExitInfo) => {
      if (exit.expected || stopping) return;
      err(
        `[demo] ${p.name} (pid ${exit.pid}) exited (${exit.signal ?? `code ${exit.code}`}); restarting in ${exit.restartInMs} ms`,
      );
    });
    p.on('ready', (pid: number) => {
      if (p.restarts > 0 && !stopping) out(`[demo] ${p.name} is back (pid ${pid}, restart ${p.restarts})`);
    });
  }
  if (config.requestsPerSecond > 0 && mesh.ingressUrl) {
    traffic = new TrafficGenerator({ url: mesh.ingressUrl, requestsPerSecond: config.requestsPerSecond });
    traffic.start();
  }
  out(banner(mesh, config.controlUrl, config.requestsPerSecond, config.reportSeconds));

  if (traffic && config.reportSeconds > 0) {
    const generator = traffic;
    let before = { sent: 0, ok: 0, failed: 0, seen: {} as Record<string, number>, statuses: {} };
    report = setInterval(() => {
      const now = generator.stats;
      const reasons = new Map<string, number>();
      for (const [status, n] of Object.entries(now.statuses)) {
        const delta = n - ((before.statuses as Record<string, number>)[status] ?? 0);
        if (status[0] !== '2' && delta > 0) reasons.set(status === '0' ? 'no answer' : status, delta);
      }
      const failed = now.failed - before.failed;
      const why = failed > 0 ? ` (${[...reasons].map(([r, n]) => `${r} ×${n}`).join(', ')})` : '';
      out(
        `[traffic] last ${config.reportSeconds} s: ${now.sent - before.sent} sent, ${now.ok - before.ok} ok, ${failed} failed${why} | ${splitSummary(now, before.seen)}`,
      );
      before = {
        sent: now.sent,
        ok: now.ok,
        failed: now.failed,
        seen: { ...now.seen },
        statuses: { ...now.statuses },
      };
    }, config.reportSeconds * 1000);
  }
}

main().catch((error: Error) => {
  if (error instanceof DemoConfigError) err(error.message);
  else err(`Trellis demo mesh failed to start: ${error.stack ?? error.message}`);
  process.exit(error instanceof DemoConfigError ? 2 : 1);
});
