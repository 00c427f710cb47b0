/* emotion.c - the emotional state model described in emotion.h: event table,
 * exponential homeostatic decay, sampling and steering maps, keyword analysis
 * and trajectory. Pure computation: no I/O, no globals besides constant
 * tables, no clock (time always comes in as `now`). */
#include "emotion.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <string.h>

/* --- tables ---------------------------------------------------------------- */

typedef struct event_def {
    const char *name;
    double dv, da;
} event_def;

static const event_def events[] = {
    {"success", 0.20, 0.10},       {"test_passed", 0.15, 0.05},    {"insight", 0.25, 0.20},
    {"failure", -0.20, 0.15},      {"test_failed", -0.15, 0.10},   {"error", -0.10, 0.20},
    {"frustration", -0.15, 0.25},  {"blocked", -0.20, 0.30},       {"idle", 0.00, -0.10},
    {"routine", 0.05, -0.05},      {"novelty", 0.10, 0.20},        {"exploration", 0.15, 0.15},
    {"user_positive", 0.15, 0.10}, {"user_negative", -0.10, 0.15}, {"user_question", 0.05, 0.10},
};
#define N_EVENTS (sizeof events / sizeof events[0])

static const char *const event_names[N_EVENTS] = {
    "success", "test_passed", "insight", "failure",     "test_failed",   "error",         "frustration",   "blocked",
    "idle",    "routine",     "novelty", "exploration", "user_positive", "user_negative", "user_question",
};

#define UNKNOWN_DV 0.0
#define UNKNOWN_DA 0.05

enum { Q_EXCITED, Q_FRUSTRATED, Q_CALM, Q_DEPLETED };
static const char *const quadrant_names[4] = {"excited", "frustrated", "calm", "depleted"};
const char *const emotion_steering_names[4] = {"excited", "frustrated", "calm", "depleted"};

/* Keyword groups for emotion_analyze, in priority order. */
typedef struct keyword_group {
    const char *event;
    double intensity;
    const char *words[7]; /* NULL-terminated; each also matches its word forms (see has_word) */
} keyword_group;

/* The original's lists. It matched substrings, so "errors", "learned",
 * "discovered" and "knew" (inside which it found "new") counted; we match
 * whole words with their regular forms, and list "knew" so it still counts. */
static const keyword_group keyword_groups[] = {
    {"success", 0.5, {"successfully", "completed", "done", "fixed", "working", NULL}},
    {"error", 0.5, {"error", "failed", "cannot", "unable", "exception", NULL}},
    {"exploration", 0.3, {"interesting", "discover", "learn", "new", "found", "knew", NULL}},
    {"novelty", 0.2, {"unsure", "uncertain", "might", "perhaps", "unclear", NULL}},
};

/* Endings that make a word form of a keyword: errors, learned, learning, discovery, discoveries, newer. */
static const char *const word_endings[] = {"", "s", "es", "ed", "d", "ing", "ings", "er", "ers", "y", "ies", "ly"};

/* --- small helpers --------------------------------------------------------- */

static double clampd(double x, double lo, double hi)
{
    if (x < lo) return lo;
    if (x > hi) return hi;
    return x;
}

static int clampi(int x, int lo, int hi)
{
    if (x < lo) return lo;
    if (x > hi) return hi;
    return x;
}

/* Rounded to `dp` decimals; + 0.0 turns -0 into 0 so JSON never shows "-0". */
static double round_dp(double x, int dp)
{
    double m = pow(10.0, dp);
    return round(x * m) / m + 0.0;
}

static int quadrant_of(double v, double a)
{
    if (a >= 0) return v >= 0 ? Q_EXCITED : Q_FRUSTRATED;
    return v >= 0 ? Q_CALM : Q_DEPLETED;
}

static const emotion_point *hist_at(const emotion *e, int i) /* 0 = oldest */
{
    assert(i >= 0 && i < e->hist_len);
    return &e->hist[(e->hist_start + i) % e->p.history_size];
}

static void hist_push(emotion *e, double t, double v, double a)
{
    int cap = e->p.history_size;
    emotion_point *pt;
    if (e->hist_len < cap) {
        pt = &e->hist[(e->hist_start + e->hist_len) % cap];
        e->hist_len++;
    } else {
        pt = &e->hist[e->hist_start];
        e->hist_start = (e->hist_start + 1) % cap;
    }
    pt->t = t;
    pt->valence = v;
    pt->arousal = a;
}

