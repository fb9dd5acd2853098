/* rnnkit's native per-step kernels: the pointwise part of one time step of the fast
 * loop (rnnkit/nn/fast_loop.py), forward and backward, for the LSTM and GRU families
 * with or without layer normalisation, in float32.
 *
 * A step of the fast loop is a matrix product (torch: oneDNN or MKL) followed by
 * a dozen pointwise operations: gates, cell update, layer norms. As torch ops each of
 * those makes its own pass over the batch; here they are one pass, row by row, while
 * the row is in the core's cache. rnnkit/nn/native.py compiles this file with the
 * system's C compiler on first use (cached); without a compiler the fast loop keeps
 * its torch ops. The Python loop stays the specification (tests compare both).
 *
 * Layout: every matrix is row-major and contiguous, B rows; an LSTM row of gates is
 * [i f g o] (4H), a GRU row [r z n] (3H), as torch.nn. "LN" below is
 * LN(x) = (x - mean(x)) * rstd(x) * gain (+ bias), rstd = 1 / sqrt(var(x) + eps),
 * the biased variance over the row. Gradient accumulators are double, summed over
 * rows and steps (+=). Every kernel takes tmp, a scratch of rnnkit_scratch_floats(B, H)
 * floats.
 *
 * Threads: rows are independent, so each kernel splits them over OpenMP's threads (the
 * runtime torch itself loaded, so torch.set_num_threads governs both); the gradients
 * of parameters shared by all rows are summed in fixed blocks of rows, then the blocks
 * in order (add_parts): the result does not depend on the thread count.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* exp(x) for x in [-87, 88]: x = k ln2 + r with |r| <= ln2 / 2, e^r by its Taylor
 * series to r^7 (truncation error < 2e-9 relative), 2^k put in the exponent bits.
 * Written so the compiler vectorises the loops that call it (no libm call). */
static inline float exp_r(float x)
{
    x = x < -87.0f ? -87.0f : x; /* NaN stays NaN */
    x = x > 88.0f ? 88.0f : x;
    float k = floorf(x * 1.44269504088896341f + 0.5f);
    /* ln2 = 0.693359375 - 2.12194440054691e-4: the first part has few mantissa bits,
     * so k times it is exact and r keeps its precision (Cody and Waite's split). */
    float r = (x - k * 0.693359375f) + k * 2.12194440054691e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float sigmoid_r(float x) { return 1.0f / (1.0f + exp_r(-x)); }

/* tanh(x) = 2 sigmoid(2x) - 1 */
static inline float tanh_r(float x) { return 2.0f / (1.0f + exp_r(-2.0f * x)) - 1.0f; }

#define LANES 16

/* Sums of x[0..n) and of x * y (y may be NULL: x alone), in LANES partial sums so the
 * compiler vectorises them (float, then the lanes added in double). The two cases are
 * separate loops: with the test for y inside, gcc builds the sums element by element. */
static inline void row_sums(const float *restrict x, const float *restrict y, int n, double *sx,
                            double *sxy)
{
    float a[LANES] = {0}, c[LANES] = {0};
    int j = 0;
    if (y) {
        for (; j + LANES <= n; j += LANES)
            for (int k = 0; k < LANES; k++) {
                a[k] += x[j + k];
                c[k] += x[j + k] * y[j + k];
            }
    } else {
        for (; j + LANES <= n; j += LANES)
            for (int k = 0; k < LANES; k++)
                a[k] += x[j + k];
    }
    double s = 0.0, t = 0.0;
    for (int k = 0; k < LANES; k++) {
        s += a[k];
        t += c[k];
    }
    for (; j < n; j++) {
        s += x[j];
        t += y ? x[j] * y[j] : 0.0f;
    }
    *sx = s;
    *sxy = t;
}

/* Mean and rstd of x[0..n): the mean first, then the mean square of the deviations. */
static void row_stats(const float *restrict x, int n, float eps, float *mean, float *rstd,
                      float *restrict tmp)
{
    double s, unused;
    row_sums(x, NULL, n, &s, &unused);
    float mu = (float)(s / n);
    for (int j = 0; j < n; j++)
        tmp[j] = x[j] - mu;
    double v;
    row_sums(tmp, tmp, n, &unused, &v);
    *mean = mu;
    *rstd = (float)(1.0 / sqrt(v / n + eps));
}

/* Per row: d c_new (H), d LN(c)'s input (H), dh and dc split by zoneout (3H), and
 * 2 x 4H for a layer norm's backward;
 * before the rows, B x H for the gradient of LN(c)'s output. */
#define ROW_SCRATCH(H) (13 * (size_t)(H))
#define BLOCK_ROWS 8 /* rows per block of the shared gradients' partial sums (add_parts) */
#define PARTS(H) (14 * (size_t)(H)) /* a block's partial sums: at most LSTM's 2H + 3 x 4H */
#define PAR_MIN 4096 /* below B x H of this, one thread: the fork would cost more */

static inline int row_blocks(int B) { return (B + BLOCK_ROWS - 1) / BLOCK_ROWS; }

/* The scratch floats every kernel needs for a batch of B rows of H units: B x H, the
 * rows' scratch, and the partial sums of the shared gradients (see add_parts). */
size_t rnnkit_scratch_floats(int B, int H)
{
    return (size_t)B * H + (size_t)B * ROW_SCRATCH(H) + (size_t)row_blocks(B) * PARTS(H);
}

/* The input gradient of a row's layer norm: dy (n) the gradient of LN(x), x the input
 * with its mean and rstd, gain w: dx = rstd (dyw - mean(dyw) - xhat mean(dyw xhat)),
 * dyw = dy * w, xhat = (x - mean) rstd. tmp: 2n floats. */
static void ln_row_grad(const float *restrict dy, const float *restrict x, float mu, float rs,
                        const float *restrict w, int n, float *restrict dx, float *restrict tmp,
                        float *restrict d_gain)
{
    float *restrict xhat = tmp, *restrict dyw = tmp + n;
    float s1[LANES] = {0}, s2[LANES] = {0}; /* the sums of dyw and dyw xhat, as row_sums */
    int j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int k = 0; k < LANES; k++) {
            float xh = (x[j + k] - mu) * rs, d = dy[j + k] * w[j + k];
            xhat[j + k] = xh;
            dyw[j + k] = d;
            s1[k] += d;
            s2[k] += d * xh;
        }
    double m1 = 0.0, m2 = 0.0;
    for (int k = 0; k < LANES; k++) {
        m1 += s1[k];
        m2 += s2[k];
    }
    for (; j < n; j++) {
        xhat[j] = (x[j] - mu) * rs;
        dyw[j] = dy[j] * w[j];
        m1 += dyw[j];
        m2 += dyw[j] * xhat[j];
    }
    if (d_gain)
        for (j = 0; j < n; j++)
            d_gain[j] += dy[j] * xhat[j];
    float a = (float)(m1 / n), b = (float)(m2 / n);
    for (int j = 0; j < n; j++)
        dx[j] = rs * (dyw[j] - a - xhat[j] * b);
}

