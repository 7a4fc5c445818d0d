#!/usr/bin/env python3
"""Consistency checks of deploy/ that no schema can make.

    python3 deploy/check_deploy.py [DEPLOY_DIR]

kubernetes-validate checks each manifest against the Kubernetes schemas;
this checks that the pieces fit together and fit the herd:

- the herd.toml embedded in the ConfigMap parses (TOML), has only known
  keys, unique node names and addresses, links between existing nodes, and
  a link graph that stays connected with any one node down (what the
  PodDisruptionBudget allows);
- its node names are exactly the StatefulSet's pod names (herd-0 ..
  herd-(replicas-1)), its addresses are those pods' names under the
  headless Service and the container's ports, and every node binds a
  wildcard address;
- selectors, port names, the ConfigMap and Secret references, the mount
  paths and the command line of the StatefulSet agree with the other
  objects; kustomization.yaml lists every manifest but the example Secret;
- herdctl-port-forward.toml has the same herd, nodes and links;
- the container image runs as the UID the pods require and exposes their
  ports.

It does not run herd-node: that would need a build, and the config's
HOST:PORT addresses and bind keys need the node that supports them. Needs
PyYAML (a dependency of kubernetes-validate) and Python 3.11 (tomllib).
Prints every problem found and exits 1 if there is one.
"""

import ipaddress
import re
import sys
import tomllib
from itertools import combinations
from pathlib import Path

import yaml

# What a herd config may hold (docs/operations.md, "Configuration", and the
# contract's later sections); the node refuses any other key.
TOP_KEYS = {"links", "herd", "places", "limits", "node", "tls", "log", "records"}
NODE_KEYS = {"name", "client", "peer", "admin", "bind", "metrics"}
ADDRESS_KEYS = ("client", "peer", "admin")
# The pods' nodes also serve metrics (the readiness probe is GET /ready);
# herdctl's port-forward view needs no metrics address.
POD_ADDRESS_KEYS = ADDRESS_KEYS + ("metrics",)
# The example Secret is kept out of kustomization.yaml on purpose.
NOT_IN_KUSTOMIZATION = {"kustomization.yaml", "secret.example.yaml"}


