"""Gradient-boosted decision trees: evaluation in plain numpy, JSON in and out.

The stress model is a few hundred shallow regression trees whose leaf values add
up to a logit. scikit-learn grows them at training time (its
`HistGradientBoostingClassifier`; `from_sklearn` reads its fitted trees), but the
daemon runs without scikit-learn, so the trees are stored as plain arrays and
walked here: a handful of comparisons per tree, once a second.

A tree is five parallel arrays over its nodes: the input a split reads
(-1 at a leaf), the threshold (an input at or below it, or NaN when
`missing_left`, goes left), the left and right child, and the leaf value.
Children always come after their parent, which `TreeEnsemble.from_dict` checks,
so a walk ends on every input, however the file was edited.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Tree:
    """One regression tree (see the module docstring for the arrays)."""

    feature: I64
    threshold: F64
    missing_left: npt.NDArray[np.bool_]
    left: I64
    right: I64
    value: F64

    def leaf(self, x: F64) -> float:
        i = 0
        feature, threshold = self.feature, self.threshold
        while feature[i] >= 0:
            v = x[feature[i]]
            go_left = bool(self.missing_left[i]) if math.isnan(v) else v <= threshold[i]
            i = int(self.left[i] if go_left else self.right[i])
        return float(self.value[i])

    def to_dict(self) -> dict[str, list[Any]]:
        return {"feature": self.feature.tolist(),
                "threshold": [round(float(v), 8) for v in self.threshold],
                "missing_left": [int(v) for v in self.missing_left],
                "left": self.left.tolist(), "right": self.right.tolist(),
                "value": [round(float(v), 8) for v in self.value]}

    @classmethod
    def from_dict(cls, d: dict[str, Any], n_inputs: int) -> Tree:
        """Raises ValueError unless the arrays describe a proper tree over `n_inputs`."""
        feature = np.asarray(d["feature"], dtype=np.int64)
        n = feature.size
        tree = cls(feature, np.asarray(d["threshold"], dtype=np.float64),
                   np.asarray(d["missing_left"], dtype=bool),
                   np.asarray(d["left"], dtype=np.int64),
                   np.asarray(d["right"], dtype=np.int64),
                   np.asarray(d["value"], dtype=np.float64))
        arrays = (tree.threshold, tree.missing_left, tree.left, tree.right, tree.value)
        if n == 0 or any(a.shape != (n,) for a in arrays):
            raise ValueError("tree arrays are empty or of different lengths")
        split = feature >= 0
        idx = np.arange(n)
        if (np.any(feature >= n_inputs) or np.any(feature < -1)
                or np.any(split & ((tree.left <= idx) | (tree.right <= idx)))
                or np.any(split & ((tree.left >= n) | (tree.right >= n)))
                or not np.all(np.isfinite(tree.value))
                or not np.all(np.isfinite(tree.threshold[split]))):
            raise ValueError("a tree node points outside the tree or to an unknown input")
        return tree


@dataclass(frozen=True)
class TreeEnsemble:
    """Boosted trees: logit = bias + the sum of one leaf value per tree."""

    bias: float
    trees: tuple[Tree, ...]
    n_inputs: int

    @cached_property
    def _flat(self) -> tuple[npt.NDArray[Any], ...]:
        """Every tree's nodes in one set of arrays (global indices), for `logit`: the
        roots, the input each node reads (0 at a leaf), its threshold, its children (a
        leaf's children are itself, so walking on from a leaf stays there), whether a
        missing input goes left, the leaf values, and the deepest path's length."""
        offsets = np.cumsum([0] + [t.feature.size for t in self.trees])[:-1]
        feature = np.concatenate([np.maximum(t.feature, 0) for t in self.trees])
        threshold = np.concatenate([t.threshold for t in self.trees])
        missing_left = np.concatenate([t.missing_left for t in self.trees])
        lefts, rights, depth = [], [], 0
        for t, off in zip(self.trees, offsets, strict=True):
            own = np.arange(t.feature.size)
            leaf = t.feature < 0
            lefts.append(off + np.where(leaf, own, t.left))
            rights.append(off + np.where(leaf, own, t.right))
            d = np.zeros(t.feature.size, dtype=np.int64)
            for i in range(t.feature.size):  # children after parents: one pass
                if not leaf[i]:
                    d[t.left[i]] = d[t.right[i]] = d[i] + 1
            depth = max(depth, int(d.max()))
        value = np.concatenate([t.value for t in self.trees])
        return (offsets, feature, threshold, np.concatenate(lefts), np.concatenate(rights),
                missing_left, value, np.array(depth))

    def logit(self, x: F64) -> float:
        """All trees walked together, one level per step: a few numpy calls per level
        instead of a Python loop over hundreds of trees (the per-tree `Tree.leaf`
        gives the same sum)."""
        if x.shape != (self.n_inputs,):
            raise ValueError(f"expected {self.n_inputs} inputs, got shape {x.shape}")
        if not self.trees:
            return self.bias
        node, feature, threshold, left, right, missing_left, value, depth = self._flat
        missing = bool(np.isnan(x).any())
        for _ in range(int(depth)):
            v = x[feature[node]]
            go_left = v <= threshold[node]
            if missing:
                go_left = np.where(np.isnan(v), missing_left[node], go_left)
            node = np.where(go_left, left[node], right[node])
        return self.bias + float(value[node].sum())

    def to_dict(self) -> dict[str, Any]:
        return {"bias": round(self.bias, 8), "n_inputs": self.n_inputs,
                "trees": [t.to_dict() for t in self.trees]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TreeEnsemble:
        n_inputs = int(d["n_inputs"])
        bias = float(d["bias"])
        if not math.isfinite(bias) or n_inputs <= 0:
            raise ValueError("bias or n_inputs is malformed")
        return cls(bias, tuple(Tree.from_dict(t, n_inputs) for t in d["trees"]), n_inputs)


def from_sklearn(clf: Any, n_inputs: int) -> TreeEnsemble:
    """The trees of a fitted binary `HistGradientBoostingClassifier` (numeric inputs).
    Its leaf values already include the learning rate; its baseline is the bias."""
    trees = []
    for (predictor,) in clf._predictors:
        nodes = predictor.nodes
        leaf = nodes["is_leaf"].astype(bool)
        trees.append(Tree(np.where(leaf, -1, nodes["feature_idx"]).astype(np.int64),
                          np.where(leaf, 0.0, nodes["num_threshold"]).astype(np.float64),
                          nodes["missing_go_to_left"].astype(bool),
                          np.where(leaf, -1, nodes["left"]).astype(np.int64),
                          np.where(leaf, -1, nodes["right"]).astype(np.int64),
                          nodes["value"].astype(np.float64)))
    return TreeEnsemble(float(np.ravel(clf._baseline_prediction)[0]), tuple(trees), n_inputs)
