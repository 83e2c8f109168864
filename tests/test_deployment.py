"""The Dockerfile and docker-compose.yml hold what operators expect, and the
package builds and serves the way the Dockerfile builds it.

There is no Docker engine here: the files are read, and the build is redone
by hand — the build stage's COPY lines into a fresh context, ``pip wheel``
there, ``pip install --no-index`` of those wheels into a fresh venv (not
editable), and ``muster serve`` started from that venv outside the checkout.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from server.settings import DOCUMENTED, load_settings
from tests.servers import ROOT, free_port, wait_until_ready

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
CADDYFILE = (ROOT / "deploy" / "Caddyfile").read_text(encoding="utf-8")
PINNED = re.compile(r"^[\w./-]+:\d+\.\d+(\.\d+)?[\w.-]*(@sha256:[0-9a-f]{64})?$")


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (keyword, arguments), continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def test_base_image_is_pinned_to_a_release():
    args = dict(
        rest.split("=", 1) for keyword, rest in instructions() if keyword == "ARG" and "=" in rest
    )
    for stage in stages():
        image = stage[0][1].split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert PINNED.match(image), f"base image {image} is not pinned to a release"


def test_the_package_is_installed_at_build_time_and_runs_without_rights():
    runtime = stages()[-1]
    runs = " ".join(rest for keyword, rest in runtime if keyword == "RUN")
    assert "pip install" in runs and "--no-index" in runs
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(k == "CMD" and "muster" in r and "serve" in r for k, r in runtime)
    health = [rest for keyword, rest in runtime if keyword == "HEALTHCHECK"]
    assert health and "/readyz" in health[0]


def build_context_paths() -> list[str]:
    """What the build stage copies from the context."""
    paths: list[str] = []
    for keyword, rest in stages()[0]:
        if keyword == "COPY" and "--from" not in rest:
            paths.extend(shlex.split(rest)[:-1])
    return paths


def test_the_build_copies_every_package_and_the_ignore_file_keeps_them():
    copied = build_context_paths()
    for needed in ("pyproject.toml", "setup.py", "README.md", "server", "checkin", "realtime"):
        assert needed in copied, f"the Dockerfile does not copy {needed}"
    assert "pwa" in copied, "the pages' static files are not in the image"
    top_level_packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert top_level_packages <= set(copied)
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert not set(copied) & set(ignored)


def test_compose_builds_the_image_and_installs_nothing_at_start():
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "pip install" not in text
    services = COMPOSE["services"]
    muster = [name for name, service in services.items() if service.get("build")]
    assert sorted(muster) == ["muster-1", "muster-2"]
    for name in muster:
        assert "command" not in services[name]
        env = services[name]["environment"]
        assert env["MUSTER_PUBLIC_URL"].startswith("https://")
        assert env["MUSTER_DATABASE_URL"].startswith("postgresql+asyncpg://")
        unknown = {key for key in env if key.startswith("MUSTER_")} - set(load_and_list())
        assert not unknown, f"compose sets settings Muster does not read: {unknown}"
        assert "ports" not in services[name], "only the TLS proxy is published"
        # Both open the signing keys with one key-encryption key: one shared file.
        assert "muster-keys:/var/lib/muster" in services[name]["volumes"]
    for name, service in services.items():
        if "image" in service and not service.get("build"):
            assert PINNED.match(service["image"]), f"{name}: {service['image']} is not pinned"


def load_and_list() -> list[str]:
    load_settings({})
    return list(DOCUMENTED)


def test_tls_proxy_in_front_of_both_processes():
    caddy = COMPOSE["services"]["caddy"]
    assert any(str(port).startswith("443:") for port in caddy["ports"])
    assert any("deploy/Caddyfile:/etc/caddy/Caddyfile" in v for v in caddy["volumes"])
    assert any(v.endswith(":/data") for v in caddy["volumes"]), "the local CA must survive"
    proxy = re.search(r"reverse_proxy\s+([^{]+)\{", CADDYFILE)
    assert proxy and proxy.group(1).split() == ["muster-1:8000", "muster-2:8000"]
    assert "health_uri /readyz" in CADDYFILE
    assert re.search(r"tls \{\$MUSTER_TLS:internal\}", CADDYFILE)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for choice in ("MUSTER_SITE", "MUSTER_TLS", "internal", "/certs/cert.pem"):
        assert choice in readme, f"the README does not say how to use {choice}"


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory) -> Path:
    """The package as the Dockerfile builds it: wheels from a context holding
    only what it copies, installed from those wheels alone into a fresh venv."""
    base = tmp_path_factory.mktemp("image")
    context = base / "src"
    for path in build_context_paths():
        source = ROOT / path
        if source.is_dir():
            shutil.copytree(
                source, context / path, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            context.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, context / path)
    wheels = base / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--wheel-dir", str(wheels), "."], cwd=context, check=True)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(wheels),
            "muster",
        ],
        check=True,
    )
    return venv


def test_the_installed_package_serves_pages_and_migrates(installed_venv, tmp_path):
    python = installed_venv / "bin" / "python"
    located = subprocess.run(
        [
            str(python),
            "-c",
            "import server, server.settings as s; print(server.__file__);"
            "print(s.load_settings({}).pwa_dir)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert str(installed_venv) in located[0], "the checkout was imported, not the install"
    assert located[1].startswith(str(installed_venv)) and located[1].endswith("server/pwa")

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
    env |= {"MUSTER_PORT": str(port), "MUSTER_DATA_DIR": str(tmp_path / "data")}
    process = subprocess.Popen(
        [str(installed_venv / "bin" / "muster"), "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until_ready(base, process, time.monotonic() + 60), "never ready"
        for page in ("/", "/app/", "/console/", "/command/"):
            answer = httpx.get(base + page)
            assert answer.status_code == 200 and "<html" in answer.text.lower(), page
        assert httpx.get(f"{base}/vendor/README.md").status_code == 200
        assert httpx.get(f"{base}/openapi.json").json()["paths"]
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0]
    assert "mst_" in output, "the first start on a fresh database printed no token"
