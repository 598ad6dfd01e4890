"""kubesim.protobuf: Kubernetes protobuf bodies decode to the JSON the same Go object would have produced.

Bodies are built here with a tiny encoder that takes upstream field numbers literally (so the tests check
the schema's numbers, not just round-trip through it), plus bodies recorded from kubectl 1.32.
"""

from __future__ import annotations

import base64
import json

import kubernetes.client.models as models
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubesim import protobuf

# --- a tiny protobuf writer -------------------------------------------------------------------------


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def num(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


def blob(field: int, data: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(data)) + data


def text(field: int, value: str) -> bytes:
    return blob(field, value.encode())


def msg(field: int, *parts: bytes) -> bytes:
    return blob(field, b"".join(parts))


def entry(field: int, key: str, *value: bytes) -> bytes:
    """One map entry: key = 1, value = 2 (value parts are already tagged 2)."""
    return msg(field, text(1, key), *value)


def quantity(field: int, value: str) -> bytes:
    return msg(field, text(1, value))


def int_or_string(field: int, value: int | str) -> bytes:
    if isinstance(value, str):
        return msg(field, num(1, 1), num(2, 0), text(3, value))
    return msg(field, num(1, 0), num(2, value), text(3, ""))


def body(api_version: str, kind: str, *raw: bytes, content_type: str = "", encoding: str = "") -> bytes:
    type_meta = msg(1, text(1, api_version), text(2, kind))
    return protobuf.MAGIC + type_meta + blob(2, b"".join(raw)) + text(3, encoding) + text(4, content_type)


def meta(*parts: bytes) -> bytes:
    """ObjectMeta as gogo writes it: every non-pointer scalar, and the zero creationTimestamp, present.

    The given parts come last, and the last value of a field wins.
    """
    return msg(1, text(2, ""), text(3, ""), text(5, ""), num(7, 0), blob(8, b""), *parts)


# --- decoding representative objects ----------------------------------------------------------------

CONTAINER = msg(
    2, text(1, "web"), text(2, "nginx:1.27"), text(3, "nginx"), text(3, "-g"), text(5, ""),
    msg(6, text(1, ""), num(2, 0), num(3, 80), text(4, "TCP"), text(5, "")),
    msg(7, text(1, "LEVEL"), text(2, "debug")),
    msg(7, text(1, "POD"), msg(3, msg(1, text(1, "v1"), text(2, "metadata.name")))),
    msg(8, entry(1, "cpu", quantity(2, "1500m")), entry(2, "memory", quantity(2, "64Mi"))),
    msg(11, msg(1, msg(2, text(1, "/healthz"), int_or_string(2, "http"), text(4, ""))), num(3, 1), num(6, 0)),
    text(13, ""), text(14, ""), num(16, 0), num(17, 0), num(18, 0), text(20, ""),
)
DEPLOYMENT = body(
    "apps/v1", "Deployment",
    meta(text(1, "web"), entry(11, "app", text(2, "web"))),
    msg(2,
        num(1, 0),
        msg(2, entry(1, "app", text(2, "web"))),
        msg(3, meta(entry(11, "app", text(2, "web"))), msg(2, CONTAINER, text(3, "Always"), num(11, 0))),
        msg(4, text(1, "RollingUpdate"), msg(2, int_or_string(1, "25%"), int_or_string(2, 1))),
        num(5, 0), num(6, 3), num(7, 0)),
    msg(3),
)
DEPLOYMENT_JSON = {
    "kind": "Deployment", "apiVersion": "apps/v1",
    "metadata": {"name": "web", "creationTimestamp": None, "labels": {"app": "web"}},
    "spec": {
        "replicas": 0,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
            "spec": {
                "containers": [{
                    "name": "web", "image": "nginx:1.27", "command": ["nginx", "-g"],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "env": [{"name": "LEVEL", "value": "debug"},
                            {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                        "fieldPath": "metadata.name"}}}],
                    "resources": {"limits": {"cpu": "1500m"}, "requests": {"memory": "64Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "timeoutSeconds": 1},
                }],
                "restartPolicy": "Always",
            },
        },
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
        "revisionHistoryLimit": 3,
    },
    "status": {},
}

