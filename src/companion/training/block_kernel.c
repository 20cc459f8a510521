/* The fused SGD steps of the block trainer (companion.training.block) for one-hidden-layer ReLU networks
 *
 *     f(x) = c * sum_u a_u relu(w_u . x),   loss = mean_b max(0, 1 - y_b f(x_b) / tau),
 *
 * compiled once per machine by companion.core.ckernel. One SIMD lane is one network: a group of L networks
 * (L = lanes_*(), 16 float32 or 8 float64 with AVX-512) is stored unit-major, W[u][j][lane] and a[u][lane], padded
 * to the group's widest network with zero units (a zero unit has z = 0, no ReLU gradient and stays zero, and
 * adds exact zeros to f: padding changes no bit of a network's numbers). Every network of the block sees the
 * same minibatch, so the examples' features are broadcast to all lanes and a network's whole step (forward
 * z = W x_b, f, the tau-hinge margin, g = dloss/df, the backward M x_b and the update) runs in registers and
 * L1, E examples at a time, for K steps per call.
 *
 * The arithmetic is that of companion.training.onehidden.sgd_step for each network: z_ub = w_u . x_b,
 * f_b = sum_u (a_u c) relu(z_ub), m_b = 1 - (y_b f_b) / tau, loss = sum_b relu(m_b) / B (before the update),
 * g_b = [m_b > 0] y_b (-1 / (tau B)), MX_u = sum_b [z_ub > 0] g_b x_b, grad_a_u = c (MX_u . w_u),
 * w_u -= MX_u ((a_u c) lr), a_u -= grad_a_u lr (old w and a on the right). relu keeps NaN, as torch.
 *
 * A lane runs at step t while stopped_at == 0 and t <= cap; after its update at step t it stops (stopped_at = t)
 * when its minibatch loss is < thr or not finite (the authors' stopping test; thr = -inf: never on the loss).
 * GCC / Clang vector extensions: AVX-512, AVX or 128-bit vectors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__)
#define VB 64      /* bytes per vector */
#elif defined(__AVX__)
#define VB 32
#else
#define VB 16
#endif
#define E 10       /* examples per chunk: E forward sums and E output sums in registers */
#define DMAX 64    /* features at most (the generic d) */

#define RELU(v) ((vec)((ivec)(v) & ~((v) < 0)))
#define SELECT(mask, a, b) ((vec)(((ivec)(a) & (mask)) | ((ivec)(b) & ~(mask))))

/* gather a chunk of E examples (rows idx[0 .. ne-1]; the rest repeat row idx[0] with label 0) */
#define GATHER(T)                                                                                               \
    for (long e = 0; e < E; e++) {                                                                              \
        long r = ix[e < ne ? e : 0];                                                                            \
        for (long j = 0; j < d; j++) xs[e * DM + j] = x[r * d + j];                                             \
        ys[e] = e < ne ? y[r] : (T)0;                                                                           \
    }

/* forward of the chunk: Z[u][e] = w_u . x_e (kept when keep), f[e] = sum_u (a_u c) relu(Z[u][e]) */
#define FORWARD(keep)                                                                                           \
    vec f[E];                                                                                                   \
    memset(f, 0, sizeof f);                                                                                     \
    for (long u = 0; u < I; u++) {                                                                              \
        vec z[E];                                                                                               \
        memset(z, 0, sizeof z);                                                                                 \
        for (long j = 0; j < d; j++) {                                                                          \
            const vec w = Wv[u * d + j];                                                                        \
            _Pragma("GCC unroll 16")                                                                            \
            for (int e = 0; e < E; e++) z[e] += w * xs[e * DM + j];                                             \
        }                                                                                                       \
        const vec ac = A[u] * vc;                                                                               \
        _Pragma("GCC unroll 16")                                                                                \
        for (int e = 0; e < E; e++) {                                                                           \
            if (keep) Z[u * E + e] = z[e];                                                                      \
            f[e] += ac * RELU(z[e]);                                                                            \
        }                                                                                                       \
    }

