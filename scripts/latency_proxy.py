#!/usr/bin/env python3
"""A TCP proxy that makes a loopback server seem far away.

    latency_proxy.py LISTEN_PORT UPSTREAM_PORT DELAY_MS

Every chunk read from either side is written to the other DELAY_MS later
(in order), as a network with a one-way delay of DELAY_MS would: a request
and its answer take 2 x DELAY_MS more. scripts/bench puts it in front of
the registry to measure how many round trips each tool waits on.
"""

import asyncio
import sys


async def pump(reader, writer, delay):
    """Copies reader to writer, each chunk `delay` seconds after it came."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.close()

    delivering = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(1 << 16)
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                break
    except ConnectionError:
        queue.put_nowait((loop.time(), b""))
    try:
        await delivering
    except ConnectionError:
        pass


async def main(listen, upstream, delay):
    async def connection(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            pump(client_reader, server_writer, delay),
            pump(server_reader, client_writer, delay),
        )

    server = await asyncio.start_server(connection, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    listen_port, upstream_port, delay_ms = (int(a) for a in sys.argv[1:4])
    asyncio.run(main(listen_port, upstream_port, delay_ms / 1000))
