"""I/O and HTTP benchmarks: listed, not run, until pyloop has the feature each needs.

The table shows each one as ``pending: needs <feature>`` instead of a made-up
figure. To add one when its feature lands, write it here as
``async def name(n: int) -> float`` (start the server and the clients on the
running loop, time only the traffic, return messages or bytes per second),
decorate it with ``@register(...)`` as in ``micro.py``, and delete its
``pending(...)`` line below.
"""

from __future__ import annotations

from .registry import pending

TCP = "native TCP transports (issue 6)"

pending("tcp_echo_protocol", unit="msgs/s", needs=TCP)  # 1/10/100 KiB, 1 and 16 clients
pending("tcp_echo_streams", unit="msgs/s", needs=TCP)
pending("tcp_echo_buffered_protocol", unit="msgs/s", needs=TCP)
pending("sock_recv_sendall_echo", unit="msgs/s", needs="sock_* coroutines (issue 5)")
pending("unix_echo", unit="msgs/s", needs="native Unix transports (issue 6)")
pending("udp_echo", unit="datagrams/s", needs="native UDP (issue 7)")
pending("aiohttp_hello_world", unit="requests/s", needs=TCP + " and aiohttp installed")
