/** Edge header handling: forwarding headers, request ids, trace context passed through, header ops. */
import { describe, expect, it } from 'vitest';
import { addForwarding, applyHeaderOps, requestId } from '../src/headers.ts';
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
    expect(h.get('traceparent')).toBeUndefined();
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

  it('leaves the trace context of the caller as it came, and starts none', () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
    const h = Fields.of({ traceparent, tracestate: 'a=1' });
    addForwarding(h, { clientAddress: '127.0.0.1', proto: 'http', host: 'svc' });
    expect(h.get('traceparent')).toBe(traceparent);
    expect(h.get('tracestate')).toBe('a=1');
  });

  it('applies set and remove case-insensitively', () => {
    const h = Fields.of({ 'x-a': '1', 'x-b': '2' });
    applyHeaderOps(h, { set: { 'X-C': '3' }, remove: ['X-A'] });
    expect(h.toObject()).toEqual({ 'x-b': '2', 'x-c': '3' });
  });
});
