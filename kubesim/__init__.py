"""kubesim: the embedded cluster. A Kubernetes API server first (generic object store served over HTTP
with the semantics kubectl, the kubernetes client and Prometheus rely on), with optional simulation
layers on top."""
