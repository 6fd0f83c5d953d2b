// New mutual-TLS connections per second into a Trellis inbound listener: `--concurrency` clients, each in a loop
// of full TLS 1.3 handshakes (no session resumption) with the client certificate in `--identity`, one
// `GET /` with `Connection: close` per connection, for `--seconds`. Prints one JSON line:
// {"connections": n, "errors": n, "seconds": s, "firstError": string|null}.
//
//   node bench/proxy/handshakes.mjs --port 8443 --identity DIR --seconds 10 --concurrency 8
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    identity: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '8' },
  },
});
const port = Number(values.port);
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const read = (name) => fs.readFileSync(path.join(values.identity, name), 'utf8');
const context = tls.createSecureContext({
  key: read('key.pem'),
  cert: read('cert.pem'),
  ca: read('roots.pem'),
  minVersion: 'TLSv1.3',
});

function once() {
  return new Promise((resolve) => {
    let answer = '';
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      secureContext: context,
      // The peer's SPIFFE ID is the proxy's business; here any certificate from the bench root will do.
      checkServerIdentity: () => undefined,
    });
    socket.setEncoding('latin1');
    socket.once('secureConnect', () =>
      socket.write('GET / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n'),
    );
    socket.on('data', (chunk) => {
      answer += chunk;
    });
    socket.once('error', (error) => resolve(error.message));
    socket.once('close', () =>
      resolve(answer.startsWith('HTTP/1.1 200') ? null : `answered ${answer.slice(0, 40)}`),
    );
  });
}

let connections = 0;
let errors = 0;
let firstError = null;
const until = Date.now() + seconds * 1000;
const started = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (Date.now() < until) {
      const error = await once();
      if (error === null) connections += 1;
      else {
        errors += 1;
        firstError ??= error;
      }
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
process.stdout.write(`${JSON.stringify({ connections, errors, seconds: elapsed, firstError })}\n`);
