/**
 * Security issue M8 §3: route regexes run on a linear-time engine. A route whose path regex is "/(a+)+b", and a
 * 30-character path of "a"s that it does not match: a backtracking engine (JavaScript's RegExp, which the router
 * used) takes 2^29 steps on it, tens of seconds of a stalled event loop in which the proxy answers nobody. With RE2
 * the request is routed at once. The proxy runs in a child process so that this process can tell a stalled proxy
 * from a slow test; nothing here measures time, the wait is only a bound for the proxy that never answers.
 */
import { RouteRuleSpec } from '@trellis/schema';
import { RE2JS } from 're2js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Fields } from '../../src/http1/fields.ts';
import { Router } from '../../src/router.ts';
import { meshConfig } from '../support/mesh.ts';
import { type ProxyProcess, startProxyProcess } from '../support/proxy-process.ts';
import { exchange, headerOf, statusOf } from '../support/raw.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/** A request's fields, as the router reads them. */
const h = (fields: Record<string, string>) => Fields.of(fields);

const EVIL = '/(a+)+b';
const PATH = `/${'a'.repeat(29)}`;

let up: Upstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  up = await startUpstream('up');
  proxy = await startProxyProcess(
    meshConfig({
      services: [{ name: 'svc', endpoints: [{ upstream: up }] }],
      routes: [
        {
          name: 'evil',
          service: 'svc',
          priority: 1,
          match: [{ path: { regex: EVIL } }],
          headers: { response: { set: { 'x-rule': 'evil' } } },
        },
        { name: 'rest', service: 'svc', priority: 2, headers: { response: { set: { 'x-rule': 'rest' } } } },
      ],
    }),
  );
});
afterAll(async () => {
  await proxy?.stop();
  await up?.close();
});

const get = (path: string) => `GET ${path} HTTP/1.1\r\nhost: svc\r\nconnection: close\r\n\r\n`;

describe('a catastrophic-backtracking route regex', () => {
  it(`"${EVIL}" against a 30-character path of "a"s: no match, the request routed on, the proxy not stalled`, async () => {
    expect(PATH).toHaveLength(30);
    const answer = await exchange(proxy.port(), get(PATH), 20_000);
    expect(answer).not.toContain('<still open>');
    expect(statusOf(answer)).toBe(200);
    expect(headerOf(answer, 'x-rule')).toBe('rest');
    expect(up.seen.at(-1)?.url).toBe(PATH);
  });

  it('the same regex still matches what it should, as a whole-value match', async () => {
    const matched = await exchange(proxy.port(), get('/aaab'), 20_000);
    expect(headerOf(matched, 'x-rule')).toBe('evil');
    const longer = await exchange(proxy.port(), get('/aaab/x'), 20_000);
    expect(headerOf(longer, 'x-rule')).toBe('rest');
  });
});

describe('the router on RE2', () => {
  const router = (regex: string) =>
    new Router(
      [RouteRuleSpec.parse({ name: 'rx', service: 'svc', match: [{ path: { regex } }] })],
      (rule) => rule.name,
      'svc',
    );

  it('anchors at both ends, alternation included, as the RegExp it replaces did', () => {
    const r = router('/a|/b');
    expect(r.route('GET', '/a', h({}))?.target).toBe('rx');
    expect(r.route('GET', '/b', h({}))?.target).toBe('rx');
    expect(r.route('GET', '/a/b', h({}))).toBeUndefined();
    expect(r.route('GET', '/ab', h({}))).toBeUndefined();
    expect(router('/é.').route('GET', '/é😀', h({}))?.target).toBe('rx');
  });

  it('compiles each regex once, when the snapshot is built, not per request', () => {
    const compile = vi.spyOn(RE2JS, 'compile');
    try {
      const r = router(EVIL);
      const built = compile.mock.calls.length;
      expect(built).toBeGreaterThan(0);
      for (let i = 0; i < 3; i++) expect(r.route('GET', PATH, h({}))).toBeUndefined();
      expect(r.route('GET', '/ab', h({}))?.target).toBe('rx');
      expect(compile.mock.calls.length).toBe(built);
    } finally {
      compile.mockRestore();
    }
  });
});
