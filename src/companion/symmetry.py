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
  direction (exact when ``I ≤ block``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from companion.nets import Layers


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


def blocked_assignment(A: np.ndarray, B: np.ndarray, block: int) -> np.ndarray:
    """Pair the rows of B (k, m) with those of A (k, m) by least squared distance: exact for k ≤ block,
    otherwise exact within blocks of ``block`` rows after sorting both along their leading principal
    direction. Returns p with B[p[k]] paired to A[k]."""
    k = A.shape[0]
    sim = lambda a, b: 2 * a @ b.T - (b * b).sum(1)[None, :]       # −‖a − b‖² up to a per-row constant
    if k <= block:
        return assignment(sim(A, B))
    both = np.concatenate([A, B])
    v = np.linalg.svd(both - both.mean(0), full_matrices=False)[2][0]
    oa, ob = np.argsort(A @ v, kind="stable"), np.argsort(B @ v, kind="stable")
    p = np.empty(k, dtype=np.int64)
    for s in range(0, k, block):
        ia, ib = oa[s:s + block], ob[s:s + block]
        p[ia] = ib[assignment(sim(A[ia], B[ib]))]
    return p


def _hidden(W: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """One layer for one network: W (I, o, i), z (I, i, n) or shared (i, n) → relu(W z) (I, o, n)."""
    return torch.relu(torch.matmul(W, z))


def _align_pooled(layers: Sequence[torch.Tensor], x: torch.Tensor, n_fixed: int = 0) -> Layers:
    """One hidden layer: match the I·h pooled hidden units of each network to network 0's; the last
    ``n_fixed`` units of every branch stay where they are."""
    if n_fixed:
        W1, W2 = layers
        h = W1.shape[2] - n_fixed
        A1, A2 = _align_pooled([W1[:, :, :h], W2[..., :h]], x)
        return [torch.cat([A1, W1[:, :, h:]], 2), torch.cat([A2, W2[..., h:]], 3)]
    W1, W2 = layers                                            # (S, I, h, d), (S, I, out, h)
    S, I, h, d = W1.shape
    out = W2.shape[2]
    U1 = W1.reshape(S, I * h, d)
    U2 = W2.permute(0, 1, 3, 2).reshape(S, I * h, out)        # unit k's outgoing weights
    Z = torch.relu(U1 @ x.T.to(U1))                           # (S, I·h, n)
    new1, new2 = [U1[0]], [U2[0]]
    for s in range(1, S):
        p = torch.as_tensor(assignment(_similarity(Z[0], Z[s], U1[0], U1[s]).cpu().numpy()), device=U1.device)
        new1.append(U1[s][p])
        new2.append(U2[s][p])
    A1 = torch.stack(new1).reshape(S, I, h, d)
    A2 = torch.stack(new2).reshape(S, I, h, out).permute(0, 1, 3, 2).contiguous()
    return [A1, A2]


def _align_branchwise(layers: Sequence[torch.Tensor], x: torch.Tensor, block: int, branch_chunk: int,
                      n_fixed: int = 0) -> Layers:
    """Deeper branches: match branches by their output functions, then units inside matched pairs."""
    S, I = layers[0].shape[:2]
    xT = x.T.to(layers[0])
    L = len(layers)

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
    aligned = [[W[0]] for W in layers]
    for s in range(1, S):
        p = torch.as_tensor(blocked_assignment(ref, branch_outputs(s), block), device=layers[0].device)
        Ws = [W[s][p].clone() for W in layers]                 # branches reordered: branch i pairs with 0's branch i
        for a in range(0, I, branch_chunk):                    # then units, layer by layer, batched over branches
            sl = slice(a, min(a + branch_chunk, I))
            z0 = zs = xT                                        # (d, n), broadcast over branches
            for l in range(L - 1):
                h0 = _hidden(layers[l][0, sl], z0)             # (Ic, h, n)
                hs = _hidden(Ws[l][sl], zs)
                m = h0.shape[1] - n_fixed                       # the last n_fixed units stay in place
                C = _similarity(h0[:, :m], hs[:, :m], layers[l][0, sl, :m], Ws[l][sl, :m])
                perm = np.stack([np.concatenate([assignment(c), np.arange(m, m + n_fixed)]) for c in C.cpu().numpy()])
                perm = torch.as_tensor(perm, device=Ws[l].device)
                Ws[l][sl] = torch.gather(Ws[l][sl], 1, perm[:, :, None].expand(-1, -1, Ws[l].shape[2]))
                Wn = Ws[l + 1][sl]
                Ws[l + 1][sl] = torch.gather(Wn, 2, perm[:, None, :].expand(-1, Wn.shape[1], -1))
                z0, zs = h0, torch.gather(hs, 1, perm[:, :, None].expand(-1, -1, hs.shape[2]))
        for l in range(L):
            aligned[l].append(Ws[l])
    return [torch.stack(a) for a in aligned]


def align_to_first(layers: Sequence[torch.Tensor], x_probe: torch.Tensor, *, block: int = 1024,
                   branch_chunk: int = 4096, n_fixed: int = 0) -> Layers:
    """Permute the branches and hidden units of networks 1…S−1 (layers (S, I, ·, ·)) to match network 0.

    ``x_probe``: (n, d) inputs on which activations are compared. Each network's function is unchanged.
    Networks with one hidden layer are matched unit by unit over all I·h units; deeper ones branch by
    branch, then unit by unit inside branches (``block``, ``branch_chunk``: see the module docstring).
    ``n_fixed``: the last units of every hidden layer that are never permuted (1 for the constant units that
    carry biases, :func:`companion.nets.init_default`).
    """
    if len(layers) < 2:
        raise ValueError("a network without hidden layers has no permutation symmetry to align")
    with torch.no_grad():
        if len(layers) == 2:
            return _align_pooled(layers, x_probe, n_fixed)
        return _align_branchwise(layers, x_probe, block, branch_chunk, n_fixed)


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
