/* The fused step of the plane evaluator (companion.landscapes.evaluate.evaluate_fast) for branches with one hidden
 * layer, compiled once per machine by companion.landscapes.plane_kernel:
 *
 *     out[p, o, e] (+)= sum_u Lt[p, u, o] * relu(P0[u, e] + a_p P1[u, e] + b_p P2[u, e])
 *
 * for every grid point p = (a_p, b_p). The hidden activations are formed in registers, a tile of TW examples at
 * a time, and contracted at once with the point's last layer, so they never go to memory; a tile of P (the three
 * first-layer products of TW examples, 3 U TW values) is contiguous and stays in cache while every grid point
 * reads it.
 *
 * P: (T, 3, U, TW), tile t holding examples t TW .. t TW + TW - 1, TW = tile_width_*(), T = ceil(m / TW);
 * Lt: (npts, U, O); ab: (npts, 2) = (a_p, b_p); out[p, o, e] at out + (p * O + o) * ldo + e, written for e < m
 * only (the last tile's columns beyond m are padding).
 * relu keeps NaN, as torch.relu does. GCC / Clang vector extensions: AVX-512, AVX or 128-bit vectors. */
#include <string.h>

#if defined(__AVX512F__)
#define VB 64      /* bytes per vector */
#define NV 2       /* vectors of examples per tile */
#define OCMAX 12   /* outputs per pass: NV * OCMAX accumulators of the 32 vector registers */
#elif defined(__AVX__)
#define VB 32
#define NV 1
#define OCMAX 10   /* of 16 registers */
#else
#define VB 16
#define NV 1
#define OCMAX 8
#endif

/* one tile (NV vectors of examples, e0 its first) of PB consecutive grid points, outputs o0 .. o0 + OC - 1 (Lt,
 * ab and out offset to the first point and to o0). The PB points share the loads of P: for few outputs, where
 * the loads would bound the time, PB > 1 also keeps 8 or more independent sums in flight. relu(t) is t where
 * !(t < 0): NaN passes, as in torch.relu. */
#define TILE(T, IT, SUF, OC, PB)                                                                                \
static void tile_##SUF##_##OC##_##PB(const T *restrict P, const T *restrict Lt, const T *restrict ab,            \
                                    T *restrict out, long U, long O, long ldo, long e0, long m, int accumulate) { \
    typedef T vec __attribute__((vector_size(VB)));                                                             \
    typedef IT ivec __attribute__((vector_size(VB)));                                                           \
    enum { W = VB / sizeof(T) };                                                                                \
    const T *P0 = P, *P1 = P + U * W * NV, *P2 = P + 2 * U * W * NV;                                             \
    vec acc[PB][OC][NV];                                                                                        \
    memset(acc, 0, sizeof acc);                                                                                 \
    for (long u = 0; u < U; u++) {                                                                              \
        vec p0[NV], p1[NV], p2[NV];                                                                             \
        for (int v = 0; v < NV; v++) {                                                                          \
            long i = (u * NV + v) * W;                                                                          \
            memcpy(&p0[v], P0 + i, VB); memcpy(&p1[v], P1 + i, VB); memcpy(&p2[v], P2 + i, VB);                 \
        }                                                                                                       \
        for (int q = 0; q < (PB); q++) {                                                                        \
            const T *w = Lt + q * U * O + u * O;                                                                \
            for (int v = 0; v < NV; v++) {                                                                      \
                vec t = p0[v] + ab[2 * q] * p1[v] + ab[2 * q + 1] * p2[v];                                      \
                vec z = (vec)((ivec)t & ~(t < 0));                                                              \
                for (int o = 0; o < (OC); o++) acc[q][o][v] += w[o] * z;                                        \
            }                                                                                                   \
        }                                                                                                       \
    }                                                                                                           \
    long valid = m - e0 < W * NV ? m - e0 : W * NV;                                                             \
    for (int q = 0; q < (PB); q++)                                                                              \
        for (int o = 0; o < (OC); o++) {                                                                        \
            T res[W * NV], *dst = out + (q * O + o) * ldo + e0;                                                 \
            memcpy(res, acc[q][o], sizeof res);                                                                 \
            for (long k = 0; k < valid; k++) dst[k] = accumulate ? dst[k] + res[k] : res[k];                    \
        }                                                                                                       \
}

/* points sharing a pass for few outputs: PB = PBS[OC] for OC = 1, 2, 3 (the MANY tiles below) */
static const long PBS[4] = {1, 4, 2, 2};

#define TILES(T, IT, SUF)                                                                                       \
TILE(T, IT, SUF, 1, 1) TILE(T, IT, SUF, 2, 1) TILE(T, IT, SUF, 3, 1) TILE(T, IT, SUF, 4, 1) TILE(T, IT, SUF, 5, 1) \
TILE(T, IT, SUF, 6, 1) TILE(T, IT, SUF, 7, 1) TILE(T, IT, SUF, 8, 1) TILE(T, IT, SUF, 9, 1)                     \
TILE(T, IT, SUF, 10, 1) TILE(T, IT, SUF, 11, 1) TILE(T, IT, SUF, 12, 1)                                         \
TILE(T, IT, SUF, 1, 4) TILE(T, IT, SUF, 2, 2) TILE(T, IT, SUF, 3, 2)                                            \
typedef void (*tile_##SUF)(const T *, const T *, const T *, T *, long, long, long, long, long, int);            \
static const tile_##SUF ONE_##SUF[13] = {0, tile_##SUF##_1_1, tile_##SUF##_2_1, tile_##SUF##_3_1,               \
    tile_##SUF##_4_1, tile_##SUF##_5_1, tile_##SUF##_6_1, tile_##SUF##_7_1, tile_##SUF##_8_1, tile_##SUF##_9_1, \
    tile_##SUF##_10_1, tile_##SUF##_11_1, tile_##SUF##_12_1};                                                   \
static const tile_##SUF MANY_##SUF[4] = {0, tile_##SUF##_1_4, tile_##SUF##_2_2, tile_##SUF##_3_2};              \
                                                                                                                \
long tile_width_##SUF(void) { return NV * VB / sizeof(T); }                                                     \
                                                                                                                \
void relu_contract_##SUF(const T *P, const T *Lt, const T *ab, T *out, long npts, long U, long O, long m,      \
                         long ldo, int accumulate) {                                                            \
    const long tw = NV * VB / sizeof(T);                                                                        \
    for (long e0 = 0; e0 < m; e0 += tw)                                                                         \
        for (long o0 = 0; o0 < O; o0 += OCMAX) {                                                                \
            long oc = O - o0 < OCMAX ? O - o0 : OCMAX, pb = oc < 4 ? PBS[oc] : 1, p = 0;                        \
            const T *tile = P + e0 / tw * 3 * U * tw;                                                           \
            for (; pb > 1 && p + pb <= npts; p += pb)                                                           \
                MANY_##SUF[oc](tile, Lt + p * U * O + o0, ab + 2 * p, out + (p * O + o0) * ldo, U, O, ldo, e0,  \
                               m, accumulate);                                                                  \
            for (; p < npts; p++)                                                                               \
                ONE_##SUF[oc](tile, Lt + p * U * O + o0, ab + 2 * p, out + (p * O + o0) * ldo, U, O, ldo, e0,   \
                              m, accumulate);                                                                   \
        }                                                                                                       \
}

TILES(double, long long, f64)
TILES(float, int, f32)