class Checker:
    def __init__(self, deploy: Path):
        self.deploy = deploy
        self.k8s = deploy / "kubernetes"
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    # ---- loading -----------------------------------------------------------

    def load_manifests(self) -> dict[str, list[tuple[str, dict]]]:
        """kind -> [(file name, object)] for every manifest but the kustomization."""
        by_kind: dict[str, list[tuple[str, dict]]] = {}
        for path in sorted(self.k8s.glob("*.yaml")):
            if path.name == "kustomization.yaml":
                continue
            try:
                docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
            except yaml.YAMLError as err:
                self.fail(path.name, f"not YAML: {err}")
                continue
            for doc in docs:
                if not isinstance(doc, dict) or "kind" not in doc:
                    self.fail(path.name, "a document that is not a Kubernetes object")
                    continue
                by_kind.setdefault(doc["kind"], []).append((path.name, doc))
        return by_kind

    def one(self, by_kind, kind: str):
        found = by_kind.get(kind, [])
        if len(found) != 1:
            self.fail("kubernetes/", f"expected exactly one {kind}, found {len(found)}")
            return None, None
        return found[0]

    def parse_toml(self, where: str, text: str):
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            self.fail(where, f"not valid TOML: {err}")
            return None

    # ---- the herd config on its own -------------------------------------------

    def check_herd_config(self, where: str, config: dict) -> tuple[list[dict], set]:
        for key in config:
            if key not in TOP_KEYS:
                self.fail(where, f"unknown top-level key {key!r}")
        nodes = config.get("node", [])
        if not isinstance(nodes, list) or not nodes:
            self.fail(where, "no [[node]] defined")
            return [], set()
        names: list[str] = []
        seen_addresses: dict[str, str] = {}
        for node in nodes:
            name = node.get("name")
            if not isinstance(name, str) or not name or len(name.encode()) > 64 \
                    or re.search(r"[\s\x00-\x1f\x7f]", name):
                self.fail(where, f"bad node name {name!r}")
                continue
            if name in names:
                self.fail(where, f"duplicate node name {name!r}")
            names.append(name)
            for key in node:
                if key not in NODE_KEYS:
                    self.fail(where, f"node {name!r}: unknown key {key!r}")
            for key in ADDRESS_KEYS + tuple(k for k in ("metrics",) if k in node):
                address = node.get(key)
                if not isinstance(address, str):
                    self.fail(where, f"node {name!r}: {key} address missing")
                    continue
                if split_address(address) is None:
                    self.fail(where, f"node {name!r}: {key} address {address!r} is not HOST:PORT")
                if address in seen_addresses:
                    self.fail(where, f"node {name!r}: {key} address {address} already used by "
                                     f"{seen_addresses[address]}")
                seen_addresses[address] = f"{name} {key}"
            if "bind" in node:
                try:
                    ipaddress.ip_address(node["bind"])
                except (ValueError, TypeError):
                    self.fail(where, f"node {name!r}: bind {node['bind']!r} is not an IP address")

        links: set[frozenset] = set()
        for link in config.get("links", []):
            if not (isinstance(link, list) and len(link) == 2
                    and all(isinstance(end, str) for end in link)):
                self.fail(where, f"link {link!r} is not a pair of node names")
                continue
            for end in link:
                if end not in names:
                    self.fail(where, f"link {link!r} names unknown node {end!r}")
            if link[0] == link[1]:
                self.fail(where, f"link {link!r} links a node to itself")
            pair = frozenset(link)
            if pair in links:
                self.fail(where, f"link {link!r} is listed twice")
            links.add(pair)

        if names and not connected(set(names), links):
            self.fail(where, "the link graph is not connected")
        else:
            for down in names:
                if not connected(set(names) - {down}, links):
                    self.fail(where, f"the link graph falls apart while {down} is down "
                                     "(a rolling restart takes one node down at a time)")
        return nodes, links

    # ---- everything together ------------------------------------------------------

    def run(self) -> int:
        by_kind = self.load_manifests()
        self.check_kustomization()

        sts_file, sts = self.one(by_kind, "StatefulSet")
        cm_file, cm = self.one(by_kind, "ConfigMap")
        secret_file, secret = self.one(by_kind, "Secret")
        pdb_file, pdb = self.one(by_kind, "PodDisruptionBudget")
        np_file, netpol = self.one(by_kind, "NetworkPolicy")
        services = {doc["metadata"]["name"]: (f, doc) for f, doc in by_kind.get("Service", [])}
        if sts is None or cm is None:
            return self.report()

        text = (cm.get("data") or {}).get("herd.toml")
        if text is None:
            self.fail(cm_file, "the ConfigMap has no key herd.toml")
            return self.report()
        where = f"{cm_file} (herd.toml)"
        config = self.parse_toml(where, text)
        if config is None:
            return self.report()
        nodes, links = self.check_herd_config(where, config)
        herd = config.get("herd", {})
        for key in ("secret", "admin_token"):
            if herd.get(key):
                self.fail(where, f"[herd] {key} is written in the ConfigMap; it belongs in "
                                 "the Secret (HERD_SECRET / HERD_ADMIN_TOKEN)")

        spec = sts["spec"]
        pod = spec["template"]["spec"]
        pod_labels = spec["template"]["metadata"].get("labels", {})
        sts_name = sts["metadata"]["name"]
        replicas = spec.get("replicas", 1)

        # Node names are the pod names: --name-from-hostname.
        pods = [f"{sts_name}-{i}" for i in range(replicas)] if isinstance(replicas, int) else []
        names = [n.get("name") for n in nodes]
        if sorted(names) != sorted(pods):
            self.fail(where, f"node names {names} are not the StatefulSet's pods {pods} "
                             f"(replicas: {replicas})")

        # Selectors select the pods.
        if not subset(spec["selector"].get("matchLabels", {}), pod_labels):
            self.fail(sts_file, "spec.selector does not match the pod template's labels")
        for name, (f, svc) in services.items():
            if not subset(svc["spec"].get("selector", {}), pod_labels) or not svc["spec"].get("selector"):
                self.fail(f, f"Service {name} does not select the herd pods")
        if pdb is not None and not subset(pdb["spec"]["selector"].get("matchLabels", {}), pod_labels):
            self.fail(pdb_file, "the PodDisruptionBudget does not select the herd pods")
        if netpol is not None and not subset(netpol["spec"]["podSelector"].get("matchLabels", {}), pod_labels):
            self.fail(np_file, "the NetworkPolicy does not select the herd pods")

        # The headless Service gives the names the config dials.
        headless = services.get(spec.get("serviceName"))
        if headless is None:
            self.fail(sts_file, f"serviceName {spec.get('serviceName')!r} is not a Service here")
        else:
            hspec = headless[1]["spec"]
            if hspec.get("clusterIP") != "None":
                self.fail(headless[0], "the StatefulSet's Service must be headless (clusterIP: None)")
            if hspec.get("publishNotReadyAddresses") is not True:
                self.fail(headless[0], "publishNotReadyAddresses must be true, so peers can "
                                       "dial a pod before it is Ready")

        containers = pod.get("containers", [])
        if len(containers) != 1:
            self.fail(sts_file, "expected one container")
            return self.report()
        container = containers[0]
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        port_numbers = set(ports.values())

        def port_ok(port) -> bool:
            return port in ports if isinstance(port, str) else port in port_numbers

        # Each node: its pod's name under the headless Service, the container's ports.
        service_name = spec.get("serviceName", "")
        for node in nodes:
            name = node.get("name")
            for key in POD_ADDRESS_KEYS:
                hp = split_address(node.get(key, ""))
                if hp is None:
                    self.fail(where, f"node {name}: no {key} address")
                    continue
                host, port = hp
                if host != f"{name}.{service_name}" and not host.startswith(f"{name}.{service_name}."):
                    self.fail(where, f"node {name}: {key} host {host!r} is not the pod's name "
                                     f"{name}.{service_name}")
                if ports.get(key) != port:
                    self.fail(where, f"node {name}: {key} port {port} is not the container's "
                                     f"{key} port {ports.get(key)}")
            if node.get("bind") not in ("0.0.0.0", "::"):
                self.fail(where, f"node {name}: bind must be \"0.0.0.0\" or \"::\" (a pod's IP "
                                 "is not known in advance)")

        # Ready when GET /ready on the metrics port says so (records loaded,
        # every port serving); alive while the client port accepts (not
        # /health: a dead peer must not get a healthy pod restarted).
        ready = (container.get("readinessProbe") or {}).get("httpGet")
        if ready is None or ready.get("path") != "/ready" or ready.get("port") not in ("metrics", ports.get("metrics")):
            self.fail(sts_file, "readinessProbe is not httpGet /ready on the metrics port")
        tcp = (container.get("livenessProbe") or {}).get("tcpSocket")
        if tcp is None:
            self.fail(sts_file, "livenessProbe is not a tcpSocket probe")
        elif not port_ok(tcp.get("port")):
            self.fail(sts_file, f"livenessProbe port {tcp.get('port')!r} is not a container port")
        annotations = pod_meta.get("annotations", {}) if (pod_meta := spec.get("template", {}).get("metadata")) else {}
        if str(annotations.get("prometheus.io/port")) != str(ports.get("metrics")):
            self.fail(sts_file, f"annotation prometheus.io/port {annotations.get('prometheus.io/port')!r} "
                                f"is not the metrics port {ports.get('metrics')}")
        for name, (f, svc) in services.items():
            for p in svc["spec"].get("ports", []):
                if not port_ok(p.get("targetPort", p.get("port"))):
                    self.fail(f, f"Service {name}: targetPort {p.get('targetPort')!r} is not a container port")
        if netpol is not None:
            for rule in netpol["spec"].get("ingress", []):
                for p in rule.get("ports", []):
                    if not port_ok(p.get("port")):
                        self.fail(np_file, f"port {p.get('port')!r} is not a container port")

        # The command line, the config mount and the data volume.
        args = container.get("args", [])
        if "--name-from-hostname" not in args:
            self.fail(sts_file, "the container's args lack --name-from-hostname")
        mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        config_volumes = [n for n, v in volumes.items()
                          if (v.get("configMap") or {}).get("name") == cm["metadata"]["name"]]
        if len(config_volumes) != 1 or config_volumes[0] not in mounts:
            self.fail(sts_file, f"ConfigMap {cm['metadata']['name']} is not mounted exactly once")
        else:
            mount = mounts[config_volumes[0]]
            if "subPath" in mount:
                self.fail(sts_file, "the ConfigMap is mounted with subPath, which never sees "
                                    "updates: a reload would read the old file")
            if arg_value(args, "--config") != f"{mount['mountPath'].rstrip('/')}/herd.toml":
                self.fail(sts_file, f"--config {arg_value(args, '--config')!r} is not "
                                    f"{mount['mountPath']}/herd.toml")
        claims = [t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])]
        if len(claims) != 1 or claims[0] not in mounts:
            self.fail(sts_file, "expected one volumeClaimTemplate, mounted in the container")
        elif arg_value(args, "--data-dir") != mounts[claims[0]]["mountPath"]:
            self.fail(sts_file, f"--data-dir {arg_value(args, '--data-dir')!r} is not the data "
                                f"volume's mountPath {mounts[claims[0]]['mountPath']}")
        if pod.get("terminationGracePeriodSeconds", 30) <= 5:
            self.fail(sts_file, "terminationGracePeriodSeconds must exceed the node's 5 s stop")

        # The Secret the pods read.
        if secret is not None:
            keys = set((secret.get("stringData") or {}) | (secret.get("data") or {}))
            for env in container.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref is None:
                    continue
                if ref.get("name") != secret["metadata"]["name"]:
                    self.fail(sts_file, f"env {env['name']} reads Secret {ref.get('name')!r}, "
                                        f"not {secret['metadata']['name']}")
                elif ref.get("key") not in keys and not ref.get("optional"):
                    self.fail(secret_file, f"the Secret has no key {ref.get('key')} "
                                           f"(env {env['name']})")

        # The image the pods run.
        self.check_image(pod, container, ports)

        # herdctl's view through port-forward.
        self.check_operator_config(config, nodes, links)
        return self.report()

    def check_kustomization(self) -> None:
        path = self.k8s / "kustomization.yaml"
        try:
            kustomization = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as err:
            self.fail("kustomization.yaml", f"cannot read: {err}")
            return
        listed = kustomization.get("resources", [])
        for resource in listed:
            if not (self.k8s / resource).is_file():
                self.fail("kustomization.yaml", f"lists {resource}, which does not exist")
        expected = {p.name for p in self.k8s.glob("*.yaml")} - NOT_IN_KUSTOMIZATION
        for missing in sorted(expected - set(listed)):
            self.fail("kustomization.yaml", f"does not list {missing}")
        if "secret.example.yaml" in listed:
            self.fail("kustomization.yaml", "lists secret.example.yaml: its placeholder secrets "
                                            "would be applied")

    def check_image(self, pod: dict, container: dict, ports: dict) -> None:
        path = self.deploy / "container" / "Containerfile"
        try:
            instructions = containerfile_instructions(path.read_text())
        except OSError as err:
            self.fail("container/Containerfile", f"cannot read: {err}")
            return
        final = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM"):]
        user = [arg for op, arg in final if op == "USER"]
        uid = user[-1].split(":")[0] if user else "0"
        want = str((pod.get("securityContext") or {}).get("runAsUser"))
        if not uid.isdigit() or uid == "0":
            self.fail("container/Containerfile", f"USER {uid!r} is not a numeric non-root UID")
        elif uid != want:
            self.fail("container/Containerfile", f"USER {uid} is not the pods' runAsUser {want}")
        exposed = {int(p.split("/")[0]) for op, arg in final if op == "EXPOSE" for p in arg.split()}
        if exposed != set(ports.values()):
            self.fail("container/Containerfile", f"EXPOSE {sorted(exposed)} is not the pods' "
                                                 f"ports {sorted(ports.values())}")
        if not any(op == "ENTRYPOINT" and "herd-node" in arg for op, arg in final):
            self.fail("container/Containerfile", "the entrypoint is not herd-node")

    def check_operator_config(self, config: dict, nodes: list[dict], links: set) -> None:
        path = self.k8s / "herdctl-port-forward.toml"
        where = "herdctl-port-forward.toml"
        try:
            text = path.read_text()
        except OSError as err:
            self.fail(where, f"cannot read: {err}")
            return
        operator = self.parse_toml(where, text)
        if operator is None:
            return
        op_nodes, op_links = self.check_herd_config(where, operator)
        if sorted(n.get("name") for n in op_nodes) != sorted(n.get("name") for n in nodes):
            self.fail(where, "its node names are not the ConfigMap's")
        if op_links != links:
            self.fail(where, "its links are not the ConfigMap's (herdctl link refuses links "
                             "it does not know)")
        if operator.get("herd", {}).get("name") != config.get("herd", {}).get("name"):
            self.fail(where, "its herd name is not the ConfigMap's")
        for node in op_nodes:
            hp = split_address(node.get("admin", ""))
            if hp is not None and hp[0] != "127.0.0.1":
                self.fail(where, f"node {node.get('name')}: admin is not a local forwarded port")

    def report(self) -> int:
        for problem in self.problems:
            print(f"deploy check: {problem}", file=sys.stderr)
        if self.problems:
            print(f"deploy check: {len(self.problems)} problem(s)", file=sys.stderr)
            return 1
        print("deploy check: manifests, herd.toml, herdctl config and image agree")
        return 0


def split_address(address: str):
    """(host, port) of HOST:PORT, IP:PORT or [IPv6]:PORT; None if it is none of them."""
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):(\d{1,5})", address or "")
    if not match or not 0 < int(match.group(2)) < 65536:
        return None
    return match.group(1).strip("[]"), int(match.group(2))


def connected(names: set, links: set) -> bool:
    if not names:
        return True
    start = next(iter(names))
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for link in links:
            if here in link:
                for there in link - {here}:
                    if there in names and there not in seen:
                        seen.add(there)
                        todo.append(there)
    return seen == names


def subset(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def arg_value(args: list, flag: str):
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg[len(flag) + 1:]
    return None


def containerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuations joined."""
    instructions, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        current += " " + stripped.rstrip("\\") if current else stripped.rstrip("\\")
        if not stripped.endswith("\\"):
            op, _, arg = current.partition(" ")
            instructions.append((op.upper(), arg.strip()))
            current = ""
    return instructions


if __name__ == "__main__":
    here = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    sys.exit(Checker(here).run())