CASES = [
    pytest.param(DEPLOYMENT, DEPLOYMENT_JSON, id="deployment-containers-ports-quantities-env-intorstring"),
    pytest.param(
        body("v1", "ConfigMap", meta(text(1, "settings")), entry(2, "level", text(2, "debug")),
             entry(3, "blob", blob(2, b"\x00\xff")), num(4, 0)),
        {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "settings", "creationTimestamp": None},
         "data": {"level": "debug"}, "binaryData": {"blob": "AP8="}, "immutable": False},
        id="configmap-binarydata-pointer-false-kept"),
    pytest.param(
        body("v1", "Secret", meta(text(1, "s")), entry(2, "pw", blob(2, b"hunter2")), entry(2, "empty"),
             text(3, "Opaque")),
        {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s", "creationTimestamp": None},
         "data": {"pw": base64.b64encode(b"hunter2").decode(), "empty": ""}, "type": "Opaque"},
        id="secret-bytes-map-base64"),
    pytest.param(
        body("autoscaling/v1", "HorizontalPodAutoscaler", meta(text(1, "web")),
             msg(2, msg(1, text(1, "Deployment"), text(2, "web"), text(3, "apps/v1")), num(2, 2), num(3, 10),
                 num(4, 80)),
             msg(3, num(3, 0), num(4, 0))),
        {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v1",
         "metadata": {"name": "web", "creationTimestamp": None},
         "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                  "minReplicas": 2, "maxReplicas": 10, "targetCPUUtilizationPercentage": 80},
         "status": {"currentReplicas": 0, "desiredReplicas": 0}},
        id="hpa-v1-required-zeros-kept"),
    pytest.param(
        body("policy/v1", "Eviction", meta(text(1, "web-1"), text(3, "default")),
             msg(2, num(1, 0), msg(2, text(1, "uid-1")), text(4, "Foreground"), text(5, "All"))),
        {"kind": "Eviction", "apiVersion": "policy/v1",
         "metadata": {"name": "web-1", "namespace": "default", "creationTimestamp": None},
         "deleteOptions": {"gracePeriodSeconds": 0, "preconditions": {"uid": "uid-1"},
                           "propagationPolicy": "Foreground", "dryRun": ["All"]}},
        id="eviction-deleteoptions-grace-zero-kept"),
    pytest.param(
        body("v1", "Namespace", meta(text(1, "ns1")), msg(2), msg(3, text(1, ""))),
        {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "ns1", "creationTimestamp": None},
         "spec": {}, "status": {}},
        id="namespace-empty-structs"),
    pytest.param(
        body("v1", "Service", meta(text(1, "web")),
             msg(2, msg(1, text(1, "http"), text(2, "TCP"), num(3, 80), int_or_string(4, "web"), num(5, 0)),
                 msg(1, text(1, "m"), text(2, "TCP"), num(3, 9090), int_or_string(4, 9091), num(5, 0)),
                 entry(2, "app", text(2, "web")), text(4, "ClusterIP"), text(3, "")),
             msg(3, msg(1))),
        {"kind": "Service", "apiVersion": "v1", "metadata": {"name": "web", "creationTimestamp": None},
         "spec": {"ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "web"},
                            {"name": "m", "protocol": "TCP", "port": 9090, "targetPort": 9091}],
                  "selector": {"app": "web"}, "type": "ClusterIP"},
         "status": {"loadBalancer": {}}},
        id="service-targetport-int-or-string"),
    pytest.param(
        body("v1", "DeleteOptions", num(1, 30), text(4, "Background"), text(5, "All")),
        {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 30,
         "propagationPolicy": "Background", "dryRun": ["All"]},
        id="deleteoptions-core-version"),
    pytest.param(
        body("meta.k8s.io/v1", "DeleteOptions", num(3, 1)),
        {"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1", "orphanDependents": True},
        id="deleteoptions-meta-version"),
    pytest.param(
        body("coordination.k8s.io/v1", "Lease", meta(text(1, "leader")),
             msg(2, text(1, "me"), num(2, 15), msg(4, num(1, 1767323045), num(2, 123456789)), num(5, 0))),
        {"kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
         "metadata": {"name": "leader", "creationTimestamp": None},
         "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15,
                  "renewTime": "2026-01-02T03:04:05.123456Z", "leaseTransitions": 0}},
        id="lease-microtime-six-digits"),
    pytest.param(
        body("v1", "Event", meta(text(1, "e1"), msg(8, num(1, 1767323045), num(2, 999))),
             msg(2, text(1, "Pod"), text(3, "web-1")), text(3, "Started"),
             msg(6, num(1, 1767323045), num(2, 5)), num(8, 1)),
        {"kind": "Event", "apiVersion": "v1",
         "metadata": {"name": "e1", "creationTimestamp": "2026-01-02T03:04:05Z"},
         "involvedObject": {"kind": "Pod", "name": "web-1"}, "reason": "Started",
         "firstTimestamp": "2026-01-02T03:04:05Z", "count": 1},
        id="event-time-whole-seconds"),
    pytest.param(
        body("apps/v1", "ControllerRevision",
             meta(text(1, "web-1"), msg(17, text(1, "kubectl"), text(2, "Update"), text(3, "apps/v1"),
                                        text(6, "FieldsV1"), msg(7, blob(1, b'{"f:data":{}}')))),
             msg(2, blob(1, b'{"spec":{"replicas":3}}')), num(3, 2)),
        {"kind": "ControllerRevision", "apiVersion": "apps/v1",
         "metadata": {"name": "web-1", "creationTimestamp": None,
                      "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1",
                                         "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}]},
         "data": {"spec": {"replicas": 3}}, "revision": 2},
        id="rawextension-and-fieldsv1-parsed-json"),
    pytest.param(
        body("authorization.k8s.io/v1", "SubjectAccessReview", meta(),
             msg(2, msg(1, text(2, "get"), text(5, "pods")), text(3, "jane"),
                 entry(5, "scopes", msg(2, text(1, "a"), text(1, "b"))), entry(5, "none"))),
        {"kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
         "metadata": {"creationTimestamp": None},
         "spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}, "user": "jane",
                  "extra": {"scopes": ["a", "b"], "none": []}}},
        id="extravalue-wrapper-as-list"),
    pytest.param(
        body("v1", "Pod", meta(text(1, "p")),
             msg(2, num(25, -5), num(4, 0),
                 msg(2, text(1, "c"), text(24, "Always"),
                     msg(25, text(1, "Restart"), msg(2, text(1, "In"), blob(2, varint(1) + varint(42))))),
                 msg(34, msg(1, text(1, "debug"), text(2, "busybox")), text(2, "c")),
                 msg(1, text(1, "data"), msg(2, msg(19, msg(1, text(1, "settings")), num(3, 420))))),
             num(99, 7)),
        {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "creationTimestamp": None},
         "spec": {"priority": -5, "terminationGracePeriodSeconds": 0,
                  "containers": [{"name": "c", "restartPolicy": "Always",
                                  "restartPolicyRules": [{"action": "Restart",
                                                          "exitCodes": {"operator": "In", "values": [1, 42]}}]}],
                  "ephemeralContainers": [{"name": "debug", "image": "busybox", "targetContainerName": "c"}],
                  "volumes": [{"name": "data", "configMap": {"name": "settings", "defaultMode": 420}}]}},
        id="pod-negative-int-packed-inline-embedded-unknown-field-skipped"),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_decode(raw: bytes, expected: dict) -> None:
    assert protobuf.decode(raw) == expected


