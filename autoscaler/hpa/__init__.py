"""The HorizontalPodAutoscaler controller, upstream-exact. Not yet built: see the HPA issue."""
