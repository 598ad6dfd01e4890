"""kubesim's simulation layers over its API server: workload controllers, the scheduler, kubelets, workload
load models, the cloud of node groups, node logs and faults. Each layer is optional and talks to the API
server in-process (the same `ApiServer` the HTTP front serves), never over HTTP.
"""
