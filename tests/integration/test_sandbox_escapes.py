"""The escape suite: code that tries to get out of the sandbox, and proof that it did not.

Every test plants something on the host first (a secret file, a secret
environment variable, a listening socket, a process) and asserts on the host
side that the concrete effect did not happen: the secret is not in anything
the sandbox returned, the file's bytes are unchanged, the listener accepted
nothing, the process still runs. An exception inside the sandbox proves
nothing by itself.

A test that needs an isolation property the machine does not give (say,
no bubblewrap: no file-system isolation) is skipped with the report as the
reason; the isolation in force is printed at the start of the run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import pytest

from agorakit.tools import ToolDispatcher, tool
from agorakit.tools.sandbox import (
    ExecResult,
    Isolation,
    Sandbox,
    SandboxLimits,
    detect_isolation,
    procfs,
    seccomp,
    workdir,
)
from agorakit.tools.sandbox.launch import bubblewrap_mode

LIMITS = SandboxLimits(
    wall_time_s=10, cpu_time_s=2, memory_mb=256, max_processes=16, max_file_size_mb=8, max_output_bytes=4096
)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def isolation(request: pytest.FixtureRequest) -> Isolation:
    """The isolation in force, written to the test output.

    ``AGORAKIT_SANDBOX_BACKEND=unshare`` (or ``rlimits-only``) runs the suite on a weaker
    backend: the attempts that backend cannot stop are skipped, the others must still hold.
    """
    report = detect_isolation(os.environ.get("AGORAKIT_SANDBOX_BACKEND", "auto"))  # type: ignore[arg-type]
    lines = [f"sandbox isolation in force: {report.summary()}", *(f"  note: {note}" for note in report.notes)]
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print("\n".join(lines))
        return report
    with capture.global_and_fixture_disabled():  # shown even under -q and output capture
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)
    return report


def require(isolation: Isolation, *kinds: str) -> None:
    missing = [kind for kind in kinds if not getattr(isolation, f"{kind}_isolated")]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} isolation; in force: {isolation.summary()}")


def process_limit_enforced(isolation: Isolation) -> bool:
    # RLIMIT_NPROC does not bind the host's root user; only bubblewrap's setpriv mode avoids it as root.
    return os.geteuid() != 0 or (isolation.backend == "bubblewrap" and bubblewrap_mode() == "setpriv")


class Listener:
    """A TCP server on all interfaces that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@dataclass
class Host:
    """What the host planted: the sandbox must not reach any of it."""

    secret: str
    secret_file: Path
    env_secret: str
    target: Path  # a host path the code tries to create
    pid: int = field(default_factory=os.getpid)

    def secret_bytes_unchanged(self) -> bool:
        return self.secret_file.read_text() == self.secret

    def assert_nothing_leaked(self, *results: ExecResult) -> None:
        for result in results:
            seen = result.stdout + result.stderr + (result.error or "")
            assert self.secret not in seen
            assert self.env_secret not in seen
        assert self.secret_bytes_unchanged()
        assert not self.target.exists()


