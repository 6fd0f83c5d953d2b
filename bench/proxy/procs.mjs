// Child-process bookkeeping for the benchmark: every process started here is tracked and killed (with its
// descendants, e.g. nginx workers) on exit, on Ctrl-C and on errors. Also /proc readers for CPU time and RSS.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';

/** @type {Set<Running>} */
const running = new Set();

let CLK_TCK = 100;
try {
  CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * @typedef {object} Running
 * @property {string} name
 * @property {import('node:child_process').ChildProcess} child
 * @property {number} pid
 * @property {string[]} logs
 * @property {Promise<{code: number|null, signal: string|null}>} exited
 * @property {boolean} done
 */

/** Starts a tracked long-running child. Output is kept (last 200 lines) for error messages. */
export function start(name, cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  const logs = [];
  const onData = (chunk) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line) continue;
      logs.push(line);
      if (logs.length > 200) logs.shift();
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  /** @type {Running} */
  const r = { name, child, pid: child.pid, logs, done: false, exited: undefined };
  r.exited = new Promise((resolve) => {
    child.once('error', (error) => {
      logs.push(`spawn error: ${error.message}`);
      r.done = true;
      running.delete(r);
      resolve({ code: -1, signal: null });
    });
    child.once('exit', (code, signal) => {
      r.done = true;
      running.delete(r);
      resolve({ code, signal });
    });
  });
  running.add(r);
  return r;
}

/** Runs a bounded command to completion, collecting stdout/stderr; the child is tracked while it runs. */
export async function runToEnd(name, cmd, args, { timeoutMs, ...opts } = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => {
    stdout += c;
  });
  child.stderr.on('data', (c) => {
    stderr += c;
  });
  const r = { name, child, pid: child.pid, logs: [], done: false };
  running.add(r);
  let timedOut = false;
  const timer = timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        killTree(r.pid, 'SIGKILL');
      }, timeoutMs)
    : undefined;
  const { code, signal } = await new Promise((resolve) => {
    child.once('error', (error) => {
      stderr += `spawn error: ${error.message}`;
      resolve({ code: -1, signal: null });
    });
    child.once('close', (c, s) => resolve({ code: c, signal: s }));
  });
  clearTimeout(timer);
  r.done = true;
  running.delete(r);
  return { code, signal, stdout, stderr, timedOut };
}

/** All descendants of pid (children, grandchildren, …), from /proc. */
export function descendants(pid) {
  const parentOf = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(entry), Number(fields[1]));
    } catch {}
  }
  const out = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift();
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export function killTree(pid, signal = 'SIGTERM') {
  if (!pid) return;
  for (const p of [...descendants(pid).reverse(), pid]) {
    try {
      process.kill(p, signal);
    } catch {}
  }
}

/** SIGTERM a tracked process (and its descendants), SIGKILL whatever is left after graceMs. */
export async function stop(r, graceMs = 3000) {
  if (!r || r.done) return;
  const tree = [r.pid, ...descendants(r.pid)];
  for (const p of tree) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {}
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && tree.some(alive)) await sleep(25);
  for (const p of tree) {
    if (alive(p)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {}
    }
  }
  await Promise.race([r.exited ?? Promise.resolve(), sleep(1000)]);
}

export async function stopAll(graceMs = 3000) {
  await Promise.all([...running].map((r) => stop(r, graceMs)));
}

/** Last resort, synchronous (for process 'exit'): SIGKILL everything still tracked. */
export function killAllNow() {
  for (const r of running) {
    if (!r.done) killTree(r.pid, 'SIGKILL');
  }
}

export const trackedCount = () => running.size;

/** Distinct free TCP ports on 127.0.0.1 (all held open at once, then released). */
export async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      await new Promise((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', resolve);
      });
      servers.push(s);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

/** One GET; resolves {status, body} or rejects. */
export function get(port, path = '/', host = 'svc', timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, headers: { host }, agent: false, timeout: timeoutMs },
      (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Waits until GET http://127.0.0.1:port/ (Host: svc) answers `status` (200) with the expected body, failing early (with
 * the process's output) if any of the given processes exits.
 */
export async function waitReady(port, procs, { timeoutMs = 20_000, path = '/', expect, status = 200 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    for (const p of procs) {
      if (p.done) {
        throw new Error(
          `${p.name} exited before it was ready. Its output:\n  ${p.logs.join('\n  ') || '(none)'}`,
        );
      }
    }
    try {
      const res = await get(port, path, 'svc', 1000);
      if (res.status === status && (expect === undefined || res.body === expect)) return;
      last = `HTTP ${res.status}: ${res.body.slice(0, 200)}`;
    } catch (error) {
      last = error.code ?? error.message;
    }
    await sleep(50);
  }
  const output = procs.map((p) => `${p.name}:\n  ${p.logs.join('\n  ') || '(no output)'}`).join('\n');
  throw new Error(`nothing ready on 127.0.0.1:${port} after ${timeoutMs} ms (last: ${last})\n${output}`);
}

/** utime+stime of pid and all its descendants, in seconds (threads are included in a process's counters). */
export function cpuSeconds(pid) {
  let ticks = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[0] is field 3 (state): utime is field 14, stime field 15.
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {}
  }
  return ticks / CLK_TCK;
}

/** Peak RSS (VmHWM) of pid and its descendants, summed, in bytes. */
export function peakRssBytes(pid) {
  let total = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) total += Number(m[1]) * 1024;
    } catch {}
  }
  return total;
}

/** Whole-machine CPU counters from /proc/stat, for "how busy was the box" during a run. */
export function machineCpu() {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user)
  const idle = v[3] + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + (b || 0), 0);
  return { idle, total, steal: v[7] ?? 0, process: v[0] + v[1] + v[2], at: Date.now() };
}

export function busyPercent(before, after) {
  const total = after.total - before.total;
  return total > 0 ? (1 - (after.idle - before.idle) / total) * 100 : 0;
}

/**
 * The share of the machine's time its hypervisor gave to other virtual machines during an interval (steal). This
 * machine shares its host: a run with steal of a few percent or more measured a machine that was not all there.
 */
export function stealPercent(before, after) {
  const total = after.total - before.total;
  return total > 0 ? ((after.steal - before.steal) / total) * 100 : 0;
}

/** CPU seconds of this process plus its reaped children (wrk, the generator), from /proc/self/stat. */
export function selfAndChildrenCpuSeconds() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
}

/**
 * Cores used by processes that are not part of the benchmark during an interval: user+system time of the whole
 * machine minus what the benchmark's own processes used. IRQ/softirq time (loopback networking) is left out.
 */
export function otherCores(before, after, benchmarkCpuSeconds) {
  const seconds = (after.at - before.at) / 1000;
  if (seconds <= 0) return 0;
  const machine = (after.process - before.process) / CLK_TCK;
  return Math.max(0, (machine - benchmarkCpuSeconds) / seconds);
}
