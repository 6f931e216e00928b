"""The numba kernels of :mod:`credit_grading.engine.tree_kernels`, defined at module level.

Imported only when a kernel is first needed (importing it imports numba). Module-level
functions are what numba's on-disk cache can key reliably: compiled once per machine, loaded
from the cache afterwards. The kernels take their arrays in the named tuples of
:mod:`credit_grading.engine.tree_kernels` and unpack the fields they read at the top.
"""

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from credit_grading.engine.trees import K_ZERO

KZ = K_ZERO


@njit(cache=True, nogil=True, boundscheck=False)
def predict_bins(xb, trees, nodes, out):  # pragma: no cover - compiled
    # Sum of the given trees' outputs per row (nodes: BinnedNodes). The decision is written
    # out here (not in a helper) so the loop stays tight.
    node_start, leaf_start, feature, kind = nodes.node_start, nodes.leaf_start, nodes.feature, nodes.kind
    node_bin, left, right, nanb, zbin = nodes.node_bin, nodes.left, nodes.right, nodes.nan_bin, nodes.zero_bin
    zlo, zhi, dleft, cat_start = nodes.zero_lo, nodes.zero_hi, nodes.default_left, nodes.cat_start
    cat_words, bits, n_cats, leaf_value = nodes.cat_words, nodes.bits, nodes.n_cats, nodes.leaf_value
    for r in range(xb.shape[1]):
        s = 0.0
        for j in range(trees.shape[0]):
            t = trees[j]
            node = node_start[t]
            if node_start[t + 1] == node:
                s += leaf_value[leaf_start[t]]
                continue
            while node >= 0:
                b = np.int64(xb[feature[node], r])
                k = kind[node]
                if k == 0:  # numerical, NaN read as 0.0, no missing handling
                    if b == nanb[node]:
                        b = zbin[node]
                    go_left = b <= node_bin[node]
                elif k == 1:  # categorical
                    go_left = False
                    if b < n_cats[feature[node]]:
                        w = b >> 5
                        go_left = w < cat_words[node] and (bits[cat_start[node] + w] >> (b & 31)) & 1 == 1
                elif k == 2:  # numerical, NaN is missing: default direction
                    go_left = dleft[node] if b == nanb[node] else b <= node_bin[node]
                else:  # numerical, zero (and NaN read as 0.0) is missing
                    if b == nanb[node]:
                        b = zbin[node]
                    go_left = dleft[node] if (zlo[node] <= b and b <= zhi[node]) else b <= node_bin[node]
                node = left[node] if go_left else right[node]
            s += leaf_value[-node - 1]
        out[r] = s


@njit(cache=True, nogil=True, inline="always")
def decide_float(x, node, decision, threshold, left, right, cat_start, cat_words, bits):  # pragma: no cover
    d = decision[node]
    if d & 1:
        if x != x:
            return right[node]
        c = int(x)
        if c < 0:
            return right[node]
        w = c >> 5
        if w < cat_words[node] and (bits[cat_start[node] + w] >> (c & 31)) & 1:
            return left[node]
        return right[node]
    mt = (d >> 2) & 3
    if x != x and mt != 2:
        x = 0.0
    if (mt == 1 and x > -KZ and x <= KZ) or (mt == 2 and x != x):
        return left[node] if d & 2 else right[node]
    return left[node] if x <= threshold[node] else right[node]


@njit(cache=True, nogil=True)
def extend(pf, pz, po, pw, base, ud, zf, of, fi):  # pragma: no cover - compiled
    pf[base + ud] = fi
    pz[base + ud] = zf
    po[base + ud] = of
    pw[base + ud] = 1.0 if ud == 0 else 0.0
    for i in range(ud - 1, -1, -1):
        pw[base + i + 1] += of * pw[base + i] * (i + 1) / (ud + 1)
        pw[base + i] = zf * pw[base + i] * (ud - i) / (ud + 1)


