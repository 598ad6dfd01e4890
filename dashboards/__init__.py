"""Grafana dashboards as grafanalib code and the JSON generated from it. Not yet built."""
