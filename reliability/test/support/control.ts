/** The control plane as a child process: the demo tests' helper (see packages/demo/test/support/control.ts). */
export {
  ADMIN_AUTH,
  ADMIN_TOKEN,
  ChildControlPlane,
  JOIN_TOKEN,
} from '../../../packages/demo/test/support/control.ts';
