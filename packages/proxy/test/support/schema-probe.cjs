// Preloaded into the built proxy (NODE_OPTIONS=--require) by test/bundle-lazy.test.ts: says on stderr when
// dist/lib-schema.cjs is required and when its exports have been garbage-collected. A WeakRef cannot keep them
// alive, so "collected" means that nothing in the process holds zod or the schemas any more.
const Module = require('node:module');

const load = Module._load;
let ref;
const say = (what) => process.stderr.write(`schema-probe: ${what}\n`);
Module._load = function (request, ...rest) {
  const exports = load.call(this, request, ...rest);
  if (String(request).endsWith('lib-schema.cjs') && ref?.deref() !== exports) {
    ref = new WeakRef(exports);
    say('loaded');
  }
  return exports;
};
setInterval(() => {
  if (ref && ref.deref() === undefined) {
    ref = undefined;
    say('collected');
  }
}, 20).unref();