/* The gradients of parameters shared by all B rows (layer norm gains, biases): the
 * rows are taken in blocks of BLOCK_ROWS, whichever thread runs them; each block adds
 * its rows' terms, in order, to partial sums of its own, in float, while the row is in
 * cache; then each column adds the blocks' sums, in order, to its double total
 * (add_parts). The blocks do not depend on the thread count, so the sums do not. */
/* Inside a parallel region (its threads share the columns): dst[j] += the sum over the
 * nb blocks of parts[k * PARTS(H) + off + j], j < n; nothing when dst is NULL. */
static void add_parts(int nb, int H, const float *parts, size_t off, int n, double *dst)
{
    if (!dst)
        return;
#pragma omp for schedule(static) nowait
    for (int j = 0; j < n; j++) {
        float s = 0.0f;
        for (int k = 0; k < nb; k++)
            s += parts[k * PARTS(H) + off + j];
        dst[j] += s;
    }
}

/* The blocks' partial sums: in the scratch after the rows' (see rnnkit_scratch_floats). */
static inline float *block_parts(float *tmp, int B, int H)
{
    return tmp + (size_t)B * H + (size_t)B * ROW_SCRATCH(H);
}

/* Block k of B rows: zeroes its partial sums and returns them; its rows are
 * [*first, *end). */
static float *row_block(float *parts, int k, int B, int H, int *first, int *end)
{
    float *pk = parts + k * PARTS(H);
    memset(pk, 0, PARTS(H) * sizeof(float));
    *first = k * BLOCK_ROWS;
    *end = *first + BLOCK_ROWS < B ? *first + BLOCK_ROWS : B;
    return pk;
}

/* Adds dy (n) to a block's partial sums (NULL: none). */
static inline void add_row(float *restrict sum, const float *restrict dy, int n)
{
    if (sum)
        for (int j = 0; j < n; j++)
            sum[j] += dy[j];
}

/* A state after zoneout and padding, over one row: where sel (1 = keep; NULL = none)
 * says, the old value, elsewhere p old + (1 - p) new (p: zoneout at evaluation, else
 * 0). The new value is newv, or o * tc where newv is NULL. */
