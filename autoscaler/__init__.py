"""autoscaler: the controllers (HPA, cluster autoscaler, node-problem detection, taint manager), each as
plain-data model, pure decision and a thin I/O controller."""