@pytest.fixture
def host(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Host:
    directory = tmp_path_factory.mktemp("host-canary")
    secret = f"CANARY-FILE-{secrets.token_hex(12)}"
    secret_file = directory / "secret.txt"
    secret_file.write_text(secret)
    env_secret = f"CANARY-ENV-{secrets.token_hex(12)}"
    monkeypatch.setenv("AGORAKIT_ESCAPE_CANARY", env_secret)
    monkeypatch.setenv("OPENAI_API_KEY", env_secret)
    return Host(secret, secret_file, env_secret, directory / "escaped.txt")


@pytest.fixture
def preexisting(bystander: subprocess.Popen[bytes]) -> set[int]:
    """This test process's children from before the test's sandbox: the bystander, and whatever servers
    or workers other tests left running. Not the sandbox's."""
    return set(procfs.parent_map().get(os.getpid(), ()))


def sandbox_processes(preexisting: set[int]) -> list[int]:
    """Every process of the sandboxes started since ``preexisting`` (and the workdir keeper), seen from the host."""
    children = procfs.parent_map()
    roots = [pid for pid in children.get(os.getpid(), ()) if pid not in preexisting]
    return [pid for root in roots for pid in procfs.descendants(root, children)]


@pytest.fixture
async def sb(isolation: Isolation, host: Host, preexisting: set[int]) -> AsyncIterator[Sandbox]:
    # Started after `host`, so the canary variables are in the environment the sandbox could inherit.
    async with Sandbox(LIMITS, isolation=isolation) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A host process that must outlive every test."""
    process = subprocess.Popen(["sleep", "3600"])
    yield process
    process.kill()
    process.wait()


@pytest.fixture(autouse=True)
def host_survives(bystander: subprocess.Popen[bytes]) -> Iterator[None]:
    yield
    assert bystander.poll() is None, "a host process was killed"
    assert subprocess.run(["true"], check=False).returncode == 0, "the host can no longer start processes"


def q(value: object) -> str:
    return repr(str(value))


# --- ctypes, introspection and import tricks ------------------------------------------------------


async def test_ctypes_libc_system(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "filesystem")
    result = await sb.exec(
        "import ctypes\n"
        "libc = ctypes.CDLL(None)\n"
        f"rc = libc.system(b'cat ' + {q(host.secret_file)}.encode() + b'; echo pwned > ' + {q(host.target)}.encode())\n"
        "print('rc', rc)"
    )
    assert result.stdout.startswith("rc ")
    host.assert_nothing_leaked(result)


async def test_ctypes_raw_open_and_read(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "filesystem")
    result = await sb.exec(
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"fd = libc.open({q(host.secret_file)}.encode(), 0)\n"
        "buf = ctypes.create_string_buffer(256)\n"
        "n = libc.read(fd, buf, 256) if fd >= 0 else -1\n"
        "print(fd, n, ctypes.get_errno(), buf.raw[:64])"
    )
    assert result.stdout.startswith("-1 -1 2 ")  # ENOENT: the path does not exist in here
    host.assert_nothing_leaked(result)


async def test_subclasses_walk_to_popen(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "filesystem")
    result = await sb.exec(
        "import subprocess\n"
        "Popen = next(c for c in object.__subclasses__() if c.__name__ == 'Popen')\n"
        f"p = Popen(['/bin/sh', '-c', 'cat {host.secret_file}; echo pwned > {host.target}'], stdout=-1, stderr=-2)\n"
        "print(p.communicate()[0], p.returncode)"
    )
    assert result.error is None  # the walk itself works: the boundary is the OS, not Python
    host.assert_nothing_leaked(result)


async def test_subclasses_walk_to_os_system_without_imports(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "filesystem")
    result = await sb.exec(
        "wrap = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]\n"
        "system = wrap.__init__.__globals__['system']\n"
        f"print(system('cat {host.secret_file} > /dev/stderr; touch {host.target}'))"
    )
    assert result.error is None
    host.assert_nothing_leaked(result)


async def test_obfuscated_imports(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "filesystem")
    result = await sb.exec(
        "import base64\n"
        "imp = getattr(__builtins__, '__imp' + 'ort__')\n"
        "sp = imp(base64.b64decode('c3VicHJvY2Vzcw==').decode())\n"
        f"print(sp.run(['cat', {q(host.secret_file)}], capture_output=True))\n"
        "osm = __import__(bytes.fromhex('6f73').decode())\n"
        f"print(osm.system('echo pwned > {host.target}'))"
    )
    assert "returncode=1" in result.stdout  # cat ran, inside, and found nothing
    host.assert_nothing_leaked(result)


async def test_format_string_attribute_access(sb: Sandbox, host: Host) -> None:
    result = await sb.exec(
        "wrap = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]\n"
        "print('{0.__init__.__globals__[environ]}'.format(wrap))\n"
        "print('{0.__class__.__mro__[1].__subclasses__}'.format(()))"
    )
    assert "environ(" in result.stdout  # the trick reached os.environ: the sandbox's own, scrubbed one
    host.assert_nothing_leaked(result)


# --- reading the host ------------------------------------------------------------------------------


def host_cmdline() -> bytes:
    return Path("/proc/self/cmdline").read_bytes()


def host_passwd_lines() -> list[str]:
    return [line for line in Path("/etc/passwd").read_text().splitlines() if len(line) > 8]


async def test_reading_etc_passwd_and_shadow(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "filesystem")
    host_lines = host_passwd_lines()
    result = await sb.exec(
        "for path in ['/etc/passwd', '/etc/shadow', '/etc/hostname', '/etc/hosts']:\n"
        "    try:\n"
        "        print(path, open(path).read())\n"
        "    except OSError as error:\n"
        "        print(path, type(error).__name__)"
    )
    assert "/etc/passwd FileNotFoundError" in result.stdout
    assert not any(line in result.stdout for line in host_lines)
    host.assert_nothing_leaked(result)


async def test_reading_the_parents_environ(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "pid")  # without a pid namespace the parent is this very process
    result = await sb.exec(
        "import os\n"
        f"for pid in (os.getppid(), {host.pid}, 1):\n"
        "    try:\n"
        "        print(pid, open(f'/proc/{pid}/environ', 'rb').read())\n"
        "    except OSError as error:\n"
        "        print(pid, type(error).__name__)"
    )
    assert result.error is None and result.stdout.count("\n") == 3
    host.assert_nothing_leaked(result)


async def test_reading_every_processes_environ_and_cmdline(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "pid")
    result = await sb.exec(
        "import os\n"
        "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
        "    for part in ('environ', 'cmdline'):\n"
        "        try:\n"
        "            print(pid, part, open(f'/proc/{pid}/{part}', 'rb').read())\n"
        "        except OSError as error:\n"
        "            print(pid, part, type(error).__name__)"
    )
    assert "cmdline" in result.stdout
    assert repr(host_cmdline()) not in result.stdout  # this test process is not among them
    assert str(host.pid) not in [line.split()[0] for line in result.stdout.splitlines()]
    host.assert_nothing_leaked(result)


async def test_reading_the_hosts_tmp(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "filesystem")

    with tempfile.NamedTemporaryFile("w", prefix="agorakit-escape-", suffix=".txt") as planted:
        planted.write(host.secret)
        planted.flush()
        result = await sb.exec(
            "import os\n"
            f"print(os.path.exists({q(planted.name)}), os.path.exists('/tmp'))\n"
            f"print(open({q(planted.name)}).read())"
        )
    assert result.stdout.startswith("False False")
    host.assert_nothing_leaked(result)


async def test_inherited_descriptors(isolation: Isolation, host: Host) -> None:
    fd = os.open(host.secret_file, os.O_RDONLY)
    os.set_inheritable(fd, True)  # as careless host code might leave it
    try:
        async with Sandbox(LIMITS, isolation=isolation) as sandbox:
            result = await sandbox.exec(
                "import os\n"
                "for fd in range(3, 65):\n"
                "    try:\n"
                "        st = os.fstat(fd)\n"
                "    except OSError:\n"
                "        continue\n"
                "    try:\n"
                "        data = os.pread(fd, 128, 0)\n"
                "    except OSError as error:\n"
                "        data = type(error).__name__\n"
                "    print(fd, st.st_dev, st.st_ino, os.readlink(f'/proc/self/fd/{fd}'), data)"
            )
    finally:
        os.close(fd)
    st = host.secret_file.stat()
    assert f" {st.st_dev} {st.st_ino} " not in result.stdout
    assert str(host.secret_file) not in result.stdout
    assert all("pipe:" in line for line in result.stdout.splitlines())  # only the control pipes
    host.assert_nothing_leaked(result)


async def test_symlinks_out_of_the_workdir(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "filesystem")
    result = await sb.exec(
        "import os\n"
        f"os.symlink({q(host.secret_file)}, 'to-secret')\n"
        "os.symlink('/etc/shadow', 'to-shadow')\n"
        f"os.symlink('/proc/1/root' + {q(host.secret_file)}, 'via-proc')\n"
        "for name in ('to-secret', 'to-shadow', 'via-proc'):\n"
        "    try:\n"
        "        print(name, open(name).read())\n"
        "    except OSError as error:\n"
        "        print(name, type(error).__name__)\n"
        "try:\n"
        f"    os.link({q(host.secret_file)}, 'hard')\n"
        "except OSError as error:\n"
        "    print('link', type(error).__name__)"
    )
    assert result.stdout.count("Error") == 4
    workdir = sb.workdir
    assert (workdir / "to-secret").is_symlink()
    host.assert_nothing_leaked(result)
    await sb.__aexit__(None, None, None)  # removing the workdir must not follow its links
    assert not workdir.exists()
    assert host.secret_bytes_unchanged()


async def test_proc_self_root_tricks(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "filesystem", "pid")
    result = await sb.exec(
        "import os\n"
        "for path in ['/proc/self/root' + " + q(host.secret_file) + ", '/proc/1/root' + " + q(host.secret_file) + ",\n"
        "             '/proc/1/cwd/secret.txt', '/proc/self/root/../../' + " + q(host.secret_file) + "]:\n"
        "    try:\n"
        "        print(path, open(path).read())\n"
        "    except OSError as error:\n"
        "        print(path, type(error).__name__)\n"
        "try:\n"
        "    print(sorted(os.listdir('/proc/1/root')))\n"
        "except OSError as error:\n"
        "    print('root', type(error).__name__)"
    )
    assert result.stdout.count("Error") >= 4
    assert "'work'" not in result.stdout and "'home'" not in result.stdout
    host.assert_nothing_leaked(result)


async def test_listing_the_root_shows_no_host_directories(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "filesystem")
    result = await sb.exec(
        "import os\n"
        "os.chdir('/')\n"
        "print(sorted(os.listdir('.')))\n"
        f"print([os.path.exists(p) for p in ({q(REPO)}, {q(Path.home())}, '/work', '/root', '/home', '/var/run')])"
    )
    listing = eval(result.stdout.splitlines()[0])
    assert set(listing) <= {
        "bin",
        "dev",
        "etc",
        "lib",
        "lib32",
        "lib64",
        "libx32",
        "opt",
        "proc",
        "sandbox",
        "sbin",
        "usr",
    }
    assert result.stdout.splitlines()[1] == "[False, False, False, False, False, False]"
    host.assert_nothing_leaked(result)


async def test_site_packages_are_not_importable(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    plain = await sb.exec("import openai")
    assert plain.error is not None
    assert plain.error.rstrip().endswith("ModuleNotFoundError: No module named 'openai'")
    host.assert_nothing_leaked(plain)
    require(isolation, "filesystem")  # beyond here: even the host's site-packages path leads nowhere
    site = next(p for p in sys.path if p.endswith("site-packages"))
    result = await sb.exec(
        "import sys\n"
        f"sys.path.append({q(site)})\n"
        "for name in ('openai', 'pydantic', 'agorakit'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "        print(name, 'IMPORTED')\n"
        "    except ModuleNotFoundError:\n"
        "        print(name, 'ModuleNotFoundError')"
    )
    assert result.stdout == "openai ModuleNotFoundError\npydantic ModuleNotFoundError\nagorakit ModuleNotFoundError\n"
    host.assert_nothing_leaked(result)


async def test_environment_holds_no_host_secrets(sb: Sandbox, host: Host) -> None:
    result = await sb.exec("import os\nprint(dict(os.environ))\nprint(open('/proc/self/environ', 'rb').read())")
    assert "OPENAI_API_KEY" not in result.stdout and "AGORAKIT_ESCAPE_CANARY" not in result.stdout
    host.assert_nothing_leaked(result)


# --- writing the host ---------------------------------------------------------------------------------


async def test_writing_outside_the_workdir(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "filesystem")
    name = f"agorakit-escape-{secrets.token_hex(6)}"
    host_paths = [host.target, Path("/tmp") / name, REPO / name, Path("/usr") / name]
    result = await sb.exec(
        "import os\n"
        f"for path in {[str(p) for p in host_paths]!r} + ['/{name}', '/etc/{name}', '/opt/python/{name}', "
        f"'/dev/shm/{name}', '/proc/{name}']:\n"
        "    try:\n"
        "        open(path, 'w').write('pwned')\n"
        "        print(path, 'WROTE')\n"
        "    except OSError as error:\n"
        "        print(path, type(error).__name__)\n"
        f"open('{name}', 'w').write('inside')"
    )
    assert "WROTE" not in result.stdout
    assert not any(path.exists() for path in host_paths)
    assert (sb.workdir / name).read_text() == "inside"  # the workdir is the one writable place
    host.assert_nothing_leaked(result)


async def test_overwriting_renaming_and_deleting_a_host_file(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "filesystem")
    before = host.secret_file.stat()
    result = await sb.exec(
        "import os\n"
        f"path = {q(host.secret_file)}\n"
        "for action in (lambda: open(path, 'w').write('pwned'), lambda: os.rename(path, path + '.x'),\n"
        "               lambda: os.remove(path), lambda: os.chmod(path, 0o777), lambda: os.truncate(path, 0)):\n"
        "    try:\n"
        "        action()\n"
        "        print('DONE')\n"
        "    except OSError as error:\n"
        "        print(type(error).__name__)"
    )
    assert "DONE" not in result.stdout
    after = host.secret_file.stat()
    assert (after.st_mode, after.st_mtime_ns, after.st_size) == (before.st_mode, before.st_mtime_ns, before.st_size)
    host.assert_nothing_leaked(result)


# --- network -------------------------------------------------------------------------------------------


def host_addresses() -> list[str]:
    addresses = ["127.0.0.1"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # picks the outgoing interface; sends nothing
            addresses.append(probe.getsockname()[0])
        except OSError:
            pass
    return addresses


async def test_tcp_connections_to_the_host(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "network")
    listener = Listener()
    try:
        result = await sb.exec(
            "import socket\n"
            f"for address in {host_addresses()!r}:\n"
            "    try:\n"
            f"        socket.create_connection((address, {listener.port}), timeout=2).send(b'hello')\n"
            "        print(address, 'CONNECTED')\n"
            "    except OSError as error:\n"
            "        print(address, type(error).__name__)"
        )
        await asyncio.sleep(0.2)
    finally:
        listener.close()
    assert listener.accepted == 0
    assert "CONNECTED" not in result.stdout
    host.assert_nothing_leaked(result)


async def test_udp_datagrams_to_the_host(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "network")
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    port = receiver.getsockname()[1]
    try:
        result = await sb.exec(
            "import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for _ in range(5):\n"
            "    try:\n"
            f"        s.sendto(b'exfiltrated', ('127.0.0.1', {port}))\n"
            "    except OSError as error:\n"
            "        print(type(error).__name__)"
        )
        await asyncio.sleep(0.2)
        with pytest.raises(BlockingIOError):
            receiver.recv(100)
    finally:
        receiver.close()
    host.assert_nothing_leaked(result)


async def test_dns_and_http(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "network")
    result = await sb.exec(
        "import socket, urllib.request\n"
        "try:\n"
        "    print('RESOLVED', socket.getaddrinfo('example.com', 80))\n"
        "except OSError as error:\n"
        "    print('dns', type(error).__name__)\n"
        "try:\n"
        "    print('FETCHED', urllib.request.urlopen('http://example.com', timeout=3).status)\n"
        "except OSError as error:\n"
        "    print('http', type(error).__name__)"
    )
    assert result.stdout == "dns gaierror\nhttp URLError\n"
    host.assert_nothing_leaked(result)


async def test_unix_sockets_of_the_host(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "network", "filesystem")
    abstract = f"\0agorakit-escape-{secrets.token_hex(6)}"
    servers = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(2)]
    path = host.secret_file.with_name("host.sock")
    servers[0].bind(abstract)
    servers[1].bind(str(path))
    for server in servers:
        server.listen(4)
        server.setblocking(False)
    try:
        result = await sb.exec(
            "import socket\n"
            f"for address in ({abstract!r}, {q(path)}):\n"
            "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            "    try:\n"
            "        s.connect(address)\n"
            "        print('CONNECTED')\n"
            "    except OSError as error:\n"
            "        print(type(error).__name__)"
        )
        for server in servers:
            with pytest.raises(BlockingIOError):
                server.accept()
    finally:
        for server in servers:
            server.close()
    assert "CONNECTED" not in result.stdout
    host.assert_nothing_leaked(result)


# --- resources -------------------------------------------------------------------------------------------


async def test_fork_bomb(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    if not process_limit_enforced(isolation):
        pytest.skip(f"the process limit is not enforced here: {isolation.notes}")
    started = time.monotonic()
    result = await sb.exec("import os\nwhile True:\n    os.fork()")
    assert result.limit_hit == "processes"
    assert time.monotonic() - started < 10
    assert (await sb.exec("print('responsive')")).stdout == "responsive\n"
    host.assert_nothing_leaked(result)


async def test_thread_bomb(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    if not process_limit_enforced(isolation):
        pytest.skip(f"the process limit is not enforced here: {isolation.notes}")
    result = await sb.exec(
        "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()"
    )
    assert result.limit_hit == "processes"
    assert result.error is not None and "can't start new thread" in result.error
    host.assert_nothing_leaked(result)


async def test_memory_bombs(sb: Sandbox, host: Host) -> None:
    single = await sb.exec('b"x" * 10**10')
    growing = await sb.exec("hoard = []\nwhile True:\n    hoard.append(bytearray(10**7))")
    for result in (single, growing):
        assert result.limit_hit == "memory"
        assert result.error is not None and "MemoryError" in result.error
    assert growing.max_rss_mb <= LIMITS.memory_mb
    assert (await sb.exec("del hoard\nprint('ok')")).stdout == "ok\n"
    host.assert_nothing_leaked(single, growing)


TOTAL_MEMORY_MB = 512
TOTAL_MEMORY_MARGIN_MB = max(256, 32 * (os.cpu_count() or 1))
"""How far past ``total_memory_mb`` the host may ever measure the sandbox, with the watchdog: what the
processes allocate between two of its looks (20 ms apart past half the limit), the two looks that must
agree, and the kill (about 32 MB per CPU writing pages; 60-165 MB measured on a 2-CPU VM).
With a cgroup v2 limit the kernel allows no margin at all."""

MEMORY_BOMB = """
import os, time
children = []
for _ in range(16):
    pid = os.fork()
    if pid == 0:
        hoard = []
        try:
            while True:
                hoard.append(b'\\x01' * (10 * 1024 * 1024))  # written: every page is really used
        except MemoryError:  # each process stops at its own RLIMIT_AS, together far over the total
            time.sleep(60)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
"""


def proportional_mb(pids: list[int]) -> float:
    """The processes' anonymous and shared memory, each page counted once (``Pss``), in MB."""
    total = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        fields = dict(line.split()[:2] for line in rollup if line.split()[0].endswith(":"))
        total += int(fields.get("Pss_Anon:", 0)) + int(fields.get("Pss_Shmem:", 0))
    return total / 1024


async def test_a_16_process_memory_bomb_stays_under_the_total(
    isolation: Isolation, host: Host, preexisting: set[int]
) -> None:
    limits = dataclasses.replace(
        LIMITS, total_memory_mb=TOTAL_MEMORY_MB, max_processes=32, cpu_time_s=10, wall_time_s=30
    )
    peak = 0.0
    stop = threading.Event()

    def sample() -> None:  # the host's own measure, as often as it can
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, proportional_mb(sandbox_processes(preexisting)))

    async with Sandbox(limits, isolation=isolation) as sandbox:
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            bomb = await sandbox.exec(MEMORY_BOMB)
        finally:
            stop.set()
            sampler.join()
        after = await sandbox.exec("print('responsive')")
        left = sandbox_processes(preexisting)
        remaining = proportional_mb(left)
    assert bomb.limit_hit == "total_memory" and bomb.restarted, bomb
    assert bomb.error is not None and f"more than the {TOTAL_MEMORY_MB} MB memory limit" in bomb.error
    assert peak >= TOTAL_MEMORY_MB * 0.8, peak  # the bomb did grow to the limit while the host watched
    assert peak <= TOTAL_MEMORY_MB + TOTAL_MEMORY_MARGIN_MB, peak
    print(f"16-process bomb: peak {peak:.0f} MB seen from the host, total limit {TOTAL_MEMORY_MB} MB")
    assert after.stdout == "responsive\n"  # a fresh interpreter, and none of the 16 left behind
    assert len(left) <= 4 and remaining < 100, (left, remaining)
    host.assert_nothing_leaked(bomb, after)


