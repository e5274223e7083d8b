"""Physiology evaluation tools (the streaming analyzer lives in edge.analyzer)."""
