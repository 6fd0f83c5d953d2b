/**
 * What dist/trellis-proxy.mjs runs before it loads the proxy (scripts/build.mjs makes it the entry file): it sizes
 * V8's young generation for a sidecar. V8 starts it at two semispaces of 1 MiB, doubles them after bursts of
 * allocation up to 16 MiB each, and does not give the memory back while the process is quiet. A proxy's start is
 * such a burst (parsing the bundle, building the schemas, the first snapshot and the certificate): every idle
 * sidecar kept 8 MiB of young generation for under 1 MiB of live objects, and under load it grew to 32 MiB.
 *
 * So the semispaces stay at 1 MiB while the proxy starts (the first 10 s), and may then grow to 2 MiB, no further.
 * Measured (docs/proxy-memory.md): 5 MiB less resident when idle, 20 less at peak; held at 1 MiB for good, the proxy
 * spent about 10 % more CPU per request at peak, and at 2 MiB within the noise of the measurement. V8 reads its
 * growth factor at each decision, so `v8.setFlagsFromString` works after start, where `--max-semi-space-size` does
 * not; it has to be set before the bundle is parsed. A young-generation flag on the command line leaves the choice to
 * whoever gave it.
 *
 * It also holds back V8's optimizing compiler (TurboFan) while the proxy starts: until it says it has started
 * (src/started.ts: listening, and when joined to a control plane, configured and certified; under 1 s here), at
 * most 3 s. The start runs much code a few times (evaluating the bundle, building
 * the schemas, validating the first snapshot, making a key), enough for V8 to optimize dozens of functions that do
 * not run again; that pages in the compiler's part of node's binary and keeps its memory: 4 MiB of an idle sidecar.
 * `--max-optimized-bytecode-size=0` makes V8 decline every optimization (it reads the flag at each decision), and
 * setting V8's default back after the start leaves the compiler to the code that runs under load: hot functions are
 * optimized at their next tick. Requests carried before that cost more CPU (unoptimized, up to 2.5 times).
 * An optimization flag on the command line leaves this alone.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { STARTED } from './started.ts';

const MiB = 1024 * 1024;
/** Both semispaces together, once started. */
const YOUNG_GENERATION_CAP = 4 * MiB;
const STARTING_MS = 10_000;
const YOUNG_GENERATION_FLAG = /^--(semi[-_]space[-_]growth[-_]factor|(max|min)[-_]semi[-_]space[-_]size)\b/;

const growthFactor = (factor: number) => setFlagsFromString(`--semi-space-growth-factor=${factor}`);

/** V8's default (60 KiB of bytecode; `node --v8-options`). */
const MAX_OPTIMIZED_BYTECODE_SIZE = 61_440;
const OPTIMIZING_AFTER_MS = 3000;
const OPTIMIZATION_FLAG =
  /^--(max[-_]optimized[-_]bytecode[-_]size|no[-_]opt|jitless|(no[-_]|always[-_])?turbofan)\b/;
const optimizeUpTo = (bytes: number) => setFlagsFromString(`--max-optimized-bytecode-size=${bytes}`);

if (!process.execArgv.some((flag) => OPTIMIZATION_FLAG.test(flag))) {
  optimizeUpTo(0);
  const hooks = globalThis as Record<symbol, unknown>;
  const optimize = () => {
    clearTimeout(timer);
    delete hooks[STARTED];
    optimizeUpTo(MAX_OPTIMIZED_BYTECODE_SIZE);
  };
  const timer = setTimeout(optimize, OPTIMIZING_AFTER_MS).unref();
  // src/started.ts: the proxy says when it has started, which is usually well before the 3 s.
  hooks[STARTED] = optimize;
}

if (!process.execArgv.some((flag) => YOUNG_GENERATION_FLAG.test(flag))) {
  growthFactor(1);
  setTimeout(() => {
    let growing = false;
    const check = () => {
      const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      const room = (young?.space_size ?? 0) < YOUNG_GENERATION_CAP;
      if (room === growing) return;
      growing = room;
      growthFactor(room ? 2 : 1);
    };
    check();
    // After each collection: the young generation grows (if it does) at a scavenge.
    new PerformanceObserver(check).observe({ entryTypes: ['gc'] });
  }, STARTING_MS).unref();
}
