"""Real message brokers for the tests: Mosquitto and RabbitMQ on free ports, and helpers.

Each broker runs as a child of the test session with its own temporary configuration and
data directory, on a free port of 127.0.0.1, and is stopped (and its directory left to
pytest's tmp_path cleanup) at the end of the session. Nothing system-wide is used: RabbitMQ
gets its own node name, Mnesia and log directories, cookie (``HOME``) and its own Erlang
port mapper (``epmd`` on a free port, through ``ERL_EPMD_PORT``), so a Debian-installed
service, if one runs, is never touched.

Fixtures (import them into a test module): ``mosquitto`` and ``rabbitmq`` (one per session,
whichever modules ask), ``msgflo_tools`` (tests/js/node_modules/.bin with msgflo). A test
needing a broker is marked ``broker``; it is skipped when the broker's binary is missing,
except in CI (``CI`` set), where that fails: .ci/run installs them.

Helpers: :class:`ParticipantProcess` runs ``python -m flowpy participant``;
:class:`AmqpProbe` and :class:`MqttProbe` publish and collect messages with bare pika/paho.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from processes import NODE_BIN, free_port, python_env

START_TIMEOUT = 60.0
IN_CI = bool(os.environ.get("CI"))
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


def find_binary(name: str) -> str | None:
    if name == "rabbitmq-server":
        if os.path.exists(RABBITMQ_SERVER):
            return RABBITMQ_SERVER
        return None
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None
    )


def require_binary(name: str) -> str:
    """The broker binary, or skip (outside CI) / fail (in CI) naming how to install it."""
    path = find_binary(name)
    if path is None:
        package = "rabbitmq-server" if name.startswith("rabbitmq") else name
        message = f"{name} is not installed (apt-get install {package}; .ci/run does it)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def wait_for_port(
    port: int, proc: subprocess.Popen, timeout: float, what: str, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting\n{text}")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        time.sleep(0.1)
    text = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout}s\n{text}")


@dataclass
class Broker:
    kind: str  # "mqtt" or "amqp"
    url: str
    port: int
    workdir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        for proc in self.procs:  # the broker first, its epmd last
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        for log in self.logs:
            log.close()
        self.procs = []
        self.logs = []

    @property
    def running(self) -> bool:
        return bool(self.procs) and all(p.poll() is None for p in self.procs)


def start_mosquitto(workdir: Path) -> Broker:
    binary = require_binary("mosquitto")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        # A slow subscriber's queue: Mosquitto drops QoS 1 messages beyond it (default 1000).
        "max_queued_messages 100000\n"
        "max_inflight_messages 1000\n"
        f"log_dest file {workdir / 'mosquitto.log'}\n"
    )
    log = open(workdir / "stdout.log", "wb")  # noqa: SIM115 - closed in Broker.stop
    proc = subprocess.Popen(
        [binary, "-c", str(conf)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    broker = Broker("mqtt", f"mqtt://127.0.0.1:{port}", port, workdir, [proc], [log])
    try:
        wait_for_port(port, proc, START_TIMEOUT, "mosquitto", workdir / "stdout.log")
    except RuntimeError:
        broker.stop()
        raise
    return broker


def start_rabbitmq(workdir: Path) -> Broker:
    binary = require_binary("rabbitmq-server")
    epmd_binary = shutil.which("epmd") or "/usr/bin/epmd"
    workdir.mkdir(parents=True, exist_ok=True)
    port, dist_port, epmd_port = free_port(), free_port(), free_port()
    (workdir / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{port}\n"
        "loopback_users = none\n"
        "log.console = true\nlog.console.level = warning\n"
        "vm_memory_high_watermark.relative = 0.2\n"
        "disk_free_limit.absolute = 50MB\n"
    )
    (workdir / "enabled_plugins").write_text("[].\n")
    env = {
        **os.environ,
        "HOME": str(workdir),
        "ERL_EPMD_PORT": str(epmd_port),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODENAME": f"flowpytest{port}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(workdir / "log"),
        "RABBITMQ_CONFIG_FILE": str(workdir / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(workdir / "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": str(workdir / "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(workdir / "enabled_plugins"),
        "RABBITMQ_PLUGINS_EXPAND_DIR": str(workdir / "plugins-expand"),
        "RABBITMQ_PID_FILE": str(workdir / "rabbitmq.pid"),
    }
    logs = []
    epmd_log = open(workdir / "epmd.log", "wb")  # noqa: SIM115 - closed in Broker.stop
    logs.append(epmd_log)
    epmd = subprocess.Popen(
        [epmd_binary, "-port", str(epmd_port), "-address", "127.0.0.1"],
        stdout=epmd_log,
        stderr=subprocess.STDOUT,
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    server_log = open(workdir / "server.log", "wb")  # noqa: SIM115 - closed in Broker.stop
    logs.append(server_log)
    broker = Broker("amqp", f"amqp://guest:guest@127.0.0.1:{port}/%2F", port, workdir, [], logs)
    try:
        wait_for_port(epmd_port, epmd, 10.0, "epmd", workdir / "epmd.log")
        server = subprocess.Popen(
            [binary],
            stdout=server_log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(workdir),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        broker.procs = [server, epmd]
        wait_for_port(port, server, START_TIMEOUT, "rabbitmq-server", workdir / "server.log")
        _wait_amqp_ready(broker.url, time.monotonic() + START_TIMEOUT)
    except BaseException:
        broker.procs = broker.procs or [epmd]
        broker.stop()
        raise
    return broker


def _wait_amqp_ready(url: str, deadline: float) -> None:
    import pika

    while True:
        try:
            pika.BlockingConnection(pika.URLParameters(url)).close()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


_SESSION: dict[str, Broker] = {}
_SESSION_LOCK = threading.Lock()


def session_broker(kind: str, factory: pytest.TempPathFactory) -> Broker:
    """One broker of ``kind`` for the whole session, started on first use."""
    with _SESSION_LOCK:
        broker = _SESSION.get(kind)
        if broker is None or not broker.running:
            workdir = factory.mktemp(kind)
            broker = start_mosquitto(workdir) if kind == "mqtt" else start_rabbitmq(workdir)
            _SESSION[kind] = broker
        return broker


def _stop_session(kind: str) -> None:
    with _SESSION_LOCK:
        broker = _SESSION.pop(kind, None)
    if broker is not None:
        broker.stop()


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A Mosquitto broker for the session (MQTT 3.1.1 and 5)."""
    if not IN_CI:
        pytest.importorskip("paho.mqtt.client")
    yield session_broker("mqtt", tmp_path_factory)
    _stop_session("mqtt")


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A RabbitMQ node for the session (AMQP 0-9-1), guest/guest on vhost /."""
    if not IN_CI:
        pytest.importorskip("pika")
    yield session_broker("amqp", tmp_path_factory)
    _stop_session("amqp")


@pytest.fixture(params=["mqtt", "amqp"])
def broker(request: pytest.FixtureRequest) -> Broker:
    """Each broker in turn."""
    return request.getfixturevalue("mosquitto" if request.param == "mqtt" else "rabbitmq")


@pytest.fixture(scope="session")
def msgflo_tools() -> Path:
    """tests/js/node_modules/.bin with msgflo's tools, or FAIL (npm ci --prefix tests/js)."""
    if not (NODE_BIN / "msgflo-nodejs").exists():
        pytest.fail(
            "msgflo is not installed under tests/js: run `npm ci --prefix tests/js`", pytrace=False
        )
    return NODE_BIN