@njit(cache=True, nogil=True)
def unwind(pf, pz, po, pw, base, ud, pi):  # pragma: no cover - compiled
    one = po[base + pi]
    zero = pz[base + pi]
    nxt = pw[base + ud]
    for i in range(ud - 1, -1, -1):
        if one != 0:
            tmp = pw[base + i]
            pw[base + i] = nxt * (ud + 1) / ((i + 1) * one)
            nxt = tmp - pw[base + i] * zero * (ud - i) / (ud + 1)
        else:
            pw[base + i] = (pw[base + i] * (ud + 1)) / (zero * (ud - i))
    for i in range(pi, ud):
        pf[base + i] = pf[base + i + 1]
        pz[base + i] = pz[base + i + 1]
        po[base + i] = po[base + i + 1]


@njit(cache=True, nogil=True)
def unwound_sum(pf, pz, po, pw, base, ud, pi):  # pragma: no cover - compiled
    one = po[base + pi]
    zero = pz[base + pi]
    nxt = pw[base + ud]
    total = 0.0
    for i in range(ud - 1, -1, -1):
        if one != 0:
            tmp = nxt * (ud + 1) / ((i + 1) * one)
            total += tmp
            nxt = pw[base + i] - tmp * zero * ((ud - i) / (ud + 1))
        else:
            total += (pw[base + i] / zero) / ((ud - i) / (ud + 1))
    return total


@njit(cache=True, nogil=True)
def shap_walk(
    x,
    phi,
    root,
    pf,
    pz,
    po,
    pw,
    st_node,
    st_ud,
    st_pbase,
    st_pzf,
    st_pof,
    st_pfi,
    tree,
):  # pragma: no cover - compiled
    # Path-dependent TreeSHAP of one row, depth first with an explicit stack of pending
    # calls (node, unique depth, parent path base, zero/one fractions, feature). The hot child
    # is pushed last, so it is walked first and the additions to phi come in the same order
    # as in the textbook recursion. A child writes its path above its parent's, so the
    # parent's path is intact when its cold child is walked. (No recursion: numba can cache
    # this kernel on disk, which it cannot do safely for a recursive one.) tree: FloatNodes.
    feature, threshold, decision, left, right = tree.feature, tree.threshold, tree.decision, tree.left, tree.right
    cat_start, cat_words, bits = tree.cat_start, tree.cat_words, tree.bits
    node_count, leaf_value, leaf_count = tree.node_count, tree.leaf_value, tree.leaf_count
    top = 0
    st_node[0] = root
    st_ud[0] = 0
    st_pbase[0] = 0
    st_pzf[0] = 1.0
    st_pof[0] = 1.0
    st_pfi[0] = -1
    while top >= 0:
        node = st_node[top]
        ud = st_ud[top]
        pbase = st_pbase[top]
        pzf = st_pzf[top]
        pof = st_pof[top]
        pfi = st_pfi[top]
        top -= 1
        base = pbase + ud
        for i in range(ud):
            pf[base + i] = pf[pbase + i]
            pz[base + i] = pz[pbase + i]
            po[base + i] = po[pbase + i]
            pw[base + i] = pw[pbase + i]
        extend(pf, pz, po, pw, base, ud, pzf, pof, pfi)
        if node < 0:
            v = leaf_value[-node - 1]
            for i in range(1, ud + 1):
                w = unwound_sum(pf, pz, po, pw, base, ud, i)
                phi[pf[base + i]] += w * (po[base + i] - pz[base + i]) * v
            continue
        f = feature[node]
        hot = decide_float(x[f], node, decision, threshold, left, right, cat_start, cat_words, bits)
        cold = right[node] if hot == left[node] else left[node]
        w = node_count[node]
        hz = (node_count[hot] if hot >= 0 else leaf_count[-hot - 1]) / w
        cz = (node_count[cold] if cold >= 0 else leaf_count[-cold - 1]) / w
        iz = 1.0
        io = 1.0
        pi = 0
        while pi <= ud:
            if pf[base + pi] == f:
                break
            pi += 1
        if pi != ud + 1:
            iz = pz[base + pi]
            io = po[base + pi]
            unwind(pf, pz, po, pw, base, ud, pi)
            ud -= 1
        top += 1
        st_node[top] = cold
        st_ud[top] = ud + 1
        st_pbase[top] = base
        st_pzf[top] = cz * iz
        st_pof[top] = 0.0
        st_pfi[top] = f
        top += 1
        st_node[top] = hot
        st_ud[top] = ud + 1
        st_pbase[top] = base
        st_pzf[top] = hz * iz
        st_pof[top] = io
        st_pfi[top] = f