# Bodies kubectl 1.32 sent (`create deployment web --image=nginx --replicas=2`, `autoscale deployment web
# --min=2 --max=5 --cpu-percent=80`, `auth can-i get pods`), with the JSON kubectl sends for the same objects.
RECORDED = [
    pytest.param(
        "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412ab010a1f0a0377656212001a0022002a003200380042005a"
        "0a0a036170701203776562127a0802120c0a0a0a0361707012037765621a600a1c0a0012001a0022002a003200380042005a0a0a"
        "036170701203776562124012220a056e67696e7812056e67696e782a0042006a007200800100880100900100a201001a00320042"
        "004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038001a002200",
        {"kind": "Deployment", "apiVersion": "apps/v1",
         "metadata": {"name": "web", "creationTimestamp": None, "labels": {"app": "web"}},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]}},
                  "strategy": {}},
         "status": {}},
        id="kubectl-create-deployment"),
    pytest.param(
        "6b3873000a290a0e6175746f7363616c696e672f76311217486f72697a6f6e74616c506f644175746f7363616c6572123f0a13"
        "0a0377656212001a0022002a0032003800420012220a1a0a0a4465706c6f796d656e7412037765621a07617070732f76311002"
        "180520501a04180020001a002200",
        {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v1",
         "metadata": {"name": "web", "creationTimestamp": None},
         "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                  "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80},
         "status": {"currentReplicas": 0, "desiredReplicas": 0}},
        id="kubectl-autoscale"),
    pytest.param(
        "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a65637441636365737352"
        "6576696577123c0a100a0012001a0022002a00320038004200121e0a1c0a0764656661756c7412036765741a0022002a04706f"
        "647332003a001a08080012001a0020001a002200",
        {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
         "metadata": {"creationTimestamp": None},
         "spec": {"resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}},
         "status": {"allowed": False}},
        id="kubectl-auth-can-i"),
]


