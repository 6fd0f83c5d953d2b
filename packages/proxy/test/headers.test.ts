/** Edge header handling: hop-by-hop removal, forwarding headers, request ids, trace context, header ops. */
import { describe, expect, it } from 'vitest';
import { addForwarding, applyHeaderOps, endToEnd, nextTraceparent } from '../src/headers.ts';

describe('headers', () => {
  it('drops hop-by-hop headers and those named in Connection', () => {
    const out = endToEnd({
      connection: 'close, X-Custom-Hop',
      'x-custom-hop': '1',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      te: 'trailers',
      upgrade: 'h2c',
      'proxy-authorization': 'secret',
      'x-kept': 'yes',
      host: 'svc',
    });
    expect(out).toEqual({ 'x-kept': 'yes', host: 'svc' });
  });

  it('keeps upgrade headers when asked (WebSocket passthrough)', () => {
    expect(
      endToEnd({ connection: 'Upgrade', upgrade: 'websocket' }, new Set(['connection', 'upgrade'])),
    ).toEqual({
      connection: 'Upgrade',
      upgrade: 'websocket',
    });
  });

  it('appends to x-forwarded-for and keeps existing proto/host and request id', () => {
    const h: Record<string, string | string[]> = {
      'x-forwarded-for': '10.0.0.1',
      'x-forwarded-proto': 'https',
      'x-request-id': 'abc',
    };
    addForwarding(h, { clientAddress: '127.0.0.1', proto: 'http', host: 'svc' });
    expect(h['x-forwarded-for']).toBe('10.0.0.1, 127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('https');
    expect(h['x-forwarded-host']).toBe('svc');
    expect(h['x-request-id']).toBe('abc');
  });

  it('continues a valid traceparent with a new span and starts a new one otherwise', () => {
    const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
    const next = nextTraceparent(incoming);
    expect(next).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/);
    expect(next).not.toContain('00f067aa0ba902b7');
    for (const bad of [
      undefined,
      'garbage',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    ]) {
      const fresh = nextTraceparent(bad);
      expect(fresh).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(fresh).not.toContain('4bf92f35');
    }
  });

  it('applies set and remove case-insensitively', () => {
    const h: Record<string, string | string[]> = { 'x-a': '1', 'x-b': '2' };
    applyHeaderOps(h, { set: { 'X-C': '3' }, remove: ['X-A'] });
    expect(h).toEqual({ 'x-b': '2', 'x-c': '3' });
  });
});
