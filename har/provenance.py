"""Identity of the project code loaded in this process: what a checkpoint or a stage's work area is keyed by, so
work made by other code is never resumed."""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

PROJECT_PACKAGES = ("har", "pipeline")


def project_modules() -> dict[str, Path]:
    """Source file of every project module (har.*, pipeline.*) loaded in this process."""
    modules = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())}
    return {name: Path(path) for name, path in sorted(modules.items())
            if name.split(".")[0] in PROJECT_PACKAGES and path}


def code_digest() -> str:
    """Digest of the source bytes of every project module loaded in this process, so work made by other code
    (a changed model, recipe, loop, data pipeline or stage) is never resumed or reused. Call it once the code
    that does the work is imported."""
    digest = hashlib.sha256()
    for name, path in project_modules().items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