static void mix_row(int H, const float *restrict old, const float *restrict newv,
                    const float *restrict o, const float *restrict tc,
                    const unsigned char *restrict sel, float p, float *restrict out)
{
    for (int j = 0; j < H; j++) {
        float v = newv ? newv[j] : o[j] * tc[j];
        v = p * old[j] + (1.0f - p) * v;
        out[j] = sel && sel[j] ? old[j] : v;
    }
}

/* The gradient g of a mixed state (see mix_row) split into the part reaching the new
 * value, g (1 - a), and the part reaching the old one, g a (to_old may be NULL), a the
 * old value's weight: 1 where sel is set, else p. */
static void split_row(int H, const float *restrict g, const unsigned char *restrict sel, float p,
                      float *restrict to_new, float *restrict to_old)
{
    for (int j = 0; j < H; j++) {
        float a = sel && sel[j] ? 1.0f : p;
        to_new[j] = g[j] * (1.0f - a);
        if (to_old)
            to_old[j] = g[j] * a;
    }
}

/* A row's input term of the gate pre-activations: LN(gx; g_ih) + b_ih when g_ih is
 * given (the input projection normalised here, step by step, rather than in a pass of
 * its own over all steps; its mean and rstd to *mu, *rs), else gx + b_ih; b_ih may be
 * NULL. tmp: n floats. */
static void input_term(const float *restrict gx, int n, float eps, const float *restrict g_ih,
                       const float *restrict b_ih, float *mu, float *rs, float *restrict out,
                       float *restrict tmp)
{
    if (g_ih) {
        float m, r;
        row_stats(gx, n, eps, &m, &r, tmp);
        *mu = m;
        *rs = r;
        for (int j = 0; j < n; j++)
            out[j] = (gx[j] - m) * r * g_ih[j];
    } else {
        for (int j = 0; j < n; j++)
            out[j] = gx[j];
    }
    if (b_ih)
        for (int j = 0; j < n; j++)
            out[j] += b_ih[j];
}

/* LSTM step, forward. z: the recurrent product h_in W_hh^T (B, 4H); gx: the input
 * projection (B, 4H), its input term x = LN(gx; g_ih) + b_ih or gx + b_ih (see
 * input_term); b_ih, b_hh (4H) or NULL. With layer norm (g_hh != NULL) the gates' pre-
 * activations are x + LN(z; g_hh) + b_hh and the cell's output is
 * tanh(LN(c; ln_c, ln_cb)), else x + z + b_hh and tanh(c). Writes the activations
 * [i f g o] (acts), the new cell c_new, tanh of its (normalised) value (tcs),
 * h = o tcs, and the LN statistics (mu, rs of z; mu_c, rs_c of c; mu_x, rs_x of gx). */
void rnnkit_lstm_forward(int B, int H, float eps, const float *z, const float *gx,
                         const float *g_ih, const float *b_ih, float *mu_x, float *rs_x,
                         const float *b_hh, const float *g_hh, const float *c_prev,
                         const float *ln_c, const float *ln_cb, float *acts, float *mu, float *rs,
                         float *c_new, float *mu_c, float *rs_c, float *tcs, float *h, float *tmp,
                         const float *h_prev, const unsigned char *sel_h,
                         const unsigned char *sel_c, float zone_p, float *c_state)
{
    const int G = 4 * H;
#pragma omp parallel for schedule(static) if ((size_t)B * H >= PAR_MIN)
    for (int b = 0; b < B; b++) {
        const float *zb = z + (size_t)b * G, *gxb = gx + (size_t)b * G;
        const float *cp = c_prev + (size_t)b * H;
        float *a = acts + (size_t)b * G, *cn = c_new + (size_t)b * H;
        float *tc = tcs + (size_t)b * H, *hb = h + (size_t)b * H;
        float *scratch = tmp + (size_t)B * H + b * ROW_SCRATCH(H);
        input_term(gxb, G, eps, g_ih, b_ih, g_ih ? mu_x + b : NULL, g_ih ? rs_x + b : NULL, a,
                   scratch);
        if (g_hh) {
            float m, r;
            row_stats(zb, G, eps, &m, &r, scratch);
            mu[b] = m;
            rs[b] = r;
            for (int j = 0; j < G; j++)
                a[j] += (zb[j] - m) * r * g_hh[j];
        } else {
            for (int j = 0; j < G; j++)
                a[j] += zb[j];
        }
        if (b_hh)
            for (int j = 0; j < G; j++)
                a[j] += b_hh[j];
        for (int j = 0; j < 2 * H; j++) /* i, f */
            a[j] = sigmoid_r(a[j]);
        for (int j = 2 * H; j < 3 * H; j++) /* g */
            a[j] = tanh_r(a[j]);
        for (int j = 3 * H; j < G; j++) /* o */
            a[j] = sigmoid_r(a[j]);
        const float *ai = a, *af = a + H, *ag = a + 2 * H, *ao = a + 3 * H;
        for (int j = 0; j < H; j++)
            cn[j] = af[j] * cp[j] + ai[j] * ag[j];
        if (ln_c) {
            float m, r;
            row_stats(cn, H, eps, &m, &r, scratch);
            mu_c[b] = m;
            rs_c[b] = r;
            for (int j = 0; j < H; j++) {
                float chat = (cn[j] - m) * r * ln_c[j] + (ln_cb ? ln_cb[j] : 0.0f);
                tc[j] = tanh_r(chat);
            }
        } else {
            for (int j = 0; j < H; j++)
                tc[j] = tanh_r(cn[j]);
        }
        size_t row = (size_t)b * H;
        mix_row(H, h_prev + row, NULL, ao, tc, sel_h ? sel_h + row : NULL, zone_p, hb);
        if (c_state)
            mix_row(H, cp, cn, NULL, NULL, sel_c ? sel_c + row : NULL, zone_p, c_state + row);
    }
}

