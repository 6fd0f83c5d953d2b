// The console benchmark: `npm run bench:console` (see bench/console/README.md). Run it after `npm run build`: it
// builds nothing and measures the console build that is there.
//
// For each scale (100 services / 300 calls as a baseline, then 1,000 / 3,000), against a fake control plane
// (bench/console/fake-control.mjs) serving a generated mesh whose numbers change every second:
//   1. starts the built console (apps/console/scripts/serve.mjs, a free port) pointed at it,
//   2. opens the topology page in Debian's Chromium (through @playwright/test's `chromium`, with the e2e flags),
//   3. measures: time from navigation to the graph drawn (the graph's `data-ready`, all nodes laid out), the elkjs
//      layout time (the graph's `data-layout-ms`), frame rate and long tasks while panning (mouse drags over the
//      canvas, frames counted with requestAnimationFrame), fitted to the whole graph and zoomed in to 1:1 where
//      labels and the flow animation are drawn, the main-thread work each per-second update costs (Chrome's
//      task/script/layout/style durations over a quiet window, divided by the topology reads in it), and the JS heap.
// Writes bench/results/console-latest.{md,json}.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from '@playwright/test';
import ELK from 'elkjs/lib/elk.bundled.js';
import { commandLine, writeReport } from '../report.mjs';
import { generateMesh, startFakeControl } from './fake-control.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const CONSOLE_DIR = path.join(ROOT, 'apps/console');
const DEBIAN_CHROMIUM = '/usr/bin/chromium';
/** As in e2e/playwright.config.ts. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

const TARGETS = { firstRenderMs: 3000, panFps: 30, updateMainThreadMs: 50 };

const { values: flags } = parseArgs({
  options: {
    scales: { type: 'string' },
    'quiet-seconds': { type: 'string' },
    'pan-seconds': { type: 'string' },
  },
});
const scales = (flags.scales ?? '100:300,1000:3000').split(',').map((s) => {
  const [services, edges] = s.split(':').map(Number);
  if (!(services > 0 && edges >= 0)) throw new Error(`--scales: "services:edges,…", got ${s}`);
  return { services, edges };
});
const quietSeconds = Number(flags['quiet-seconds'] ?? 10);
const panSeconds = Number(flags['pan-seconds'] ?? 4);

function log(message) {
  process.stdout.write(`[bench:console] ${message}\n`);
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms);
    }),
  ]);
}

/**
 * How long elkjs takes for the mesh in Node, with the options of apps/console/src/features/topology/layout.ts: the
 * console lays out graphs above 60 services with its own fast layout, and this says why.
 */
async function elkMs(mesh) {
  const started = performance.now();
  await new ELK().layout({
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.spacing.nodeNode': '48',
      'elk.layered.spacing.nodeNodeBetweenLayers': '200',
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
    },
    children: mesh.names.map((id) => ({ id, width: 190, height: 64 })),
    edges: mesh.calls.map(([s, d]) => ({ id: `${s}>${d}`, sources: [s], targets: [d] })),
  });
  return performance.now() - started;
}

/** The built console on a free port, pointed at `controlUrl`; resolves to { url, stop() }. */
async function startConsole(controlUrl) {
  const child = spawn(process.execPath, [path.join(CONSOLE_DIR, 'scripts/serve.mjs'), '--port', '0'], {
    cwd: CONSOLE_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TRELLIS_CONSOLE_CONTROL_URL: controlUrl, NEXT_TELEMETRY_DISABLED: '1' },
  });
  const output = [];
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = await withTimeout(
    new Promise((resolve, reject) => {
      const onData = (chunk) => {
        output.push(chunk.toString());
        const m = /Trellis console is up: (\S+)/.exec(output.join(''));
        if (m) resolve(m[1]);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', (chunk) => output.push(chunk.toString()));
      exited.then((code) => reject(new Error(`the console exited (${code}):\n${output.join('')}`)));
    }),
    60_000,
    'starting the console',
  );
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await withTimeout(exited, 5000, 'stopping the console').catch(() => child.kill('SIGKILL'));
    },
  };
}

/** Chrome's cumulative main-thread durations (seconds) and heap, from the DevTools protocol. */
async function metrics(cdp) {
  const { metrics: list } = await cdp.send('Performance.getMetrics');
  return Object.fromEntries(list.map((m) => [m.name, m.value]));
}