#define KERNEL(T, IT, SUF, D)                                                                                   \
static int steps_##SUF##_##D(long I, long dd, T *restrict Wg, T *restrict ag, const T *restrict x,              \
                             const T *restrict y, const long *restrict idx, const long *restrict bsz, long K,   \
                             long Bmax, long t0, const T *lr, const T *tau, const T *c, const T *thr,           \
                             const long *cap, long *stopped_at, T *last_loss) {                                 \
    typedef T vec __attribute__((vector_size(VB)));                                                             \
    typedef IT ivec __attribute__((vector_size(VB)));                                                           \
    enum { L = VB / sizeof(T), DM = D ? D : DMAX };                                                             \
    const long d = D ? D : dd;                                                                                  \
    vec *Wv = aligned_alloc(VB, (size_t)(2 * I * d + I + I * E) * VB);                                          \
    if (!Wv) return -1;                                                                                         \
    vec *MX = Wv + I * d, *A = MX + I * d, *Z = A + I;                                                          \
    memcpy(Wv, Wg, (size_t)(I * d) * VB);                                                                       \
    memcpy(A, ag, (size_t)I * VB);                                                                              \
    vec vlr, vtau, vc;                                                                                          \
    memcpy(&vlr, lr, VB); memcpy(&vtau, tau, VB); memcpy(&vc, c, VB);                                           \
    T xs[E * DM], ys[E];                                                                                        \
    for (long k = 0; k < K; k++) {                                                                              \
        const long t = t0 + k + 1;                                                                              \
        ivec act;                                                                                               \
        int any = 0;                                                                                            \
        for (int l = 0; l < L; l++) {                                                                           \
            int on = stopped_at[l] == 0 && t <= cap[l];                                                         \
            act[l] = on ? -1 : 0;                                                                               \
            any |= on;                                                                                          \
        }                                                                                                       \
        if (!any) break;                     /* no lane runs again: stops and caps only end lanes */            \
        const long B = bsz[k];                                                                                  \
        const vec gco = (T)-1 / (vtau * (T)B);                                                                  \
        vec loss = {0};                                                                                         \
        memset(MX, 0, (size_t)(I * d) * VB);                                                                    \
        for (long e0 = 0; e0 < B; e0 += E) {                                                                    \
            const long ne = B - e0 < E ? B - e0 : E;                                                            \
            const long *ix = idx + k * Bmax + e0;                                                               \
            GATHER(T)                                                                                           \
            FORWARD(1)                                                                                          \
            vec g[E];                                                                                           \
            for (int e = 0; e < E; e++) {                                                                       \
                const vec m = (T)1 - (ys[e] * f[e]) / vtau;                                                     \
                if (e < ne) loss += RELU(m);                                                                    \
                g[e] = (vec)((ivec)(ys[e] * gco) & (m > 0));                                                    \
            }                                                                                                   \
            for (long u = 0; u < I; u++) {                                                                      \
                vec acc[DM];                                                                                    \
                for (long j = 0; j < d; j++) acc[j] = MX[u * d + j];                                            \
                for (int e = 0; e < E; e++) {                                                                   \
                    const vec m = (vec)((ivec)g[e] & (Z[u * E + e] > 0));                                       \
                    _Pragma("GCC unroll 16")                                                                    \
                    for (long j = 0; j < d; j++) acc[j] += m * xs[e * DM + j];                                  \
                }                                                                                               \
                for (long j = 0; j < d; j++) MX[u * d + j] = acc[j];                                            \
            }                                                                                                   \
        }                                                                                                       \
        for (long u = 0; u < I; u++) {                                                                          \
            vec ga = {0};                                                                                       \
            for (long j = 0; j < d; j++) ga += MX[u * d + j] * Wv[u * d + j];                                   \
            ga *= vc;                                                                                           \
            const vec cw = (A[u] * vc) * vlr;                                                                   \
            for (long j = 0; j < d; j++) Wv[u * d + j] = SELECT(act, Wv[u * d + j] - MX[u * d + j] * cw,        \
                                                                Wv[u * d + j]);                                 \
            A[u] = SELECT(act, A[u] - ga * vlr, A[u]);                                                          \
        }                                                                                                       \
        loss /= (T)B;                                                                                           \
        for (int l = 0; l < L; l++)                                                                             \
            if (act[l]) {                                                                                       \
                last_loss[l] = loss[l];                                                                         \
                if (loss[l] < thr[l] || !isfinite(loss[l])) stopped_at[l] = t;                                  \
            }                                                                                                   \
    }                                                                                                           \
    memcpy(Wg, Wv, (size_t)(I * d) * VB);                                                                       \
    memcpy(ag, A, (size_t)I * VB);                                                                              \
    free(Wv);                                                                                                   \
    return 0;                                                                                                   \
}                                                                                                               \
/* full-data loss of a group: out[lane] = sum_b relu(1 - (y_b f_b) / tau) / n */                               \
static int loss_##SUF##_##D(long I, long dd, const T *restrict Wg, const T *restrict ag, const T *restrict x,   \
                            const T *restrict y, long n, const T *tau, const T *c, T *out) {                    \
    typedef T vec __attribute__((vector_size(VB)));                                                             \
    typedef IT ivec __attribute__((vector_size(VB)));                                                           \
    enum { DM = D ? D : DMAX };                                                                                 \
    const long d = D ? D : dd;                                                                                  \
    vec *Wv = aligned_alloc(VB, (size_t)(I * d + I) * VB), *Z = 0;                                              \
    if (!Wv) return -1;                                                                                         \
    vec *A = Wv + I * d;                                                                                        \
    memcpy(Wv, Wg, (size_t)(I * d) * VB);                                                                       \
    memcpy(A, ag, (size_t)I * VB);                                                                              \
    vec vtau, vc, loss = {0};                                                                                   \
    memcpy(&vtau, tau, VB); memcpy(&vc, c, VB);                                                                 \
    T xs[E * DM], ys[E];                                                                                        \
    long rows[E];                                                                                               \
    for (long e0 = 0; e0 < n; e0 += E) {                                                                        \
        const long ne = n - e0 < E ? n - e0 : E;                                                                \
        for (long e = 0; e < E; e++) rows[e] = e0 + (e < ne ? e : 0);                                           \
        const long *ix = rows;                                                                                  \
        GATHER(T)                                                                                               \
        FORWARD(0)                                                                                              \
        for (int e = 0; e < E; e++)                                                                             \
            if (e < ne) loss += RELU((T)1 - (ys[e] * f[e]) / vtau);                                             \
    }                                                                                                           \
    (void)Z;                                                                                                    \
    loss /= (T)n;                                                                                               \
    memcpy(out, &loss, VB);                                                                                     \
    free(Wv);                                                                                                   \
    return 0;                                                                                                   \
}

