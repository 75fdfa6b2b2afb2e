r"""Compare learning rules with BPTT on one batch: cosine similarity and norm ratio per matrix.

For a rule's gradient :math:`g` and BPTT's :math:`g^*` of the same weight matrix,

.. math::

    \cos(g, g^*) = \frac{\langle g, g^* \rangle}{\|g\| \|g^*\|}, \qquad
    \text{norm ratio} = \|g\| / \|g^*\|

A cosine of 1 with norm ratio 1 means the same gradient; e-prop's approximation shows up as a
cosine below 1 in ``w_in`` and ``w_rec`` (``w_out`` and ``b_out`` are exact in every rule).

Over several seeds (networks), :func:`over_seeds` pools :func:`mean_alignment`'s tables: with
:math:`m_{s}` and :math:`\sigma_{s}` the mean and standard deviation of a figure over the batches
of seed :math:`s` (of :math:`S`),

.. math::

    \bar m = \frac{1}{S}\sum_s m_s, \qquad
    \sigma_\text{batches} = \frac{1}{S}\sum_s \sigma_s, \qquad
    \sigma_\text{seeds} = \Big(\frac{1}{S - 1}\sum_s (m_s - \bar m)^2\Big)^{1/2}

(the sample standard deviation of the seeds' means, 0 for one seed: the seeds are a sample of
networks, while the batches' spread stays the population one of :func:`mean_alignment`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .network import Weights
from .rules import Rule
from .types import Batch

COMPARED = ("w_in", "w_rec", "w_out", "b_out")


def alignment(grad: Weights, reference: Weights) -> dict[str, dict[str, float]]:
    """Cosine similarity and norm ratio of ``grad`` to ``reference`` for each compared matrix.

    A matrix whose two gradients are both zero counts as aligned (cosine 1, ratio 1); one that is
    zero in just one of them gives cosine 0 and ratio 0 or inf.
    """
    out = {}
    for name in COMPARED:
        g = np.asarray(getattr(grad, name), np.float64).ravel()
        r = np.asarray(getattr(reference, name), np.float64).ravel()
        ng, nr = float(np.linalg.norm(g)), float(np.linalg.norm(r))
        if ng == 0 and nr == 0:
            cos, ratio = 1.0, 1.0
        elif ng == 0 or nr == 0:
            cos, ratio = 0.0, (float("inf") if nr == 0 else 0.0)
        else:
            cos, ratio = float(g @ r / (ng * nr)), ng / nr
        out[name] = {"cosine": cos, "norm_ratio": ratio}
    return out


def compare_rules(
    rules: Mapping[str, Rule],
    weights: Weights,
    batch: Batch,
    *,
    reference: Rule,
    key: jax.Array | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Alignment of each rule's gradient with ``reference``'s on one batch.

    Args:
        rules: name -> rule (same signature as every rule).
        weights, batch: where to evaluate the gradients.
        reference: usually ``bptt(net, ...)`` with the same loss and regularisation.
        key: passed to every rule.

    Returns:
        ``{rule_name: {matrix: {"cosine": c, "norm_ratio": r}}}``.
    """
    if key is None:
        key = jax.random.key(0)
    ref_grads, _ = jax.jit(reference)(weights, batch, key)
    return {
        name: alignment(jax.jit(rule)(weights, batch, key)[0], ref_grads)
        for name, rule in rules.items()
    }