/* LSTM step, backward. dh, dc: the gradients reaching this step's new h and c (B, H).
 * Writes d_pre (B, 4H), the gradient of the gates' pre-activations (of the input term
 * and of b_ih and b_hh), d_gx (B, 4H), the gradient of gx when the kernel normalised
 * it (g_ih != NULL; else gx's gradient is d_pre and d_gx is NULL), d_z (B, 4H), the
 * gradient of z (with layer norm; without it d_z is d_pre and NULL is passed), and
 * dc_prev = d c_{t-1} through the cell update (B, H); adds the gradients of the biases
 * (d_b, or NULL: b_ih's is b_hh's) and of the layer norms' parameters. */
void rnnkit_lstm_backward(int B, int H, const float *dh, const float *dc, const float *acts,
                          const float *tcs, const float *c_prev, const float *c_new,
                          const float *ln_c, const float *mu_c, const float *rs_c,
                          const float *z, const float *g_hh, const float *mu, const float *rs,
                          const float *gx, const float *g_ih, const float *mu_x,
                          const float *rs_x, float *d_pre, float *d_gx, float *d_z,
                          float *dc_prev, double *d_b, double *d_g_ih, double *d_g_hh,
                          double *d_ln_c, double *d_ln_cb, float *tmp,
                          const unsigned char *sel_h, const unsigned char *sel_c, float zone_p,
                          float *dh_skip)
{
    const int G = 4 * H, nb = row_blocks(B);
    float *d_tcs = tmp; /* (B, H): d of tanh's argument, dh o (1 - tcs^2) */
    /* each block's partial sums: [ln_c's gain H, its bias H, b 4H, g_hh 4H, g_ih 4H] */
    float *parts = block_parts(tmp, B, H);
#pragma omp parallel if ((size_t)B * H >= PAR_MIN)
    {
#pragma omp for schedule(static)
        for (int k = 0; k < nb; k++) {
            int first, end;
            float *pk = row_block(parts, k, B, H, &first, &end);
            float *s_lc = ln_c ? pk : NULL, *s_lcb = ln_c && d_ln_cb ? pk + H : NULL;
            float *s_b = d_b ? pk + 2 * H : NULL, *s_hh = g_hh ? pk + 2 * H + G : NULL;
            float *s_ih = g_ih ? pk + 2 * H + 2 * G : NULL;
            for (int b = first; b < end; b++) {
                const float *dhb = dh + (size_t)b * H, *dcb = dc + (size_t)b * H;
                const float *a = acts + (size_t)b * G, *tc = tcs + (size_t)b * H;
                const float *cp = c_prev + (size_t)b * H, *cn = c_new + (size_t)b * H;
                const float *ai = a, *af = a + H, *ag = a + 2 * H, *ao = a + 3 * H;
                float *dp = d_pre + (size_t)b * G, *dcp = dc_prev + (size_t)b * H;
                float *dt = d_tcs + (size_t)b * H;
                float *scratch = tmp + (size_t)B * H + b * ROW_SCRATCH(H);
                float *dcn = scratch, *dx = scratch + H, *ln_tmp = scratch + 5 * H;
                float *dh_new = scratch + 2 * H, *dc_new = scratch + 3 * H;
                float *dc_old = scratch + 4 * H;
                size_t row = (size_t)b * H;
                split_row(H, dhb, sel_h ? sel_h + row : NULL, zone_p, dh_new,
                          dh_skip ? dh_skip + row : NULL);
                split_row(H, dcb, sel_c ? sel_c + row : NULL, zone_p, dc_new, dc_old);
                dhb = dh_new;
                dcb = dc_new;
                for (int j = 0; j < H; j++)
                    dt[j] = dhb[j] * ao[j] * (1.0f - tc[j] * tc[j]);
                if (ln_c) {
                    ln_row_grad(dt, cn, mu_c[b], rs_c[b], ln_c, H, dx, ln_tmp, s_lc);
                    add_row(s_lcb, dt, H);
                    for (int j = 0; j < H; j++)
                        dcn[j] = dx[j] + dcb[j];
                } else {
                    for (int j = 0; j < H; j++)
                        dcn[j] = dt[j] + dcb[j];
                }
                float *dpi = dp, *dpf = dp + H, *dpg = dp + 2 * H, *dpo = dp + 3 * H;
                for (int j = 0; j < H; j++)
                    dpi[j] = dcn[j] * ag[j] * ai[j] * (1.0f - ai[j]);
                for (int j = 0; j < H; j++)
                    dpf[j] = dcn[j] * cp[j] * af[j] * (1.0f - af[j]);
                for (int j = 0; j < H; j++)
                    dpg[j] = dcn[j] * ai[j] * (1.0f - ag[j] * ag[j]);
                for (int j = 0; j < H; j++)
                    dpo[j] = dhb[j] * tc[j] * ao[j] * (1.0f - ao[j]);
                for (int j = 0; j < H; j++)
                    dcp[j] = dcn[j] * af[j] + dc_old[j];
                add_row(s_b, dp, G);
                if (g_hh)
                    ln_row_grad(dp, z + (size_t)b * G, mu[b], rs[b], g_hh, G,
                                d_z + (size_t)b * G, ln_tmp, s_hh);
                if (g_ih)
                    ln_row_grad(dp, gx + (size_t)b * G, mu_x[b], rs_x[b], g_ih, G,
                                d_gx + (size_t)b * G, ln_tmp, s_ih);
            }
        }
        add_parts(nb, H, parts, 0, H, ln_c ? d_ln_c : NULL);
        add_parts(nb, H, parts, H, H, ln_c ? d_ln_cb : NULL);
        add_parts(nb, H, parts, 2 * H, G, d_b);
        add_parts(nb, H, parts, 2 * H + G, G, g_hh ? d_g_hh : NULL);
        add_parts(nb, H, parts, 2 * H + 2 * G, G, g_ih ? d_g_ih : NULL);
    }
}

