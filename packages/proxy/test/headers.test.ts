/** Edge header handling: hop-by-hop removal, forwarding headers, request ids, trace context, header ops. */
import { describe, expect, it } from 'vitest';
import { addForwarding, applyHeaderOps, nextTraceparent } from '../src/headers.ts';
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
    const h = Fields.of({ 'x-a': '1', 'x-b': '2' });
    applyHeaderOps(h, { set: { 'X-C': '3' }, remove: ['X-A'] });
    expect(h.toObject()).toEqual({ 'x-b': '2', 'x-c': '3' });
  });
});
