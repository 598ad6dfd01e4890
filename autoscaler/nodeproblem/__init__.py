"""Node-problem detection (log and plugin monitors) and the taint manager. Not yet built."""
