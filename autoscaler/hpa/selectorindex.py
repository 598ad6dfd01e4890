"""Which HPAs select a set of pods: the controller's `hpaSelectors` bimultimap (v1.35 validateAndParseSelector),
used to fail an HPA with AmbiguousSelector when its pods are also covered by another HPA's selector.

An HPA's selector is its target's scale selector, learned at each sync (an HPA not yet synced selects nothing).
Selectors are indexed by one exact `key=value` requirement, so a lookup checks only the HPAs that could match
a pod's labels instead of every HPA in the namespace. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kubesim.selectors import LabelSelector

HPAKey = tuple[str, str]  # (namespace, name)


class SelectorIndex:
    def __init__(self) -> None:
        self._selectors: dict[HPAKey, LabelSelector] = {}
        self._by_pair: dict[tuple[str, str, str], set[HPAKey]] = {}  # (namespace, key, value) -> HPAs
        self._unindexed: dict[str, set[HPAKey]] = {}  # namespace -> HPAs whose selector has no exact pair

    def __contains__(self, hpa: HPAKey) -> bool:
        return hpa in self._selectors

    def put(self, hpa: HPAKey, selector: LabelSelector) -> None:
        """Set (or replace) the selector of `hpa`."""
        old = self._selectors.get(hpa)
        if old is not None and str(old) == str(selector) and old.selects_nothing == selector.selects_nothing:
            return
        self.remove(hpa)
        self._selectors[hpa] = selector
        if selector.selects_nothing:
            return
        exact = selector.exact_matches()
        if exact:
            key = min(exact)
            self._by_pair.setdefault((hpa[0], key, exact[key]), set()).add(hpa)
        else:
            self._unindexed.setdefault(hpa[0], set()).add(hpa)

    def remove(self, hpa: HPAKey) -> None:
        selector = self._selectors.pop(hpa, None)
        if selector is None or selector.selects_nothing:
            return
        exact = selector.exact_matches()
        if exact:
            key = min(exact)
            bucket = self._by_pair.get((hpa[0], key, exact[key]))
            if bucket is not None:
                bucket.discard(hpa)
                if not bucket:
                    del self._by_pair[(hpa[0], key, exact[key])]
        else:
            self._unindexed.get(hpa[0], set()).discard(hpa)

    def selecting(self, namespace: str, pods: Iterable[Mapping[str, str]]) -> list[str]:
        """The "namespace/name" keys, sorted, of every HPA whose selector matches at least one of the pods."""
        found: set[HPAKey] = set()
        unindexed = self._unindexed.get(namespace, set())
        for labels in pods:
            candidates = set(unindexed)
            for k, v in labels.items():
                candidates |= self._by_pair.get((namespace, k, v), set())
            found |= {hpa for hpa in candidates - found if self._selectors[hpa].matches(labels)}
        return sorted(f"{ns}/{name}" for ns, name in found)
