"""Generate kubesim/protoschema.json from Kubernetes `generated.proto` files.

Reads the upstream `.proto` texts from a directory given on the command line (nothing is downloaded),
and writes the wire facts kubesim.protobuf needs: message -> field number -> JSON name, type and flags,
plus the (apiVersion, kind) -> message table. The installed `kubernetes` client's models fill in what
the `.proto` text does not say: the JSON name where the protobuf tag differs (`aPIVersion` is
`apiVersion`), which fields are Go embedded structs inlined in JSON (`Volume.volumeSource`), and which
fields are required (no `omitempty`, so zero values stay). Which scalar fields are Go pointers (an
explicit zero is meaningful) is not in either source; `POINTER_FIELDS` below lists them from the Go types,
and `REQUIRED_FIELDS` the few fields without `omitempty` the client models do not mark required.

Usage: python scripts/gen_protoschema.py PROTO_DIR [--out kubesim/protoschema.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes.client.models as models

# Proto package -> API group ("" is the legacy core group).
GROUPS = {
    "k8s.io.api.core.v1": "",
    "k8s.io.api.apps.v1": "apps",
    "k8s.io.api.authentication.v1": "authentication.k8s.io",
    "k8s.io.api.authorization.v1": "authorization.k8s.io",
    "k8s.io.api.autoscaling.v1": "autoscaling",
    "k8s.io.api.autoscaling.v2": "autoscaling",
    "k8s.io.api.batch.v1": "batch",
    "k8s.io.api.coordination.v1": "coordination.k8s.io",
    "k8s.io.api.events.v1": "events.k8s.io",
    "k8s.io.api.networking.v1": "networking.k8s.io",
    "k8s.io.api.policy.v1": "policy",
    "k8s.io.api.rbac.v1": "rbac.authorization.k8s.io",
    "k8s.io.api.scheduling.v1": "scheduling.k8s.io",
    "k8s.io.kube_aggregator.pkg.apis.apiregistration.v1": "apiregistration.k8s.io",
    "k8s.io.apimachinery.pkg.apis.meta.v1": "meta.k8s.io",
}
META = "k8s.io.apimachinery.pkg.apis.meta.v1"
# Messages with their own JSON form; the decoder knows them by these markers.
SPECIAL = {
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "@quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "@intorstring",
    f"{META}.Time": "@time",
    f"{META}.MicroTime": "@microtime",
    f"{META}.Duration": "@duration",
    f"{META}.FieldsV1": "@json",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "@raw",
    # Named []string types: one `repeated string items = 1`, rendered as a JSON list.
    f"{META}.Verbs": "@strings",
    "k8s.io.api.authentication.v1.ExtraValue": "@strings",
    "k8s.io.api.authorization.v1.ExtraValue": "@strings",
}
# Options kinds every group version registers (metav1.AddToGroupVersion).
OPTIONS_KINDS = ("DeleteOptions", "CreateOptions", "UpdateOptions", "PatchOptions", "GetOptions", "ListOptions")
META_KINDS = (*OPTIONS_KINDS, "Status", "WatchEvent", "PartialObjectMetadata")

# Scalar fields that are Go pointers: present on the wire only when set, so a zero value is kept.
POINTER_FIELDS = frozenset({
    # core/v1
    "AzureDiskVolumeSource.cachingMode", "AzureDiskVolumeSource.fsType", "AzureDiskVolumeSource.readOnly",
    "AzureDiskVolumeSource.kind", "AzureFilePersistentVolumeSource.secretNamespace",
    "CSIVolumeSource.readOnly", "CSIVolumeSource.fsType", "ClientIPConfig.timeoutSeconds",
    "ClusterTrustBundleProjection.name", "ClusterTrustBundleProjection.signerName",
    "ClusterTrustBundleProjection.optional", "ConfigMap.immutable", "ConfigMapEnvSource.optional",
    "ConfigMapKeySelector.optional", "ConfigMapProjection.optional", "ConfigMapVolumeSource.defaultMode",
    "ConfigMapVolumeSource.optional", "Container.restartPolicy", "EphemeralContainerCommon.restartPolicy",
    "ContainerStatus.started", "ContainerStatus.stopSignal", "DownwardAPIVolumeFile.mode",
    "DownwardAPIVolumeSource.defaultMode", "EndpointAddress.nodeName", "EndpointPort.appProtocol",
    "FCVolumeSource.lun", "FileKeySelector.optional", "GRPCAction.service", "HostPathVolumeSource.type",
    "ISCSIPersistentVolumeSource.initiatorName", "ISCSIVolumeSource.initiatorName", "KeyToPath.mode",
    "Lifecycle.stopSignal", "LoadBalancerIngress.ipMode", "LocalVolumeSource.fsType",
    "NodeFeatures.supplementalGroupsPolicy", "NodeFeatures.containerUlimits",
    "NodeRuntimeHandlerFeatures.recursiveReadOnlyMounts", "NodeRuntimeHandlerFeatures.userNamespaces",
    "NodeSwapStatus.capacity", "PersistentVolumeClaimSpec.storageClassName",
    "PersistentVolumeClaimSpec.volumeMode", "PersistentVolumeClaimSpec.volumeAttributesClassName",
    "PersistentVolumeClaimStatus.currentVolumeAttributesClassName", "PersistentVolumeSpec.volumeMode",
    "PersistentVolumeSpec.volumeAttributesClassName", "PodCertificateProjection.maxExpirationSeconds",
    "PodDNSConfigOption.value", "PodLogOptions.sinceSeconds", "PodLogOptions.tailLines",
    "PodLogOptions.limitBytes", "PodLogOptions.stream", "PodResourceClaim.resourceClaimName",
    "PodResourceClaim.resourceClaimTemplateName", "PodResourceClaimStatus.resourceClaimName",
    "PodSecurityContext.runAsUser", "PodSecurityContext.runAsGroup", "PodSecurityContext.runAsNonRoot",
    "PodSecurityContext.supplementalGroupsPolicy", "PodSecurityContext.fsGroup",
    "PodSecurityContext.fsGroupChangePolicy", "PodSecurityContext.seLinuxChangePolicy",
    "PodSpec.terminationGracePeriodSeconds", "PodSpec.activeDeadlineSeconds",
    "PodSpec.automountServiceAccountToken", "PodSpec.shareProcessNamespace", "PodSpec.priority",
    "PodSpec.runtimeClassName", "PodSpec.enableServiceLinks", "PodSpec.preemptionPolicy",
    "PodSpec.setHostnameAsFQDN", "PodSpec.hostUsers", "PodSpec.hostnameOverride",
    "Probe.terminationGracePeriodSeconds", "ProjectedVolumeSource.defaultMode",
    "ReplicationControllerSpec.replicas", "ResourceHealth.message", "SecurityContext.privileged",
    "SecurityContext.runAsUser", "SecurityContext.runAsGroup", "SecurityContext.runAsNonRoot",
    "SecurityContext.readOnlyRootFilesystem", "SecurityContext.allowPrivilegeEscalation",
    "SecurityContext.procMount", "SeccompProfile.localhostProfile", "AppArmorProfile.localhostProfile",
    "Secret.immutable", "SecretEnvSource.optional", "SecretKeySelector.optional", "SecretProjection.optional",
    "SecretVolumeSource.defaultMode", "SecretVolumeSource.optional", "ServiceAccount.automountServiceAccountToken",
    "ServiceAccountTokenProjection.expirationSeconds", "ServicePort.appProtocol", "ServiceSpec.ipFamilyPolicy",
    "ServiceSpec.allocateLoadBalancerNodePorts", "ServiceSpec.loadBalancerClass",
    "ServiceSpec.internalTrafficPolicy", "ServiceSpec.trafficDistribution", "TopologySpreadConstraint.minDomains",
    "TopologySpreadConstraint.nodeAffinityPolicy", "TopologySpreadConstraint.nodeTaintsPolicy",
    "Toleration.tolerationSeconds", "TypedLocalObjectReference.apiGroup", "TypedObjectReference.apiGroup",
    "TypedObjectReference.namespace", "VolumeMount.recursiveReadOnly", "VolumeMount.mountPropagation",
    "VolumeMountStatus.recursiveReadOnly", "WindowsSecurityContextOptions.gmsaCredentialSpecName",
    "WindowsSecurityContextOptions.gmsaCredentialSpec", "WindowsSecurityContextOptions.runAsUserName",
    "WindowsSecurityContextOptions.hostProcess",
    # meta/v1
    "ObjectMeta.deletionGracePeriodSeconds", "OwnerReference.controller", "OwnerReference.blockOwnerDeletion",
    "ListMeta.remainingItemCount", "DeleteOptions.gracePeriodSeconds", "DeleteOptions.orphanDependents",
    "DeleteOptions.propagationPolicy", "DeleteOptions.ignoreStoreReadErrorWithClusterBreakingPotential",
    "Preconditions.uid", "Preconditions.resourceVersion", "ListOptions.sendInitialEvents", "PatchOptions.force",
    # apps/v1
    "DeploymentSpec.replicas", "DeploymentSpec.revisionHistoryLimit", "DeploymentSpec.progressDeadlineSeconds",
    "DeploymentSpec.podReplacementPolicy", "DaemonSetSpec.revisionHistoryLimit", "ReplicaSetSpec.replicas",
    "StatefulSetSpec.replicas", "StatefulSetSpec.revisionHistoryLimit", "RollingUpdateStatefulSetStrategy.partition",
    "DeploymentStatus.collisionCount", "DeploymentStatus.terminatingReplicas", "DaemonSetStatus.collisionCount",
    "StatefulSetStatus.collisionCount", "ReplicaSetStatus.terminatingReplicas",
    # autoscaling/v1, v2
    "HorizontalPodAutoscalerSpec.minReplicas", "HorizontalPodAutoscalerSpec.targetCPUUtilizationPercentage",
    "HorizontalPodAutoscalerStatus.observedGeneration", "HorizontalPodAutoscalerStatus.currentCPUUtilizationPercentage",
    "HPAScalingRules.stabilizationWindowSeconds", "HPAScalingRules.selectPolicy", "MetricTarget.averageUtilization",
    "MetricValueStatus.averageUtilization",
    # policy/v1
    "PodDisruptionBudgetSpec.unhealthyPodEvictionPolicy",
    # batch/v1
    "JobSpec.parallelism", "JobSpec.completions", "JobSpec.activeDeadlineSeconds", "JobSpec.backoffLimit",
    "JobSpec.backoffLimitPerIndex", "JobSpec.maxFailedIndexes", "JobSpec.manualSelector",
    "JobSpec.ttlSecondsAfterFinished", "JobSpec.completionMode", "JobSpec.suspend", "JobSpec.podReplacementPolicy",
    "JobSpec.managedBy", "JobStatus.terminating", "JobStatus.ready", "JobStatus.failedIndexes",
    "CronJobSpec.timeZone", "CronJobSpec.startingDeadlineSeconds", "CronJobSpec.suspend",
    "CronJobSpec.successfulJobsHistoryLimit", "CronJobSpec.failedJobsHistoryLimit",
    "PodFailurePolicyOnExitCodesRequirement.containerName", "SuccessPolicyRule.succeededIndexes",
    "SuccessPolicyRule.succeededCount",
    # authentication/v1
    "TokenRequestSpec.expirationSeconds",
    # networking/v1
    "HTTPIngressPath.pathType", "IngressSpec.ingressClassName", "IngressClassParametersReference.aPIGroup",
    "IngressClassParametersReference.scope", "IngressClassParametersReference.namespace",
    "NetworkPolicyPort.protocol", "NetworkPolicyPort.endPort", "IngressPortStatus.error",
    # coordination/v1
    "LeaseSpec.holderIdentity", "LeaseSpec.leaseDurationSeconds", "LeaseSpec.leaseTransitions",
    "LeaseSpec.strategy", "LeaseSpec.preferredHolder",
    # scheduling/v1, apiregistration/v1
    "PriorityClass.preemptionPolicy", "ServiceReference.port",
})
# Scalar fields without `omitempty` that the client models do not mark required.
REQUIRED_FIELDS = frozenset({
    "PodDisruptionBudgetStatus.disruptionsAllowed", "PodDisruptionBudgetStatus.currentHealthy",
    "PodDisruptionBudgetStatus.desiredHealthy", "PodDisruptionBudgetStatus.expectedPods", "TokenRequestStatus.token",
})
SCALARS = frozenset({"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
                     "fixed32", "fixed64", "sfixed32", "sfixed64", "double", "float"})

_MESSAGE = re.compile(r"message\s+(\w+)\s*\{(.*?)\n\}", re.S)
_FIELD = re.compile(
    r"^\s*(optional|repeated|required)?\s*(map\s*<\s*\w+\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)", re.M)
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


@dataclass(frozen=True)
class Field:
    name: str
    number: int
    type: str  # scalar name, or a fully qualified message name after resolution
    repeated: bool
    is_map: bool


@dataclass
class Message:
    package: str
    name: str
    fields: list[Field] = field(default_factory=list)

    @property
    def full(self) -> str:
        return f"{self.package}.{self.name}"


def parse(text: str) -> list[Message]:
    """The messages of one .proto file, field types still as written."""
    text = _COMMENT.sub("", text)
    package = re.search(r"^\s*package\s+([\w.]+)\s*;", text, re.M)
    if package is None:
        raise ValueError("no package statement")
    out = []
    for m in _MESSAGE.finditer(text):
        msg = Message(package.group(1), m.group(1))
        for f in _FIELD.finditer(m.group(2)):
            label, typ, map_value, name, number = f.groups()
            is_map = map_value is not None
            msg.fields.append(Field(name, int(number), map_value if is_map else typ, label == "repeated", is_map))
        out.append(msg)
    return out


def resolve(typ: str, package: str, known: set[str]) -> str:
    if typ in SCALARS:
        return typ
    if typ.startswith("."):
        full = typ[1:]
    elif f"{package}.{typ}" in known:
        full = f"{package}.{typ}"
    else:
        full = typ
    if full not in known and full not in SPECIAL:
        raise ValueError(f"unknown type {typ!r} in package {package}")
    return full


def api_version(package: str) -> str:
    group, version = GROUPS[package], package.rsplit(".", 1)[1]
    return f"{group}/{version}" if group else version


def _model(msg: Message) -> type | None:
    """The kubernetes client model of a message: the one naming the most of its fields."""
    version = msg.package.rsplit(".", 1)[1].capitalize()
    group = GROUPS.get(msg.package, "").split(".")[0].capitalize() or "Core"
    best, best_score = None, 0.0
    for candidate in (f"{group}{version}{msg.name}", f"{version}{msg.name}"):
        model = getattr(models, candidate, None)
        names = {v.lower() for v in getattr(model, "attribute_map", {}).values()}
        if not names or not msg.fields:
            continue
        score = sum(f.name.lower() in names for f in msg.fields) / len(msg.fields)
        if score > best_score:
            best, best_score = model, score
    return best


def _required(model: type, json_name: str) -> bool:
    for attr, alias in model.attribute_map.items():
        if alias == json_name:
            info = model.model_fields.get(attr)
            return bool(info is not None and info.is_required())
    return False


def build(messages: Iterable[Message]) -> tuple[dict, list[str]]:
    by_name = {m.full: m for m in messages}
    known = set(by_name)
    warnings: list[str] = []

    def json_names(full: str) -> set[str]:
        """JSON names a message contributes when inlined (following nested inlines)."""
        out: set[str] = set()
        for f in by_name[full].fields:
            out.add(f.name)
            if f.type in by_name and f.name.lower() == by_name[f.type].name.lower():
                out |= json_names(f.type)
        return out

    own = {full: _model(msg) for full, msg in by_name.items()}
    # A Go embedded struct (VolumeSource, ProbeHandler, ...) has no client model of its own: its fields
    # are named in the model of the message that inlines it.
    for full, msg in by_name.items():
        for f in msg.fields:
            typ = resolve(f.type, msg.package, known)
            if own[full] is not None and own.get(typ) is None and typ in by_name and not f.repeated \
                    and f.name not in own[full].attribute_map.values() and json_names(typ) & set(
                        own[full].attribute_map.values()):
                own[typ] = own[full]
    table: dict[str, dict[str, list]] = {}
    kinds: dict[str, dict[str, str]] = {}
    for full, msg in sorted(by_name.items()):
        if full in SPECIAL:
            continue
        model = own[full]
        model_names = set(model.attribute_map.values()) if model is not None else set()
        fields: dict[str, list] = {}
        for f in msg.fields:
            typ = resolve(f.type, msg.package, known)
            flags = "r" if f.repeated else "m" if f.is_map else ""
            name = f.name
            if model is not None and name not in model_names:
                folded = {n.lower(): n for n in model_names}
                if name.lower() in folded:
                    name = folded[name.lower()]
                elif typ in by_name and json_names(typ) & model_names and json_names(typ) <= model_names | {"kind"}:
                    flags += "i"
                else:
                    warnings.append(f"{full}.{f.name}: not in the client model {model.__name__}")
            if typ in SPECIAL:
                typ = SPECIAL[typ]
            if typ in SCALARS and not f.repeated and (
                    f"{msg.name}.{f.name}" in POINTER_FIELDS | REQUIRED_FIELDS
                    or (model is not None and _required(model, name))):
                flags += "k"
            fields[str(f.number)] = [name, typ, flags] if flags else [name, typ]
        table[full] = fields
        if model is None:
            if msg.package != META:
                warnings.append(f"{full}: no client model")
        elif ({"apiVersion", "kind"} <= model_names and msg.package in GROUPS and msg.package != META
              and any(f.name == "metadata" and f.type.endswith("ObjectMeta") for f in msg.fields)):
            kinds.setdefault(api_version(msg.package), {})[msg.name] = full
    for kind in META_KINDS:
        kinds.setdefault("meta.k8s.io/v1", {})[kind] = f"{META}.{kind}"
    for version in list(kinds):
        for kind in OPTIONS_KINDS:
            kinds[version].setdefault(kind, f"{META}.{kind}")
    return {"messages": table, "kinds": kinds}, warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("proto_dir", type=Path, help="directory of generated.proto files (any names, *.proto)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "kubesim/protoschema.json")
    args = parser.parse_args(argv)
    messages: list[Message] = []
    for path in sorted(args.proto_dir.glob("*.proto")):
        messages.extend(parse(path.read_text()))
    schema, warnings = build(messages)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    args.out.write_text(json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"wrote {args.out}: {len(schema['messages'])} messages, "
          f"{sum(map(len, schema['kinds'].values()))} kinds", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