async def test_infinite_loops(sb: Sandbox, host: Host) -> None:
    busy = await sb.exec("while True:\n    pass")
    assert busy.limit_hit in ("cpu_time", "wall_time") and busy.restarted
    assert busy.duration_s <= LIMITS.wall_time_s + 2
    idle = await sb.exec("import time\nwhile True:\n    time.sleep(1)", timeout=1.0)
    assert idle.limit_hit == "wall_time" and 1.0 <= idle.duration_s <= 3.0
    host.assert_nothing_leaked(busy, idle)


async def test_output_floods(sb: Sandbox, host: Host) -> None:
    stdout = await sb.exec("while True:\n    print('A' * 1000)")
    stderr = await sb.exec("import os\nwhile True:\n    os.write(2, b'E' * 4096)")
    assert stdout.limit_hit == stderr.limit_hit == "output"
    marker = 100  # "...[output truncated: N more bytes of M not shown]"
    assert len(stdout.stdout) <= LIMITS.max_output_bytes + marker
    assert len(stderr.stderr) <= LIMITS.max_output_bytes + marker
    assert stdout.stdout.startswith("A" * 1000) and "[output truncated" in stdout.stdout
    host.assert_nothing_leaked(stdout, stderr)


DISK_FILLER = """
import os
written = 0
try:
    for number in range(10_000):
        with open(f'fill-{number}', 'wb') as f:
            for _ in range(4):  # 4 MB files: under the per-file limit, never under the quota
                written += f.write(b'\\x01' * 1024 * 1024)
finally:
    print(written)
"""
FILE_COUNT_FILLER = """
import os
os.mkdir('many')
made = 0
try:
    while True:
        open(f'many/{made}', 'w').close()
        made += 1
finally:
    print(made)
"""


