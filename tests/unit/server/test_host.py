"""The process ``agora serve`` runs: the collector readied for a long-lived server."""

from __future__ import annotations

import subprocess
import sys

from agorakit.server.host import YOUNG_OBJECTS


def test_settling_the_heap_freezes_what_import_made_and_raises_the_young_threshold() -> None:
    code = (
        "import gc; from agorakit.server import ServerSettings, create_app; "
        "from agorakit.server.host import settle_heap; "
        "app = create_app([], ServerSettings(auth=False)); before = gc.get_threshold(); settle_heap(); "
        "print(gc.get_freeze_count(), *gc.get_threshold(), *before[1:], gc.isenabled())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    frozen, young, older, oldest, older_before, oldest_before, enabled = out
    assert int(frozen) > 100_000  # FastAPI, pydantic, the A2A and MCP SDKs: what building the app imports
    assert int(young) == YOUNG_OBJECTS == 50_000
    assert (older, oldest) == (older_before, oldest_before)
    assert enabled == "True"
