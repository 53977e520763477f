"""docker-compose.yml wires the worker to the compose services, with pinned images (checked statically:
no Docker engine is needed). Parsed with PyYAML when installed, else with a small loader for the plain
block-style subset the file keeps to (it refuses anything outside that subset)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

try:
    import yaml
except ImportError:  # PyYAML is not a project dependency
    yaml = None

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"


def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def _scalar(text: str):
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [_scalar(p) for p in re.findall(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^,]+', inner) if p.strip()] if inner else []
    if text[:1] in "&*!|>{":
        raise ValueError(f"YAML construct outside the supported subset: {text!r}")
    if text[:1] == '"':
        return json.loads(text)
    if text[:1] == "'":
        return text[1:-1].replace("''", "'")
    if text in ("", "~", "null"):
        return None
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def _split_key(content: str) -> tuple[str, str] | None:
    m = re.match(r"^([^\s'\"#][^:]*?|\"[^\"]*\"|'[^']*'):(?:\s+(.*))?$", content)
    return (str(_scalar(m.group(1))), m.group(2) or "") if m else None


def load_yaml_subset(text: str):
    """Block mappings and sequences, flow lists of scalars, quoted and plain scalars."""
    lines = [(len(s) - len(s.lstrip(" ")), s.strip()) for s in map(_strip_comment, text.splitlines()) if s.strip()]
    if any("\t" in c for _, c in lines):
        raise ValueError("tabs are not supported")

    def block(i: int, indent: int):
        if lines[i][1].startswith("- ") or lines[i][1] == "-":
            out = []
            while i < len(lines) and lines[i][0] == indent and (lines[i][1].startswith("- ") or lines[i][1] == "-"):
                item = lines[i][1][1:].strip()
                if not item:
                    value, i = block(i + 1, lines[i + 1][0])
                elif _split_key(item):
                    lines[i] = (indent + 2, item)  # "- key: v" opens a mapping indented past the dash
                    value, i = block(i, indent + 2)
                else:
                    value, i = _scalar(item), i + 1
                out.append(value)
            return out, i
        out = {}
        while i < len(lines) and lines[i][0] == indent:
            kv = _split_key(lines[i][1])
            if kv is None:
                raise ValueError(f"not a mapping entry: {lines[i][1]!r}")
            key, rest = kv
            i += 1
            if rest:
                out[key] = _scalar(rest)
            elif i < len(lines) and (lines[i][0] > indent or (lines[i][0] == indent and lines[i][1].startswith("- "))):
                out[key], i = block(i, lines[i][0])
            else:
                out[key] = None
        return out, i

    value, end = block(0, lines[0][0])
    if end != len(lines):
        raise ValueError(f"unexpected indentation at: {lines[end][1]!r}")
    return value


def load(path: Path):
    return yaml.safe_load(path.read_text()) if yaml is not None else load_yaml_subset(path.read_text())


def test_subset_loader():
    doc = 'a:\n  b: "x:1"  # c\n  l: ["p", q]\n  s:\n  - k: 1\n    m: true\n  - plain\nn:\n'
    assert load_yaml_subset(doc) == {"a": {"b": "x:1", "l": ["p", "q"], "s": [{"k": 1, "m": True}, "plain"]}, "n": None}
    if yaml is not None:
        assert load_yaml_subset(COMPOSE.read_text()) == yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services() -> dict:
    return load(COMPOSE)["services"]


def _env(service: dict) -> dict:
    env = service.get("environment") or {}
    return dict(e.split("=", 1) for e in env) if isinstance(env, list) else {k: str(v) for k, v in env.items()}


def _depends(service: dict) -> dict:
    dep = service.get("depends_on") or {}
    return {name: "service_started" for name in dep} if isinstance(dep, list) else {
        name: (cond or {}).get("condition", "service_started") for name, cond in dep.items()}


def test_worker_dependencies_exist_and_init_runs_first(services):
    worker = services["worker"]
    for name, service in services.items():
        assert set(_depends(service)) <= set(services), f"{name} depends on a missing service"
    assert _depends(worker)["init"] == "service_completed_successfully"
    assert _depends(services["init"]) == {"kafka": "service_healthy", "clickhouse": "service_healthy"}
    assert all("healthcheck" in services[name] for name in ("kafka", "clickhouse"))
    command = " ".join(services["init"]["command"])
    assert "cascadewatch topics create" in command and "cascadewatch schema apply" in command
    assert worker["command"][:3] == ["worker", "--metrics-port", "9108"]


@pytest.mark.parametrize("name", ["init", "worker"])
def test_env_points_at_the_compose_services(services, name):
    env = _env(services[name])
    host, _, port = env["KAFKA_BOOTSTRAP"].partition(":")
    assert host in services and port == "9092"
    kafka_env = _env(services[host])
    assert f"PLAINTEXT://{host}:9092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert any(addr.endswith(":9092") for addr in kafka_env["KAFKA_LISTENERS"].split(","))
    url = urlsplit(env["CLICKHOUSE_URL"])
    assert (url.scheme, url.hostname, url.port, url.path) == ("clickhouse", "clickhouse", 9000, "/cascadewatch")
    assert url.hostname in services and "clickhouse/clickhouse-server" in services[url.hostname]["image"]


def test_init_and_worker_agree_on_partitions(services):
    # Faust sizes its tables from CASCADEWATCH_PARTITIONS: it must equal the topics' partition count.
    assert _env(services["init"]).get("CASCADEWATCH_PARTITIONS") == _env(services["worker"]).get("CASCADEWATCH_PARTITIONS")


def test_images_are_pinned(services):
    for name, service in services.items():
        if "build" in service:
            assert service["build"]["dockerfile"] == "deploy/Dockerfile"
            assert (ROOT / service["build"]["dockerfile"]).is_file()
        image = service.get("image")
        assert image or "build" in service, f"{name} has neither image nor build"
        if image:
            repo, sep, tag = image.rpartition(":")
            assert sep and "/" not in tag and re.match(r"^v?\d+(\.\d+)*", tag), f"{name}: {image} is not pinned to a version"
    assert re.fullmatch(r"apache/kafka:[34]\.\d+\.\d+", services["kafka"]["image"])
    assert re.fullmatch(r"clickhouse/clickhouse-server:24\.\d+(\.\d+)*", services["clickhouse"]["image"])
    assert "grafana-clickhouse-datasource" in _env(services["grafana"])["GF_INSTALL_PLUGINS"]


def test_mounted_files_exist(services):
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_prometheus_scrapes_the_worker_metrics_port(services):
    (job,) = load(PROMETHEUS)["scrape_configs"]
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["worker"] and sd["port"] == int(services["worker"]["command"][2])