def unique_role(prefix: str = "role") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


# -- participants as processes -------------------------------------------------------------


class ParticipantProcess:
    """``python -m flowpy participant ...`` (or any command printing a ready line)."""

    def __init__(
        self,
        args: list[str],
        workdir: Path,
        env: dict[str, str] | None = None,
        ready: str = "flowpy participant ",
        command: list[str] | None = None,
        timeout: float = 30.0,
        group: bool = False,
    ) -> None:
        """``group``: the process leads a process group of its own and signals go to the
        whole group (msgflo-setup starts participants of its own and does not stop them)."""
        self.group = group
        workdir.mkdir(parents=True, exist_ok=True)
        self.command = command or [sys.executable, "-m", "flowpy", "participant", *args]
        self.stderr_path = workdir / f"stderr-{uuid.uuid4().hex[:6]}.txt"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            self.command,
            cwd=str(workdir),
            env=python_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            start_new_session=group,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self._reader = threading.Thread(target=self._read, name=f"participant-{self.proc.pid}")
        self._reader.start()
        self.ready_line = self._wait_ready(ready, timeout)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def _wait_ready(self, ready: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                pytest.fail(f"no ready line in {timeout}s\n{self}")
            if line is None:
                self.wait()
                pytest.fail(f"participant exited with {self.proc.returncode}\n{self}")
            if ready in line:
                return line

    def stderr(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def __str__(self) -> str:
        return (
            f"command: {' '.join(self.command)}\nstdout:\n{''.join(self.stdout)}"
            f"stderr:\n{self.stderr()}"
        )

    def signal(self, sig: int) -> None:
        if self.group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
        elif self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGABRT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait()
        if self.group:  # the members it started outlive it: wait for them, then kill
            deadline = time.monotonic() + timeout
            while group_members(self.proc.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if group_members(self.proc.pid):
                self.signal(signal.SIGKILL)
        self._reader.join()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()
        return self.proc.returncode

    def stop(self, timeout: float = 30.0) -> int:
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait()


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


@contextlib.contextmanager
def participants(workdir: Path) -> Iterator[Any]:
    """``start(args, **kw)`` spawns a participant; all are stopped at the end."""
    started: list[ParticipantProcess] = []

    def start(args: list[str], **kwargs: Any) -> ParticipantProcess:
        proc = ParticipantProcess(args, workdir / f"p{len(started)}", **kwargs)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            if proc.proc.poll() is None:
                proc.stop(timeout=20.0)
            elif not proc._stderr.closed:
                proc.wait()


def graph_file(directory: Path, name: str, fbp: str) -> Path:
    path = directory / f"{name}.fbp"
    path.write_text(fbp, encoding="utf-8")
    return path


#: in -> core/Repeat -> out: the trivial participant graph.
REPEAT_FBP = "INPORT=r.IN:IN\nOUTPORT=r.OUT:OUT\nr(core/Repeat)\n"


# -- bare clients ---------------------------------------------------------------------------


class AmqpProbe:
    """A bare pika client: publish to MsgFlo queues, collect what an outqueue gets."""

    def __init__(self, url: str) -> None:
        import pika

        self.pika = pika
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.collected: dict[str, str] = {}

    def collect(self, exchange: str) -> str:
        """A private queue bound to outqueue ``exchange`` (declared as MsgFlo does)."""
        self.channel.exchange_declare(exchange, "fanout", durable=True)
        name = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(name, exchange)
        self.collected[exchange] = name
        return name

    def declare_inqueue(self, queue_name: str) -> None:
        self.channel.queue_declare(
            queue_name, durable=True, arguments={"x-dead-letter-exchange": "dead-" + queue_name}
        )
        self.channel.exchange_declare(queue_name, "fanout", durable=True)
        self.channel.queue_bind(queue_name, queue_name)

    def bind(self, src_exchange: str, tgt_queue: str) -> None:
        """What msgflo-setup does for a pubsub edge."""
        self.channel.queue_bind(tgt_queue, src_exchange)

    def send(
        self, queue_name: str, value: Any, raw: bytes | None = None, headers: dict | None = None
    ) -> None:
        body = raw if raw is not None else json.dumps(value).encode()
        props = self.pika.BasicProperties(delivery_mode=2, headers=headers)
        self.channel.basic_publish(queue_name, "", body, props)

    def messages(self, exchange: str, count: int, timeout: float = 20.0) -> list[bytes]:
        """``count`` bodies from the queue bound to ``exchange`` (fewer on timeout)."""
        name = self.collected[exchange]
        out: list[bytes] = []
        deadline = time.monotonic() + timeout
        # Acknowledged one by one: at the cancel, pika requeues what it buffered beyond
        # ``count`` (with auto_ack those would be lost).
        for method, _props, body in self.channel.consume(name, inactivity_timeout=0.2):
            if method is not None:
                out.append(body)
                self.channel.basic_ack(method.delivery_tag)
            if len(out) >= count or time.monotonic() > deadline:
                break
        self.channel.cancel()
        return out

    def get_all(self, queue_name: str) -> list[bytes]:
        out = []
        while True:
            method, _props, body = self.channel.basic_get(queue_name, auto_ack=True)
            if method is None:
                return out
            out.append(body)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.close()


class MqttProbe:
    """A bare paho client (MQTT 3.1.1, as MsgFlo's participants): publish, subscribe, collect."""

    def __init__(self, url: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        host, _, port = url.split("://", 1)[1].rpartition(":")
        self.mqtt = mqtt
        self.received: dict[str, queue.Queue[bytes]] = {}
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:8]}"
        )
        self.client.max_inflight_messages_set(1000)
        self.client.on_message = self._on_message
        self.client.connect(host, int(port))
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.received.setdefault(message.topic, queue.Queue()).put(message.payload)

    def collect(self, topic: str) -> None:
        self.received.setdefault(topic, queue.Queue())
        result, mid = self.client.subscribe(topic, qos=1)
        deadline = time.monotonic() + 5
        # wait for the SUBACK by round-tripping a message to ourselves
        marker = f"probe-sync-{uuid.uuid4().hex}"
        sync = queue.Queue()
        self.received[marker] = sync
        self.client.subscribe(marker, qos=1)
        while time.monotonic() < deadline:
            self.client.publish(marker, b"1", qos=1)
            try:
                sync.get(timeout=0.2)
                return
            except queue.Empty:
                continue
        raise TimeoutError(f"could not subscribe to {topic}")

    def send(self, topic: str, value: Any, raw: bytes | None = None) -> None:
        body = raw if raw is not None else json.dumps(value).encode()
        self.client.publish(topic, body, qos=1).wait_for_publish(10)

    def messages(self, topic: str, count: int, timeout: float = 20.0) -> list[bytes]:
        box = self.received.setdefault(topic, queue.Queue())
        out: list[bytes] = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                out.append(box.get(timeout=remaining))
            except queue.Empty:
                break
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def probe(broker: Broker) -> Any:
    return MqttProbe(broker.url) if broker.kind == "mqtt" else AmqpProbe(broker.url)
