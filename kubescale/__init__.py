"""Shared core of kubescale: the CLI entry, Kubernetes client plumbing, clock, quantities and settings."""
