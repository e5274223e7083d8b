"""Analyzers: pure, typed stages that turn source messages into `ModalityEstimate`s."""

from edge.analyzers.base import Analyzer

__all__ = ["Analyzer"]