/* Marks a quadrant change at time t if (v, a) lies in another quadrant. */
static void note_quadrant(emotion *e, double t)
{
    int q = quadrant_of(e->valence, e->arousal);
    if (q != e->quadrant) {
        e->quadrant = q;
        e->quadrant_since = t;
    }
}

/* --- parameters and lifecycle ---------------------------------------------- */

void emotion_default_params(emotion_params *p)
{
    p->baseline_valence = 0.0;
    p->baseline_arousal = 0.0;
    p->decay_rate = 0.1;
    p->max_delta = 0.5;
    p->steering_strength = 1.0;
    p->base_temperature = 0.7;
    p->base_top_p = 0.9;
    p->trend_threshold = 0.02;
    p->momentum_threshold = 0.01;
    p->history_size = 20;
    p->velocity_window = 10;
    p->spiral_window = 5;
    p->spiral_min_increases = 3;
}

/* NaN-safe "x unless it is not a finite number". */
static double finite_or(double x, double dflt) { return isfinite(x) ? x : dflt; }

static void sanitise(emotion_params *p)
{
    emotion_params d;
    emotion_default_params(&d);
    p->baseline_valence = clampd(finite_or(p->baseline_valence, d.baseline_valence), -1, 1);
    p->baseline_arousal = clampd(finite_or(p->baseline_arousal, d.baseline_arousal), -1, 1);
    p->decay_rate = fmax(0, finite_or(p->decay_rate, d.decay_rate));
    p->max_delta = fmax(0, finite_or(p->max_delta, d.max_delta));
    p->steering_strength = clampd(finite_or(p->steering_strength, d.steering_strength), 0, 3);
    p->base_temperature = finite_or(p->base_temperature, d.base_temperature);
    p->base_top_p = finite_or(p->base_top_p, d.base_top_p);
    p->trend_threshold = fabs(finite_or(p->trend_threshold, d.trend_threshold));
    p->momentum_threshold = fabs(finite_or(p->momentum_threshold, d.momentum_threshold));
    p->history_size = clampi(p->history_size, 2, EMOTION_HISTORY_MAX);
    p->velocity_window = clampi(p->velocity_window, 2, p->history_size);
    p->spiral_window = clampi(p->spiral_window, 2, p->history_size);
    p->spiral_min_increases = clampi(p->spiral_min_increases, 1, p->spiral_window - 1);
}

void emotion_init(emotion *e, const emotion_params *p, double now)
{
    memset(e, 0, sizeof *e);
    if (p) e->p = *p;
    else emotion_default_params(&e->p);
    sanitise(&e->p);
    e->valence = e->p.baseline_valence;
    e->arousal = e->p.baseline_arousal;
    e->decayed_at = now;
    e->last_update = now;
    e->update_count = 0;
    e->quadrant = quadrant_of(e->valence, e->arousal);
    e->quadrant_since = now;
}

/* --- decay ----------------------------------------------------------------- */

/* Offsets from the baseline below this snap to it: half the 3 dp resolution
 * of the JSON, so a state that reads as the baseline is the baseline, and its
 * quadrant too (pure exponential decay towards 0 from below would stay
 * "frustrated" forever at a displayed 0.000). */
#define SNAP 0.0005

/* One axis decayed over dt seconds. */
static double decay_axis(double x, double b, double f)
{
    double y = b + (x - b) * f;
    return fabs(y - b) < SNAP ? b : clampd(y, -1, 1);
}

/* When, within [0, dt], an axis decaying from x0 towards b changes side of
 * zero (the quadrant boundary): where the exponential crosses zero, or where
 * it snaps to b, whichever comes first; dt if neither can be computed. */
static double crossing_after(double x0, double b, double k, double dt)
{
    double off = fabs(x0 - b), t_snap = 0, t_zero = dt, ratio;
    if (k <= 0) return dt;
    if (off >= SNAP) t_snap = log(off / SNAP) / k;
    ratio = b / (b - x0); /* exp(-k t) at which x(t) == 0 */
    if (ratio > 0 && ratio < 1) t_zero = -log(ratio) / k;
    return clampd(fmin(t_snap, t_zero), 0, dt);
}