/** Counts frames and long tasks in the page until the returned function is awaited. */
async function startFrameCounter(page) {
  await page.evaluate(() => {
    const state = { frames: 0, maxGap: 0, last: performance.now(), start: performance.now(), longTasks: [] };
    const tick = (now) => {
      state.maxGap = Math.max(state.maxGap, now - state.last);
      state.last = now;
      state.frames++;
      if (!state.stopped) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    state.observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) state.longTasks.push(e.duration);
    });
    state.observer.observe({ type: 'longtask' });
    window.__benchFrames = state;
  });
  return () =>
    page.evaluate(() => {
      const s = window.__benchFrames;
      s.stopped = true;
      s.observer.disconnect();
      const seconds = (performance.now() - s.start) / 1000;
      return {
        fps: s.frames / seconds,
        worstFrameMs: s.maxGap,
        longTasks: s.longTasks.length,
        longTaskMs: s.longTasks.reduce((a, b) => a + b, 0),
        longestTaskMs: Math.max(0, ...s.longTasks),
      };
    });
}

/** Drags the canvas back and forth for `seconds`, in small mouse steps, and returns the frame statistics. */
async function pan(page, seconds) {
  const pane = page.locator('.react-flow__pane');
  const box = await pane.boundingBox();
  if (!box) throw new Error('no React Flow pane to pan');
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const stop = await startFrameCounter(page);
  const until = Date.now() + seconds * 1000;
  let direction = 1;
  while (Date.now() < until) {
    await page.mouse.move(cx - 150 * direction, cy - 60 * direction);
    await page.mouse.down();
    await page.mouse.move(cx + 150 * direction, cy + 60 * direction, { steps: 20 });
    await page.mouse.up();
    direction = -direction;
  }
  return stop();
}

async function zoomLevel(page) {
  const style = await page.locator('.react-flow__viewport').getAttribute('style');
  const m = /scale\(([\d.]+)\)/.exec(style ?? '');
  return m ? Number(m[1]) : null;
}

async function measureScale(browser, scale) {
  const loadBefore = os.loadavg()[0];
  const mesh = generateMesh(scale.services, scale.edges);
  const control = await startFakeControl(mesh);
  const consoleApp = await startConsole(control.url);
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  // The console sends a browser without a session cookie to its login page; the fake control plane accepts any.
  await context.addCookies([{ name: 'trellis_session', value: 'bench', url: consoleApp.url }]);
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  try {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    log(`${scale.services} services / ${mesh.calls.length} calls: opening the topology`);

    // First render: performance.now() is measured from the navigation's start.
    await page.goto(`${consoleApp.url}/`, { waitUntil: 'commit' });
    const firstRenderMs = await page.waitForFunction(
      () => {
        const graph = document.querySelector('[data-testid="topology-graph"][data-ready="true"]');
        return graph && document.querySelector('.react-flow__node') ? performance.now() : false;
      },
      null,
      { timeout: 120_000, polling: 'raf' },
    );
    const firstRender = await firstRenderMs.jsonValue();
    const layoutMs = Number(await page.getByTestId('topology-graph').getAttribute('data-layout-ms'));
    const renderedNodes = await page.locator('.react-flow__node').count();
    const renderedEdges = await page.locator('.react-flow__edge').count();
    // Let the fitView and the first updates settle.
    await page.waitForTimeout(1500);
    const fitZoom = await zoomLevel(page);

    // Per-second updates, nothing else happening: main-thread work per topology read.
    const readsBefore = control.reads();
    const before = await metrics(cdp);
    const stopQuiet = await startFrameCounter(page);
    await page.waitForTimeout(quietSeconds * 1000);
    const quietFrames = await stopQuiet();
    const after = await metrics(cdp);
    const updates = control.reads() - readsBefore;
    const perUpdate = (key) => ((after[key] - before[key]) * 1000) / Math.max(1, updates);
    const update = {
      updates,
      seconds: quietSeconds,
      taskMsPerUpdate: perUpdate('TaskDuration'),
      scriptMsPerUpdate: perUpdate('ScriptDuration'),
      layoutAndStyleMsPerUpdate: perUpdate('LayoutDuration') + perUpdate('RecalcStyleDuration'),
      longTasks: quietFrames.longTasks,
      longestTaskMs: quietFrames.longestTaskMs,
      fps: quietFrames.fps,
    };
    update.mainThreadMsPerUpdate = update.scriptMsPerUpdate + update.layoutAndStyleMsPerUpdate;

    const panFit = await pan(page, panSeconds);
    // Zoomed in to 1:1 on one service: labels and flow animation are drawn there.
    await page.getByLabel('Search services').fill(mesh.names[Math.floor(mesh.names.length / 2)]);
    await page.getByLabel('Search services').press('Enter');
    await page.waitForTimeout(800);
    await page.getByLabel('Search services').fill('');
    const zoomIn = await zoomLevel(page);
    const panZoomed = await pan(page, panSeconds);
    const panZoomedEdges = await page.locator('.react-flow__edge').count();

    await cdp.send('HeapProfiler.collectGarbage');
    const heap = await metrics(cdp);
    log(`${scale.services} services: timing elkjs on the same mesh, in Node`);
    const elkLayoutMs = await elkMs(mesh);
    return {
      services: scale.services,
      edges: mesh.calls.length,
      firstRenderMs: firstRender,
      layoutMs,
      elkLayoutMs,
      renderedNodes,
      renderedEdges,
      fitZoom,
      update,
      panFit,
      panZoomed: { ...panZoomed, zoom: zoomIn, renderedEdges: panZoomedEdges },
      load: [loadBefore, os.loadavg()[0]],
      jsHeapMB: heap.JSHeapUsedSize / 1024 / 1024,
      domNodes: heap.Nodes,
      pageErrors,
    };
  } finally {
    await context.close();
    await consoleApp.stop();
    await control.close();
  }
}