def disk_used(path: str) -> int:
    stat = os.statvfs(path)
    return (stat.f_blocks - stat.f_bfree) * stat.f_frsize


def host_mount_table() -> str:
    return Path("/proc/self/mountinfo").read_text()


def gone(*paths: Path) -> bool:
    return not any(path.exists() for path in paths)


def host_path_of(view: Path) -> Path:
    """The sandbox's own host directory, from the path that reaches its tmpfs (``/proc/<keeper>/root/...``)."""
    return Path("/", *view.parts[4:])


async def test_a_disk_filler_stops_at_the_workdir_quota(isolation: Isolation, host: Host) -> None:
    if not isolation.workdir_quota:
        pytest.skip(f"no workdir quota here: {isolation.notes}")
    limits = dataclasses.replace(LIMITS, workdir_size_mb=32)
    quota = limits.workdir_size_bytes
    host_disk = tempfile.gettempdir()  # where the sandbox's host directory lives
    host_mounts = host_mount_table()
    used_before = disk_used(host_disk)
    async with Sandbox(limits, isolation=isolation) as sandbox:
        view = sandbox.workdir
        host_dir = host_path_of(view)
        filled = await sandbox.exec(DISK_FILLER)
        used_during = disk_used(host_disk)
        kept = sum(path.stat().st_size for path in view.iterdir())
        on_host_disk = os.listdir(host_dir)
        freed = await sandbox.exec("os.remove('fill-0')\nopen('after', 'wb').write(b'x' * 1000)")
        files = await sandbox.exec(FILE_COUNT_FILLER)
    assert filled.limit_hit == "workdir_size" and not filled.restarted, filled
    assert filled.error is not None and "No space left on device" in filled.error  # ENOSPC, inside
    written = int(filled.stdout)
    assert quota - 2 * 1024 * 1024 <= written <= quota and kept <= quota
    assert on_host_disk == []  # the files are in the keeper's tmpfs, not in the host's directory
    assert used_during - used_before <= quota  # the host's disk did not take the data
    assert freed.ok and freed.stdout == "1000\n"  # deleting frees room; the interpreter carried on
    assert files.limit_hit == "workdir_size" and int(files.stdout) <= workdir.inodes_for(quota)
    assert host_mount_table() == host_mounts  # no mount reached the host
    assert gone(view, host_dir)  # with the sandbox
    host.assert_nothing_leaked(filled, freed, files)