/* The GRU's candidate and new state over one row: n = tanh(gx_n + r gh_n),
 * h = (1 - u) n + u h_prev. */
static inline void gru_candidate(int H, const float *restrict gxn, const float *restrict r,
                                 const float *restrict u, const float *restrict ghn,
                                 const float *restrict hp, float *restrict n, float *restrict h)
{
    for (int j = 0; j < H; j++) {
        n[j] = tanh_r(gxn[j] + r[j] * ghn[j]);
        h[j] = n[j] + u[j] * (hp[j] - n[j]);
    }
}

/* The gradients of one row's GRU gates from dh (see rnnkit_gru_backward). */
static inline void gru_gates_backward(int H, const float *restrict dh, const float *restrict r,
                                      const float *restrict u, const float *restrict n,
                                      const float *restrict ghn, const float *restrict hp,
                                      float *restrict dxr, float *restrict dxu,
                                      float *restrict dxn, float *restrict dgr,
                                      float *restrict dgu, float *restrict dgn,
                                      float *restrict dhp)
{
    for (int j = 0; j < H; j++) {
        float d_pre_n = dh[j] * (1.0f - u[j]) * (1.0f - n[j] * n[j]);
        dxr[j] = dgr[j] = d_pre_n * ghn[j] * r[j] * (1.0f - r[j]);
        dxu[j] = dgu[j] = dh[j] * (hp[j] - n[j]) * u[j] * (1.0f - u[j]);
        dxn[j] = d_pre_n;
        dgn[j] = d_pre_n * r[j];
        dhp[j] = dh[j] * u[j];
    }
}

/* GRU step, forward. z: the recurrent product h_in W_hh^T (B, 3H); gx: the input
 * projection (B, 3H), its input term x = LN(gx; g_ih) + b_ih or gx + b_ih (see
 * input_term); b_ih, b_hh (3H) or NULL. The recurrent term is gh = LN(z; g_hh) + b_hh
 * with layer norm (g_hh != NULL), else z + b_hh; r, u = sigmoid(x_rz + gh_rz),
 * n = tanh(x_n + r gh_n), h = (1 - u) n + u h_prev. Writes gh (B, 3H), [r u] (rz, B x 2H),
 * n (B, H), h and the LN statistics of z (mu, rs) and of gx (mu_x, rs_x). */
