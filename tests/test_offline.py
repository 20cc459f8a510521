"""The tests' network guard itself: a process started from the tests cannot leave the machine."""

from __future__ import annotations

import subprocess
import sys


def test_a_child_process_cannot_connect_out_and_the_attempt_is_logged(_offline_processes):
    before = _offline_processes.read_text()
    code = ("import socket, os\n"
            "s = socket.socket()\n"
            "try:\n    s.connect(('192.0.2.1', 80))\nexcept OSError as e:\n    print('refused:', e)\n"
            "print('offline', os.environ['COMPANION_OFFLINE'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "refused: network disabled in tests" in out and "offline 1" in out
    assert "192.0.2.1" in _offline_processes.read_text()[len(before):]
    # the attempt is the test's own: forget it, so the chapters' log stays about the chapters
    _offline_processes.write_text(before)


def test_loopback_stays_open():
    code = ("import socket\nsrv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)\n"
            "c = socket.socket(); c.connect(srv.getsockname()); print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "ok"
