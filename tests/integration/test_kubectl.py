"""The machine's real kubectl against kubesim: the commands platform engineers type every day."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.integration.conftest import Sim

APP = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
        resources:
          requests: {cpu: 100m, memory: 64Mi}
          limits: {cpu: 1, memory: 128Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 10
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 50}
"""

NODE = """
apiVersion: v1
kind: Node
metadata:
  name: node-a
  labels: {kubernetes.io/hostname: node-a, node-role.kubernetes.io/worker: ""}
status:
  capacity: {cpu: "4", memory: 16Gi, pods: "110"}
  allocatable: {cpu: "4", memory: 16Gi, pods: "110"}
  conditions:
  - {type: Ready, status: "True", reason: KubeletReady, message: kubelet is posting ready status}
  addresses:
  - {type: InternalIP, address: 127.0.0.5}
  - {type: Hostname, address: node-a}
  nodeInfo:
    kubeletVersion: v1.35.0
    osImage: kubesim
    kernelVersion: 6.1.0
    containerRuntimeVersion: containerd://2.0.0
    operatingSystem: linux
    architecture: amd64
    machineID: m
    systemUUID: s
    bootID: b
    kubeProxyVersion: ""
"""


def header(out: str) -> list[str]:
    return out.splitlines()[0].split()


def test_apply_creates_deployment_service_and_hpa(sim: Sim) -> None:
    out = sim.kubectl("apply", "-f", "-", input=APP).stdout
    assert "deployment.apps/web created" in out
    assert "service/web created" in out
    assert "horizontalpodautoscaler.autoscaling/web created" in out
    # a second apply is a no-op that goes through the strategic-merge path
    out = sim.kubectl("apply", "-f", "-", input=APP).stdout
    assert "deployment.apps/web unchanged" in out
    changed = APP.replace("replicas: 2", "replicas: 3")
    assert "deployment.apps/web configured" in sim.kubectl("apply", "-f", "-", input=changed).stdout
    dep = sim.kubectl_json("get", "deployment", "web")
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert "kubectl.kubernetes.io/last-applied-configuration" in dep["metadata"]["annotations"]


def test_get_columns_match_upstream(sim: Sim) -> None:
    sim.kubectl("apply", "-f", "-", input=APP)
    sim.kubectl("apply", "-f", "-", input=NODE)
    assert header(sim.kubectl("get", "deployments").stdout) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert header(sim.kubectl("get", "nodes").stdout) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    node_line = sim.kubectl("get", "nodes", "--no-headers").stdout.split()
    assert node_line[:3] == ["node-a", "Ready", "worker"] and node_line[-1] == "v1.35.0"
    hpa = sim.kubectl("get", "hpa").stdout
    assert header(hpa) == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert "Deployment/web" in hpa and "cpu: <unknown>/50%" in hpa
    svc = sim.kubectl("get", "svc", "web", "--no-headers").stdout.split()
    assert svc[:2] == ["web", "ClusterIP"] and svc[3] == "<none>" and svc[4] == "80/TCP"
    wide = sim.kubectl("get", "deploy", "web", "-o", "wide").stdout
    assert header(wide) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert "nginx:1.27" in wide and "app=web" in wide


def test_describe(sim: Sim) -> None:
    sim.kubectl("apply", "-f", "-", input=APP)
    sim.kubectl("apply", "-f", "-", input=NODE)
    d = sim.kubectl("describe", "deployment", "web").stdout
    assert "Name:" in d and "web" in d and "RollingUpdate" in d and "nginx:1.27" in d
    h = sim.kubectl("describe", "hpa", "web").stdout
    assert 'resource cpu on pods  (as a percentage of request):  <unknown> / 50%' in h
    assert "Min replicas:" in h and "Max replicas:" in h
    n = sim.kubectl("describe", "node", "node-a").stdout
    assert "KubeletReady" in n and "127.0.0.5" in n


