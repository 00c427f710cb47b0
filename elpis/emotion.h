/* emotion.h - Elpis's emotional state: valence/arousal, events, homeostatic
 * decay, the emotion -> sampling/steering maps, keyword analysis of generated
 * text and the trajectory (velocity, trend, momentum, spiral).
 *
 * Pure logic: no I/O, no global state, no clock. Every function that depends
 * on time takes `now` (wall-clock epoch seconds) so tests control the clock.
 * Not thread-safe: the caller serialises access to one `emotion` (Elpis holds
 * its state lock around every call).
 *
 * Decay form: EXPONENTIAL towards the baseline,
 *     x <- b + (x - b) * exp(-decay_rate * dt)
 * (half-life ln2/decay_rate, 6.9 s at the default 0.1/s). The original's
 * comment said exponential but its code was linear and hit the baseline 10 s
 * after any event. Decay runs lazily whenever the state is read or changed
 * (every function below that takes `now` and a non-const emotion), so reads
 * are never stale, and the result does not depend on how often it is read.
 * Time going backwards (now earlier than the last decay) decays nothing.
 * An offset from the baseline below 0.0005 (half the JSON's 3 dp) snaps to
 * the baseline, so a state that reads as the baseline also has the baseline's
 * quadrant (an exponential towards 0 from below never reaches ">= 0").
 *
 * `last_update` is the time of the last event or reset (the decay clock is
 * kept separately), which is what the original exposed in practice.
 *
 * History/trajectory: one point (t, valence, arousal) per event, after the
 * shift, in a ring of the last history_size points; reset and decay add no
 * point and reset keeps the history (as the original). time_in_quadrant is
 * seconds since the *current* quadrant was entered; a quadrant change caused
 * by decay is dated at the exact moment the decaying value crossed zero.
 *
 * Errors follow the project convention: 0 or a negative errno. */
#ifndef ELPIS_EMOTION_H
#define ELPIS_EMOTION_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define EMOTION_HISTORY_MAX 100 /* upper bound of history_size */

typedef struct emotion_params {
    double baseline_valence;   /* [-1, 1], default 0; also the initial state */
    double baseline_arousal;   /* [-1, 1], default 0 */
    double decay_rate;         /* per second, >= 0, default 0.1 */
    double max_delta;          /* cap on |delta| per event and axis, default 0.5 */
    double steering_strength;  /* [0, 3], default 1.0 */
    double base_temperature;   /* default 0.7 */
    double base_top_p;         /* default 0.9 */
    double trend_threshold;    /* |valence velocity| per minute, default 0.02 */
    double momentum_threshold; /* |valence velocity| per minute, default 0.01 */
    int history_size;          /* [2, EMOTION_HISTORY_MAX], default 20 */
    int velocity_window;       /* points for the slope, default 10 */
    int spiral_window;         /* points inspected for a spiral, default 5 */
    int spiral_min_increases;  /* rising distances in the window (not necessarily in a row), default 3 */
} emotion_params;

/* One history point. */
typedef struct emotion_point {
    double t, valence, arousal;
} emotion_point;

/* The state. Fields are readable by the caller; change them only through the
 * functions below. valence/arousal are as of `decayed_at`. */
typedef struct emotion {
    emotion_params p; /* sanitised copy (see emotion_init) */
    double valence, arousal;
    double decayed_at;                       /* time up to which decay has been applied */
    double last_update;                      /* time of the last event or reset */
    long update_count;                       /* events processed */
    int quadrant;                            /* internal index of the current quadrant */
    double quadrant_since;                   /* when the current quadrant was entered */
    emotion_point hist[EMOTION_HISTORY_MAX]; /* ring buffer */
    int hist_start, hist_len;
} emotion;

/* The trajectory as computed from the history (see emotion_trajectory). The
 * strings are static. */
typedef struct emotion_traj {
    double valence_velocity; /* per minute, least squares, clamped to [-1, 1] */
    double arousal_velocity;
    const char *trend;    /* "oscillating" | "improving" | "declining" | "stable" */
    const char *momentum; /* "positive" | "negative" | "neutral" (valence velocity) */
    int spiral_detected;
    const char *spiral_direction; /* "positive" | "negative" | "escalating" |
                                     "withdrawing", or "none" (as the original) */
    double time_in_quadrant;      /* seconds */
} emotion_traj;

