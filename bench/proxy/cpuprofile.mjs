// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per file/package.
// Bundled code (dist/trellis-proxy-bundle.mjs) is mapped back to its source files through the bundle's source map.
//
// Standalone: node bench/proxy/cpuprofile.mjs <file.cpuprofile> [topN]
import fs from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const maps = new Map();
function sourceMapFor(url) {
  if (!url.startsWith('file://')) return null;
  if (maps.has(url)) return maps.get(url);
  let map = null;
  try {
    const file = fileURLToPath(url);
    const mapFile = `${file}.map`;
    if (fs.existsSync(mapFile)) {
      map = { sm: new SourceMap(JSON.parse(fs.readFileSync(mapFile, 'utf8'))), dir: path.dirname(mapFile) };
    }
  } catch {}
  maps.set(url, map);
  return map;
}

/** A short place for a call frame: "packages/proxy/src/listeners/http.ts:123" or "node:internal/…:45". */
function place(frame) {
  const { url, lineNumber, columnNumber } = frame;
  if (!url) return { file: '', label: '' };
  const map = sourceMapFor(url);
  if (map && lineNumber >= 0) {
    const entry = map.sm.findEntry(lineNumber, columnNumber);
    if (entry?.originalSource) {
      const abs = entry.originalSource.startsWith('file://')
        ? fileURLToPath(entry.originalSource)
        : path.resolve(map.dir, entry.originalSource);
      const file = path.relative(ROOT, abs);
      return { file, label: `${file}:${entry.originalLine + 1}` };
    }
  }
  const file = url.startsWith('file://') ? path.relative(ROOT, fileURLToPath(url)) : url;
  return { file, label: `${file}:${lineNumber + 1}` };
}

/** The package or area a file belongs to, for the coarse breakdown. */
function area(file, functionName) {
  if (!file) return functionName.startsWith('(') ? functionName : '(native / V8 builtins)';
  if (file.startsWith('node:')) return 'node core';
  const nm = file.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const rest = file.slice(nm + 'node_modules/'.length).split('/');
    return `npm: ${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const m = /^packages\/([^/]+)\/src\/(?:([^/]+)\/)?/.exec(file);
  if (m) return `@trellis/${m[1]}${m[2] ? ` (src/${m[2]}/)` : ''}`;
  return file;
}

/** skipMs: ignore samples in the first skipMs of the profile (start-up and warm-up). */
export function summarizeProfile(profile, topN = 15, { skipMs = 0 } = {}) {
  const { nodes, samples, timeDeltas } = profile;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  // Each sample's duration is the delta to the next sample (as Chrome DevTools does).
  let at = 0;
  let firstAt = null;
  for (let i = 0; i < samples.length; i++) {
    at += timeDeltas[i] ?? 0;
    if (at < skipMs * 1000) continue;
    firstAt ??= at;
    const dt = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0;
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + Math.max(0, dt));
  }
  const fns = new Map();
  const areas = new Map();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const name = node.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idleUs += us;
      continue;
    }
    totalUs += us;
    const { file, label } = place(node.callFrame);
    const key = `${name}\u0000${label}`;
    const f = fns.get(key) ?? { function: name, location: label, selfUs: 0 };
    f.selfUs += us;
    fns.set(key, f);
    const a = area(file, name);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  const pct = (us) => (totalUs ? (us / totalUs) * 100 : 0);
  return {
    skippedMs: skipMs,
    wallMs: (profile.endTime - profile.startTime - (firstAt ?? 0)) / 1000,
    busyMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    top: [...fns.values()]
      .sort((a, b) => b.selfUs - a.selfUs)
      .slice(0, topN)
      .map((f) => ({ ...f, selfMs: f.selfUs / 1000, percent: pct(f.selfUs) })),
    byArea: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([name, us]) => ({ area: name, selfMs: us / 1000, percent: pct(us) })),
  };
}

export function profileMarkdown(summary) {
  const lines = [];
  lines.push(
    `Profiled ${(summary.wallMs / 1000).toFixed(1)} s wall` +
      `${summary.skippedMs ? ` (the first ${(summary.skippedMs / 1000).toFixed(1)} s, start-up and warm-up, left out)` : ''}, ` +
      `${(summary.busyMs / 1000).toFixed(2)} s on the main thread (idle ${(summary.idleMs / 1000).toFixed(2)} s ` +
      'excluded; GC helper threads are not sampled). Self time, % of on-thread time:',
  );
  lines.push('');
  lines.push('| # | self ms | % | function | location |');
  lines.push('|---:|---:|---:|---|---|');
  summary.top.forEach((f, i) => {
    lines.push(
      `| ${i + 1} | ${f.selfMs.toFixed(0)} | ${f.percent.toFixed(1)} | \`${f.function}\` | ${f.location || '—'} |`,
    );
  });
  lines.push('');
  lines.push('By area:');
  lines.push('');
  lines.push('| area | self ms | % |');
  lines.push('|---|---:|---:|');
  for (const a of summary.byArea)
    lines.push(`| ${a.area} | ${a.selfMs.toFixed(0)} | ${a.percent.toFixed(1)} |`);
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node bench/proxy/cpuprofile.mjs <file.cpuprofile> [topN]\n');
    process.exit(2);
  }
  const summary = summarizeProfile(JSON.parse(fs.readFileSync(file, 'utf8')), Number(process.argv[3] ?? 15));
  process.stdout.write(`${profileMarkdown(summary)}\n`);
}