@njit(cache=True, nogil=True)
def tree_shap_rows(x, rows, trees, tree, phi):  # pragma: no cover - compiled
    # Adds the SHAP values of x[rows[i]] under each of the given trees, tree after tree, to
    # phi[i, :] (bias column not touched). tree: FloatNodes.
    node_start, max_depth = tree.node_start, tree.max_depth
    for j in range(trees.shape[0]):
        t = trees[j]
        if node_start[t + 1] == node_start[t]:
            continue
        m = max_depth[t] + 1
        size = m * (m + 1) // 2 + m + 2
        pf = np.empty(size, dtype=np.int64)
        pz = np.empty(size)
        po = np.empty(size)
        pw = np.empty(size)
        depth = 2 * m + 2  # pending calls: at most two per level
        st_node = np.empty(depth, dtype=np.int64)
        st_ud = np.empty(depth, dtype=np.int64)
        st_pbase = np.empty(depth, dtype=np.int64)
        st_pzf = np.empty(depth)
        st_pof = np.empty(depth)
        st_pfi = np.empty(depth, dtype=np.int64)
        for i in range(rows.shape[0]):
            shap_walk(x[rows[i]], phi[i], node_start[t], pf, pz, po, pw, st_node, st_ud, st_pbase, st_pzf, st_pof,
                      st_pfi, tree)  # fmt: skip


@njit(cache=True, nogil=True, boundscheck=False)
def cells_eval(xbt, r0, r1, tables, want_phi, margin, phit, cell):  # pragma: no cover - compiled
    # Rows r0..r1 of the column-major bins xbt (features, rows). Tree by tree, every row's
    # cell is the sum of its per-feature cell offsets; the cell gives the leaf value and,
    # when asked, the SHAP value of each feature the tree uses (added to phit, which is
    # feature-major for this block). Inner loops run over rows: simple, vectorisable.
    # tables: CellTables.
    groups, used_start, used_feat = tables.groups, tables.used_start, tables.used_feat
    lut_start, lut = tables.lut_start, tables.lut
    value_start, values, phi_start, phis = tables.value_start, tables.values, tables.phi_start, tables.phis
    n = r1 - r0
    for j in range(groups.shape[0]):
        a = used_start[j]
        b = used_start[j + 1]
        for r in range(n):
            cell[r] = 0
        for u in range(a, b):
            col = xbt[used_feat[u]]
            ls = lut_start[u]
            for r in range(n):
                cell[r] += lut[ls + col[r0 + r]]
        vs = value_start[j]
        for r in range(n):
            margin[r0 + r] += values[vs + cell[r]]
        if want_phi:
            k = b - a
            ps = phi_start[j]
            for u in range(k):
                f = used_feat[a + u]
                for r in range(n):
                    phit[f, r] += phis[ps + cell[r] * k + u]


@njit(cache=True, nogil=True, boundscheck=False)
def bin_columns(x, r0, r1, edges, out):  # pragma: no cover - compiled
    # out[f, r] = bin of x[r, f]: numeric, the number of breakpoints below the value (binary
    # search), NaN after them all; categorical, int(x) when listed, else the "rest" bin.
    # edges: BinEdges.
    categorical, n_cats, bp_start, bp = edges.categorical, edges.n_cats, edges.start, edges.breakpoints
    for f in range(x.shape[1]):
        a = bp_start[f]
        m = bp_start[f + 1] - a
        for r in range(r0, r1):
            v = x[r, f]
            if categorical[f]:
                rest = n_cats[f]
                if v != v:
                    out[f, r] = rest
                else:
                    c = np.trunc(v)
                    out[f, r] = np.int64(c) if (c >= 0 and c < rest) else rest
            elif v != v:
                out[f, r] = m + 1
            else:
                lo = 0
                hi = m
                while lo < hi:
                    mid = (lo + hi) >> 1
                    if bp[a + mid] < v:
                        lo = mid + 1
                    else:
                        hi = mid
                out[f, r] = lo