@pytest.mark.parametrize(("hex_body", "expected"), RECORDED)
def test_decode_recorded_kubectl_bodies(hex_body: str, expected: dict) -> None:
    assert protobuf.decode(bytes.fromhex(hex_body)) == expected


def test_json_content_type_in_the_envelope_is_read_as_json() -> None:
    raw = body("v1", "ConfigMap", b'{"metadata":{"name":"x"},"data":{"a":"b"}}', content_type="application/json")
    assert protobuf.decode(raw) == {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "x"},
                                    "data": {"a": "b"}}


def test_raw_extension_holding_a_protobuf_object_is_decoded() -> None:
    inner = body("v1", "ConfigMap", meta(text(1, "inner")))
    raw = body("apps/v1", "ControllerRevision", meta(text(1, "r")), msg(2, blob(1, inner)), num(3, 1))
    assert protobuf.decode(raw)["data"] == {"kind": "ConfigMap", "apiVersion": "v1",
                                            "metadata": {"name": "inner", "creationTimestamp": None}}


# --- errors --------------------------------------------------------------------------------------------


def test_unknown_kind_names_what_was_asked_for() -> None:
    with pytest.raises(protobuf.UnknownKindError) as e:
        protobuf.decode(body("stable.example.com/v1", "CronTab", meta(text(1, "x"))))
    assert (e.value.api_version, e.value.kind) == ("stable.example.com/v1", "CronTab")
    assert "CronTab" in str(e.value)
    assert isinstance(e.value, protobuf.ProtobufError)


@pytest.mark.parametrize("raw", [
    pytest.param(b'{"kind":"ConfigMap"}', id="json-not-protobuf"),
    pytest.param(protobuf.MAGIC + b"\x0a\x05\x0a\x02", id="truncated-envelope"),
    pytest.param(body("v1", "ConfigMap", msg(1, num(1, 5))), id="wire-type-mismatch"),
    pytest.param(body("v1", "ConfigMap", b"\x0a\x10abc"), id="length-past-end"),
    pytest.param(body("v1", "ConfigMap", b"\x0b"), id="group-wire-type"),
    pytest.param(body("v1", "ConfigMap", b"\x08" + b"\xff" * 11), id="varint-too-long"),
    pytest.param(body("v1", "ConfigMap", meta(), encoding="gzip"), id="content-encoding"),
    pytest.param(body("v1", "ConfigMap", meta(), content_type="application/cbor"), id="content-type"),
    pytest.param(body("apps/v1", "ControllerRevision", msg(2, blob(1, b"{not json"))), id="raw-not-json"),
    pytest.param(body("v1", "Event", msg(6, num(1, 10**12))), id="time-out-of-range"),
])
def test_malformed_bodies_raise_protobuf_error(raw: bytes) -> None:
    with pytest.raises(protobuf.ProtobufError):
        protobuf.decode(raw)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_raise_nothing_but_protobuf_error(data: bytes) -> None:
    for raw in (data, protobuf.MAGIC + data, body("v1", "Pod", data), body("apps/v1", "Deployment", data)):
        try:
            result = protobuf.decode(raw)
        except protobuf.ProtobufError:
            continue
        json.dumps(result)  # whatever decodes is JSON-serialisable


