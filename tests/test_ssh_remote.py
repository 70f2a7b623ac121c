"""The team setup over SSH on a small DVC project: a real sshd on 127.0.0.1 (tests/ssh_server.py), key auth only.

One clone builds and pushes to an `ssh://` remote; a fresh git clone has no credentials (the keyfile lives in the
git-ignored `.dvc/config.local`) and is refused until it names its key; then `dvc repro --pull` fetches every output
and recomputes nothing, byte for byte what the first clone built. The full pipeline's round trip over SSH is in
tests/test_e2e_dvc.py.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import yaml

from tests.ssh_server import serve_sshd

STAGES = {  # a directory output (like a zarr store) and a file output that depends on it, both seeded
    "make": {"cmd": "python -c \"import os, random; r = random.Random(7); os.makedirs('out/store', exist_ok=True); "
                    "[open(f'out/store/{i}', 'wb').write(r.randbytes(4096)) for i in range(12)]\"",
             "outs": ["out/store"]},
    "count": {"cmd": "python -c \"import os; open('out/count.txt', 'w').write(str(len(os.listdir('out/store'))))\"",
              "deps": ["out/store"], "outs": ["out/count.txt"]},
}


def dvc(args: list[str], cwd: Path, ok: bool = True) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=300)
    assert (done.returncode == 0) == ok, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_push_over_ssh_then_a_fresh_clone_repro_pull_recomputes_nothing(tmp_path):
    with serve_sshd(tmp_path / "sshd") as server:
        first, second, storage = tmp_path / "first", tmp_path / "second", tmp_path / "storage"
        first.mkdir()
        (first / "dvc.yaml").write_text(yaml.safe_dump({"stages": STAGES}, sort_keys=False))
        dvc(["git", "init", "-q"], first)
        dvc(["dvc", "init", "-q"], first)
        assert "Running stage 'count'" in dvc(["dvc", "repro"], first)
        dvc(["dvc", "remote", "add", "-d", "team", server.url(storage)], first)
        dvc(["dvc", "remote", "modify", "--local", "team", "keyfile", str(server.keyfile)], first)
        dvc(["git", "add", "-A"], first)
        dvc(["git", "commit", "-qm", "built"], first)
        pushed = dvc(["dvc", "push"], first)
        files = [p for p in storage.rglob("*") if p.is_file()]
        assert f"{len(files)} files pushed" in pushed  # 12 + 1 outputs and the directory's manifest
        assert len(files) == 14

        dvc(["git", "clone", "-q", str(first), str(second)], tmp_path)
        assert "keyfile" not in (second / ".dvc/config").read_text()  # credentials stay out of git
        refused = dvc(["dvc", "pull"], second, ok=False)  # no key: sshd accepts nothing else
        assert "Permission denied" in refused and not (second / "out/store").exists(), refused
        dvc(["dvc", "remote", "modify", "--local", "team", "keyfile", str(server.keyfile)], second)
        log = dvc(["dvc", "repro", "--pull"], second)
        assert "Running stage" not in log and "Data and pipelines are up to date" in log, log
        assert digests(second / "out") == digests(first / "out")
        assert "Data and pipelines are up to date" in dvc(["dvc", "status"], second)
    assert "Accepted publickey" in server.log.read_text()
