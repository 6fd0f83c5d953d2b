/**
 * A worker process of `trellis-proxy --workers N`: one proxy carrying traffic on listening sockets it shares with
 * its siblings (the primary owns them; the kernel hands each new connection to one of the workers waiting in
 * accept). It has no admin listener, no control-plane stream and no file watch of its own: its config, its
 * certificate and every change to them come from the primary, its telemetry goes back there, and the primary
 * asks it for the admin pages it merges.
 *
 * SIGINT (a terminal's Ctrl-C reaches the whole process group) is left to the primary, which first leaves the
 * control plane and then tells every worker to drain. SIGTERM to a worker alone, or the loss of the primary,
 * makes that worker drain and exit.
 */
import { type Logger, pino } from 'pino';
import type { AdminSource } from '../admin.ts';
import type { CliOptions } from '../cli.ts';
import { IdentityManager } from '../identity.ts';
import { createProxy, ProxyConfigError, type TrellisProxy } from '../proxy.ts';
import { type FromWorker, type ToWorker, WORKER_ENV, type WorkerCertificate } from './messages.ts';

function send(message: FromWorker, then?: () => void): void {
  if (process.connected) process.send?.(message, undefined, undefined, then);
  else then?.();
}

export async function runWorker(options: CliOptions): Promise<void> {
  const log = pino({
    level: options.logLevel,
    base: { service: 'trellis-proxy', worker: Number(process.env[WORKER_ENV] ?? 0), pid: process.pid },
  });
  let proxy: TrellisProxy | undefined;
  let admin: AdminSource | undefined;
  let identity: IdentityManager | undefined;
  let stopping = false;
  const queued: ToWorker[] = [];

  const stop = () => {
    if (stopping) return;
    stopping = true;
    (proxy ? proxy.close() : Promise.resolve()).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => {});
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);

  const install = (certificate: WorkerCertificate) => {
    if (!proxy) return;
    if (!identity) {
      identity = new IdentityManager({
        service: proxy.snapshot.config.node.service,
        trustDomain: options.trustDomain,
        logger: log,
      });
      proxy.useIdentity(identity);
    }
    const installed = identity.installIssued(certificate.keyPem, certificate.chainPem, certificate.rootsPem);
    if (!installed.ok) log.error({ error: installed.error }, 'the certificate from the primary was refused');
  };

  const handle = (message: ToWorker, running: TrellisProxy, source: AdminSource) => {
    switch (message.type) {
      case 'apply':
        running.apply(message.config).then((result) => send({ type: 'applied', id: message.id, result }));
        return;
      case 'certificate':
        install(message.certificate);
        return;
      case 'admin':
        Promise.resolve()
          .then(() => (message.page === 'metrics' ? source.metrics() : source[message.page]()))
          .then(
            (value) => send({ type: 'admin', id: message.id, value }),
            (error: Error) => send({ type: 'admin', id: message.id, error: error.message }),
          );
        return;
      case 'drain':
        stop();
        return;
      case 'start':
        return;
    }
  };

  process.on('message', (message: ToWorker) => {
    if (message.type === 'start') {
      void start(message.config, message.certificate, log);
      return;
    }
    if (proxy && admin) handle(message, proxy, admin);
    else queued.push(message);
  });

  const start = async (config: unknown, certificate: WorkerCertificate | undefined, logger: Logger) => {
    if (proxy || stopping) return;
    try {
      proxy = await createProxy(config, {
        sink: { publish: (frame) => send({ type: 'telemetry', frame }) },
        logger,
        drainTimeoutMs: options.drainTimeoutMs,
        accessLog: options.accessLog,
        processMetrics: true,
      });
    } catch (error) {
      const errors = error instanceof ProxyConfigError ? error.errors : [];
      stopping = true;
      send({ type: 'failed', message: (error as Error).message, errors }, () => process.exit(1));
      return;
    }
    admin = proxy.adminSource();
    if (certificate) install(certificate);
    if (stopping) {
      await proxy.close();
      return;
    }
    send({ type: 'ready', revision: proxy.snapshot.config.revision });
    for (const message of queued.splice(0)) handle(message, proxy, admin);
  };
  send({ type: 'hello' });
}