void rnnkit_gru_forward(int B, int H, float eps, const float *z, const float *gx,
                        const float *g_ih, const float *b_ih, float *mu_x, float *rs_x,
                        const float *g_hh, const float *b_hh, const float *h_prev, float *gh,
                        float *rz, float *ns, float *mu, float *rs, float *h, float *tmp)
{
    const int G = 3 * H;
#pragma omp parallel for schedule(static) if ((size_t)B * H >= PAR_MIN)
    for (int b = 0; b < B; b++) {
        const float *zb = z + (size_t)b * G, *gxb = gx + (size_t)b * G;
        const float *hp = h_prev + (size_t)b * H;
        float *ghb = gh + (size_t)b * G, *rzb = rz + (size_t)b * 2 * H;
        float *nb = ns + (size_t)b * H, *hb = h + (size_t)b * H;
        float *scratch = tmp + (size_t)B * H + b * ROW_SCRATCH(H), *xin = scratch;
        if (g_ih || b_ih) {
            input_term(gxb, G, eps, g_ih, b_ih, g_ih ? mu_x + b : NULL, g_ih ? rs_x + b : NULL,
                       xin, scratch + G);
            gxb = xin;
        }
        if (g_hh) {
            float m, r;
            row_stats(zb, G, eps, &m, &r, scratch + G);
            mu[b] = m;
            rs[b] = r;
            for (int j = 0; j < G; j++)
                ghb[j] = (zb[j] - m) * r * g_hh[j] + (b_hh ? b_hh[j] : 0.0f);
        } else {
            for (int j = 0; j < G; j++)
                ghb[j] = zb[j] + (b_hh ? b_hh[j] : 0.0f);
        }
        for (int j = 0; j < 2 * H; j++)
            rzb[j] = sigmoid_r(gxb[j] + ghb[j]);
        gru_candidate(H, gxb + 2 * H, rzb, rzb + H, ghb + 2 * H, hp, nb, hb);
    }
}

/* GRU step, backward. dh: the gradient reaching this step's new h (B, H). Writes d_x
 * (B, 3H), the gradient of the input term x; d_gx (B, 3H), of gx, when the kernel
 * normalised it (g_ih != NULL; else d_gx is d_x and NULL is passed); d_gh (B, 3H), of
 * the recurrent term gh; d_z (B, 3H) of z with layer norm (NULL without: d_z is d_gh);
 * dh_skip (B, H), the part of d h_{t-1} that skips the recurrent matrix (dh u); adds
 * the gradients of b_ih (d_b_ih: when the kernel added it), b_hh (d_b) and of the LN
 * gains (d_g_ih, d_g_hh); each may be NULL. */
void rnnkit_gru_backward(int B, int H, const float *dh, const float *h_prev, const float *gh,
                         const float *rz, const float *ns, const float *z, const float *g_hh,
                         const float *mu, const float *rs, const float *gx, const float *g_ih,
                         const float *mu_x, const float *rs_x, float *d_x, float *d_gx,
                         float *d_gh, float *d_z, float *dh_skip, double *d_b_ih,
                         double *d_g_ih, double *d_b, double *d_g_hh, float *tmp)
{
    const int G = 3 * H, nb = row_blocks(B);
    /* each block's partial sums: [b_hh 3H, g_hh 3H, b_ih 3H, g_ih 3H] */
    float *parts = block_parts(tmp, B, H);
#pragma omp parallel if ((size_t)B * H >= PAR_MIN)
    {
#pragma omp for schedule(static)
        for (int k = 0; k < nb; k++) {
            int first, end;
            float *pk = row_block(parts, k, B, H, &first, &end);
            float *s_b = d_b ? pk : NULL, *s_hh = g_hh ? pk + G : NULL;
            float *s_b_ih = d_b_ih ? pk + 2 * G : NULL, *s_ih = g_ih ? pk + 3 * G : NULL;
            for (int b = first; b < end; b++) {
                const float *dhb = dh + (size_t)b * H, *hp = h_prev + (size_t)b * H;
                const float *ghb = gh + (size_t)b * G, *rzb = rz + (size_t)b * 2 * H;
                const float *nrow = ns + (size_t)b * H;
                float *dx = d_x + (size_t)b * G, *dg = d_gh + (size_t)b * G;
                float *scratch = tmp + (size_t)B * H + b * ROW_SCRATCH(H);
                gru_gates_backward(H, dhb, rzb, rzb + H, nrow, ghb + 2 * H, hp, dx, dx + H,
                                   dx + 2 * H, dg, dg + H, dg + 2 * H, dh_skip + (size_t)b * H);
                add_row(s_b, dg, G);
                add_row(s_b_ih, dx, G);
                if (g_hh)
                    ln_row_grad(dg, z + (size_t)b * G, mu[b], rs[b], g_hh, G,
                                d_z + (size_t)b * G, scratch, s_hh);
                if (g_ih)
                    ln_row_grad(dx, gx + (size_t)b * G, mu_x[b], rs_x[b], g_ih, G,
                                d_gx + (size_t)b * G, scratch, s_ih);
            }
        }
        add_parts(nb, H, parts, 0, G, d_b);
        add_parts(nb, H, parts, G, G, g_hh ? d_g_hh : NULL);
        add_parts(nb, H, parts, 2 * G, G, d_b_ih);
        add_parts(nb, H, parts, 3 * G, G, g_ih ? d_g_ih : NULL);
    }
}