async def test_huge_files(sb: Sandbox, host: Host) -> None:
    result = await sb.exec("with open('big', 'wb') as f:\n    f.write(b'\\0' * (20 * 1024 * 1024))")
    sparse = await sb.exec("with open('sparse', 'wb') as f:\n    f.truncate(10**12)")
    for attempt in (result, sparse):
        assert attempt.limit_hit == "file_size"
        assert attempt.error is not None and "File too large" in attempt.error
    assert (sb.workdir / "big").stat().st_size <= LIMITS.max_file_size_mb * 1024 * 1024
    assert (sb.workdir / "sparse").stat().st_size == 0
    host.assert_nothing_leaked(result, sparse)


async def test_raising_hard_limits(sb: Sandbox, host: Host) -> None:
    result = await sb.exec(
        "import resource\n"
        "for name in ('AS', 'CPU', 'NPROC', 'FSIZE', 'NOFILE', 'CORE'):\n"
        "    kind = getattr(resource, 'RLIMIT_' + name)\n"
        "    try:\n"
        "        resource.setrlimit(kind, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
        "        print(name, 'RAISED')\n"
        "    except (ValueError, OSError):\n"
        "        pass\n"
        "    print(name, resource.getrlimit(kind))"
    )
    assert "RAISED" not in result.stdout
    expected = LIMITS.rlimits()
    if sb.isolation.backend == "rlimits-only":
        del expected["NPROC"]  # raised there by the number of this user's own processes
    for name, value in expected.items():
        assert f"{name} ({value}, {value})" in result.stdout
    host.assert_nothing_leaked(result)


