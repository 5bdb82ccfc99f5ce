"""Starts a real havend (with synthetic demo data) in a temporary directory.

The daemon binary comes from $HAVEN_BIN_DIR (Scripts/test sets it), else from
`swift build --show-bin-path` in the repository."""
import os
import socket
import subprocess
import sys
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))

# Short deadlines so an escalation happens while the tests watch.
ROUTING_RULES = """
[[rule]]
name = "imminent"
events = ["concern.created"]
severities = ["imminent"]
to = ["on_duty:counselor"]
priority = "emergency"
acknowledge_within = "1s"
  [[rule.escalate]]
  after = "1s"
  to = ["on_duty:designated_lead"]
"""


def havend_binary() -> str:
    bin_dir = os.environ.get("HAVEN_BIN_DIR")
    if not bin_dir:
        bin_dir = subprocess.run(["swift", "build", "--show-bin-path"], cwd=REPO, check=True,
                                 capture_output=True, text=True).stdout.strip()
    path = os.path.join(bin_dir, "havend")
    if not os.access(path, os.X_OK):
        pytest.exit("havend not found at %s: run `swift build` first (Scripts/test does)" % path, returncode=2)
    return path


class Daemon:
    def __init__(self, directory: str):
        self.directory = directory
        self.socket = os.path.join(directory, "run", "haven.sock")
        rules = os.path.join(directory, "routing.toml")
        with open(rules, "w") as f:
            f.write(ROUTING_RULES)
        config = os.path.join(directory, "havend.toml")
        with open(config, "w") as f:
            f.write('[plugins]\nenabled = ["screening", "referrals", "reporting"]\n[plugins.referrals]\nrules = "%s"\n' % rules)
        self.log_path = os.path.join(directory, "havend.log")
        self.log = open(self.log_path, "w")
        env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(directory, "xdg-config"))
        env.pop("HAVEN_TOKEN", None)
        self.process = subprocess.Popen(
            [havend_binary(), "--demo", "--config", config, "--socket", self.socket,
             "--data-dir", os.path.join(directory, "data")],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL, env=env)
        self.wait_until_listening()

    def wait_until_listening(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("havend exited with %s during start-up:\n%s" % (self.process.returncode, self.read_log()))
            if os.path.exists(self.socket):
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    probe.connect(self.socket)
                    return
                except OSError:
                    pass
                finally:
                    probe.close()
            time.sleep(0.05)
        raise RuntimeError("havend did not start within %ss:\n%s" % (timeout, self.read_log()))

    def read_log(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="session")
def daemon(tmp_path_factory):
    running = Daemon(str(tmp_path_factory.mktemp("havend")))
    yield running
    running.stop()
    if running.process.returncode not in (0, -15):
        print(running.read_log(), file=sys.stderr)


@pytest.fixture
def client(daemon):
    from haven_client import Client

    with Client(daemon.socket) as haven:
        yield haven


@pytest.fixture(scope="session")
def examples_dir():
    return os.path.join(REPO, "Clients", "python", "examples")


@pytest.fixture
def run_example(daemon, examples_dir):
    def run(name, *args, timeout=60, token=None):
        env = dict(os.environ, HAVEN_SOCKET=daemon.socket)
        env.pop("HAVEN_TOKEN", None)
        if token:
            env["HAVEN_TOKEN"] = token
        return subprocess.run([sys.executable, os.path.join(examples_dir, name)] + list(args),
                              capture_output=True, text=True, timeout=timeout, env=env)
    return run

