"""metricsd: the resource metrics server (scrape kubelets, window store, metrics.k8s.io) and the
Prometheus-backed custom/external metrics adapter. Not yet built: see the metricsd issue."""
