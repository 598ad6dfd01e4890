"""The defaults kube-apiserver fills in on create and update, so that objects read back look as they do
from a real cluster (Kubernetes v1.35, default feature gates).

Covers the versioned defaulters (pkg/apis/*/v1*/defaults.go and zz_generated.defaults.go), the parts of
the admission plugins every cluster runs that show in the object (ServiceAccount, Priority,
DefaultTolerationSeconds) and the visible bits of registry strategies (Namespace finalizers, Service IP
families). Also the workload validation errors clients see (apps/validation). Pure; no I/O. Not the
server's create flow: uids, timestamps, generation, status resets and cluster IP bookkeeping are its own.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from kubesim import selectors
from kubesim.store import copy_json

Obj = dict[str, Any]

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
DEFAULT_SCHEDULER = "default-scheduler"
DEFAULT_TOLERATION_SECONDS = 300
SYSTEM_PRIORITIES = {"system-cluster-critical": 2000000000, "system-node-critical": 2000001000}
_POD_TOLERATIONS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
_DEFAULT_MODE = 420  # 0644 for secret, configMap, downwardAPI and projected volumes
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(rf"(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
                  "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
                  "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")


def apply_defaults(obj: Obj, *, api_version: str, kind: str) -> Obj:
    """A defaulted copy of `obj` (read as `api_version`/`kind`); unknown kinds come back unchanged."""
    out = copy_json(obj)
    defaulter = _DEFAULTERS.get((api_version, kind))
    if defaulter is not None:
        defaulter(out)
    return out


def allocate_cluster_ip(existing: set[str]) -> str:
    """The first free address of 10.96.0.0/12 from 10.96.0.2 (.1 is the kubernetes Service)."""
    for offset in range(2, SERVICE_CIDR.num_addresses - 1):
        ip = str(SERVICE_CIDR.network_address + offset)
        if ip not in existing:
            return ip
    raise RuntimeError(f"Internal error occurred: failed to allocate a serviceIP: range is full ({SERVICE_CIDR})")


def _dict(obj: Obj, key: str) -> Obj:
    """obj[key] as a dict, created when missing or null."""
    if not isinstance(obj.get(key), dict):
        obj[key] = {}
    return obj[key]


def _unset(obj: Obj, **values: Any) -> None:
    """Default pointer fields: set each that is missing or null."""
    for key, value in values.items():
        if obj.get(key) is None:
            obj[key] = value


# -- containers and pod specs ----------------------------------------------------------------------------------
def image_tag(image: str) -> str:
    """The tag parsers.ParseImageName reports: "latest" when neither tag nor digest, "" when unparsable."""
    name, _, digest = image.partition("@")
    colon = name.rfind(":")
    repo, tag = (name[:colon], name[colon + 1:]) if colon > name.rfind("/") else (name, "")
    if not _REFERENCE.fullmatch(repo) or (tag and not _TAG.fullmatch(tag)):
        return ""
    return tag or ("" if digest else "latest")


def _probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                       ("failureThreshold", 3)):
        if not probe.get(key):
            probe[key] = value
    _handler(probe)
    if isinstance(probe.get("grpc"), dict):
        probe["grpc"].setdefault("service", "")


def _handler(handler: Any) -> None:
    http = handler.get("httpGet") if isinstance(handler, dict) else None
    if isinstance(http, dict):
        http["path"] = http.get("path") or "/"
        http["scheme"] = http.get("scheme") or "HTTP"


def _field_ref(holder: Any) -> None:
    ref = holder.get("fieldRef") if isinstance(holder, dict) else None
    if isinstance(ref, dict) and not ref.get("apiVersion"):
        ref["apiVersion"] = "v1"


def _container(c: Obj) -> None:
    if not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = "Always" if image_tag(c.get("image") or "") == "latest" else "IfNotPresent"
    c["terminationMessagePath"] = c.get("terminationMessagePath") or "/dev/termination-log"
    c["terminationMessagePolicy"] = c.get("terminationMessagePolicy") or "File"
    if c.get("resources") is None:
        c["resources"] = {}  # a struct, not a pointer: Go always encodes it
    for port in c.get("ports") or ():
        port["protocol"] = port.get("protocol") or "TCP"
    for env in c.get("env") or ():
        _field_ref(env.get("valueFrom"))
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(key))
    for key in ("postStart", "preStop"):
        _handler((c.get("lifecycle") or {}).get(key))


def _volume(v: Obj) -> None:
    if set(v) <= {"name"}:
        v["emptyDir"] = {}
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        src = v.get(key)
        if isinstance(src, dict) and src.get("defaultMode") is None:
            src["defaultMode"] = _DEFAULT_MODE
    for item in (v.get("downwardAPI") or {}).get("items") or ():
        _field_ref(item)
    for source in (v.get("projected") or {}).get("sources") or ():
        token = source.get("serviceAccountToken")
        if isinstance(token, dict) and token.get("expirationSeconds") is None:
            token["expirationSeconds"] = 3600
        for item in (source.get("downwardAPI") or {}).get("items") or ():
            _field_ref(item)
    if isinstance(v.get("hostPath"), dict):
        v["hostPath"].setdefault("type", "")


def _pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec and the generated per-field defaulters: for pods and every pod template."""
    spec["dnsPolicy"] = spec.get("dnsPolicy") or "ClusterFirst"
    spec["restartPolicy"] = spec.get("restartPolicy") or "Always"
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    spec["schedulerName"] = spec.get("schedulerName") or DEFAULT_SCHEDULER
    # v1 conversion keeps the deprecated serviceAccount field in step with serviceAccountName
    name = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if name:
        spec["serviceAccountName"] = spec["serviceAccount"] = name
    for v in spec.get("volumes") or ():
        _volume(v)
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or ():
            _container(c)