# --- processes, signals, kernel interfaces ------------------------------------------------------------


async def test_signals_to_the_parent_and_host(
    sb: Sandbox, host: Host, isolation: Isolation, bystander: subprocess.Popen[bytes]
) -> None:
    require(isolation, "pid")  # without a pid namespace, the parent *is* this test process
    received: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGTERM, record)
    try:
        result = await sb.exec(
            "import os, signal\n"
            f"for pid, sig in ((os.getppid(), signal.SIGKILL), ({host.pid}, signal.SIGTERM), "
            f"({bystander.pid}, signal.SIGKILL), (1, signal.SIGKILL), (-1, signal.SIGTERM)):\n"
            "    try:\n"
            "        os.kill(pid, sig)\n"
            "        print(pid, 'sent')\n"
            "    except OSError as error:\n"
            "        print(pid, type(error).__name__)"
        )
        await asyncio.sleep(0.2)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert received == []
    assert bystander.poll() is None
    os.kill(os.getpid(), 0)
    host.assert_nothing_leaked(result)


async def test_mount_and_unmount(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "filesystem")
    name = f"agorakit-escape-{secrets.token_hex(6)}"
    result = await sb.exec(
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print('tmpfs', libc.mount(b'none', b'/usr', b'tmpfs', 0, None), ctypes.get_errno())\n"
        "print('bind', libc.mount(b'/sandbox', b'/usr', None, 4096, None), ctypes.get_errno())\n"
        "print('remount', libc.mount(None, b'/usr', None, 32 | 4096, None), ctypes.get_errno())\n"
        "print('umount', libc.umount2(b'/usr', 2), ctypes.get_errno())\n"
        f"try:\n    open('/usr/{name}', 'w')\nexcept OSError as error:\n    print('write', type(error).__name__)\n"
        "print('usr has bin', 'bin' in os.listdir('/usr'))"
    )
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines[:4]] == ["-1", "-1", "-1", "-1"]
    assert lines[-1] == "usr has bin True"
    assert not (Path("/usr") / name).exists()
    host.assert_nothing_leaked(result)


async def test_nested_user_namespace_cannot_unlock_mounts(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "filesystem")
    name = f"agorakit-escape-{secrets.token_hex(6)}"
    result = await sb.exec(
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000\n"
        "print('unshare', libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), ctypes.get_errno())\n"
        "print('remount rw', libc.mount(None, b'/usr', None, 32 | 4096, None), ctypes.get_errno())\n"
        f"try:\n    open('/usr/{name}', 'w')\n    print('WROTE')\nexcept OSError as error:\n"
        "    print('write', type(error).__name__)\n"
        f"print(os.path.exists({q(host.secret_file)}))"
    )
    assert "WROTE" not in result.stdout and result.stdout.rstrip().endswith("False")
    assert not (Path("/usr") / name).exists()
    host.assert_nothing_leaked(result)


async def test_ptrace_and_process_memory(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "pid")
    result = await sb.exec(
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "PTRACE_ATTACH = 16\n"
        f"for pid in (1, os.getppid(), {host.pid}):\n"
        "    print('ptrace', pid, libc.ptrace(PTRACE_ATTACH, pid, None, None), ctypes.get_errno())\n"
        "try:\n"
        "    print(open('/proc/1/mem', 'rb').read(64))\n"
        "except OSError as error:\n"
        "    print('mem', type(error).__name__)"
    )
    ptrace = [line.split() for line in result.stdout.splitlines() if line.startswith("ptrace")]
    if isolation.seccomp:  # the filter refuses ptrace outright
        assert [line[2:] for line in ptrace] == [["-1", "1"]] * 3
    else:
        # The host process does not exist in here (ESRCH). Inside a user namespace the sandbox's own
        # pid 1 (bubblewrap's reaper, same uid) may be traced: it is part of the sandbox, not the host.
        assert ptrace[2] == ["ptrace", str(host.pid), "-1", "3"]
        if isolation.backend == "bubblewrap" and not isolation.user_namespace:
            assert ptrace[0][2] == "-1"  # setpriv mode: pid 1 belongs to root
    host.assert_nothing_leaked(result)


