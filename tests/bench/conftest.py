import os
import socket
import subprocess

import pytest


@pytest.fixture
def private_adb_port(monkeypatch):
    """A real adb server (adbutils' bundled adb) on a free port of its own, so
    the tests neither see nor disturb a developer's server; killed afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", port)
    yield port
    import adbutils

    subprocess.run(
        [adbutils.adb_path(), "kill-server"],
        capture_output=True,
        timeout=30,
        env={**os.environ, "ANDROID_ADB_SERVER_PORT": port},
    )