void emotion_decay(emotion *e, double now)
{
    double dt = now - e->decayed_at;
    double f, v0, a0;
    int q;
    if (!(dt > 0)) return; /* backwards (or NaN) time: nothing to do */
    v0 = e->valence;
    a0 = e->arousal;
    f = exp(-e->p.decay_rate * dt);
    e->valence = decay_axis(v0, e->p.baseline_valence, f);
    e->arousal = decay_axis(a0, e->p.baseline_arousal, f);
    q = quadrant_of(e->valence, e->arousal);
    if (q != e->quadrant) {
        /* Date the change at the later of the axes' crossing times, so
         * time_in_quadrant does not depend on how often the state is read. */
        double at = 0;
        if ((v0 >= 0) != (e->valence >= 0))
            at = fmax(at, crossing_after(v0, e->p.baseline_valence, e->p.decay_rate, dt));
        if ((a0 >= 0) != (e->arousal >= 0))
            at = fmax(at, crossing_after(a0, e->p.baseline_arousal, e->p.decay_rate, dt));
        e->quadrant = q;
        e->quadrant_since = e->decayed_at + at;
    }
    e->decayed_at = now;
}

/* --- events ---------------------------------------------------------------- */

int emotion_event_delta(const char *event_type, double *dvalence, double *darousal)
{
    size_t i;
    for (i = 0; event_type && i < N_EVENTS; i++) {
        if (strcmp(events[i].name, event_type) == 0) {
            if (dvalence) *dvalence = events[i].dv;
            if (darousal) *darousal = events[i].da;
            return 1;
        }
    }
    if (dvalence) *dvalence = UNKNOWN_DV;
    if (darousal) *darousal = UNKNOWN_DA;
    return 0;
}

int emotion_event(emotion *e, const char *event_type, double intensity, double now)
{
    double dv, da, md;
    if (!e || !event_type || isnan(intensity)) return -EINVAL;
    emotion_decay(e, now);
    emotion_event_delta(event_type, &dv, &da);
    intensity = clampd(intensity, 0, 2);
    md = e->p.max_delta;
    dv = clampd(dv * intensity, -md, md);
    da = clampd(da * intensity, -md, md);
    e->valence = clampd(e->valence + dv, -1, 1);
    e->arousal = clampd(e->arousal + da, -1, 1);
    e->update_count++;
    e->last_update = now;
    if (now > e->decayed_at) e->decayed_at = now; /* never moves backwards */
    note_quadrant(e, now);
    hist_push(e, now, e->valence, e->arousal);
    return 0;
}

void emotion_reset(emotion *e, double now)
{
    e->valence = e->p.baseline_valence;
    e->arousal = e->p.baseline_arousal;
    e->last_update = now;
    if (now > e->decayed_at) e->decayed_at = now;
    note_quadrant(e, now);
}

/* --- maps ------------------------------------------------------------------ */

void emotion_get(emotion *e, double now, double *valence, double *arousal)
{
    emotion_decay(e, now);
    if (valence) *valence = e->valence;
    if (arousal) *arousal = e->arousal;
}

void emotion_sampling_for(const emotion_params *p, double valence, double arousal, double *temperature, double *top_p)
{
    if (temperature) *temperature = clampd(p->base_temperature - 0.2 * arousal, 0.1, 1.5);
    if (top_p) *top_p = clampd(p->base_top_p + 0.1 * valence, 0.5, 1.0);
}

void emotion_sampling(emotion *e, double now, double *temperature, double *top_p)
{
    emotion_decay(e, now);
    emotion_sampling_for(&e->p, e->valence, e->arousal, temperature, top_p);
}

void emotion_steering_for(double valence, double arousal, double strength, double out[4])
{
    double v = (clampd(valence, -1, 1) + 1) / 2;
    double a = (clampd(arousal, -1, 1) + 1) / 2;
    out[0] = v * a * strength;             /* excited */
    out[1] = (1 - v) * a * strength;       /* frustrated */
    out[2] = v * (1 - a) * strength;       /* calm */
    out[3] = (1 - v) * (1 - a) * strength; /* depleted */
}

void emotion_steering(emotion *e, double now, double out[4])
{
    emotion_decay(e, now);
    emotion_steering_for(e->valence, e->arousal, e->p.steering_strength, out);
}

const char *emotion_quadrant(double valence, double arousal) { return quadrant_names[quadrant_of(valence, arousal)]; }

/* --- keyword analysis ------------------------------------------------------ */

