// Workload identities for the benchmark's mTLS scenario, made the way the proxy's tests make them
// (packages/proxy/test/support/ca.ts): one throw-away root, and for each service a key and a certificate naming
// spiffe://<trust domain>/ns/default/sa/<service>, in <out>/<service>/{cert,key,roots}.pem — the files
// `trellis-proxy --identity-dir` reads. Run with tsx (it imports TypeScript):
//
//   node_modules/.bin/tsx bench/proxy/certs.mjs --out DIR --trust-domain bench.local svc bench-client
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { issuedFiles, makeRoot } from '../../packages/proxy/test/support/ca.ts';
import { spiffeId } from '../../packages/schema/src/identity.ts';

const { values, positionals } = parseArgs({
  options: { out: { type: 'string' }, 'trust-domain': { type: 'string', default: 'bench.local' } },
  allowPositionals: true,
});
if (!values.out || positionals.length === 0) {
  process.stderr.write('certs.mjs: --out DIR and at least one service are required\n');
  process.exit(2);
}
const root = await makeRoot();
for (const service of positionals) {
  const dir = path.join(values.out, service);
  await fs.mkdir(dir, { recursive: true });
  const { keyPem, certPem } = await issuedFiles(root, spiffeId(values['trust-domain'], service));
  await fs.writeFile(path.join(dir, 'key.pem'), keyPem, { mode: 0o600 });
  await fs.writeFile(path.join(dir, 'cert.pem'), certPem);
  await fs.writeFile(path.join(dir, 'roots.pem'), root.pem);
}