@njit(cache=True, nogil=True)
def leaf_table(z, v, out):  # pragma: no cover - compiled
    # SHAP contributions of one leaf (value v, path features with zero fractions z) for
    # every pattern of one fractions (bit i of the row index: the row follows the path at
    # feature i). out: (2**k, k).
    k = z.shape[0]
    size = k + 2
    pf = np.empty(size, dtype=np.int64)
    pz = np.empty(size)
    po = np.empty(size)
    pw = np.empty(size)
    for m in range(1 << k):
        extend(pf, pz, po, pw, 0, 0, 1.0, 1.0, -1)
        for i in range(k):
            extend(pf, pz, po, pw, 0, i + 1, z[i], 1.0 if (m >> i) & 1 else 0.0, i)
        for i in range(k):
            w = unwound_sum(pf, pz, po, pw, 0, k, i + 1)
            out[m, i] = w * (po[i + 1] - pz[i + 1]) * v


@njit(cache=True, nogil=True, boundscheck=False)
def leaf_eval(xbt, r0, r1, nodes, leaves, phit, goes):  # pragma: no cover - compiled
    # Trees explained leaf by leaf: every split's decision for the row, then for each leaf
    # the pattern of path features the row follows, and that pattern's row of the leaf's
    # table. Rows r0..r1; phit is feature-major for the block. The decision is the one in
    # predict_bins, written out again on purpose: as a helper function (even inlined by
    # numba) the node loop ran about ten times slower.
    # Tree by tree over the block's rows, so one tree's tables stay in cache meanwhile.
    # nodes: BinnedNodes; leaves: LeafTables.
    node_start, feature, kind, node_bin = nodes.node_start, nodes.feature, nodes.kind, nodes.node_bin
    nanb, zbin, zlo, zhi, dleft = nodes.nan_bin, nodes.zero_bin, nodes.zero_lo, nodes.zero_hi, nodes.default_left
    cat_start, cat_words, bits, n_cats = nodes.cat_start, nodes.cat_words, nodes.bits, nodes.n_cats
    trees, leaf_first, leaf_plen = leaves.trees, leaves.leaf_first, leaves.leaf_plen
    pnode, pdir, pslot, leaf_k = leaves.pnode, leaves.pdir, leaves.pslot, leaves.leaf_k
    leaf_feat_start, leaf_feat = leaves.leaf_feat_start, leaves.leaf_feat
    leaf_tab_start, leaf_tab = leaves.leaf_tab_start, leaves.leaf_tab
    for j in range(trees.shape[0]):
        t = trees[j]
        a = node_start[t]
        for r in range(r1 - r0):
            for node in range(a, node_start[t + 1]):
                bb = np.int64(xbt[feature[node], r0 + r])
                kk = kind[node]
                if kk == 0:
                    if bb == nanb[node]:
                        bb = zbin[node]
                    gl = bb <= node_bin[node]
                elif kk == 1:
                    gl = False
                    if bb < n_cats[feature[node]]:
                        w = bb >> 5
                        gl = w < cat_words[node] and (bits[cat_start[node] + w] >> (bb & 31)) & 1 == 1
                elif kk == 2:
                    gl = dleft[node] if bb == nanb[node] else bb <= node_bin[node]
                else:
                    if bb == nanb[node]:
                        bb = zbin[node]
                    gl = dleft[node] if (zlo[node] <= bb and bb <= zhi[node]) else bb <= node_bin[node]
                goes[node - a] = gl
            for leaf in range(leaf_first[j], leaf_first[j + 1]):
                k = leaf_k[leaf]
                mask = (1 << k) - 1
                p0 = leaf_plen[leaf]
                for q in range(p0, leaf_plen[leaf + 1]):
                    if goes[pnode[q] - a] != pdir[q]:
                        mask &= ~(1 << pslot[q])
                base = leaf_tab_start[leaf] + mask * k
                fs = leaf_feat_start[leaf]
                for i in range(k):
                    phit[leaf_feat[fs + i], r] += leaf_tab[base + i]