def test_create_scale_autoscale_and_delete(sim: Sim) -> None:
    sim.kubectl("create", "deployment", "api", "--image=busybox:1.36", "--replicas=1")
    assert "scaled" in sim.kubectl("scale", "deployment", "api", "--replicas=4").stdout
    assert sim.kubectl_json("get", "deployment", "api")["spec"]["replicas"] == 4
    scale = json.loads(sim.kubectl("get", "--raw", "/apis/apps/v1/namespaces/default/deployments/api/scale").stdout)
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 4 and scale["status"]["selector"] == "app=api"
    sim.kubectl("autoscale", "deployment", "api", "--min=2", "--max=5", "--cpu-percent=70")
    hpa = sim.kubectl_json("get", "hpa", "api")
    assert hpa["spec"]["maxReplicas"] == 5 and hpa["spec"]["minReplicas"] == 2
    v1 = json.loads(sim.kubectl("get", "--raw",
                                "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/api").stdout)
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 70
    assert 'deployment.apps "api" deleted' in sim.kubectl("delete", "deployment", "api").stdout
    gone = sim.kubectl("get", "deployment", "api", check=False)
    assert gone.returncode != 0 and 'deployments.apps "api" not found' in gone.stderr
    sim.kubectl("delete", "hpa", "api")


@pytest.mark.parametrize(
    ("kind", "patch", "check"),
    [
        pytest.param("merge", '{"metadata":{"labels":{"tier":"front"}}}',
                     lambda d: d["metadata"]["labels"]["tier"] == "front", id="merge"),
        pytest.param("json", '[{"op":"replace","path":"/spec/replicas","value":5}]',
                     lambda d: d["spec"]["replicas"] == 5, id="json"),
        pytest.param("strategic",
                     '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.28"}]}}}}',
                     lambda d: [c["image"] for c in d["spec"]["template"]["spec"]["containers"]] == ["nginx:1.28"]
                     and d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 80,
                     id="strategic-keeps-other-fields"),
    ],
)
def test_patch(sim: Sim, kind: str, patch: str, check) -> None:  # type: ignore[no-untyped-def]
    sim.kubectl("apply", "-f", "-", input=APP)
    sim.kubectl("patch", "deployment", "web", "--type", kind, "-p", patch)
    assert check(sim.kubectl_json("get", "deployment", "web"))


def test_raw_discovery_and_api_resources(sim: Sim) -> None:
    api = json.loads(sim.kubectl("get", "--raw", "/api").stdout)
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    apps = json.loads(sim.kubectl("get", "--raw", "/apis/apps/v1").stdout)
    names = {r["name"] for r in apps["resources"]}
    assert {"deployments", "deployments/scale", "deployments/status", "replicasets"} <= names
    res = sim.kubectl("api-resources").stdout
    assert "horizontalpodautoscalers" in res and "hpa" in res and "autoscaling/v2" in res
    version = json.loads(sim.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["major"] == "1"


def test_watch_receives_update(sim: Sim) -> None:
    sim.kubectl("create", "configmap", "watched", "--from-literal=a=1")
    proc = subprocess.Popen(["kubectl", "--kubeconfig", sim.kubeconfig, "get", "configmap", "watched", "--watch",
                             "--output-watch-events"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={"HOME": str(sim.workdir), "PATH": "/usr/bin:/bin"})
    try:
        time.sleep(1.5)
        sim.kubectl("patch", "configmap", "watched", "-p", '{"data":{"a":"2"}}')
        time.sleep(1.5)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert "ADDED" in out and "MODIFIED" in out, (out, err)
    sim.kubectl("delete", "configmap", "watched")


def test_wait_for_condition(sim: Sim) -> None:
    sim.kubectl("apply", "-f", "-", input=NODE)
    out = sim.kubectl("wait", "--for=condition=Ready", "node/node-a", "--timeout=10s").stdout
    assert "condition met" in out


def test_errors_are_status_objects(sim: Sim) -> None:
    bad = sim.kubectl("create", "configmap", "Bad_Name", check=False)
    assert bad.returncode != 0 and "Invalid value" in bad.stderr and "RFC 1123" in bad.stderr
    dup1 = sim.kubectl("create", "configmap", "dup", check=False)
    dup2 = sim.kubectl("create", "configmap", "dup", check=False)
    assert dup1.returncode == 0 and 'configmaps "dup" already exists' in dup2.stderr
    missing_ns = sim.kubectl("create", "configmap", "x", "-n", "nope", check=False)
    assert 'namespaces "nope" not found' in missing_ns.stderr
    sel = sim.kubectl("get", "pods", "-l", "a in (", check=False)
    assert sel.returncode != 0
    assert sim.kubectl("get", "--raw", "/healthz").stdout == "ok"