async def test_devices(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    require(isolation, "filesystem")
    result = await sb.exec(
        "for path in ('/dev/mem', '/dev/kmem', '/dev/kmsg', '/dev/sda', '/dev/vda', '/dev/port', '/sys/kernel'):\n"
        "    try:\n"
        "        print(path, 'READ', open(path, 'rb').read(16))\n"
        "    except OSError as error:\n"
        "        print(path, type(error).__name__)"
    )
    assert "READ" not in result.stdout
    host.assert_nothing_leaked(result)


# --- the seccomp filter ----------------------------------------------------------------------------------

# Each refused call, made with arguments that would do something if the kernel ran it. Names:
# N (this architecture's numbers), TOKEN (a unique name), WD (the workdir), CHILD (a forked
# sleeper). ``call`` returns (result, errno).
DENIED_CALLS: dict[str, str] = {
    "ptrace": "call(N['ptrace'], 16, CHILD, 0, 0)",  # PTRACE_ATTACH to the sandbox's own child
    "bpf": "call(N['bpf'], 0, buffer(2, 4, 4, 4, 4, 4, 1, 4, size=128), 128)",  # BPF_MAP_CREATE, an array
    "perf_event_open": "call(N['perf_event_open'], buffer(1, 4, 128, 4, size=128), 0, -1, -1, 0)",  # cpu-clock
    "userfaultfd": "call(N['userfaultfd'], os.O_CLOEXEC)",
    "keyctl": "call(N['keyctl'], 1, TOKEN)",  # KEYCTL_JOIN_SESSION_KEYRING: a new named keyring
    "add_key": "call(N['add_key'], b'user', TOKEN, b'payload', 7, -4)",  # into the user keyring
    "request_key": "call(N['request_key'], b'user', TOKEN, None, -4)",
    "io_uring_setup": "call(N['io_uring_setup'], 4, buffer(size=120))",
    "io_uring_enter": "call(N['io_uring_enter'], 0, 1, 1, 0, None, 0)",  # EBADF from the kernel
    "io_uring_register": "call(N['io_uring_register'], 0, 0, None, 0)",  # EBADF from the kernel
    "init_module": "call(N['init_module'], buffer(0x464c457f, 4, size=64), 64, b'')",
    "finit_module": "call(N['finit_module'], 0, b'', 0)",
    "delete_module": "call(N['delete_module'], TOKEN, os.O_NONBLOCK)",
    "mount": "call(N['mount'], b'none', WD, b'tmpfs', 0, None)",
    "umount2": "call(N['umount2'], b'/usr', 2)",  # MNT_DETACH
    "pivot_root": "call(N['pivot_root'], WD, WD)",
    "move_mount": "call(N['move_mount'], -100, b'/usr', -100, WD, 0)",
    "open_tree": "call(N['open_tree'], -100, b'/usr', 1)",  # OPEN_TREE_CLONE: a detached copy
    "open_tree_attr": "call(N['open_tree_attr'], -100, b'/usr', 1, buffer(size=32), 32)",
    "fsopen": "call(N['fsopen'], b'tmpfs', 0)",
    "fsmount": "call(N['fsmount'], 0, 0, 0)",  # EINVAL/EBADF from the kernel
    "fsconfig": "call(N['fsconfig'], 0, 0, b'ro', None, 0)",
    "fspick": "call(N['fspick'], -100, b'/usr', 0)",
    "mount_setattr": "call(N['mount_setattr'], -100, b'/usr', 0, buffer(0, 8, 1, 8, size=32), 32)",  # clear RDONLY
    "kexec_load": "call(N['kexec_load'], 0, 0, None, 0)",
    "kexec_file_load": "call(N['kexec_file_load'], -1, -1, 0, b'', 1)",  # KEXEC_FILE_UNLOAD
    "unshare": "call(N['unshare'], 0x10000000)",  # CLONE_NEWUSER
    "clone": "call(N['clone'], 0x10000000 | 17, 0, 0, 0, 0)",  # CLONE_NEWUSER | SIGCHLD
    "clone3": "call(N['clone3'], buffer(0x10000000, 8, 0, 24, 17, 8, size=88), 88)",  # flags in a struct
}
MOUNT_NAMESPACE_NEEDED = {
    "mount", "umount2", "pivot_root", "move_mount", "open_tree", "open_tree_attr", "fsopen", "fsmount",
    "fsconfig", "fspick", "mount_setattr", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module",
}  # fmt: skip

SECCOMP_PRELUDE = """
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
PID = os.getpid()

def buffer(*fields, size):
    raw = bytearray(size)
    for at in range(0, len(fields), 2):
        offset = sum(fields[1:at:2])
        raw[offset : offset + fields[at + 1]] = fields[at].to_bytes(fields[at + 1], 'little')
    return ctypes.create_string_buffer(bytes(raw), size)

def call(nr, *args):
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    error = ctypes.get_errno()
    if rc == 0 and os.getpid() != PID:  # a clone that got through: the child leaves at once
        os._exit(0)
    return rc, error

CHILD = os.fork()
if CHILD == 0:
    time.sleep(60)
    os._exit(0)
"""


def host_view(pids: list[int], key_uid: int) -> dict[str, object]:
    """What a refused call would have changed, read on the host: each sandbox process's user namespace,
    tracer, whether it is stopped, its open files; the mount tables; kernel modules, kexec, and the
    keyrings of ``key_uid``."""

    def read(path: str) -> str | None:
        try:
            return Path(path).read_text()
        except OSError:
            return None

    processes = {}
    for pid in pids:
        status = read(f"/proc/{pid}/status") or ""
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        try:
            fds = sorted(os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))
            userns = os.readlink(f"/proc/{pid}/ns/user")
        except OSError:
            continue  # gone meanwhile
        stopped = fields.get("State", "").strip()[:1] in ("t", "T")  # a traced process stops
        processes[pid] = (userns, fields.get("TracerPid", "").strip(), stopped, fds)
    key_users = [
        line for line in (read("/proc/key-users") or "").splitlines() if line.split(":")[0].strip() == str(key_uid)
    ]
    return {
        "processes": processes,
        "mounts": {pid: read(f"/proc/{pid}/mountinfo") for pid in pids},
        "host mounts": read("/proc/self/mountinfo"),
        "modules": read("/proc/modules"),
        "kexec": (read("/sys/kernel/kexec_loaded"), read("/sys/kernel/kexec_crash_loaded")),
        "keys": [line.split()[2] for line in key_users],  # nkeys/nikeys
    }


