/** Edge header handling: hop-by-hop removal, forwarding headers, request ids, trace context, header ops. */
import { describe, expect, it } from 'vitest';
import { addForwarding, applyHeaderOps, nextTraceparent, requestId } from '../src/headers.ts';
import { Fields } from '../src/http1/fields.ts';

describe('headers', () => {
  it('appends to x-forwarded-for and keeps existing proto/host and request id', () => {
    const h = Fields.of({
      'x-forwarded-for': '10.0.0.1',
      'x-forwarded-proto': 'https',
      'x-request-id': 'abc',
    });
    addForwarding(h, { clientAddress: '127.0.0.1', proto: 'http', host: 'svc' });
    expect(h.get('x-forwarded-for')).toBe('10.0.0.1, 127.0.0.1');
    expect(h.get('x-forwarded-proto')).toBe('https');
    expect(h.get('x-forwarded-host')).toBe('svc');
    expect(h.get('x-request-id')).toBe('abc');
    expect(h.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('makes request ids that are random version 4 UUIDs, all different', () => {
    const ids = new Set<string>();
    // More than the random pool holds, so that it is refilled on the way.
    for (let i = 0; i < 2000; i++) {
      const id = requestId();
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(2000);
    const h = Fields.of({});
    addForwarding(h, { clientAddress: '127.0.0.1', proto: 'http', host: 'svc' });
    expect(h.get('x-request-id')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
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

  it('reads the caller traceparent as the W3C format says, case-blind and trimmed, and refuses near misses', () => {
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    expect(nextTraceparent(`  00-${trace.toUpperCase()}-00F067AA0BA902B7-01 `)).toMatch(
      new RegExp(`^00-${trace}-[0-9a-f]{16}-01$`),
    );
    for (const bad of [
      `FF-${trace}-00f067aa0ba902b7-01`,
      `00-${trace}-0000000000000000-01`,
      `00-${trace}-00f067aa0ba902b7-1`,
      `00_${trace}-00f067aa0ba902b7-01`,
      `00-${trace}-00f067aa0ba902b7-0g`,
      `00-${trace}-00f067aa0ba902b7-01-extra`,
      `00-${trace.slice(1)}x-00f067aa0ba902b7-01`,
    ]) {
      expect(nextTraceparent(bad)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(nextTraceparent(bad)).not.toContain(trace);
    }
  });

  it('applies set and remove case-insensitively', () => {
    const h = Fields.of({ 'x-a': '1', 'x-b': '2' });
    applyHeaderOps(h, { set: { 'X-C': '3' }, remove: ['X-A'] });
    expect(h.toObject()).toEqual({ 'x-b': '2', 'x-c': '3' });
  });
});
