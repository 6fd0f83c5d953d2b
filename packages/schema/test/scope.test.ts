/** The scoping rule: which services a proxy is sent, and whose proxies a change to one service reaches. */
import { describe, expect, it } from 'vitest';
import { ServiceSpec, serviceScope, servicesReceiving } from '../src/index.ts';

const chain = [
  ServiceSpec.parse({ name: 'ingress', port: 80, dependencies: ['api'] }),
  ServiceSpec.parse({ name: 'api', port: 80, dependencies: ['db'] }),
  ServiceSpec.parse({ name: 'db', port: 80, dependencies: [] }),
];

describe('serviceScope', () => {
  it('gives a service with dependencies those and itself', () => {
    expect(serviceScope(chain, 'api')).toEqual(new Set(['api', 'db']));
    expect(serviceScope(chain, 'db')).toEqual(new Set(['db']));
  });

  it('gives a service without dependencies the whole mesh', () => {
    const mesh = [...chain, ServiceSpec.parse({ name: 'legacy', port: 80 })];
    expect(serviceScope(mesh, 'legacy')).toEqual(new Set(['ingress', 'api', 'db', 'legacy']));
  });

  it('gives an unknown service nothing', () => {
    expect(serviceScope(chain, 'gone')).toEqual(new Set());
  });
});

describe('servicesReceiving', () => {
  it('names the service itself and its callers', () => {
    expect(servicesReceiving(chain, 'db')).toEqual(['api', 'db']);
    expect(servicesReceiving(chain, 'api')).toEqual(['api', 'ingress']);
    expect(servicesReceiving(chain, 'ingress')).toEqual(['ingress']);
  });

  it('includes every service that declares no dependencies', () => {
    const mesh = [...chain, ServiceSpec.parse({ name: 'legacy', port: 80 })];
    expect(servicesReceiving(mesh, 'ingress')).toEqual(['ingress', 'legacy']);
    expect(servicesReceiving(mesh, 'db')).toEqual(['api', 'db', 'legacy']);
  });

  it('is empty for a service no one has', () => {
    expect(servicesReceiving(chain, 'gone')).toEqual([]);
  });
});
