"""Loaded at start-up by every Python process the tests start (chapter kernels included), through PYTHONPATH.

Refuses any connection that leaves this machine, and records the attempt in $COMPANION_NET_LOG, so a test can
prove that nothing tried. Loopback stays open: papermill talks to its kernels over 127.0.0.1.
"""

import ipaddress
import os
import socket

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _outside(address) -> bool:
    if not isinstance(address, tuple) or not address:
        return False                                    # a Unix socket
    host = str(address[0])
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


def _refuse(address) -> None:
    log = os.environ.get("COMPANION_NET_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {address!r}\n")
    raise OSError(f"network disabled in tests: refused a connection to {address!r}")


def connect(self, address):
    if _outside(address):
        _refuse(address)
    return _connect(self, address)


def connect_ex(self, address):
    if _outside(address):
        _refuse(address)
    return _connect_ex(self, address)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
