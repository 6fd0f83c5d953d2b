/**
 * How the engine writes a whole buffer (engine/socket-writes.ts): straight to a plaintext socket's handle, not
 * through the Writable; under backpressure the bytes are queued in order with the writes after them, 'drain' comes
 * when the queue is empty, and a write that the Writable would overtake, or to a TLS socket, goes through
 * socket.write. If a Node upgrade changed what socket-writes.ts relies on, the first case says so (the engine would
 * write through socket.write and still work, only slower).
 */
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { handleWrites, writeOut } from '../src/engine/socket-writes.ts';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** A connected pair: `client` writes, `server` receives (paused until the test reads). */
async function pair(): Promise<{ client: net.Socket; server: net.Socket }> {
  const listener = net.createServer({ pauseOnConnect: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const port = (listener.address() as net.AddressInfo).port;
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  const client = net.connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [server] = await accepted;
  closers.push(() => {
    client.destroy();
    server.destroy();
    listener.close();
  });
  return { client, server };
}

function countStreamWrites(socket: net.Socket): { count: number } {
  const seen = { count: 0 };
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((...args: unknown[]) => {
    seen.count += 1;
    return write(...args);
  }) as typeof socket.write;
  return seen;
}

async function readAll(socket: net.Socket, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  socket.resume();
  for await (const chunk of socket) {
    chunks.push(chunk as Buffer);
    got += (chunk as Buffer).length;
    if (got >= bytes) break;
  }
  return Buffer.concat(chunks);
}

describe('writing a whole buffer to a socket', () => {
  it("goes to a plaintext socket's handle, not through socket.write", async () => {
    expect(handleWrites).toBe(true);
    const { client, server } = await pair();
    const streamWrites = countStreamWrites(client);
    expect(writeOut(client, Buffer.from('GET / HTTP/1.1\r\n'))).toBe(true);
    expect(writeOut(client, Buffer.from('host: a\r\n\r\n'))).toBe(true);
    expect(streamWrites.count).toBe(0);
    expect((await readAll(server, 27)).toString()).toBe('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
  });

  it('under backpressure returns false, keeps the order of later writes, and drains once all are out', async () => {
    const { client, server } = await pair();
    const big = Buffer.alloc(8 * 1024 * 1024, 0x61);
    const streamWrites = countStreamWrites(client);
    expect(writeOut(client, big)).toBe(false); // the receiver is paused: the kernel cannot take 8 MiB at once
    expect(writeOut(client, Buffer.from('b'))).toBe(false);
    // A corked write goes through the Writable, and still after the queued ones.
    client.cork();
    expect(writeOut(client, Buffer.from('c'))).toBe(true);
    client.uncork();
    expect(streamWrites.count).toBe(1);
    const drained = once(client, 'drain');
    const received = await readAll(server, big.length + 2);
    await drained;
    expect(received.length).toBe(big.length + 2);
    expect(received.subarray(0, big.length).equals(big)).toBe(true);
    expect(received.subarray(big.length).toString()).toBe('bc');
  });

  it('goes through socket.write while the Writable holds bytes, so nothing overtakes them', async () => {
    const { client, server } = await pair();
    const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
    client.write(big); // through the Writable: what the kernel cannot take waits there
    client.write(Buffer.from('x'));
    expect(client.writableLength).toBeGreaterThan(0);
    const streamWrites = countStreamWrites(client);
    writeOut(client, Buffer.from('y'));
    expect(streamWrites.count).toBe(1);
    const received = await readAll(server, big.length + 2);
    expect(received.subarray(big.length).toString()).toBe('xy');
  });

  it('leaves a closed socket to socket.write, which reports the error as before', async () => {
    const { client, server } = await pair();
    server.destroy();
    client.destroy();
    await once(client, 'close');
    const streamWrites = countStreamWrites(client);
    client.on('error', () => {});
    expect(writeOut(client, Buffer.from('late'))).toBe(false);
    expect(streamWrites.count).toBe(1);
  });
});
