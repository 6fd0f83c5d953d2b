// What the two floor proxies (socket-floor.mjs, batch-floor.mjs) know of HTTP: where a head ends, the
// Content-Length it declares, and whether it closes the connection. Nothing else is parsed.
const END = Buffer.from('\r\n\r\n');

/** The offset just past the head's blank line, or -1 while it is incomplete. */
export function headEnd(buf) {
  const i = buf.indexOf(END);
  return i < 0 ? -1 : i + 4;
}

/** The body length a head declares (0 without Content-Length). */
export function bodyLength(head) {
  const m = /\r\ncontent-length:\s*(\d+)/i.exec(head.toString('latin1'));
  return m ? Number(m[1]) : 0;
}

/** Whether an answer's head says Connection: close (its connection is then not used again). */
export function closes(head) {
  return /\r\nconnection:\s*close/i.test(head.toString('latin1'));
}
