"""kubesim.defaults: what kube-apiserver fills in (as `kubectl get -o yaml` shows) and workload validation."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubesim import defaults

NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
               "tolerationSeconds": 300}
DEFAULTED_CONTAINER = {"name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent", "resources": {},
                       "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
TEMPLATE_SPEC = {"containers": [DEFAULTED_CONTAINER], "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                 "schedulerName": "default-scheduler", "securityContext": {}, "terminationGracePeriodSeconds": 30}


def apply(obj: dict[str, Any]) -> dict[str, Any]:
    return defaults.apply_defaults(obj, api_version=obj["apiVersion"], kind=obj["kind"])


def workload(kind: str, spec: dict[str, Any] | None = None, api_version: str = "apps/v1") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
                     **(spec or {})}}


# -- pods ------------------------------------------------------------------------------------------------------
def test_pod_gets_what_kubectl_shows() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
                                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"},
                                                  "requests": {"cpu": "100m"}}}]}}
    spec = apply(pod)["spec"]
    assert spec == {
        **TEMPLATE_SPEC,
        "containers": [{**DEFAULTED_CONTAINER, "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"},
                                      "requests": {"cpu": "100m", "memory": "128Mi"}}}],
        "enableServiceLinks": True, "serviceAccountName": "default", "serviceAccount": "default",
        "priority": 0, "preemptionPolicy": "PreemptLowerPriority", "tolerations": [NOT_READY, UNREACHABLE]}
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "100m"}  # input untouched


@pytest.mark.parametrize(("image", "policy"), [
    pytest.param("nginx", "Always", id="no-tag"),
    pytest.param("nginx:latest", "Always", id="latest"),
    pytest.param("nginx:1.27", "IfNotPresent", id="tag"),
    pytest.param("localhost:5000/team/app", "Always", id="registry-port-no-tag"),
    pytest.param("registry.k8s.io/pause:3.10", "IfNotPresent", id="registry-tag"),
    pytest.param("nginx@sha256:" + "a" * 64, "IfNotPresent", id="digest"),
    pytest.param("Nginx", "IfNotPresent", id="unparsable"),
])
def test_image_pull_policy(image: str, policy: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": image}]}}
    assert apply(pod)["spec"]["containers"][0]["imagePullPolicy"] == policy


@pytest.mark.parametrize(("tolerations", "added"), [
    pytest.param([], [NOT_READY, UNREACHABLE], id="none"),
    pytest.param([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}],
                 [UNREACHABLE], id="own-not-ready"),
    pytest.param([{"operator": "Exists"}], [], id="tolerates-everything"),
    pytest.param([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoSchedule"}],
                 [NOT_READY, UNREACHABLE], id="other-effect-does-not-count"),
])
def test_default_toleration_seconds(tolerations: list[dict[str, Any]], added: list[dict[str, Any]]) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "x"}], "tolerations": copy.deepcopy(tolerations)}}
    assert apply(pod)["spec"]["tolerations"] == tolerations + added


@pytest.mark.parametrize(("spec", "want"), [
    pytest.param({}, {"serviceAccountName": "default", "priority": 0}, id="defaults"),
    pytest.param({"serviceAccount": "legacy"}, {"serviceAccountName": "legacy", "serviceAccount": "legacy"},
                 id="deprecated-service-account"),
    pytest.param({"priorityClassName": "system-node-critical"}, {"priority": 2000001000}, id="system-class"),
    pytest.param({"preemptionPolicy": "Never", "priority": 5}, {"preemptionPolicy": "Never", "priority": 5},
                 id="kept"),
])
def test_pod_admission_fields(spec: dict[str, Any], want: dict[str, Any]) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "x"}], **spec}}
    got = apply(pod)["spec"]
    assert {k: got[k] for k in want} == want


def test_probes_volumes_env_and_host_network() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "hostNetwork": True,
        "volumes": [{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "c"}},
                    {"name": "tok", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
                    {"name": "h", "hostPath": {"path": "/x"}}],
        "containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 8080}],
                        "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                        "livenessProbe": {"httpGet": {"port": 8080}},
                        "readinessProbe": {"grpc": {"port": 9090}, "periodSeconds": 5}}]}}
    spec = apply(pod)["spec"]
    c = spec["containers"][0]
    assert c["livenessProbe"] == {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                  "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert c["readinessProbe"]["grpc"] == {"port": 9090, "service": ""}
    assert c["readinessProbe"]["periodSeconds"] == 5
    assert c["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "spec.nodeName", "apiVersion": "v1"}
    assert c["ports"] == [{"containerPort": 8080, "protocol": "TCP", "hostPort": 8080}]
    assert spec["volumes"] == [
        {"name": "scratch", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}},
        {"name": "tok", "projected": {"sources": [{"serviceAccountToken": {"path": "t", "expirationSeconds": 3600}}],
                                      "defaultMode": 420}},
        {"name": "h", "hostPath": {"path": "/x", "type": ""}}]


# -- workloads -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("obj", "want_spec"), [
    pytest.param(workload("Deployment"), {
        "replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}},
        id="deployment"),
    pytest.param(workload("Deployment", {"strategy": {"type": "Recreate"}, "replicas": 0}),
                 {"replicas": 0, "strategy": {"type": "Recreate"}}, id="deployment-recreate"),
    pytest.param(workload("ReplicaSet"), {"replicas": 1}, id="replicaset"),
    pytest.param(workload("StatefulSet"), {
        "replicas": 1, "podManagementPolicy": "OrderedReady", "revisionHistoryLimit": 10,
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}},
        id="statefulset"),
    pytest.param(workload("StatefulSet", {"updateStrategy": {"type": "OnDelete"}}),
                 {"updateStrategy": {"type": "OnDelete"}}, id="statefulset-on-delete"),
    pytest.param(workload("DaemonSet"), {
        "revisionHistoryLimit": 10,
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}},
        id="daemonset"),
    pytest.param(workload("Job", api_version="batch/v1"), {
        "completions": 1, "parallelism": 1, "backoffLimit": 6, "completionMode": "NonIndexed", "suspend": False,
        "podReplacementPolicy": "TerminatingOrFailed", "manualSelector": False}, id="job"),
    pytest.param(workload("Job", {"parallelism": 3, "backoffLimitPerIndex": 1, "podFailurePolicy": {"rules": []}},
                          api_version="batch/v1"),
                 {"parallelism": 3, "backoffLimit": 2147483647, "podReplacementPolicy": "Failed"}, id="job-indexed"),
])
def test_workload_defaults(obj: dict[str, Any], want_spec: dict[str, Any]) -> None:
    spec = apply(obj)["spec"]
    assert {k: spec[k] for k in want_spec} == want_spec
    # templates get the PodSpec defaults, not the Pod-only and admission ones
    assert spec["template"]["spec"] == TEMPLATE_SPEC


def test_statefulset_claim_templates_and_cronjob() -> None:
    sts = workload("StatefulSet", {"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]})
    assert apply(sts)["spec"]["volumeClaimTemplates"] == [
        {"metadata": {"name": "data"}, "spec": {"volumeMode": "Filesystem"}, "status": {"phase": "Pending"}}]
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "web", "image": "nginx:1.27"}], "restartPolicy": "Never"}}}}}}
    spec = apply(cron)["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    assert spec["jobTemplate"]["spec"]["template"]["spec"] == {**TEMPLATE_SPEC, "restartPolicy": "Never"}


# -- autoscaling -----------------------------------------------------------------------------------------------
def hpa(spec: dict[str, Any], version: str = "autoscaling/v2") -> dict[str, Any]:
    return {"apiVersion": version, "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5, **spec}}


UP = defaults.SCALE_UP_RULES
DOWN = defaults.SCALE_DOWN_RULES


@pytest.mark.parametrize(("behavior", "want"), [
    pytest.param(None, None, id="no-behavior-left-unset"),
    pytest.param({}, {"scaleUp": UP, "scaleDown": DOWN}, id="empty-behavior"),
    pytest.param({"scaleUp": {"stabilizationWindowSeconds": 60}},
                 {"scaleUp": {**UP, "stabilizationWindowSeconds": 60}, "scaleDown": DOWN}, id="scale-up-window"),
    pytest.param({"scaleDown": {"stabilizationWindowSeconds": 120, "selectPolicy": "Min"}},
                 {"scaleUp": UP, "scaleDown": {"stabilizationWindowSeconds": 120, "selectPolicy": "Min",
                                               "policies": DOWN["policies"]}}, id="scale-down-partial"),
    pytest.param({"scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}], "tolerance": "50m"}},
                 {"scaleUp": UP, "scaleDown": {"selectPolicy": "Max", "tolerance": "50m",
                                               "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}},
                 id="scale-down-policies-and-tolerance"),
])
def test_hpa_behavior_defaults(behavior: dict[str, Any] | None, want: dict[str, Any] | None) -> None:
    spec = apply(hpa({} if behavior is None else {"behavior": behavior}))["spec"]
    assert spec.get("behavior") == want


def test_hpa_min_replicas_and_default_metric() -> None:
    v2 = apply(hpa({}))["spec"]
    assert v2["minReplicas"] == 1
    assert v2["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 80}}}]
    v1 = apply(hpa({}, "autoscaling/v1"))["spec"]
    assert v1["minReplicas"] == 1 and "metrics" not in v1


# -- core ------------------------------------------------------------------------------------------------------
def service(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec}


@pytest.mark.parametrize(("spec", "want"), [
    pytest.param({"selector": {"app": "web"}, "ports": [{"port": 80}]}, {
        "selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}], "type": "ClusterIP",
        "sessionAffinity": "None", "internalTrafficPolicy": "Cluster", "ipFamilyPolicy": "SingleStack",
        "ipFamilies": ["IPv4"]}, id="cluster-ip"),
    pytest.param({"type": "LoadBalancer", "ports": [{"port": 443, "targetPort": "https"}]}, {
        "type": "LoadBalancer", "ports": [{"port": 443, "targetPort": "https", "protocol": "TCP"}],
        "sessionAffinity": "None", "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
        "allocateLoadBalancerNodePorts": True, "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]},
        id="load-balancer"),
    pytest.param({"clusterIP": "None"}, {
        "clusterIP": "None", "type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
        "ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4"]}, id="headless-without-selector"),
    pytest.param({"type": "ExternalName", "externalName": "example.com"}, {
        "type": "ExternalName", "externalName": "example.com", "sessionAffinity": "None"}, id="external-name"),
    pytest.param({"sessionAffinity": "ClientIP"}, {
        "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
        "type": "ClusterIP", "internalTrafficPolicy": "Cluster", "ipFamilyPolicy": "SingleStack",
        "ipFamilies": ["IPv4"]}, id="client-ip-affinity"),
])
def test_service_defaults(spec: dict[str, Any], want: dict[str, Any]) -> None:
    assert apply(service(spec))["spec"] == want


@pytest.mark.parametrize(("obj", "want"), [
    pytest.param({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
                 {"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "team"}},
                  "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}, id="namespace"),
    pytest.param({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
                  "status": {"capacity": {"cpu": "4", "pods": "110"}}},
                 {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
                  "status": {"capacity": {"cpu": "4", "pods": "110"}, "allocatable": {"cpu": "4", "pods": "110"}}},
                 id="node-allocatable"),
    pytest.param({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}},
                 {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque"}, id="secret"),
    pytest.param({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"},
                  "spec": {"minAvailable": 1}},
                 {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"},
                  "spec": {"minAvailable": 1}}, id="pdb-untouched"),
    pytest.param({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"}},
                 {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"}},
                 id="lease-untouched"),
])
def test_core_defaults(obj: dict[str, Any], want: dict[str, Any]) -> None:
    assert apply(obj) == want


@given(st.sampled_from([
    workload("Deployment"), workload("StatefulSet"), workload("DaemonSet"), workload("ReplicaSet"),
    workload("Job", api_version="batch/v1"), hpa({"behavior": {"scaleUp": {"selectPolicy": "Min"}}}),
    service({"ports": [{"port": 1}]}),
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c",
                                                                                          "image": "x"}]}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}},
]))
def test_defaulting_is_idempotent(obj: dict[str, Any]) -> None:
    once = apply(obj)
    assert apply(once) == once


def test_allocate_cluster_ip_is_deterministic_and_skips_taken() -> None:
    assert defaults.allocate_cluster_ip(set()) == "10.96.0.2"
    assert defaults.allocate_cluster_ip({"10.96.0.1", "10.96.0.2", "10.96.0.3"}) == "10.96.0.4"
    assert defaults.allocate_cluster_ip({"10.96.0.2"}) == "10.96.0.3"


# -- validation ------------------------------------------------------------------------------------------------
NO_MATCH = "`selector` does not match template `labels`"


@pytest.mark.parametrize(("obj", "want"), [
    pytest.param(workload("Deployment"), [], id="valid"),
    pytest.param(workload("Deployment", {"selector": None}), [
        ("spec.selector", "FieldValueRequired", "Required value"),
        ("spec.template.metadata.labels", "FieldValueInvalid",
         f'Invalid value: map[string]string{{"app":"web"}}: {NO_MATCH}')], id="missing-selector"),
    pytest.param(workload("Deployment", {"selector": {"matchLabels": {"app": "api"}}}), [
        ("spec.template.metadata.labels", "FieldValueInvalid",
         f'Invalid value: map[string]string{{"app":"web"}}: {NO_MATCH}')], id="mismatch"),
    pytest.param(workload("ReplicaSet", {"selector": {}}), [
        ("spec.selector", "FieldValueInvalid",
         "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
         "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment")],
        id="replicaset-empty-selector"),
    pytest.param(workload("StatefulSet", {"selector": {"matchLabels": {}}}), [
        ("spec.selector", "FieldValueInvalid",
         "Invalid value: v1.LabelSelector{MatchLabels:map[string]string{}, "
         "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for statefulset")],
        id="statefulset-empty-selector"),
    pytest.param(workload("DaemonSet", {"selector": None}), [
        ("spec.template.metadata.labels", "FieldValueInvalid",
         f'Invalid value: map[string]string{{"app":"web"}}: {NO_MATCH}')], id="daemonset-missing-selector"),
    pytest.param(workload("Deployment", {"template": {"spec": {"containers": [{"name": "web"}, {"image": "x"}]}}}), [
        ("spec.template.metadata.labels", "FieldValueInvalid", f"Invalid value: map[string]string(nil): {NO_MATCH}"),
        ("spec.template.spec.containers[0].image", "FieldValueRequired", "Required value"),
        ("spec.template.spec.containers[1].name", "FieldValueRequired", "Required value")],
        id="containers-and-no-labels"),
    pytest.param(workload("Deployment", {"template": {"metadata": {"labels": {"app": "web"}},
                                                      "spec": {"containers": []}}}),
                 [("spec.template.spec.containers", "FieldValueRequired", "Required value")], id="no-containers"),
    pytest.param(workload("Deployment", {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {
        "containers": [{"name": "Web_1", "image": "x"}, {"name": "b", "image": "x"}, {"name": "b", "image": "y"}]}}}),
        [("spec.template.spec.containers[0].name", "FieldValueInvalid",
          'Invalid value: "Web_1": ' + defaults._DNS_LABEL_MSG),
         ("spec.template.spec.containers[2].name", "FieldValueDuplicate", 'Duplicate value: "b"')],
        id="container-names"),
    pytest.param(workload("Deployment", {"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}}), [
        ("spec.selector.matchExpressions[0].values", "FieldValueRequired",
         "Required value: must be specified when `operator` is 'In' or 'NotIn'"),
        ("spec.selector", "FieldValueInvalid",
         'Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:'
         '[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"app", Operator:"In", '
         'Values:[]string(nil)}}}: invalid label selector')], id="invalid-expression-skips-template"),
])
def test_validate_workload(obj: dict[str, Any], want: list[tuple[str, str, str]]) -> None:
    assert [tuple(e) for e in defaults.validate_workload(obj)] == want


def test_field_error_text_is_the_summary_form() -> None:
    (err,) = defaults.validate_pod({"spec": {"containers": [{"name": "c"}]}})
    assert str(err) == "spec.containers[0].image: Required value"
    assert err.field == "spec.containers[0].image"