def _template(holder: Obj) -> None:
    template = holder.get("template")
    if isinstance(template, dict):
        _pod_spec(_dict(template, "spec"))


def _pod(pod: Obj) -> None:
    spec = _dict(pod, "spec")
    _pod_spec(spec)
    # SetDefaults_Pod: only Pods, not templates
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        limits = c["resources"].get("limits")
        if limits:  # requests default to limits
            c["resources"]["requests"] = {**limits, **(c["resources"].get("requests") or {})}
        for port in (c.get("ports") or ()) if spec.get("hostNetwork") else ():
            port["hostPort"] = port.get("hostPort") or port.get("containerPort", 0)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    # ServiceAccount admission
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec["serviceAccount"] = "default"
    # Priority admission (no global default PriorityClass)
    if spec.get("priority") is None:
        spec["priority"] = SYSTEM_PRIORITIES.get(spec.get("priorityClassName") or "", 0)
    spec["preemptionPolicy"] = spec.get("preemptionPolicy") or "PreemptLowerPriority"
    # DefaultTolerationSeconds admission
    tolerations = spec.get("tolerations") or []
    for key in _POD_TOLERATIONS:
        if not any(t.get("key", "") in ("", key) and t.get("effect", "") in ("", "NoExecute") for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS})
    spec["tolerations"] = tolerations


# -- workloads -------------------------------------------------------------------------------------------------
def _rolling_update(spec: Obj, key: str, **values: Any) -> None:
    strategy = spec[key] = spec.get(key) or {}
    strategy["type"] = strategy.get("type") or "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        strategy["rollingUpdate"] = strategy.get("rollingUpdate") or {}
        _unset(strategy["rollingUpdate"], **values)


