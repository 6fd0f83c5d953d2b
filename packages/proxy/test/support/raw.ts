/** Raw bytes to a listener, as an attacker writes them, without a client library that would fix them up first. */
import net from 'node:net';

/**
 * Writes `payload` in one write and collects everything until the proxy closes the connection, or until
 * `giveUpMs` pass (then the text ends with "<still open>": a proxy that should have closed did not).
 */
export function exchange(port: number, payload: string, giveUpMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(payload, 'latin1'));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      chunks.push(Buffer.from('<still open>'));
      socket.destroy();
    }, giveUpMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

/** How many response status lines `text` holds. */
export function responsesIn(text: string): number {
  return text.match(/HTTP\/1\.1 \d{3} /g)?.length ?? 0;
}

/** The status of the first response in `text` (0 when there is none). */
export function statusOf(text: string): number {
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(text);
  return m ? Number(m[1]) : 0;
}

/** The value of header `name` in the first response in `text`. */
export function headerOf(text: string, name: string): string | undefined {
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  const m = new RegExp(`\\r\\n${name}: ([^\\r]*)`, 'i').exec(head);
  return m?.[1];
}
