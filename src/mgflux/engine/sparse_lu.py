"""A sparse LU of the model's own Jacobian pattern, written out as straight-line code.

Every linear system the engine solves has the sparsity of the state Jacobian plus the diagonal: Newton's J,
Rodas4's ``I/(h gamma) - J``, the pseudo-transient ``I/dt - J``. The pattern is known when the code is generated
(``derivatives.jacobian_columns``: only structurally non-zero entries are differentiated), so the elimination
can be planned once, as circuit simulators and atmospheric-chemistry solvers do (KPP's ``KppDecomp``: Damian et
al. 2002, Comput Chem Eng 26:1567; Sandu et al. 1997, Atmos Environ 31:3459): a fill-reducing pivot order chosen
by the Markowitz criterion on the pattern, then one line of code per multiply-add that can be non-zero. The
adult model's 20x20 Jacobian has 82 entries that can be non-zero (with the diagonal); the planned LU adds 6 of
fill and does 36 multiply-adds instead of a dense LU's ~2,700, and its solves touch a quarter of the entries.

The pivots are static (the diagonal in the planned order), which is safe only while they are large enough:
each pivot must be at least ``THRESHOLD`` times the largest entry below it in its column (the threshold
criterion of sparse LU codes, Duff, Erisman & Reid, "Direct methods for sparse matrices", 2nd ed. 2017, ch. 7,
their usual u = 0.1) and finite; measured backward error of the solves ~3e-16 on the adult model's systems. A
pivot whose row or column has nothing left to eliminate (no update follows, so nothing can grow) needs only to be
finite and non-zero. If a pivot fails, the generated ``_sp_lu`` leaves the matrix untouched and says so, and the
caller (``kernels/linalg.py``'s ``_bt_lu``) factors it densely with partial pivoting instead. The elimination
runs on local variables and writes the factors back only on success, so the fall-back needs no copy.

Where a set's Newton ends at the rounding floor of its residual, the other rounding can change which strategy
finishes it (warm Newton or the cold restart): 247 of 20,000 virtual-population sets of the 19-state model did,
in both directions, none its status.
"""
from __future__ import annotations

#: the threshold pivoting criterion (Duff, Erisman & Reid: u = 0.1 balances stability against fill)
THRESHOLD = 0.1


def pattern(jac: tuple, n: int) -> set[tuple[int, int]]:
    """Structurally non-zero entries (row, column) of the state block of the Jacobian, plus the diagonal."""
    entries = {(i, i) for i in range(n)}
    for j, _, rows in jac[1]:
        for i in rows:
            if i < n:
                entries.add((i, j))
    return entries


def plan(entries: set[tuple[int, int]], n: int) -> tuple[list[int], set[tuple[int, int]]]:
    """Pivot order (greedy Markowitz: the diagonal pivot with the fewest (row count - 1) x (column count - 1)
    in the active submatrix, lowest index on ties) and the pattern of the factors (entries plus fill)."""
    filled = set(entries)
    left = set(range(n))
    order = []
    while left:
        def cost(k):
            r = sum(1 for j in left if (k, j) in filled)
            c = sum(1 for i in left if (i, k) in filled)
            return (r - 1) * (c - 1), k

        k = min(left, key=cost)
        left.remove(k)
        order.append(k)
        rows = [i for i in left if (i, k) in filled]
        cols = [j for j in left if (k, j) in filled]
        filled.update((i, j) for i in rows for j in cols)
    return order, filled


def _v(i: int, j: int) -> str:
    return f"a{i}_{j}"


def lu_source(entries: set[tuple[int, int]], n: int) -> str:
    """Source of ``_sp_lu(A)`` and ``_sp_solve(A, b)`` for matrices with this pattern (n x n)."""
    order, filled = plan(entries, n)
    pos = {k: s for s, k in enumerate(order)}
    lu = [f"a{i}_{j} = A[{i}, {j}]" if (i, j) in entries else f"a{i}_{j} = 0.0" for i, j in sorted(filled)]
    flops = 0
    for k in order:
        below = sorted((i for i in range(n) if (i, k) in filled and pos[i] > pos[k]), key=pos.get)
        right = sorted((j for j in range(n) if (k, j) in filled and pos[j] > pos[k]), key=pos.get)
        piv = _v(k, k)
        if below and right:  # a Schur-complement update follows: its growth is bounded by the threshold
            big = " ".join(f"_m = max(_m, abs({_v(i, k)}));" for i in below)
            lu.append(f"_m = 0.0; {big}")
            lu.append(f"if not (abs({piv}) > THRESHOLD_SP * _m and abs({piv}) < 1e300): return False")
        else:  # no update follows (e.g. a state whose rate depends on itself alone): any finite pivot is exact
            lu.append(f"if not (abs({piv}) > 0.0 and abs({piv}) < 1e300): return False")
        lu.append(f"i{k} = 1.0 / {piv}")
        for i in below:
            lu.append(f"{_v(i, k)} *= i{k}")
            for j in right:
                lu.append(f"{_v(i, j)} -= {_v(i, k)} * {_v(k, j)}")
                flops += 1
    for i, j in sorted(filled):
        lu.append(f"A[{i}, {j}] = i{i}" if i == j else f"A[{i}, {j}] = {_v(i, j)}")
    lu.append("return True")
    solve = [f"x{i} = b[{i}]" for i in range(n)]
    for k in order:  # L y = b (unit diagonal), in pivot order
        for i in sorted((i for i in range(n) if (i, k) in filled and pos[i] > pos[k]), key=pos.get):
            solve.append(f"x{i} -= A[{i}, {k}] * x{k}")
    for k in reversed(order):  # U x = y (1/U[k, k] stored on the diagonal)
        terms = "".join(f" - A[{k}, {j}] * x{j}" for j in range(n) if (k, j) in filled and pos[j] > pos[k])
        solve.append(f"x{k} = (x{k}{terms}) * A[{k}, {k}]")
    solve += [f"b[{i}] = x{i}" for i in range(n)]
    ind = "\n    "
    return (f"THRESHOLD_SP = {THRESHOLD!r}\n"
            f"SP_ORDER = {order!r}  # pivot order; factors: {len(filled)} entries ({len(entries)} + fill), "
            f"{flops} multiply-adds\n\n\n"
            "@nb.njit(cache=True, error_model='numpy')\n"
            "def _sp_lu(A):\n"
            '    """LU in the planned pivot order (factors in A, 1/U[k, k] on the diagonal); False, A untouched, if a\n'
            '    pivot fails the threshold test (the caller then pivots densely)."""\n'
            f"    {ind.join(lu)}\n\n\n"
            "@nb.njit(cache=True, error_model='numpy')\n"
            "def _sp_solve(A, b):\n"
            '    """Solve in place with the factors of _sp_lu (the first n entries of b)."""\n'
            f"    {ind.join(solve)}\n")
