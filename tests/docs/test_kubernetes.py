"""The Kubernetes manifests under docs/deploy/kubernetes parse, set only variables that are
settings of the service, run only commands that exist, and probe /healthz and /readyz on the
port the image's command listens on."""

import argparse
import re
from typing import Any

import yaml

from app.cli.main import build_parser
from app.config import Settings
from tests.support.docs import KUBERNETES
from tests.support.paths import REPO

SETTINGS = {name.upper() for name in Settings.model_fields}


def _documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                found.append((path.name, document))
    return found


def _pod_spec(document: dict[str, Any]) -> dict[str, Any] | None:
    spec: dict[str, Any] = document.get("spec", {})
    if document["kind"] == "CronJob":
        pod: dict[str, Any] = spec["jobTemplate"]["spec"]["template"]["spec"]
        return pod
    if "template" in spec:
        pod = spec["template"]["spec"]
        return pod
    return None


def _commands() -> set[str]:
    parser = build_parser()
    [subparsers] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(subparsers.choices)


def test_the_manifests_parse_and_name_only_real_settings_and_commands() -> None:
    documents = _documents()
    assert {"ConfigMap", "StatefulSet", "Service", "CronJob"} <= {d["kind"] for _, d in documents}
    for name, document in documents:
        assert document.get("apiVersion"), name
        assert document.get("metadata", {}).get("name"), name
        if document["kind"] == "ConfigMap":
            assert set(document["data"]) <= SETTINGS, name
            assert all(isinstance(value, str) for value in document["data"].values()), name
        pod = _pod_spec(document)
        for container in pod["containers"] if pod else []:
            env = container.get("env", [])
            assert {item["name"] for item in env} <= SETTINGS, (name, container["name"])
            for item in env:
                secret = item.get("valueFrom", {}).get("secretKeyRef")
                if secret is not None:
                    assert secret["key"] == item["name"], (name, item)
            command = container.get("command")
            if command is not None:
                assert command[0] == "mobivate-hooks", (name, command)
                assert command[1] in _commands(), (name, command)


def test_the_probes_and_the_service_point_at_the_port_the_service_listens_on() -> None:
    documents = {document["kind"]: document for _, document in _documents()}
    pod = _pod_spec(documents["StatefulSet"])
    assert pod is not None
    [app] = [c for c in pod["containers"] if c["name"] == "app"]
    # The pods run the image's command, which listens on 8000.
    assert "command" not in app
    assert "args" not in app
    image_command = re.search(r"^CMD (.+)$", (REPO / "Dockerfile").read_text(), re.M)
    assert image_command is not None
    assert '"--port", "8000"' in image_command.group(1)
    [port] = app["ports"]
    assert (port["name"], port["containerPort"]) == ("http", 8000)
    probes = {kind: app[f"{kind}Probe"]["httpGet"] for kind in ("startup", "liveness", "readiness")}
    assert probes["startup"] == {"path": "/healthz", "port": "http"}
    assert probes["liveness"] == {"path": "/healthz", "port": "http"}
    assert probes["readiness"] == {"path": "/readyz", "port": "http"}
    [service_port] = documents["Service"]["spec"]["ports"]
    assert service_port["targetPort"] == "http"
    pod_labels = documents["StatefulSet"]["spec"]["template"]["metadata"]["labels"]
    assert documents["Service"]["spec"]["selector"].items() <= pod_labels.items()
    # The spool volume is mounted where SPOOL_DIR says, and serve has its 20 s after SIGTERM.
    spool_dir = documents["ConfigMap"]["data"]["SPOOL_DIR"]
    assert [m["mountPath"] for m in app["volumeMounts"] if m["name"] == "spool"] == [spool_dir]
    assert pod["terminationGracePeriodSeconds"] > 20