def _deployment(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    _rolling_update(spec, "strategy", maxUnavailable="25%", maxSurge="25%")
    _unset(spec, replicas=1, revisionHistoryLimit=10, progressDeadlineSeconds=600)
    _template(spec)


def _replica_set(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    _unset(spec, replicas=1)
    _template(spec)


def _stateful_set(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    spec["podManagementPolicy"] = spec.get("podManagementPolicy") or "OrderedReady"
    strategy = spec["updateStrategy"] = spec.get("updateStrategy") or {}
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        _dict(strategy, "rollingUpdate")
    rolling = strategy.get("rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict) and rolling.get("partition") is None:
        rolling["partition"] = 0
    retention = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    spec["persistentVolumeClaimRetentionPolicy"] = retention
    for key in ("whenDeleted", "whenScaled"):
        retention[key] = retention.get(key) or "Retain"
    _unset(spec, replicas=1, revisionHistoryLimit=10)
    for claim in spec.get("volumeClaimTemplates") or ():
        _pvc(claim)
    _template(spec)


def _daemon_set(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    _rolling_update(spec, "updateStrategy", maxUnavailable=1, maxSurge=0)
    _unset(spec, revisionHistoryLimit=10)
    _template(spec)


def _replication_controller(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if labels is not None:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = _dict(obj, "metadata")
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    _unset(spec, replicas=1)
    _template(spec)


def _job(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    _unset(spec, parallelism=1, backoffLimit=2147483647 if spec.get("backoffLimitPerIndex") is not None else 6)
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    meta = _dict(obj, "metadata")
    if labels is not None and not meta.get("labels"):
        meta["labels"] = dict(labels)
    _unset(spec, completionMode="NonIndexed", suspend=False, manualSelector=False,
           podReplacementPolicy="Failed" if spec.get("podFailurePolicy") is not None else "TerminatingOrFailed")
    _template(spec)


def _cron_job(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    spec["concurrencyPolicy"] = spec.get("concurrencyPolicy") or "Allow"
    _unset(spec, suspend=False, successfulJobsHistoryLimit=3, failedJobsHistoryLimit=1)
    _template((spec.get("jobTemplate") or {}).get("spec") or {})


# -- autoscaling -----------------------------------------------------------------------------------------------
SCALE_UP_RULES: Obj = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                       "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                    {"type": "Percent", "value": 100, "periodSeconds": 15}]}
# stabilizationWindowSeconds stays unset: the controller's --horizontal-pod-autoscaler-downscale-stabilization
SCALE_DOWN_RULES: Obj = {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


def scaling_rules(rules: Obj | None, *, scale_up: bool) -> Obj:
    """GenerateHPAScaleUpRules / GenerateHPAScaleDownRules: the defaults overlaid with the set fields."""
    out = copy.deepcopy(SCALE_UP_RULES if scale_up else SCALE_DOWN_RULES)
    for key in ("selectPolicy", "stabilizationWindowSeconds", "policies", "tolerance"):
        if (rules or {}).get(key) is not None:
            out[key] = copy.deepcopy(rules[key])  # type: ignore[index]
    return {k: out[k] for k in ("stabilizationWindowSeconds", "selectPolicy", "policies", "tolerance") if k in out}


def _hpa_v2(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    _unset(spec, minReplicas=1)
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        spec["behavior"] = {"scaleUp": scaling_rules(behavior.get("scaleUp"), scale_up=True),
                            "scaleDown": scaling_rules(behavior.get("scaleDown"), scale_up=False)}


def _hpa_v1(obj: Obj) -> None:
    _unset(_dict(obj, "spec"), minReplicas=1)


# -- core ------------------------------------------------------------------------------------------------------
def _service(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    spec["sessionAffinity"] = spec.get("sessionAffinity") or "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP" and (
            ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds") is None):
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    svc_type = spec["type"] = spec.get("type") or "ClusterIP"
    for port in spec.get("ports") or ():
        port["protocol"] = port.get("protocol") or "TCP"
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port", 0)
    externally = svc_type in ("NodePort", "LoadBalancer") or (svc_type == "ClusterIP" and spec.get("externalIPs"))
    if externally and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if svc_type in ("ClusterIP", "NodePort", "LoadBalancer") and spec.get("internalTrafficPolicy") is None:
        spec["internalTrafficPolicy"] = "Cluster"
    if svc_type == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    if svc_type != "ExternalName":  # the registry's IP family defaulting, for a single-stack IPv4 cluster
        headless_without_selector = spec.get("clusterIP") == "None" and not spec.get("selector")
        if not spec.get("ipFamilyPolicy"):
            spec["ipFamilyPolicy"] = "RequireDualStack" if headless_without_selector else "SingleStack"
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = ["IPv4"]


def _namespace(obj: Obj) -> None:
    meta = _dict(obj, "metadata")
    if meta.get("name"):
        meta["labels"] = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": meta["name"]}
    spec = _dict(obj, "spec")
    if spec.get("finalizers") is None:
        spec["finalizers"] = ["kubernetes"]
    status = _dict(obj, "status")
    status["phase"] = status.get("phase") or "Active"


def _node(obj: Obj) -> None:
    status = obj.get("status") or {}
    if status.get("allocatable") is None and status.get("capacity") is not None:
        status["allocatable"] = dict(status["capacity"])


def _secret(obj: Obj) -> None:
    obj["type"] = obj.get("type") or "Opaque"


def _endpoints(obj: Obj) -> None:
    for subset in obj.get("subsets") or ():
        for port in subset.get("ports") or ():
            port["protocol"] = port.get("protocol") or "TCP"


def _pvc(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    spec["volumeMode"] = spec.get("volumeMode") or "Filesystem"
    status = _dict(obj, "status")
    status["phase"] = status.get("phase") or "Pending"


_DEFAULTERS: dict[tuple[str, str], Callable[[Obj], None]] = {
    ("v1", "Pod"): _pod,
    ("v1", "PodTemplate"): _template,
    ("v1", "ReplicationController"): _replication_controller,
    ("v1", "Service"): _service,
    ("v1", "Namespace"): _namespace,
    ("v1", "Node"): _node,
    ("v1", "Secret"): _secret,
    ("v1", "Endpoints"): _endpoints,
    ("v1", "PersistentVolumeClaim"): _pvc,
    ("apps/v1", "Deployment"): _deployment,
    ("apps/v1", "ReplicaSet"): _replica_set,
    ("apps/v1", "StatefulSet"): _stateful_set,
    ("apps/v1", "DaemonSet"): _daemon_set,
    ("batch/v1", "Job"): _job,
    ("batch/v1", "CronJob"): _cron_job,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): _hpa_v2,
    ("autoscaling/v1", "HorizontalPodAutoscaler"): _hpa_v1,
}


# -- validation ------------------------------------------------------------------------------------------------
class FieldError(NamedTuple):
    """One field.Error as a StatusCause: `type` is the reason, `message` field.Error.ErrorBody()."""

    field: str
    type: str
    message: str

    def __str__(self) -> str:
        """field.Error.Error(), as the 422 summary lists it."""
        return f"{self.field}: {self.message}"


def _required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, "FieldValueRequired", "Required value" + (f": {detail}" if detail else ""))


def _invalid(path: str, value: str, detail: str) -> FieldError:
    return FieldError(path, "FieldValueInvalid", f"Invalid value: {value}" + (f": {detail}" if detail else ""))


def _forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, "FieldValueForbidden", f"Forbidden: {detail}")


def _go_strings(values: Any, go_type: str) -> str:
    if values is None:
        return f"{go_type}(nil)"
    return go_type + "{" + ", ".join(json.dumps(v) for v in values) + "}"


def go_value(value: Any, go_type: str) -> str:
    """`%#v` of a map[string]string (`go_type` "map") or a *metav1.LabelSelector (`go_type` "selector")."""
    if go_type == "map":
        if value is None:
            return "map[string]string(nil)"
        pairs = (f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(value.items()))
        return "map[string]string{" + ", ".join(pairs) + "}"
    reqs = [f"v1.LabelSelectorRequirement{{Key:{json.dumps(e.get('key', ''))}, "
            f"Operator:{json.dumps(e.get('operator', ''))}, Values:{_go_strings(e.get('values'), '[]string')}}}"
            for e in value.get("matchExpressions") or ()]
    exprs = ("[]v1.LabelSelectorRequirement(nil)" if value.get("matchExpressions") is None
             else "[]v1.LabelSelectorRequirement{" + ", ".join(reqs) + "}")
    return f"v1.LabelSelector{{MatchLabels:{go_value(value.get('matchLabels'), 'map')}, MatchExpressions:{exprs}}}"


def _containers(spec: Obj, path: str) -> list[FieldError]:
    containers = spec.get("containers") or []
    if not containers:
        return [_required(f"{path}.containers")]
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, c in enumerate(containers):
        at = f"{path}.containers[{i}]"
        name = c.get("name") or ""
        if not name:
            errs.append(_required(f"{at}.name"))
        elif not _DNS_LABEL.match(name) or len(name) > 63:
            detail = "must be no more than 63 characters" if len(name) > 63 else _DNS_LABEL_MSG
            errs.append(_invalid(f"{at}.name", json.dumps(name), detail))
        elif name in seen:
            errs.append(FieldError(f"{at}.name", "FieldValueDuplicate", f"Duplicate value: {json.dumps(name)}"))
        seen.add(name)
        if not c.get("image"):
            errs.append(_required(f"{at}.image"))
    return errs


def validate_pod(obj: Obj) -> list[FieldError]:
    """The container checks of ValidatePodSpec for a Pod."""
    return _containers(obj.get("spec") or {}, "spec")


def _selector_errors(selector: Obj, path: str) -> list[FieldError]:
    """ValidateLabelSelector's operator/values checks (label syntax is not checked)."""
    errs = []
    for i, e in enumerate(selector.get("matchExpressions") or ()):
        at, op = f"{path}.matchExpressions[{i}]", e.get("operator")
        if op in ("In", "NotIn"):
            if not e.get("values"):
                errs.append(_required(f"{at}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if e.get("values"):
                errs.append(_forbidden(f"{at}.values", "may not be specified when `operator` is 'Exists' or "
                                                        "'DoesNotExist'"))
        else:
            errs.append(_invalid(f"{at}.operator", json.dumps(op or ""), "not a valid selector operator"))
    return errs


def validate_workload(obj: Obj) -> list[FieldError]:
    """apps/v1 Deployment, ReplicaSet, StatefulSet and DaemonSet: selector and template errors, in upstream order."""
    kind = obj.get("kind", "")
    daemon = kind == "DaemonSet"
    spec = obj.get("spec") or {}
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels")
    errs: list[FieldError] = []
    if selector is None and not daemon:
        errs.append(_required("spec.selector"))
    empty = isinstance(selector, dict) and not selector.get("matchLabels") and not selector.get("matchExpressions")
    if isinstance(selector, dict):
        errs.extend(_selector_errors(selector, "spec.selector"))
    what = {"StatefulSet": "statefulset", "DaemonSet": "daemonset"}.get(kind, "deployment")  # RS says deployment
    if empty and not daemon:
        errs.append(_invalid("spec.selector", go_value(selector, "selector"), f"empty selector is invalid for {what}"))
    try:
        mismatch = not selectors.label_selector_from_dict(selector).matches(labels or {})
    except selectors.SelectorError:
        if not daemon:  # the template is not validated then
            detail = "" if kind == "StatefulSet" else "invalid label selector"
            return [*errs, _invalid("spec.selector", go_value(selector, "selector"), detail)]
        mismatch = False
    if mismatch:
        errs.append(_invalid("spec.template.metadata.labels", go_value(labels, "map"),
                             "`selector` does not match template `labels`"))
    if empty and daemon:
        errs.append(_invalid("spec.selector", go_value(selector, "selector"), f"empty selector is invalid for {what}"))
    errs.extend(_containers(template.get("spec") or {}, "spec.template.spec"))
    return errs