KERNEL(float, int, f32, 10)
KERNEL(float, int, f32, 0)
KERNEL(double, long long, f64, 10)
KERNEL(double, long long, f64, 0)

/* Entry points: groups g0 .. g1 - 1 of a block. width[g]: units of group g (padded); off[g]: offset of its W
 * (elements; its a at off[g] / d); lane parameters and results (lr, tau, c, thr, cap, stopped_at, last_loss /
 * out) at g * L. idx: (K, Bmax) rows of x of each step's minibatch, bsz: (K,) its size. Returns 0, or -1 when
 * memory ran out. */
#define ENTRY(T, SUF)                                                                                           \
long lanes_##SUF(void) { return VB / sizeof(T); }                                                               \
int block_steps_##SUF(long g0, long g1, const long *width, const long *off, T *W, T *a, long d, const T *x,     \
                      const T *y, const long *idx, const long *bsz, long K, long Bmax, long t0, const T *lr,    \
                      const T *tau, const T *c, const T *thr, const long *cap, long *stopped_at, T *last_loss) { \
    const long L = VB / sizeof(T);                                                                              \
    if (d < 1 || d > DMAX) return -2;                                                                           \
    for (long g = g0; g < g1; g++) {                                                                            \
        long q = g * L;                                                                                         \
        int r = (d == 10 ? steps_##SUF##_10 : steps_##SUF##_0)(width[g], d, W + off[g], a + off[g] / d, x, y,   \
                idx, bsz, K, Bmax, t0, lr + q, tau + q, c + q, thr + q, cap + q, stopped_at + q, last_loss + q); \
        if (r) return r;                                                                                        \
    }                                                                                                           \
    return 0;                                                                                                   \
}                                                                                                               \
int block_loss_##SUF(long g0, long g1, const long *width, const long *off, const T *W, const T *a, long d,      \
                     const T *x, const T *y, long n, const T *tau, const T *c, T *out) {                        \
    const long L = VB / sizeof(T);                                                                              \
    if (d < 1 || d > DMAX) return -2;                                                                           \
    for (long g = g0; g < g1; g++) {                                                                            \
        long q = g * L;                                                                                         \
        int r = (d == 10 ? loss_##SUF##_10 : loss_##SUF##_0)(width[g], d, W + off[g], a + off[g] / d, x, y, n,  \
                                                             tau + q, c + q, out + q);                          \
        if (r) return r;                                                                                        \
    }                                                                                                           \
    return 0;                                                                                                   \
}

ENTRY(float, f32)
ENTRY(double, f64)