/* ASCII letters and digits only: punctuation, spaces and any non-ASCII byte
 * (e.g. an em dash) end a word. */
static int is_word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }

/* Whether w[0..len) equals lower-case s, ignoring case. */
static int same_word(const unsigned char *w, size_t len, const char *s)
{
    size_t i;
    if (strlen(s) != len) return 0;
    for (i = 0; i < len && lower(w[i]) == (unsigned char)s[i]; i++) {
    }
    return i == len;
}

/* Whether word (lower case) or one of its forms (word + an ending of
 * word_endings) occurs in text as a whole word. */
static int has_word(const char *text, const char *word)
{
    size_t n = strlen(word), k;
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        const unsigned char *w;
        size_t len;
        while (*s && !is_word_char(*s)) s++;
        w = s;
        while (*s && is_word_char(*s)) s++;
        len = (size_t)(s - w);
        if (len < n || !same_word(w, n, word)) continue;
        for (k = 0; k < sizeof word_endings / sizeof word_endings[0]; k++)
            if (same_word(w + n, len - n, word_endings[k])) return 1;
    }
    return 0;
}

const char *emotion_analyze(const char *text, double *intensity)
{
    size_t g, i;
    if (!text) return NULL;
    for (g = 0; g < sizeof keyword_groups / sizeof keyword_groups[0]; g++) {
        const keyword_group *kg = &keyword_groups[g];
        for (i = 0; kg->words[i]; i++) {
            if (has_word(text, kg->words[i])) {
                if (intensity) *intensity = kg->intensity;
                return kg->event;
            }
        }
    }
    return NULL;
}

const char *const *emotion_event_names(size_t *n)
{
    if (n) *n = N_EVENTS;
    return event_names;
}

/* --- trajectory ------------------------------------------------------------ */

/* Least-squares slopes per minute over the last `w` history points, time
 * measured in minutes from the first of them; 0 with fewer than 2 points or
 * no spread in time. Clamped to [-1, 1] as in the original. */
static void velocities(const emotion *e, double *vv, double *av)
{
    int n = e->hist_len < e->p.velocity_window ? e->hist_len : e->p.velocity_window;
    int first = e->hist_len - n, i;
    double t0, st = 0, sv = 0, sa = 0, mt, mv, ma, stt = 0, stv = 0, sta = 0;
    *vv = *av = 0;
    if (n < 2) return;
    t0 = hist_at(e, first)->t;
    for (i = first; i < e->hist_len; i++) {
        const emotion_point *p = hist_at(e, i);
        st += (p->t - t0) / 60.0;
        sv += p->valence;
        sa += p->arousal;
    }
    mt = st / n;
    mv = sv / n;
    ma = sa / n;
    for (i = first; i < e->hist_len; i++) {
        const emotion_point *p = hist_at(e, i);
        double dt = (p->t - t0) / 60.0 - mt;
        stt += dt * dt;
        stv += dt * (p->valence - mv);
        sta += dt * (p->arousal - ma);
    }
    if (stt < 1e-10) return;
    *vv = clampd(stv / stt, -1, 1);
    *av = clampd(sta / stt, -1, 1);
}

static int oscillating(const emotion *e)
{
    double d[3];
    int i, n = e->hist_len;
    if (n < 4) return 0;
    for (i = 0; i < 3; i++) d[i] = hist_at(e, n - 3 + i)->valence - hist_at(e, n - 4 + i)->valence;
    /* Strict alternation: a zero difference is neither rise nor fall. */
    return (d[0] * d[1] < 0) && (d[1] * d[2] < 0);
}

/* Spiral: in the last spiral_window points, at least spiral_min_increases
 * rises of the distance from the baseline between neighbouring points, not
 * necessarily in a row (the original: 3 of the last 4 steps). The direction comes
 * from the larger change over the window (tie -> valence); when both changes
 * are below 0.05, from the axis on which the last point is farther from the
 * baseline. Returns the direction or "none". */