const verdict = (ok) => (ok ? 'PASS' : 'MISS');
const f1 = (n) => (n === null || n === undefined || Number.isNaN(n) ? '–' : n.toFixed(1));
const f0 = (n) =>
  n === null || n === undefined || Number.isNaN(n) ? '–' : Math.round(n).toLocaleString('en-US');

function markdown(report) {
  const lines = [
    '# Console benchmark: the topology graph',
    '',
    `Run \`${report.command}\` on ${report.machine}, Chromium ${report.browser}, ${report.at}. The console build`,
    `measured is the one in apps/console/.next (BUILD_ID ${report.buildId}, built ${report.builtAt}): run`,
    '`npm run build` first. A fake control plane serves a generated layered mesh; its numbers change every second.',
    '',
    '## Targets (the 1,000-service run)',
    '',
    '| target | measured | verdict |',
    '| --- | --- | --- |',
    ...report.targets.map((t) => `| ${t.name} | ${t.measured} | ${t.verdict} |`),
    '',
    '## All runs',
    '',
    `| | ${report.runs.map((r) => `${f0(r.services)} services / ${f0(r.edges)} calls`).join(' | ')} |`,
    `| --- | ${report.runs.map(() => '---').join(' | ')} |`,
  ];
  const row = (label, get) => lines.push(`| ${label} | ${report.runs.map(get).join(' | ')} |`);
  row('first render (navigation → graph laid out and drawn), ms', (r) => f0(r.firstRenderMs));
  row('layout in the page (elkjs up to 60 services, else the fast layered layout), ms', (r) =>
    f0(r.layoutMs),
  );
  row('elkjs on the same mesh (in Node, for comparison), ms', (r) => f0(r.elkLayoutMs));
  row('nodes / edges drawn at first render', (r) => `${f0(r.renderedNodes)} / ${f0(r.renderedEdges)}`);
  row('zoom when fitted to the whole graph', (r) => (r.fitZoom === null ? '–' : r.fitZoom.toFixed(2)));
  row('per-second update: script + style + layout, ms per update', (r) => f1(r.update.mainThreadMsPerUpdate));
  row('per-second update: all main-thread tasks, ms per update', (r) => f1(r.update.taskMsPerUpdate));
  row(
    'quiet window: updates, fps, long tasks (longest ms)',
    (r) =>
      `${r.update.updates}, ${f1(r.update.fps)} fps, ${r.update.longTasks} (${f0(r.update.longestTaskMs)})`,
  );
  row('panning, fitted: fps (worst frame ms)', (r) => `${f1(r.panFit.fps)} (${f0(r.panFit.worstFrameMs)})`);
  row('panning, fitted: long tasks (total ms)', (r) => `${r.panFit.longTasks} (${f0(r.panFit.longTaskMs)})`);
  row(
    'panning, zoomed in: zoom, edges drawn',
    (r) =>
      `${r.panZoomed.zoom === null ? '–' : r.panZoomed.zoom.toFixed(2)}, ${f0(r.panZoomed.renderedEdges)}`,
  );
  row(
    'panning, zoomed in: fps (worst frame ms)',
    (r) => `${f1(r.panZoomed.fps)} (${f0(r.panZoomed.worstFrameMs)})`,
  );
  row(
    'panning, zoomed in: long tasks (total ms)',
    (r) => `${r.panZoomed.longTasks} (${f0(r.panZoomed.longTaskMs)})`,
  );
  row('JS heap after GC, MB', (r) => f1(r.jsHeapMB));
  row('machine load (1-min average) before / after', (r) => `${f1(r.load[0])} / ${f1(r.load[1])}`);
  row('DOM nodes', (r) => f0(r.domNodes));
  lines.push(
    '',
    'How it is measured: first render is `performance.now()` (from the navigation start) when the graph carries',
    '`data-ready` and a node is drawn. Panning drags the canvas in 20-step mouse moves for',
    `${report.settings.panSeconds} s while requestAnimationFrame counts frames; long tasks are the page's`,
    "PerformanceObserver `longtask` entries. Per-update work is Chrome's ScriptDuration + RecalcStyleDuration +",
    `LayoutDuration (and, separately, TaskDuration, which also holds painting) over a ${report.settings.quietSeconds} s`,
    'window without input, divided by the topology reads the fake control plane served in it. Headless Chromium with',
    '`--disable-gpu` rasterizes in software: frame rates on a desktop with a GPU are higher. Every number depends on',
    `what else the machine runs (${report.machine}): the load averages above say how busy it was.`,
    '',
  );
  if (report.runs.some((r) => r.pageErrors.length > 0)) {
    lines.push('Page errors:', '', ...report.runs.flatMap((r) => r.pageErrors.map((e) => `- ${e}`)), '');
  }
  return `${lines.join('\n')}\n`;
}

