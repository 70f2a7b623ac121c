"""A real OpenSSH server on 127.0.0.1 for the SSH-remote tests: key authentication only, its own config and keys.

`serve_sshd(folder)` starts Debian's `/usr/sbin/sshd` in the foreground (`-D -e`) on a free loopback port with a
generated ed25519 host key and one generated ed25519 user key (the only authorised key, for the current user), SFTP
served in-process (`internal-sftp`, what DVC's SSH remote speaks), and stops it when the block ends. Without an
sshd binary (`apt-get install openssh-server`; `.ci/run` installs it) the calling test is skipped, saying so.
"""
from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")  # Debian's compiled-in privilege-separation directory, needed when sshd runs as root
CONFIG = """\
ListenAddress 127.0.0.1
Port {port}
HostKey {folder}/host_key
PidFile none
AuthorizedKeysFile {folder}/authorized_keys
AllowUsers {user}
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
LogLevel VERBOSE
"""


@dataclass(frozen=True)
class SSHServer:
    host: str
    port: int
    user: str
    keyfile: Path  # the private key sshd accepts
    log: Path

    def url(self, path: Path) -> str:
        """The DVC remote URL of an absolute path on this server."""
        return f"ssh://{self.user}@{self.host}:{self.port}{path}"


def find_sshd() -> str:
    """The sshd binary, or skip the calling test with the reason."""
    found = shutil.which("sshd") or next((p for p in SSHD_CANDIDATES if os.access(p, os.X_OK)), None)
    if found is None or shutil.which("ssh-keygen") is None:
        pytest.skip("no OpenSSH server (sshd) here: `apt-get install openssh-server` (.ci/run installs it as root)")
    if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True)  # what Debian's ssh.service creates (RuntimeDirectory=sshd)
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)


def wait_listening(process: subprocess.Popen, port: int, log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited ({process.returncode}):\n{log.read_text()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"sshd not listening on 127.0.0.1:{port} after {timeout:.0f} s:\n{log.read_text()}")


@contextmanager
def serve_sshd(folder: Path) -> Iterator[SSHServer]:
    """Run sshd on 127.0.0.1 with key authentication only, its files under `folder`; stop it on exit."""
    sshd = find_sshd()
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    keygen(folder / "host_key")
    keygen(folder / "user_key")
    shutil.copy(folder / "user_key.pub", folder / "authorized_keys")
    user, port, log = getpass.getuser(), free_port(), folder / "sshd.log"
    (folder / "sshd_config").write_text(CONFIG.format(port=port, folder=folder, user=user))
    subprocess.run([sshd, "-t", "-f", str(folder / "sshd_config")], check=True)  # the config is valid
    with log.open("w") as sink:  # its own session, so stopping it also stops its per-connection children
        process = subprocess.Popen([sshd, "-D", "-e", "-f", str(folder / "sshd_config")], stdout=sink,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_listening(process, port, log)
        yield SSHServer("127.0.0.1", port, user, folder / "user_key", log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
