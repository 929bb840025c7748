"""Wrong definitions that more than one test plants (tests/planting.py), by "function: what is wrong".

One text per mistake, so the tests that plant it (one mistake costs once, doubles, small slips,
the self-check's agreement with the grader) plant the same code. Each is a whole definition
at the top level, as a student's graded cell would hold it: written out, or the solution's with
a line changed (``edited``).
"""

from tests.planting import edited

WRONG = {
    "softmax: no shift": '''
def softmax(s, axis=-1):
    e = np.exp(np.asarray(s, dtype=float))
    return e / np.sum(e, axis=axis, keepdims=True)
''',
    "dot_scores: columns reversed": '''
def dot_scores(U, v):
    return np.asarray(U)[:, ::-1] @ np.asarray(v)
''',
    "next_token_probs: row of U": '''
def next_token_probs(V, U, prev_id):
    return softmax(dot_scores(V, np.asarray(U)[prev_id]))
''',
    "generate: temperature as a product": '''
def generate(V, U, start_ids, n_new, rng, temperature=1.0, greedy=False):
    ids = [int(i) for i in start_ids]
    for _ in range(n_new):
        s = dot_scores(U, np.asarray(V)[ids[-1]])
        ids.append(int(np.argmax(s)) if greedy else int(sample_categorical(softmax(s * temperature), rng)))
    return ids
''',
    "loss_and_grads: gradient sign flipped": edited("03", "loss_and_grads", ("return loss, dV, dU", "return loss, -dV, -dU")),
    "sgd_epoch: steps uphill": '''
def sgd_epoch(V, U, prev_ids, next_ids, lr):
    V = np.array(V, dtype=float)
    U = np.array(U, dtype=float)
    losses = []
    for prev_id, next_id in zip(prev_ids, next_ids):
        loss, dV, dU = loss_and_grads(V, U, prev_id, next_id)
        losses.append(loss)
        V += lr * dV
        U += lr * dU
    return V, U, float(np.mean(losses))
''',
    "context_windows: off by one": '''
def context_windows(ids, T):
    ids = np.asarray(ids, dtype=np.int64)
    N = max(len(ids) - T - 1, 0)
    index = np.arange(N)[:, None] + np.arange(T)[None, :]
    return ids[index], ids[T:T + N].copy()
''',
    "rotate_2d: clockwise": '''
def rotate_2d(x, theta):
    x, theta = np.asarray(x, dtype=float), np.asarray(theta, dtype=float)
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([c * x[..., 0] + s * x[..., 1], -s * x[..., 0] + c * x[..., 1]], axis=-1)
''',
    "rope: halves instead of adjacent pairs": '''
def rope(X, base=10000.0):
    X = np.asarray(X, dtype=float)
    T, d = X.shape[-2], X.shape[-1]
    if d % 2 != 0:
        raise ValueError("d must be even")
    theta = base ** (-2.0 * np.arange(d // 2) / d)
    angles = np.arange(T)[:, None] * theta[None, :]
    pairs = np.stack([X[..., : d // 2], X[..., d // 2 :]], axis=-1)
    out = rotate_2d(pairs, angles)
    return np.concatenate([out[..., 0], out[..., 1]], axis=-1)
''',
    "causal_mask: the diagonal hidden": '''
def causal_mask(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)
''',
    "causal_mask: the upper triangle": '''
def causal_mask(T):
    return torch.triu(torch.ones(T, T, dtype=torch.bool))
''',
    "scaled_dot_product_attention: no scale": '''
def scaled_dot_product_attention(Q, K, V, causal=False):
    S = Q @ K.transpose(-2, -1)
    if causal:
        S = S.masked_fill(~causal_mask(S.shape[-1]), float("-inf"))
    weights = torch.softmax(S, dim=-1)
    return weights @ V, weights
''',
}
