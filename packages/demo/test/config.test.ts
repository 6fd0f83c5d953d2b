/** The demo's settings: defaults, each variable, a bad value named, and the join token the control plane expects. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDemoConfig, REPO_ROOT } from '../src/config.ts';

describe('demo config', () => {
  it('defaults: on, 20 requests/s, ports from 7100, the control plane npm start runs, no mesh-wide token', () => {
    expect(loadDemoConfig({})).toEqual({
      enabled: true,
      requestsPerSecond: 20,
      basePort: 7100,
      reportSeconds: 10,
      proxyLogLevel: 'warn',
      controlUrl: 'http://127.0.0.1:7070',
      streamUrl: undefined,
      controlPlaneCa: undefined,
      joinToken: undefined,
      stateDir: path.join(REPO_ROOT, '.trellis', 'demo'),
    });
  });

  it('reads every variable; --control-url wins over TRELLIS_CONTROL_HOST/PORT', () => {
    const env = {
      TRELLIS_DEMO: 'false',
      TRELLIS_DEMO_RATE: '2.5',
      TRELLIS_DEMO_PORT_BASE: '0',
      TRELLIS_DEMO_REPORT_SECONDS: '0',
      TRELLIS_DEMO_LOG_LEVEL: 'info',
      TRELLIS_CONTROL_HOST: '10.1.2.3',
      TRELLIS_CONTROL_PORT: '9000',
      TRELLIS_JOIN_TOKEN: 'secret',
      TRELLIS_DATA_DIR: '/tmp/trellis-x',
      TRELLIS_ADMIN_TOKEN: 'api-token',
    };
    expect(loadDemoConfig(env)).toEqual({
      enabled: false,
      requestsPerSecond: 2.5,
      basePort: 0,
      reportSeconds: 0,
      proxyLogLevel: 'info',
      controlUrl: 'http://10.1.2.3:9000',
      streamUrl: undefined,
      controlPlaneCa: undefined,
      joinToken: 'secret',
      controlToken: 'api-token',
      stateDir: '/tmp/trellis-x/demo',
    });
    expect(loadDemoConfig(env, { controlUrl: 'http://127.0.0.1:1234' }).controlUrl).toBe(
      'http://127.0.0.1:1234',
    );
  });

  it('a bad value stops the start, naming the variable', () => {
    expect(() => loadDemoConfig({ TRELLIS_DEMO: 'maybe' })).toThrow(/TRELLIS_DEMO: must be true or false/);
    expect(() => loadDemoConfig({ TRELLIS_DEMO_RATE: '-1' })).toThrow(/TRELLIS_DEMO_RATE/);
    expect(() => loadDemoConfig({ TRELLIS_CONTROL_PORT: '0' })).toThrow(
      /TRELLIS_CONTROL_PORT.*--control-url/,
    );
    expect(
      loadDemoConfig({ TRELLIS_CONTROL_PORT: '0' }, { controlUrl: 'http://127.0.0.1:5' }).controlUrl,
    ).toBe('http://127.0.0.1:5');
  });
});