@pytest.mark.parametrize("name", list(DENIED_CALLS))
async def test_denied_system_calls(
    name: str, sb: Sandbox, host: Host, isolation: Isolation, preexisting: set[int]
) -> None:
    if not isolation.seccomp:
        pytest.skip(f"no seccomp filter here: {isolation.notes}")
    if name in MOUNT_NAMESPACE_NEEDED and isolation.backend == "rlimits-only":
        pytest.skip("without namespaces a broken filter would act on the host itself")
    arch, _ = seccomp.native_arch()
    assert arch is not None
    numbers = seccomp.ARCHES[arch].numbers
    token = f"agorakit-escape-{secrets.token_hex(6)}"
    setup = await sb.exec(
        SECCOMP_PRELUDE + f"N = {numbers!r}\nTOKEN = {token.encode()!r}\nWD = os.getcwd().encode()\nos.getuid()"
    )
    assert setup.ok, setup
    # Without a user namespace the uid inside is the host's; within one, keys are charged to the host user.
    key_uid = os.getuid() if isolation.user_namespace else int(setup.stdout)
    pids = sandbox_processes(preexisting)
    assert len(pids) >= 2  # at least the interpreter and its sleeping child
    before = host_view(pids, key_uid)
    result = await sb.exec(f"print(*{DENIED_CALLS[name]})")
    after = host_view(sandbox_processes(preexisting), key_uid)
    expected = "38" if name in seccomp.ENOSYS_CALLS else "1"  # ENOSYS, else EPERM
    assert result.stdout.split() == ["-1", expected], result
    assert after == before  # nothing happened: no new process, namespace, tracer, descriptor, mount or key
    assert (await sb.exec("os.kill(CHILD, 9); os.waitpid(CHILD, 0)[0] == CHILD")).stdout == "True\n"
    host.assert_nothing_leaked(setup, result)


async def test_the_filter_leaves_ordinary_calls_alone(sb: Sandbox, host: Host, isolation: Isolation) -> None:
    if not isolation.seccomp:
        pytest.skip(f"no seccomp filter here: {isolation.notes}")
    result = await sb.exec(
        "import ctypes, os, subprocess, threading\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print('unshare(0)', libc.unshare(0))\n"  # unshare without CLONE_NEWUSER passes the filter
        "pid = os.fork()\n"
        "if pid == 0:\n    os._exit(3)\n"
        "print('fork', os.waitpid(pid, 0)[1] >> 8)\n"
        "thread = threading.Thread(target=print, args=('thread',))\nthread.start(); thread.join()\n"
        "shell = ['/bin/sh', '-c', 'grep Seccomp: /proc/self/status']\n"
        "print(subprocess.run(shell, capture_output=True, text=True).stdout)"
    )
    assert result.stdout.split("\n")[:3] == ["unshare(0) 0", "fork 3", "thread"]
    assert "Seccomp:\t2" in result.stdout  # inherited by what the code starts
    host.assert_nothing_leaked(result)


# --- the control channel is untrusted -----------------------------------------------------------------

HOST_SIDE_EFFECTS: list[str] = []


@tool
def harmless(text: str) -> str:
    """Echo."""
    return text


@tool
def dangerous() -> str:
    """Never registered with the sandbox's dispatcher."""
    HOST_SIDE_EFFECTS.append("dangerous ran")
    return "ran"


async def test_forged_control_messages(isolation: Isolation, host: Host) -> None:
    HOST_SIDE_EFFECTS.clear()
    async with Sandbox(LIMITS, tools=ToolDispatcher([harmless]), isolation=isolation) as sandbox:
        forged = await sandbox.exec(
            "import gc\n"
            "channel = next(o for o in gc.get_objects() if type(o).__name__ == 'Channel')\n"
            "channel.call_tool('dangerous', {})"
        )
        garbage = await sandbox.exec(
            "import gc, os\n"
            "channel = next(o for o in gc.get_objects() if type(o).__name__ == 'Channel')\n"
            "os.write(channel.out_fd, b'{not json\\n')\n"
            "import time; time.sleep(5)"
        )
        after = await sandbox.exec("harmless('still works')")
    assert HOST_SIDE_EFFECTS == []
    assert forged.error is not None and "unknown tool 'dangerous'" in forged.error
    assert garbage.restarted and garbage.error is not None and "control channel" in garbage.error
    assert after.stdout == "'still works'\n"
    host.assert_nothing_leaked(forged, garbage, after)