@njit(cache=True, nogil=True, boundscheck=False)
def mask_predict(xbt, r0, r1, masks, leaf_value, margin, acc):  # pragma: no cover - compiled
    # Sum of the trees' outputs for rows r0..r1 of the feature-major bins xbt, feature by
    # feature rather than node by node (QuickScorer's idea, on bins): for each feature a
    # tree splits on, the row's bin picks a bitmask of the tree's leaves its splits on that
    # feature allow; the AND over the features leaves one bit, the exit leaf. Tree by tree
    # over the block's rows, with no branch on the data; trees are added in order, as
    # LightGBM does. masks: LeafMasks; acc: scratch, (r1 - r0,) uint64.
    trees, pair_start, pair_feat = masks.trees, masks.pair_start, masks.pair_feat
    tab_start, tab, leaf_base = masks.tab_start, masks.tab, masks.leaf_base
    n = r1 - r0
    ones = ~np.uint64(0)
    for j in range(trees.shape[0]):
        for r in range(n):
            acc[r] = ones
        for p in range(pair_start[j], pair_start[j + 1]):
            col = xbt[pair_feat[p]]
            ts = tab_start[p]
            for r in range(n):
                acc[r] &= tab[ts + np.int64(col[r0 + r])]
        lb = leaf_base[j]
        for r in range(n):
            margin[r0 + r] += leaf_value[lb + trailing_zeros(acc[r])]


@njit(cache=True, nogil=True, boundscheck=False)
def leaf_eval_masks(xbt, r0, r1, masks, leaves, pairs, phit, m, pat):  # pragma: no cover - compiled
    # leaf_eval with every decision read from the leaf bitmasks of mask_predict: for leaf l,
    # the row follows the path at path feature i exactly when bit l of the mask its bin picks
    # for that feature is set. Tree by tree, then leaf by leaf, with the rows innermost
    # (gathers and adds along contiguous rows of phit, which is feature-major for the
    # block); per row the additions come in the order of leaf_eval. masks: LeafMasks;
    # leaves: LeafTables; pairs: LeafPairs; m: scratch (pairs of the widest tree, rows)
    # uint64; pat: scratch (rows,) int64.
    pair_start, pair_feat, tab_start, tab = masks.pair_start, masks.pair_feat, masks.tab_start, masks.tab
    leaf_first, leaf_k = leaves.leaf_first, leaves.leaf_k
    leaf_feat_start, leaf_feat = leaves.leaf_feat_start, leaves.leaf_feat
    leaf_tab_start, leaf_tab = leaves.leaf_tab_start, leaves.leaf_tab
    mask_tree, leaf_bit, slot_pair = pairs.mask_tree, pairs.leaf_bit, pairs.slot_pair
    n = r1 - r0
    for j in range(leaf_first.shape[0] - 1):
        mt = mask_tree[j]
        pa = pair_start[mt]
        for p in range(pa, pair_start[mt + 1]):
            col = xbt[pair_feat[p]]
            ts = tab_start[p]
            row = m[p - pa]
            for r in range(n):
                row[r] = tab[ts + np.int64(col[r0 + r])]
        for leaf in range(leaf_first[j], leaf_first[j + 1]):
            k = leaf_k[leaf]
            bit = np.uint64(leaf_bit[leaf])
            fs = leaf_feat_start[leaf]
            for r in range(n):
                pat[r] = 0
            for q in range(k):
                row = m[slot_pair[fs + q] - pa]
                for r in range(n):
                    pat[r] |= np.int64((row[r] >> bit) & np.uint64(1)) << q
            base = leaf_tab_start[leaf]
            for q in range(k):
                out = phit[leaf_feat[fs + q]]
                for r in range(n):
                    out[r] += leaf_tab[base + pat[r] * k + q]