/* Defaults listed above. */
void emotion_default_params(emotion_params *p);

/* Start at the baseline at time `now`. p may be NULL for defaults. Out-of-range
 * parameters are clamped (baselines to [-1,1], rates and thresholds to >= 0,
 * strength to [0,3], windows to what the history can hold). */
void emotion_init(emotion *e, const emotion_params *p, double now);

/* Decay to `now`, then apply event_type with intensity (clamped to [0, 2]);
 * each delta is intensity * table delta capped at +/-max_delta; the result is
 * clamped to [-1, 1]. Unknown types shift by (0, +0.05). Records a history
 * point and bumps update_count. Returns 0, or -EINVAL (nothing changed) for a
 * NULL argument or a NaN intensity. */
int emotion_event(emotion *e, const char *event_type, double intensity, double now);

/* Back to the baseline at `now`; update_count and history are kept. */
void emotion_reset(emotion *e, double now);

/* Homeostatic decay up to `now` (no-op when now <= the last decay). */
void emotion_decay(emotion *e, double now);

/* Decay, then the current values. Either output may be NULL. */
void emotion_get(emotion *e, double now, double *valence, double *arousal);

/* Decay, then temperature = clamp(base_temperature - 0.2*arousal, 0.1, 1.5)
 * and top_p = clamp(base_top_p + 0.1*valence, 0.5, 1.0). Not rounded. */
void emotion_sampling(emotion *e, double now, double *temperature, double *top_p);

/* Decay, then the bilinear quadrant weights {excited, frustrated, calm,
 * depleted} times steering_strength (they sum to steering_strength). */
void emotion_steering(emotion *e, double now, double out[4]);

/* The same maps for given values, without state. */
void emotion_sampling_for(const emotion_params *p, double valence, double arousal, double *temperature, double *top_p);
void emotion_steering_for(double valence, double arousal, double strength, double out[4]);

/* "excited" (a >= 0, v >= 0), "frustrated" (a >= 0, v < 0), "calm" (a < 0,
 * v >= 0) or "depleted" (a < 0, v < 0). Static string. */
const char *emotion_quadrant(double valence, double arousal);

/* Names of the steering coefficients in emotion_steering's order. */
extern const char *const emotion_steering_names[4];

/* Decay, then the trajectory at `now`. */
void emotion_trajectory(emotion *e, double now, emotion_traj *out);

/* Keyword analysis of generated text: the first matching group wins, words
 * match whole and case-insensitively (ASCII letters and digits are word
 * characters). Returns the event type ("success" x0.5, "error" x0.5,
 * "exploration" x0.3, "novelty" x0.2) and stores the multiplier in *intensity
 * (may be NULL), or returns NULL (and leaves *intensity alone) when nothing
 * matches or text is NULL. */
const char *emotion_analyze(const char *text, double *intensity);

/* The table deltas of event_type. Returns 1 when it is in the table, 0 when
 * not (then the unknown-event deltas 0, +0.05 are stored). */
int emotion_event_delta(const char *event_type, double *dvalence, double *darousal);

/* The event names in table order; *n receives the count. Static. */
const char *const *emotion_event_names(size_t *n);

/* Decay, then the emotional_state object:
 *   {valence (3 dp), arousal (3 dp), quadrant, baseline:{valence, arousal},
 *    update_count, last_update (epoch seconds),
 *    steering_coefficients:{excited, frustrated, calm, depleted} (4 dp),
 *    trajectory:{valence_velocity (4 dp), arousal_velocity (4 dp), trend,
 *                momentum, spiral_detected, spiral_direction ("none" when no spiral),
 *                time_in_quadrant (1 dp)}}
 * The caller owns the result (cJSON_Delete). NULL on out of memory. */
cJSON *emotion_to_json(emotion *e, double now);

/* The event table {event: [dvalence, darousal], ...}; caller owns it. NULL on
 * out of memory. */
cJSON *emotion_events_json(void);

#endif