/* n Bernoulli(p) bytes (1 with probability p), zoneout's masks: element i is drawn from
 * seed + i alone by SplitMix64's output function (Steele, Lea and Flood 2014: a
 * counter times an odd constant, then two xor-shift-multiply rounds), so the rows can
 * be split over threads and the result does not depend on the thread count; the top
 * 32 bits of each draw are compared with p 2^32. */
void rnnkit_bernoulli(int64_t n, double p, uint64_t seed, unsigned char *out)
{
    const uint64_t threshold = (uint64_t)(p * 4294967296.0);
#pragma omp parallel for schedule(static) if (n >= 65536)
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = seed + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        out[i] = (z >> 32) < threshold;
    }
}

/* minGRU and minLSTM (rnnkit/nn/min_cells.py) over a whole sequence: their gates read
 * the input only, so h_t = a_t h_{t-1} + b_t with a_t, b_t from gx alone, and every
 * unit (b, j) is a recurrence of its own. Each thread takes its own blocks of units
 * and runs them through all T steps: one pass over gx, no synchronisation per step.
 * gx: (T, B, G H), the gates [z u] (minGRU, G = 2) or [f i u] (minLSTM, G = 3);
 * g(u) = u + 1/2 for u >= 0, sigmoid(u) below (the paper's positive activation).
 *   minGRU:  z = sigmoid(k_z),  a = 1 - z,  b = z g(u)
 *   minLSTM: f = sigmoid(k_f), i = sigmoid(k_i), a = f / (f + i), b = (1 - a) g(u)
 * (f / (f + i) = sigmoid(log f - log i), the form used here, as in the cell). */
#define MIN_BLOCK 64

/* One step of a block of w units from their gate inputs (k0, k1, u: [z u] or [f i u]):
 * a, and b = gate g(u) as its two factors, with g'(u) for the backward. minLSTM's
 * a = f / (f + i) = (1 + e^-k_i) / ((1 + e^-k_i) + (1 + e^-k_f)), every term scaled
 * by e^-m, m = max(0, -k_f, -k_i), so that no exponential overflows. Straight loops
 * the compiler vectorises. */
static void min_coefficients(int kind, int w, const float *restrict k0,
                             const float *restrict k1, const float *restrict u,
                             float *restrict a, float *restrict gate, float *restrict gu,
                             float *restrict dgu, float *restrict nf, float *restrict ni)
{
    for (int j = 0; j < w; j++) {
        float s = sigmoid_r(u[j]);
        gu[j] = u[j] >= 0.0f ? u[j] + 0.5f : s;
        dgu[j] = u[j] >= 0.0f ? 1.0f : s * (1.0f - s);
    }
    if (kind == 0) {
        for (int j = 0; j < w; j++) {
            float z = sigmoid_r(k0[j]);
            a[j] = 1.0f - z;
            gate[j] = z;
        }
    } else {
        for (int j = 0; j < w; j++) {
            float ef = -k0[j], ei = -k1[j];
            float m = ef > ei ? ef : ei;
            m = m > 0.0f ? m : 0.0f;
            float one = exp_r(-m), qi = exp_r(ei - m), qf = exp_r(ef - m), num = one + qi;
            a[j] = num / (num + one + qf);
            gate[j] = 1.0f - a[j];
            if (nf) { /* 1 - f = e^-k_f / (1 + e^-k_f), and 1 - i, for the backward */
                nf[j] = qf / (one + qf);
                ni[j] = qi / (one + qi);
            }
        }
    }
}