# --- schema facts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("nanos", "expected"), [
    pytest.param(0, "0s", id="zero"),
    pytest.param(999, "999ns", id="nanos"),
    pytest.param(1_500, "1.5µs", id="micros"),
    pytest.param(150_000_000, "150ms", id="millis"),
    pytest.param(120_000_000_000, "2m0s", id="minutes"),
    pytest.param(3_723_500_000_000, "1h2m3.5s", id="hours"),
    pytest.param(-90_000_000_000, "-1m30s", id="negative"),
])
def test_go_duration_string(nanos: int, expected: str) -> None:
    assert protobuf._go_duration(nanos) == expected


@pytest.mark.parametrize("pair", [
    ("v1", "Pod"), ("v1", "Service"), ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Namespace"),
    ("v1", "ServiceAccount"), ("v1", "DeleteOptions"), ("meta.k8s.io/v1", "DeleteOptions"),
    ("apps/v1", "Deployment"), ("apps/v1", "DeleteOptions"), ("batch/v1", "Job"), ("batch/v1", "CronJob"),
    ("autoscaling/v1", "HorizontalPodAutoscaler"), ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "Eviction"), ("policy/v1", "PodDisruptionBudget"), ("authentication.k8s.io/v1", "TokenRequest"),
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"), ("rbac.authorization.k8s.io/v1", "Role"),
    ("networking.k8s.io/v1", "Ingress"), ("coordination.k8s.io/v1", "Lease"), ("events.k8s.io/v1", "Event"),
    ("scheduling.k8s.io/v1", "PriorityClass"), ("apiregistration.k8s.io/v1", "APIService"),
    ("autoscaling/v1", "CreateOptions"),
], ids="/".join)
def test_known_kinds(pair: tuple[str, str]) -> None:
    assert pair in protobuf.KNOWN


# Fields added upstream after the kubernetes client models were generated, or the other way round.
NEWER_THAN_CLIENT = {"podReplacementPolicy", "containerUlimits", "workloadRef", "ulimits"}


@pytest.mark.parametrize(("message", "model"), [
    ("k8s.io.api.core.v1.PodSpec", models.V1PodSpec),
    ("k8s.io.api.core.v1.Container", models.V1Container),
    ("k8s.io.api.core.v1.EphemeralContainer", models.V1EphemeralContainer),
    ("k8s.io.api.core.v1.Volume", models.V1Volume),
    ("k8s.io.api.core.v1.ServiceSpec", models.V1ServiceSpec),
    ("k8s.io.api.apps.v1.DeploymentSpec", models.V1DeploymentSpec),
    ("k8s.io.api.autoscaling.v2.HorizontalPodAutoscalerSpec", models.V2HorizontalPodAutoscalerSpec),
    ("k8s.io.api.batch.v1.JobSpec", models.V1JobSpec),
    ("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", models.V1ObjectMeta),
    ("k8s.io.api.networking.v1.IngressRule", models.V1IngressRule),
    ("k8s.io.api.authentication.v1.BoundObjectReference", models.V1BoundObjectReference),
], ids=lambda v: v if isinstance(v, str) else v.__name__)
def test_schema_json_names_match_the_client_models(message: str, model: type) -> None:
    names: set[str] = set()

    def collect(name: str) -> None:
        for key, typ, flags in protobuf._MESSAGES[name].values():
            if "i" in flags:
                collect(typ)
            else:
                names.add(key)

    collect(message)
    assert names - NEWER_THAN_CLIENT <= set(model.attribute_map.values())
