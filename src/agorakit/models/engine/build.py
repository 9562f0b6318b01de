"""Build ``llama-server`` from the llama.cpp sources in llama-cpp-python's sdist.

    python -m agorakit.models.engine.build     # what ./scripts/setup runs; a no-op once built

The binary goes to ``<cache>/llama.cpp-<llama-cpp-python version>-<options>/bin`` (see
:func:`agorakit.core.settings.cache_dir`), so every checkout and every agorakit
home on the machine shares one build, and a new llama-cpp-python pin (or new build
options) builds anew.
The sdist comes from the package index pip is configured with; the build needs
only cmake and a C++ compiler (no network at build time: no curl, no web UI).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from agorakit.core import settings
from agorakit.core.errors import ConfigError

PACKAGE = "llama-cpp-python"
TARGETS = ("llama-server", "llama-batched-bench")
#: llama.cpp is compiled for this machine's CPU (``-march=native``) but without AMX: some
#: virtual machines report AMX and then fault on its first instruction (SIGILL in the matrix
#: kernels, seen on Firecracker guests). ``scripts/setup`` builds llama-cpp-python the same way.
NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" if platform.machine().lower() in ("x86_64", "amd64") else ""
CMAKE_OPTIONS = (
    f"-DCMAKE_C_FLAGS={NO_AMX}",
    f"-DCMAKE_CXX_FLAGS={NO_AMX}",
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",  # one self-contained binary per target
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # would download the web UI
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_APP=OFF",
)


def version() -> str:
    """The installed llama-cpp-python's version: the sources the engine is built from."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError as error:
        raise ConfigError(f"{PACKAGE} is not installed", hint="run ./scripts/setup") from error


def build_dir() -> Path:
    """One build per llama-cpp-python version and build options (a build made with other
    options is never reused)."""
    options = hashlib.sha256("\n".join(CMAKE_OPTIONS).encode()).hexdigest()[:8]
    return settings.cache_dir() / f"llama.cpp-{version()}-{options}"


def binary(name: str = "llama-server") -> Path:
    """Where ``name`` is (or will be) built; ``$AGORAKIT_LLAMA_SERVER`` names another llama-server."""
    explicit = os.environ.get("AGORAKIT_LLAMA_SERVER")
    if explicit and name == "llama-server":
        return Path(explicit).expanduser()
    return build_dir() / "bin" / name


def is_built() -> bool:
    return all(os.access(binary(name), os.X_OK) for name in TARGETS)


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One build per machine at a time: a second setup waits, then finds it built."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(command: list[str], log: Path, what: str) -> None:
    with open(log, "ab") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise ConfigError(
            f"building llama-server failed while {what} (exit {done.returncode}):\n{tail}",
            hint=f"the whole log is {log}; the engine needs cmake and a C++ compiler",
        )


def _sources(work: Path, log: Path) -> Path:
    """llama.cpp's source tree from the pinned llama-cpp-python sdist."""
    _run(
        [sys.executable, "-m", "pip", "download", f"{PACKAGE}=={version()}", "--no-binary", ":all:", "--no-deps",
         "-d", str(work), "--quiet"],
        log, "downloading the llama-cpp-python sources",
    )  # fmt: skip
    [archive] = list(work.glob("llama_cpp_python-*.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(work, filter="data")
    source = work / archive.name.removesuffix(".tar.gz") / "vendor" / "llama.cpp"
    if not (source / "tools" / "server").is_dir():
        raise ConfigError(f"the {PACKAGE} {version()} sdist has no vendor/llama.cpp/tools/server")
    return source


def build(*, jobs: int | None = None, quiet: bool = False) -> Path:
    """Build the engine once (about 9 minutes on 2 cores); return llama-server's path."""
    target = build_dir()
    with _exclusive(target.with_name(target.name + ".lock")):
        if is_built():
            return binary()
        jobs = jobs or os.cpu_count() or 2
        with tempfile.TemporaryDirectory(prefix="agorakit-engine-") as scratch:
            work = Path(scratch)
            log = work / "build.log"
            if not quiet:
                print(f"Building llama-server from llama.cpp ({PACKAGE} {version()}); takes ~9 min on 2 cores...",
                      file=sys.stderr)  # fmt: skip
            source = _sources(work, log)
            out = work / "build"
            _run(["cmake", "-S", str(source), "-B", str(out), *CMAKE_OPTIONS], log, "configuring")
            _run(["cmake", "--build", str(out), "--target", *TARGETS, "-j", str(jobs)], log, "compiling")
            # Staged beside the target and renamed into place whole: no one sees half a build.
            staged = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
            staged.chmod(0o755)  # mkdtemp makes it private; the build is for every user
            (staged / "bin").mkdir()
            for name in TARGETS:
                shutil.copy2(out / "bin" / name, staged / "bin" / name)
            shutil.copy2(source / "LICENSE", staged / "LICENSE")
            if target.exists():
                shutil.rmtree(target)
            os.replace(staged, target)
    return binary()


def main() -> None:
    try:
        path = build()
    except ConfigError as error:
        print(f"error: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"  -> {error.hint}", file=sys.stderr)
        raise SystemExit(1) from error
    print(path)


if __name__ == "__main__":
    main()
