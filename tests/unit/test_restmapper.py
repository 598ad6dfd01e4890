"""restmapper's pure parts: discovery documents into mappings, paths, GroupVersion parsing, error texts."""

from __future__ import annotations

import pytest

from kubescale.restmapper import Mapping, NoKindMatchError, mappings_from_discovery, split_api_version

APPS_V1 = {"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": [
    {"name": "deployments", "kind": "Deployment", "namespaced": True},
    {"name": "deployments/scale", "kind": "Scale", "group": "autoscaling", "version": "v1", "namespaced": True},
    {"name": "deployments/status", "kind": "Deployment", "namespaced": True},
    {"name": "daemonsets", "kind": "DaemonSet", "namespaced": True},
]}


def test_subresources_attach_to_their_resource() -> None:
    by_kind = {m.kind: m for m in mappings_from_discovery("apps", "v1", APPS_V1)}
    assert set(by_kind) == {"Deployment", "DaemonSet"}
    assert by_kind["Deployment"].subresources == {"scale", "status"}
    assert by_kind["DaemonSet"].subresources == frozenset()


@pytest.mark.parametrize(("mapping", "args", "path"), [
    pytest.param(Mapping("apps", "v1", "deployments", "Deployment", True, frozenset()), ("ns", "web", "scale"),
                 "/apis/apps/v1/namespaces/ns/deployments/web/scale", id="namespaced-subresource"),
    pytest.param(Mapping("", "v1", "nodes", "Node", False, frozenset()), ("ns", "n1", ""), "/api/v1/nodes/n1",
                 id="cluster-scoped-ignores-namespace"),
    pytest.param(Mapping("", "v1", "pods", "Pod", True, frozenset()), ("", "", ""), "/api/v1/pods",
                 id="all-namespaces-collection"),
])
def test_paths(mapping: Mapping, args: tuple[str, str, str], path: str) -> None:
    assert mapping.path(*args) == path


def test_group_resource() -> None:
    assert Mapping("apps", "v1", "deployments", "Deployment", True, frozenset()).group_resource == "deployments.apps"
    assert Mapping("", "v1", "services", "Service", True, frozenset()).group_resource == "services"


@pytest.mark.parametrize(("text", "expected"), [
    ("apps/v1", ("apps", "v1")), ("v1", ("", "v1")), ("", ("", "")), ("example.com/v1alpha1", ("example.com",
                                                                                             "v1alpha1")),
])
def test_split_api_version(text: str, expected: tuple[str, str]) -> None:
    assert split_api_version(text) == expected


def test_split_api_version_rejects_more_slashes() -> None:
    with pytest.raises(ValueError, match="unexpected GroupVersion string: a/b/c"):
        split_api_version("a/b/c")


def test_no_kind_match_text() -> None:
    assert str(NoKindMatchError("apps", "Deploymnet")) == 'no matches for kind "Deploymnet" in group "apps"'