async function main() {
  const buildIdFile = path.join(CONSOLE_DIR, '.next/BUILD_ID');
  if (!fs.existsSync(buildIdFile)) {
    process.stderr.write('No console build in apps/console/.next: run `npm run build` first.\n');
    process.exit(2);
  }
  const browser = await chromium.launch({
    ...(fs.existsSync(DEBIAN_CHROMIUM) ? { executablePath: DEBIAN_CHROMIUM } : {}),
    args: CHROMIUM_ARGS,
  });
  const browserVersion = browser.version();
  const runs = [];
  try {
    for (const scale of scales) runs.push(await measureScale(browser, scale));
  } finally {
    await browser.close();
  }
  const big = runs.find((r) => r.services >= 1000) ?? runs.at(-1);
  const targets = [
    {
      name: `first render ≤ ${TARGETS.firstRenderMs / 1000} s`,
      measured: `${f0(big.firstRenderMs)} ms`,
      verdict: verdict(big.firstRenderMs <= TARGETS.firstRenderMs),
    },
    {
      name: `panning ≥ ${TARGETS.panFps} fps (fitted to the graph)`,
      measured: `${f1(big.panFit.fps)} fps`,
      verdict: verdict(big.panFit.fps >= TARGETS.panFps),
    },
    {
      name: `panning ≥ ${TARGETS.panFps} fps (zoomed in, labels and flow drawn)`,
      measured: `${f1(big.panZoomed.fps)} fps`,
      verdict: verdict(big.panZoomed.fps >= TARGETS.panFps),
    },
    {
      name: `per-second update ≤ ${TARGETS.updateMainThreadMs} ms main-thread work (script + style + layout)`,
      measured: `${f1(big.update.mainThreadMsPerUpdate)} ms`,
      verdict: verdict(big.update.mainThreadMsPerUpdate <= TARGETS.updateMainThreadMs),
    },
  ];
  const report = {
    command: commandLine('bench/console/run.mjs'),
    at: new Date().toISOString(),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    browser: browserVersion,
    buildId: fs.readFileSync(buildIdFile, 'utf8').trim(),
    builtAt: fs.statSync(buildIdFile).mtime.toISOString(),
    settings: { scales, quietSeconds, panSeconds },
    targets,
    runs,
  };
  await writeReport('console', report, markdown(report), 1);
  for (const t of targets) log(`${t.verdict} ${t.name}: ${t.measured}`);
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
