"""The cluster autoscaler: scale-up for unschedulable pods, scale-down of unneeded nodes. Not yet built."""
