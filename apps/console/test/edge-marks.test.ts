import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { EdgeMarks, labelShown, securityClasses } from '../src/features/topology/EdgeMarks.tsx';
import { edgeView } from '../src/features/topology/live.ts';
import { trafficEdge } from './support/topology.ts';

const EDGE = trafficEdge('service-a', 'service-b');

const render = (edge: typeof EDGE) =>
  renderToStaticMarkup(createElement(EdgeMarks, { view: edgeView(edge), source: 'a', target: 'b' }));

describe('EdgeMarks', () => {
  it('draws a labelled lock on an mTLS edge only', () => {
    expect(render(EDGE)).not.toContain('topology-mtls');
    const html = render({ ...EDGE, mtls: true });
    expect(html).toContain('data-testid="topology-mtls-a-b"');
    expect(html).toContain('aria-label="mTLS"');
    expect(html).toContain('role="img"');
    expect(html).toContain('<svg');
  });

  it('marks denied calls in red and dry-run ones in amber, with their numbers', () => {
    const html = render({ ...EDGE, denied: 7, dryRunDenied: 2 });
    expect(html).toMatch(
      /class="edge-badge denied" data-testid="topology-denied-a-b" data-denied="7">7 denied/,
    );
    expect(html).toMatch(/class="edge-badge dry-run-denied"[^>]*>2 would be denied/);
    expect(render(EDGE)).not.toContain('denied');
  });

  it('gives the line its classes: denied wins over dry-run', () => {
    expect(securityClasses(edgeView({ ...EDGE, mtls: true, denied: 1, dryRunDenied: 1 }))).toEqual([
      'mtls',
      'denied',
    ]);
    expect(securityClasses(edgeView({ ...EDGE, dryRunDenied: 1 }))).toEqual(['', 'dry-run-denied']);
  });

  it('labels an idle edge when calls on it are denied', () => {
    expect(labelShown(edgeView({ ...EDGE, idle: true }))).toBe(false);
    expect(labelShown(edgeView({ ...EDGE, idle: true, denied: 3 }))).toBe(true);
  });

  it('a change of the marks re-renders the edge (its look changes)', () => {
    const plain = edgeView(EDGE);
    expect(edgeView({ ...EDGE, mtls: true }).look).not.toBe(plain.look);
    expect(edgeView({ ...EDGE, denied: 1 }).look).not.toBe(plain.look);
  });
});