def mean_alignment(
    rules: Mapping[str, Rule],
    weights: Weights,
    batches: Iterable[Batch],
    *,
    reference: Rule,
    key: jax.Array | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """:func:`compare_rules` over several batches: mean and standard deviation of each figure.

    Returns:
        ``{rule_name: {matrix: {"cosine", "cosine_std", "norm_ratio", "norm_ratio_std"}}}`` (the
        population standard deviation over batches; 0 for one batch).
    """
    if key is None:
        key = jax.random.key(0)
    reference = jax.jit(reference)
    jitted = {name: jax.jit(rule) for name, rule in rules.items()}
    samples: dict = {}
    count = 0
    for index, batch in enumerate(batches):
        batch_key = jax.random.fold_in(key, index)
        ref_grads, _ = reference(weights, batch, batch_key)
        for name, rule in jitted.items():
            for matrix, values in alignment(rule(weights, batch, batch_key)[0], ref_grads).items():
                for figure, value in values.items():
                    samples.setdefault(name, {}).setdefault(matrix, {}).setdefault(figure, [])
                    samples[name][matrix][figure].append(value)
        count += 1
    if count == 0:
        raise ValueError("`mean_alignment`: `batches` is empty; give at least one batch.")
    out: dict = {}
    for name, per_matrix in samples.items():
        out[name] = {}
        for matrix, figures in per_matrix.items():
            entry = {}
            for figure, values in figures.items():
                entry[figure] = float(np.mean(values))
                entry[f"{figure}_std"] = float(np.std(values))
            out[name][matrix] = entry
    return out


def over_seeds(
    tables: Sequence[Mapping[str, Mapping[str, Mapping[str, float]]]],
) -> dict[str, dict[str, dict[str, float]]]:
    """Pool :func:`mean_alignment`'s tables of several seeds (module docstring).

    Returns:
        ``{rule_name: {matrix: {figure, figure_std, figure_seed_std, ...}}}`` for figure in
        ``cosine`` and ``norm_ratio``: the mean over seeds of the per-seed means, the mean over
        seeds of the standard deviation over batches, and the sample standard deviation
        (``ddof=1``) over seeds of the per-seed means (0 for one seed).
    """
    if len(tables) == 0:
        raise ValueError("`over_seeds`: `tables` is empty; give at least one seed's table.")
    out: dict = {}
    for rule, per_matrix in tables[0].items():
        out[rule] = {}
        for matrix, figures in per_matrix.items():
            entry = {}
            for figure in ("cosine", "norm_ratio"):
                if figure not in figures:
                    continue
                means = [t[rule][matrix][figure] for t in tables]
                stds = [t[rule][matrix].get(f"{figure}_std", 0.0) for t in tables]
                entry[figure] = float(np.mean(means))
                entry[f"{figure}_std"] = float(np.mean(stds))
                entry[f"{figure}_seed_std"] = (
                    float(np.std(means, ddof=1)) if len(means) > 1 else 0.0
                )
            out[rule][matrix] = entry
    return out


def format_alignment(table: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """Render :func:`compare_rules`', :func:`mean_alignment`'s or :func:`over_seeds`' output as a
    plain-text table (``mean ± std`` where standard deviations are present; ``mean ± std over
    batches ± std over seeds`` for :func:`over_seeds`)."""
    width = max([24, *(len(rule) + 2 for rule in table)])
    seeds = any("cosine_seed_std" in m for per in table.values() for m in per.values())
    column = 28 if seeds else 18

    def cell(m: Mapping[str, float], figure: str) -> str:
        text = f"{m[figure]:.4f}"
        for suffix in ("_std", "_seed_std"):
            if f"{figure}{suffix}" in m:
                text += f" ± {m[figure + suffix]:.4f}"
        return text

    lines = [f"{'rule':<{width}}{'matrix':<8}{'cosine':>{column}}{'norm ratio':>{column}}"]
    for rule, per_matrix in table.items():
        for name, m in per_matrix.items():
            lines.append(
                f"{rule:<{width}}{name:<8}{cell(m, 'cosine'):>{column}}"
                f"{cell(m, 'norm_ratio'):>{column}}"
            )
    return "\n".join(lines)


def relative_error(a, b) -> float:
    """``max|a - b| / max|b|`` over all leaves of two pytrees (0 when both are zero)."""
    num = max(
        float(jnp.max(jnp.abs(x - y)))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )
    den = max(float(jnp.max(jnp.abs(y))) for y in jax.tree.leaves(b))
    return num / den if den > 0 else num
