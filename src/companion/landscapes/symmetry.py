"""Permutation symmetry of multi-branch networks: align independently trained solutions.

A multi-branch network computes the same function when its branches are permuted, and when the hidden
units of any layer of any branch are permuted (rows of ``W_l`` and columns of ``W_{l+1}`` together). With one
hidden layer the branches share nothing else, so all ``I·h`` hidden units can be permuted freely, across
branches too. Two solutions trained from different seeds are, as weight vectors, related by an unknown
element of this group plus genuine differences; the straight line (or the plane) between them mixes
unrelated units unless the group element is undone first.

:func:`align_to_first` undoes it by *activation matching*: on probe inputs, each unit (or branch) of
network s is paired with the unit (or branch) of network 0 it correlates with best, by an optimal
assignment (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``). Aligned networks compute
exactly the functions they computed before (tested); only their coordinates change.

- One hidden layer, widths (d, h, out): the ``I·h`` pooled units are matched in one assignment.
- Deeper branches: branches are matched by their output functions on the probe inputs (invariant to
  the units' order inside a branch); then, inside every matched pair, the units of each hidden layer are
  matched layer by layer, batched over branches. For very many branches the branch assignment is solved
  in blocks of ``block`` branches after sorting both sides along the descriptors' leading principal
  direction (exact when ``I ≤ block``). The unit assignments of all branches of a chunk are one batched
  tensor operation (:func:`assignments`) on a GPU, scipy's Hungarian algorithm in a loop on a CPU.

The matching yields a :class:`Relabelling` (:func:`match_to_first`), applied in place by :func:`relabel_`
with chunk-sized temporaries and undone exactly by its inverse: aligning a 50,000-branch network needs no
copy of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from companion.training.nets import Layers, Scale, forward


def _standardize_rows(Z: torch.Tensor) -> torch.Tensor:
    """(…, k, n) → rows centred and scaled to unit norm (constant rows become 0)."""
    Z = Z - Z.mean(-1, keepdim=True)
    return Z / Z.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _similarity(h0: torch.Tensor, hs: torch.Tensor, w0: torch.Tensor, ws: torch.Tensor,
                tie_break: float = 1e-3) -> torch.Tensor:
    """(…, k, k) similarity of units: correlation of their activations h (…, k, n) on the probe inputs, plus
    ``tie_break`` × the cosine of their incoming weights w (…, k, i), which pairs units that are never
    active on the probes (no activation signal) by their weights."""
    a = torch.matmul(_standardize_rows(h0.double()), _standardize_rows(hs.double()).transpose(-1, -2))
    w0n = w0.double() / w0.double().norm(dim=-1, keepdim=True).clamp_min(1e-12)
    wsn = ws.double() / ws.double().norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return a + tie_break * torch.matmul(w0n, wsn.transpose(-1, -2))


def assignment(similarity: np.ndarray) -> np.ndarray:
    """The permutation ``p`` maximising Σ_k similarity[k, p[k]] ((k, k) → (k,))."""
    rows, cols = linear_sum_assignment(similarity, maximize=True)
    return cols[np.argsort(rows)]


def _subset_levels(k: int, device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """For r = 0…k−1: the subsets (bit masks) of r + 1 of k columns, and for each its r + 1 predecessors
    (the mask less one column) and those columns: ((M,), (M, r+1), (M, r+1)) int64."""
    by_size: list[list[int]] = [[] for _ in range(k + 1)]
    for mask in range(1 << k):
        by_size[bin(mask).count("1")].append(mask)
    levels = []
    for r in range(k):
        masks = by_size[r + 1]
        cols = [[c for c in range(k) if m >> c & 1] for m in masks]
        prev = [[m ^ (1 << c) for c in cs] for m, cs in zip(masks, cols)]
        levels.append(tuple(torch.tensor(t, dtype=torch.int64, device=device) for t in (masks, prev, cols)))
    return levels


def assignments(similarity: torch.Tensor, *, max_exact: int = 10) -> torch.Tensor:
    """Batched :func:`assignment`: (B, k, k) → (B, k) permutations maximising Σ_j S[b, j, p[b, j]].

    For k ≤ ``max_exact``, exact by dynamic programming over column subsets, as tensor operations over the
    batch: best[mask] = the best sum of rows 0…|mask|−1 assigned to the columns in ``mask``; k·2^(k−1)
    additions per matrix (1,024 for k = 8, against 8! = 40,320 permutations), sums taken row by row as an
    exhaustive search would. Ties go to the lowest column at the latest row. Larger k: the Hungarian
    algorithm, one matrix at a time.
    """
    B, k = similarity.shape[:2]
    if similarity.shape != (B, k, k):
        raise ValueError(f"need (B, k, k) similarities, got {tuple(similarity.shape)}")
    if k > max_exact or B == 0:
        return torch.as_tensor(np.stack([assignment(c) for c in similarity.cpu().numpy()]).reshape(B, k),
                               device=similarity.device)
    S = similarity.double()
    best = torch.full((B, 1 << k), -torch.inf, dtype=torch.float64, device=S.device)
    best[:, 0] = 0.0
    last = torch.zeros(B, 1 << k, dtype=torch.int64, device=S.device)   # the column given to the last row
    for r, (masks, prev, cols) in enumerate(_subset_levels(k, S.device)):
        cand = best[:, prev] + S[:, r, :][:, cols]                     # (B, M, r + 1)
        top, arg = cand.max(-1)
        best[:, masks] = top
        last[:, masks] = cols[torch.arange(len(masks), device=S.device)[None, :], arg]
    perm = torch.empty(B, k, dtype=torch.int64, device=S.device)
    mask = torch.full((B,), (1 << k) - 1, dtype=torch.int64, device=S.device)
    for r in range(k - 1, -1, -1):                                     # read the choices back
        c = last.gather(1, mask[:, None])[:, 0]
        perm[:, r] = c
        mask = mask ^ (1 << c)
    return perm


def leading_direction(A: np.ndarray, B: np.ndarray, *, rank: int = 8, iterations: int = 200,
                      tol: float = 1e-10) -> np.ndarray:
    """(m,) the leading right singular vector of the rows of A (k, m) and B (k', m) together, centred.

    Only this vector is needed, so no full SVD (at I = 2,000 branches and 500 probes the full SVD took 20 s
    of the alignment's 46 s): subspace iteration on ``rank`` vectors from a fixed start (BLAS-3 products,
    never forming the centred matrix), stopped once the leading Ritz vector moves by less than ``tol``,
    then a Rayleigh–Ritz step. Sign fixed so that the largest entry is positive (deterministic).
    """
    mean = (A.sum(0) + B.sum(0)) / (len(A) + len(B))
    r = max(1, min(rank, A.shape[1]))
    centred = lambda V: (A @ V - mean @ V, B @ V - mean @ V)           # the centred rows times V (·, r)
    V = np.linalg.qr(np.random.default_rng(0).standard_normal((A.shape[1], r)))[0]
    a, b = centred(V)
    v_old = None
    for _ in range(iterations):
        w = np.linalg.eigh(a.T @ a + b.T @ b)[1][:, -1]               # Rayleigh–Ritz in span(V)
        v = V @ w
        if v_old is not None and abs(float(v @ v_old)) > 1 - tol:
            break
        v_old = v
        V = np.linalg.qr(A.T @ a + B.T @ b - np.outer(mean, a.sum(0) + b.sum(0)))[0]
        a, b = centred(V)
    return v if v[np.argmax(np.abs(v))] > 0 else -v


def blocked_assignment(A: np.ndarray, B: np.ndarray, block: int) -> np.ndarray:
    """Pair the rows of B (k, m) with those of A (k, m) by least squared distance: exact for k ≤ block,
    otherwise exact within blocks of ``block`` rows after sorting both along their leading principal
    direction (:func:`leading_direction`). Returns p with B[p[k]] paired to A[k]."""
    k = A.shape[0]
    sim = lambda a, b: 2 * a @ b.T - (b * b).sum(1)[None, :]       # −‖a − b‖² up to a per-row constant
    if k <= block:
        return assignment(sim(A, B))
    v = leading_direction(A, B)
    oa, ob = np.argsort(A @ v, kind="stable"), np.argsort(B @ v, kind="stable")
    p = np.empty(k, dtype=np.int64)
    for s in range(0, k, block):
        ia, ib = oa[s:s + block], ob[s:s + block]
        p[ia] = ib[assignment(sim(A[ia], B[ib]))]
    return p


def _hidden(W: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """One layer for one network: W (I, o, i), z (I, i, n) or shared (i, n) → relu(W z) (I, o, n)."""
    return torch.relu(torch.matmul(W, z))


@dataclass(frozen=True)
class Relabelling:
    """A relabelling of the hidden units of networks 1…S−1 (network 0 is the reference and keeps its labels).

    ``units[l]``: (S−1, I·h_l) int64, one row per network s ≥ 1: its new hidden unit u of layer l (branch
    u // h_l, unit u % h_l of that branch) is its old unit ``units[l][s−1, u]``. Branch permutations are unit
    relabellings that keep the units of a branch together. Apply with :func:`relabel_`.
    """

    units: list[torch.Tensor]

    def inverse(self) -> "Relabelling":
        """The relabelling that undoes this one."""
        return Relabelling([torch.argsort(u, dim=1) for u in self.units])


def _layer_index(I: int, o: int, i: int, rows: torch.Tensor | None, cols: torch.Tensor) -> torch.Tensor:
    """(I, o, i) flat indices into a later layer (I, o, i) of one network: entry (b, r, c) of the new layer is
    entry (branch, row, col) of the old one, with the old column unit ``cols`` (I·i,) of new column (b, c) and
    the old row unit ``rows`` (I·o,) of new row (b, r) (None for the output layer, whose rows stay and follow
    the branch of the columns)."""
    cb, cc = torch.div(cols.view(I, 1, i), i, rounding_mode="floor"), cols.view(I, 1, i) % i
    if rows is None:
        rb, rr = cb, torch.arange(o, device=cols.device).view(1, o, 1)
    else:
        rb, rr = torch.div(rows.view(I, o, 1), o, rounding_mode="floor"), rows.view(I, o, 1) % o
    return (rb * o + rr) * i + cc


def relabel_(layers: Sequence[torch.Tensor], relabelling: Relabelling, *, column_block: int = 256) -> None:
    """Apply ``relabelling`` to networks 1…S−1 of ``layers`` (each (S, I, ·, ·)) in place. Functions are
    unchanged and entries are copied exactly, so applying :meth:`Relabelling.inverse` restores the original.

    Memory: the first layer (I, h, d) per network, the large one, is permuted by rows in blocks of
    ``column_block`` input columns (an (I·h, column_block) temporary); the later layers, small, whole.
    """
    L = len(layers)
    for s in range(1, layers[0].shape[0]):
        units = [u[s - 1].to(layers[0].device) for u in relabelling.units]
        W0 = layers[0][s].view(-1, layers[0].shape[3])                  # (I·h, d) rows = units of layer 0
        for c0 in range(0, W0.shape[1], column_block):
            W0[:, c0:c0 + column_block] = W0[units[0], c0:c0 + column_block]
        for l in range(1, L):
            Ws = layers[l][s]
            idx = _layer_index(*Ws.shape, units[l] if l < L - 1 else None, units[l - 1])
            Ws.copy_(Ws.reshape(-1)[idx.reshape(-1)].view(Ws.shape))


def _pooled_units(layers: Sequence[torch.Tensor], x: torch.Tensor, n_fixed: int) -> list[torch.Tensor]:
    """One hidden layer: the I·h pooled hidden units of each network matched to network 0's (the last
    ``n_fixed`` units of every branch stay where they are). Returns the units of :class:`Relabelling`."""
    W1, W2 = layers                                            # (S, I, h, d), (S, I, out, h)
    S, I, h, d = W1.shape
    m = h - n_fixed
    keep = torch.arange(I * h).view(I, h)[:, :m].reshape(-1)    # the flat indices of the units that move
    U1 = W1[:, :, :m].reshape(S, I * m, d)
    Z = torch.relu(U1 @ x.T.to(U1))                           # (S, I·m, n)
    units = torch.arange(I * h).repeat(S - 1, 1)
    for s in range(1, S):
        p = torch.as_tensor(assignment(_similarity(Z[0], Z[s], U1[0], U1[s]).cpu().numpy()))
        units[s - 1, keep] = keep[p]
    return [units]


def _branchwise_units(layers: Sequence[torch.Tensor], x: torch.Tensor, block: int, branch_chunk: int,
                      n_fixed: int, max_exact: int) -> list[torch.Tensor]:
    """Deeper branches: match branches by their output functions, then units inside matched pairs, layer by
    layer, a chunk of branches at a time (chunk-sized copies only). Returns the units of :class:`Relabelling`."""
    S, I = layers[0].shape[:2]
    xT = x.T.to(layers[0])
    L = len(layers)
    dev = layers[0].device
    units = [torch.empty(S - 1, I * W.shape[2], dtype=torch.int64) for W in layers[:-1]]

    def branch_outputs(s: int) -> np.ndarray:                  # (I, out·n) outputs of each branch alone
        parts = []
        for a in range(0, I, branch_chunk):
            z = xT                                              # (d, n), broadcast over branches
            for W in layers[:-1]:
                z = _hidden(W[s, a:a + branch_chunk], z)
            o = torch.matmul(layers[-1][s, a:a + branch_chunk], z)
            parts.append(o.reshape(o.shape[0], -1))
        return torch.cat(parts).double().cpu().numpy()

    ref = branch_outputs(0)
    for s in range(1, S):
        pb = torch.as_tensor(blocked_assignment(ref, branch_outputs(s), block), device=dev)
        for a in range(0, I, branch_chunk):                    # units, layer by layer, batched over branches
            sl = slice(a, min(a + branch_chunk, I))
            Ws = [W[s][pb[sl]] for W in layers]                # this chunk, branches reordered (a copy)
            z0 = zs = xT                                        # (d, n), broadcast over branches
            for l in range(L - 1):
                h0 = _hidden(layers[l][0, sl], z0)             # (Ic, h, n)
                hs = _hidden(Ws[l], zs)
                m = h0.shape[1] - n_fixed                       # the last n_fixed units stay in place
                C = _similarity(h0[:, :m], hs[:, :m], layers[l][0, sl, :m], Ws[l][:, :m])
                fixed = torch.arange(m, m + n_fixed, device=dev).expand(C.shape[0], -1)
                perm = torch.cat([assignments(C, max_exact=max_exact).to(dev), fixed], 1)   # (Ic, h)
                Ws[l] = torch.gather(Ws[l], 1, perm[:, :, None].expand(-1, -1, Ws[l].shape[2]))
                Ws[l + 1] = torch.gather(Ws[l + 1], 2, perm[:, None, :].expand(-1, Ws[l + 1].shape[1], -1))
                z0, zs = h0, torch.gather(hs, 1, perm[:, :, None].expand(-1, -1, hs.shape[2]))
                h = perm.shape[1]
                units[l][s - 1, a * h:sl.stop * h] = (pb[sl, None] * h + perm).reshape(-1).cpu()
    return units


def match_to_first(layers: Sequence[torch.Tensor], x_probe: torch.Tensor, *, block: int = 1024,
                   branch_chunk: int = 4096, n_fixed: int = 0, max_exact: int | None = None) -> Relabelling:
    """The relabelling that aligns networks 1…S−1 (layers (S, I, ·, ·)) to network 0, by activation matching
    on ``x_probe`` (n, d); see :func:`align_to_first`. ``max_exact``: the unit assignments inside branches of
    at most that many units are solved in batch on the device (:func:`assignments`), larger ones one at a
    time by scipy. Default: 10 on a GPU (no round trip to the host), 0 on a CPU, where scipy's loop measured
    faster (15,000 8×8 matrices: 0.06 s against 0.20 s batched, 2 cores).
    """
    if len(layers) < 2:
        raise ValueError("a network without hidden layers has no permutation symmetry to align")
    if max_exact is None:
        max_exact = 10 if layers[0].device.type == "cuda" else 0
    with torch.no_grad():
        if len(layers) == 2:
            return Relabelling(_pooled_units(layers, x_probe, n_fixed))
        return Relabelling(_branchwise_units(layers, x_probe, block, branch_chunk, n_fixed, max_exact))


def align_to_first(layers: Sequence[torch.Tensor], x_probe: torch.Tensor, *, block: int = 1024,
                   branch_chunk: int = 4096, n_fixed: int = 0, in_place: bool = False) -> Layers:
    """Permute the branches and hidden units of networks 1…S−1 (layers (S, I, ·, ·)) to match network 0.

    ``x_probe``: (n, d) inputs on which activations are compared. Each network's function is unchanged.
    Networks with one hidden layer are matched unit by unit over all I·h units; deeper ones branch by
    branch, then unit by unit inside branches (``block``, ``branch_chunk``: see the module docstring).
    ``n_fixed``: the last units of every hidden layer that are never permuted (1 for the constant units that
    carry biases, :func:`companion.training.nets.init_default`). ``in_place``: permute ``layers`` themselves (no copy;
    :func:`match_to_first` and :func:`relabel_` to undo it later) instead of a copy.
    """
    relabelling = match_to_first(layers, x_probe, block=block, branch_chunk=branch_chunk, n_fixed=n_fixed)
    out = list(layers) if in_place else [W.clone() for W in layers]
    with torch.no_grad():
        relabel_(out, relabelling)
    return out


def alignment_change(layers: Sequence[torch.Tensor], x: torch.Tensor, *, scale: Scale = "mean",
                     branch_chunk: int | None = None) -> float:
    """How much aligning changes the networks' functions: :func:`align_to_first` of ``layers`` (S, I, ·, ·) on
    the probe inputs ``x`` (n, d), then the largest change of any output on ``x``, relative to the largest
    output (each its own forward pass). 0 up to rounding: aligning relabels units only."""
    with torch.no_grad():
        before = forward(layers, x, scale=scale, branch_chunk=branch_chunk)
        after = forward(align_to_first(layers, x, branch_chunk=branch_chunk or 4096), x, scale=scale,
                        branch_chunk=branch_chunk)
    return float((after - before).abs().max() / before.abs().max())


def random_symmetry(layers: Sequence[torch.Tensor], seed: int) -> Layers:
    """Apply a random element of the symmetry group to every network: permute branches, then the units of
    every hidden layer inside every branch (for one hidden layer, the pooled units). For tests."""
    g = torch.Generator().manual_seed(seed)
    S, I = layers[0].shape[:2]
    if len(layers) == 2:
        W1, W2 = layers
        h = W1.shape[2]
        U1 = W1.reshape(S, I * h, -1)
        U2 = W2.permute(0, 1, 3, 2).reshape(S, I * h, -1)
        p = torch.stack([torch.randperm(I * h, generator=g) for _ in range(S)]).to(W1.device)
        U1 = torch.gather(U1, 1, p[:, :, None].expand(-1, -1, U1.shape[2]))
        U2 = torch.gather(U2, 1, p[:, :, None].expand(-1, -1, U2.shape[2]))
        return [U1.reshape(W1.shape), U2.reshape(S, I, h, -1).permute(0, 1, 3, 2).contiguous()]
    pb = torch.stack([torch.randperm(I, generator=g) for _ in range(S)]).to(layers[0].device)
    out = [torch.stack([W[s][pb[s]] for s in range(S)]) for W in layers]
    for l in range(len(layers) - 1):
        h = out[l].shape[2]
        p = torch.stack([torch.stack([torch.randperm(h, generator=g) for _ in range(I)]) for _ in range(S)]).to(pb)
        out[l] = torch.gather(out[l], 2, p[..., None].expand(-1, -1, -1, out[l].shape[3]))
        out[l + 1] = torch.gather(out[l + 1], 3, p[:, :, None, :].expand(-1, -1, out[l + 1].shape[2], -1))
    return out