/* A thread's unit of work: row b, units j0 .. j0 + w of it. */
static inline void min_unit(int unit, int blocks, int H, int *b, int *j0, int *w)
{
    *b = unit / blocks;
    *j0 = (unit % blocks) * MIN_BLOCK;
    *w = *j0 + MIN_BLOCK < H ? MIN_BLOCK : H - *j0;
}

void rnnkit_min_forward(int kind, int T, int B, int H, const float *gx, const float *h0,
                        float *h)
{
    const int G = kind == 0 ? 2 : 3;
    const int blocks = (H + MIN_BLOCK - 1) / MIN_BLOCK;
#pragma omp parallel for schedule(static) if ((size_t)T * B * H >= PAR_MIN)
    for (int unit = 0; unit < B * blocks; unit++) {
        int b, j0, w;
        min_unit(unit, blocks, H, &b, &j0, &w);
        float state[MIN_BLOCK], a[MIN_BLOCK], gate[MIN_BLOCK], gu[MIN_BLOCK], dgu[MIN_BLOCK];
        for (int j = 0; j < w; j++)
            state[j] = h0[(size_t)b * H + j0 + j];
        for (int t = 0; t < T; t++) {
            const float *row = gx + ((size_t)t * B + b) * G * H + j0;
            float *restrict out = h + ((size_t)t * B + b) * H + j0;
            min_coefficients(kind, w, row, row + H, row + (G - 1) * H, a, gate, gu, dgu, NULL,
                             NULL);
            for (int j = 0; j < w; j++) {
                state[j] = a[j] * state[j] + gate[j] * gu[j];
                out[j] = state[j];
            }
        }
    }
}

/* The backward recurrence: with grad_h the gradients arriving at each output and
 * g_t = grad_t + a_{t+1} g_{t+1} the total gradient of h_t, d a_t = g_t h_{t-1} and
 * d b_t = g_t, carried to the gates:
 *   minGRU:  d k_z = g (g(u) - h_{t-1}) z (1 - z),  d u = g z g'(u)
 *   minLSTM: d a = g (h_{t-1} - g(u)), d k_f = d a a (1 - a) (1 - f),
 *            d k_i = -d a a (1 - a) (1 - i),  d u = g (1 - a) g'(u)
 * Writes d_gx (T, B, G H) and d_h0 = a_1 g_1 (B, H). */
void rnnkit_min_backward(int kind, int T, int B, int H, const float *gx, const float *h0,
                         const float *h, const float *grad_h, float *d_gx, float *d_h0)
{
    const int G = kind == 0 ? 2 : 3;
    const int blocks = (H + MIN_BLOCK - 1) / MIN_BLOCK;
#pragma omp parallel for schedule(static) if ((size_t)T * B * H >= PAR_MIN)
    for (int unit = 0; unit < B * blocks; unit++) {
        int b, j0, w;
        min_unit(unit, blocks, H, &b, &j0, &w);
        float carry[MIN_BLOCK]; /* a_{t+1} g_{t+1} */
        float a[MIN_BLOCK], gate[MIN_BLOCK], gu[MIN_BLOCK], dgu[MIN_BLOCK];
        float nf[MIN_BLOCK], ni[MIN_BLOCK];
        for (int j = 0; j < w; j++)
            carry[j] = 0.0f;
        for (int t = T - 1; t >= 0; t--) {
            const size_t r = (size_t)t * B + b;
            const float *row = gx + r * G * H + j0;
            float *restrict drow = d_gx + r * G * H + j0;
            const float *restrict gr = grad_h + r * H + j0;
            const float *restrict hp = t ? h + (r - B) * H + j0 : h0 + (size_t)b * H + j0;
            min_coefficients(kind, w, row, row + H, row + (G - 1) * H, a, gate, gu, dgu, nf, ni);
            if (kind == 0) {
                for (int j = 0; j < w; j++) {
                    float gt = gr[j] + carry[j];
                    drow[j] = gt * (gu[j] - hp[j]) * gate[j] * (1.0f - gate[j]);
                    drow[H + j] = gt * gate[j] * dgu[j];
                    carry[j] = a[j] * gt;
                }
            } else {
                for (int j = 0; j < w; j++) {
                    float gt = gr[j] + carry[j];
                    float da = gt * (hp[j] - gu[j]) * a[j] * (1.0f - a[j]);
                    drow[j] = da * nf[j];
                    drow[H + j] = -da * ni[j];
                    drow[2 * H + j] = gt * gate[j] * dgu[j];
                    carry[j] = a[j] * gt;
                }
            }
        }
        for (int j = 0; j < w; j++)
            d_h0[(size_t)b * H + j0 + j] = carry[j];
    }
}