static const char *spiral(const emotion *e)
{
    int w = e->p.spiral_window, n = e->hist_len, i, rises = 0;
    double bv = e->p.baseline_valence, ba = e->p.baseline_arousal, prev = 0;
    const emotion_point *f, *l;
    double dv, da;
    if (n < w) return "none";
    for (i = n - w; i < n; i++) {
        const emotion_point *p = hist_at(e, i);
        double d = hypot(p->valence - bv, p->arousal - ba);
        if (i > n - w && d > prev) rises++;
        prev = d;
    }
    if (rises < e->p.spiral_min_increases) return "none";
    f = hist_at(e, n - w);
    l = hist_at(e, n - 1);
    dv = l->valence - f->valence;
    da = l->arousal - f->arousal;
    if (fabs(dv) < 0.05 && fabs(da) < 0.05) {
        dv = l->valence - bv;
        da = l->arousal - ba;
    }
    if (fabs(dv) >= fabs(da)) return dv >= 0 ? "positive" : "negative";
    return da >= 0 ? "escalating" : "withdrawing";
}

void emotion_trajectory(emotion *e, double now, emotion_traj *out)
{
    double vv, av, thr;
    emotion_decay(e, now);
    velocities(e, &vv, &av);
    out->valence_velocity = vv;
    out->arousal_velocity = av;
    thr = e->p.trend_threshold;
    if (oscillating(e)) out->trend = "oscillating";
    else if (vv > thr) out->trend = "improving";
    else if (vv < -thr) out->trend = "declining";
    else out->trend = "stable";
    thr = e->p.momentum_threshold;
    out->momentum = vv > thr ? "positive" : vv < -thr ? "negative" : "neutral";
    out->spiral_direction = spiral(e);
    out->spiral_detected = strcmp(out->spiral_direction, "none") != 0;
    out->time_in_quadrant = fmax(0, now - e->quadrant_since);
}

/* --- JSON ------------------------------------------------------------------ */

cJSON *emotion_to_json(emotion *e, double now)
{
    cJSON *o = cJSON_CreateObject(), *b = NULL, *s = NULL, *t = NULL;
    double coef[4];
    emotion_traj tr;
    int i, ok = o != NULL;

    emotion_trajectory(e, now, &tr); /* decays */
    emotion_steering_for(e->valence, e->arousal, e->p.steering_strength, coef);

    ok = ok && cJSON_AddNumberToObject(o, "valence", round_dp(e->valence, 3));
    ok = ok && cJSON_AddNumberToObject(o, "arousal", round_dp(e->arousal, 3));
    ok = ok && cJSON_AddStringToObject(o, "quadrant", emotion_quadrant(e->valence, e->arousal));
    ok = ok && (b = cJSON_AddObjectToObject(o, "baseline")) != NULL;
    ok = ok && cJSON_AddNumberToObject(b, "valence", e->p.baseline_valence);
    ok = ok && cJSON_AddNumberToObject(b, "arousal", e->p.baseline_arousal);
    ok = ok && cJSON_AddNumberToObject(o, "update_count", (double)e->update_count);
    ok = ok && cJSON_AddNumberToObject(o, "last_update", e->last_update);
    ok = ok && (s = cJSON_AddObjectToObject(o, "steering_coefficients")) != NULL;
    for (i = 0; ok && i < 4; i++)
        ok = cJSON_AddNumberToObject(s, emotion_steering_names[i], round_dp(coef[i], 4)) != NULL;
    ok = ok && (t = cJSON_AddObjectToObject(o, "trajectory")) != NULL;
    ok = ok && cJSON_AddNumberToObject(t, "valence_velocity", round_dp(tr.valence_velocity, 4));
    ok = ok && cJSON_AddNumberToObject(t, "arousal_velocity", round_dp(tr.arousal_velocity, 4));
    ok = ok && cJSON_AddStringToObject(t, "trend", tr.trend);
    ok = ok && cJSON_AddStringToObject(t, "momentum", tr.momentum);
    ok = ok && cJSON_AddBoolToObject(t, "spiral_detected", tr.spiral_detected);
    ok = ok && cJSON_AddStringToObject(t, "spiral_direction", tr.spiral_direction);
    ok = ok && cJSON_AddNumberToObject(t, "time_in_quadrant", round_dp(tr.time_in_quadrant, 1));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *emotion_events_json(void)
{
    cJSON *o = cJSON_CreateObject();
    size_t i;
    if (!o) return NULL;
    for (i = 0; i < N_EVENTS; i++) {
        double d[2] = {events[i].dv, events[i].da};
        cJSON *a = cJSON_CreateDoubleArray(d, 2);
        if (!a || !cJSON_AddItemToObject(o, events[i].name, a)) {
            cJSON_Delete(a);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}
