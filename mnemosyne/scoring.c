/* scoring.c - the pure formulas of Mnemosyne (see scoring.h). No I/O. */
#include "scoring.h"

#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

void mem_retrieval_default_params(mem_retrieval_params *p)
{
    p->vector_weight = 0.5;
    p->bm25_weight = 0.5;
    p->rrf_k = 60.0;
    p->candidate_multiplier = 2;
    p->min_vector_similarity = 0.0;
    p->bm25_max_rows = 2000;
    p->quality = true;
    p->relevance_weight = 0.5;
    p->recency_weight = 0.3;
    p->importance_weight = 0.2;
    p->recency_decay_rate = 0.995;
    p->max_recency_hours = 720.0;
    p->max_content_length = 500.0;
    p->length_factor = true;
    p->length_weight = 0.0;
    p->superseded_factor = 0.5;
    p->update_similarity = 0.25;
    p->semantic_type_factor = 1.2;
    p->assistant_role_factor = 1.1;
    p->user_role_factor = 0.9;
    p->emotion_weight = 0.3;
    p->angular_similarity = false;
    p->default_n_results = 10;
    p->context_results = 20;
}

static double clamp(double x, double lo, double hi)
{
    if (!(x >= lo)) return lo; /* NaN goes low */
    return x > hi ? hi : x;
}

double mem_salience(bool has_emotion, double valence, double arousal)
{
    if (!has_emotion) return 0.5;
    double v = fabs(clamp(valence, -1, 1)), a = fabs(clamp(arousal, -1, 1));
    return 0.7 * (a + 1.0) / 2.0 + 0.3 * (v + 1.0) / 2.0;
}

double mem_importance_recency(double age_days)
{
    if (!(age_days > 0)) return 1.0;
    double r = 1.0 - floor(age_days) / 365.0;
    return r > 0 ? r : 0.0;
}

double mem_access_factor(int64_t access_count)
{
    if (access_count <= 0) return 0.0;
    double f = (double)access_count / 10.0;
    return f < 1.0 ? f : 1.0;
}

double mem_importance(double salience, double age_days, int64_t access_count)
{
    return 0.4 * salience + 0.3 * mem_importance_recency(age_days) + 0.3 * mem_access_factor(access_count);
}

double mem_quality_recency(double age_hours, double decay, double max_hours)
{
    if (!(decay > 0 && decay <= 1)) decay = 0.5;
    double h = age_hours > 0 ? age_hours : 0;
    if (max_hours >= 0 && h > max_hours) h = max_hours;
    return pow(decay, h);
}

double mem_length_factor(size_t chars, double max_len)
{
    if (!(max_len > 0)) return 1.0;
    double c = (double)chars;
    return (c < max_len ? c : max_len) / max_len;
}

double mem_length_preference(size_t chars, double max_len, double weight)
{
    return 1.0 - clamp(weight, 0, 1) * (1.0 - mem_length_factor(chars, max_len));
}

double mem_match_strength(double cosine, double match, bool use_vector, double wv, bool use_bm25, double wb)
{
    double num = 0, den = 0;
    if (use_vector) num += wv * clamp(cosine, 0, 1), den += wv;
    if (use_bm25) num += wb * clamp(match, 0, 1), den += wb;
    return den > 0 ? num / den : 0.0;
}

double mem_match_focus(size_t hits, size_t words)
{
    if (!words) return 1.0;
    double share = (double)(hits < words ? hits : words) / (double)words;
    return 0.5 + 0.5 * share;
}

double mem_rrf_term(double weight, int rank, double k)
{
    if (rank < 1) return 0.0;
    return weight / (k + (double)rank);
}

double mem_rrf_normalise(double fused, double max_possible)
{
    if (!(max_possible > 0)) return 0.0;
    return clamp(fused / max_possible, 0.0, 1.0);
}

mem_role mem_role_of(const char *tags_json, const char *source)
{
    mem_role role = MEM_ROLE_NONE;
    if (tags_json && (strstr(tags_json, "\"assistant\"") || strstr(tags_json, "\"user\""))) {
        cJSON *t = cJSON_Parse(tags_json);
        const cJSON *it;
        cJSON_ArrayForEach(it, t)
        {
            if (!cJSON_IsString(it)) continue;
            if (!strcmp(it->valuestring, "assistant")) role = MEM_ROLE_ASSISTANT;
            if (!strcmp(it->valuestring, "user") && role == MEM_ROLE_NONE) role = MEM_ROLE_USER;
        }
        cJSON_Delete(t);
    }
    if (role != MEM_ROLE_NONE || !source) return role;
    if (!strcmp(source, "assistant")) return MEM_ROLE_ASSISTANT;
    if (!strcmp(source, "user")) return MEM_ROLE_USER;
    return MEM_ROLE_NONE;
}

double mem_quality_factors(const mem_retrieval_params *p, size_t chars, bool semantic, mem_role role, mem_factors *f)
{
    mem_factors x = {.length =
                         p->length_factor ? mem_length_preference(chars, p->max_content_length, p->length_weight) : 1.0,
                     .type = semantic ? p->semantic_type_factor : 1.0,
                     .role = role == MEM_ROLE_ASSISTANT ? p->assistant_role_factor
                             : role == MEM_ROLE_USER    ? p->user_role_factor
                                                        : 1.0};
    if (f) *f = x;
    double all = x.length * x.type * x.role;
    return all < 2.0 ? all : 2.0;
}

double mem_quality(const mem_retrieval_params *p, double relevance, double age_hours, double importance, size_t chars,
                   bool semantic, mem_role role)
{
    double wr = p->relevance_weight, wc = p->recency_weight, wi = p->importance_weight;
    double sum = wr + wc + wi;
    if (!(sum > 0)) wr = 1, wc = 0, wi = 0, sum = 1;
    double rec = mem_quality_recency(age_hours, p->recency_decay_rate, p->max_recency_hours);
    /* relevance gates the rest: recency and importance order memories that match alike, they cannot lift
       one that does not match above one that does (a month-old exact fact above yesterday's chatter) */
    double base = clamp(relevance, 0, 1) * (wr + wc * rec + wi * clamp(importance, 0, 1)) / sum;
    double q = base * mem_quality_factors(p, chars, semantic, role, NULL);
    return q < 1.0 ? q : 1.0;
}

double mem_mood_similarity(bool has_a, double va, double aa, bool has_b, double vb, double ab, bool angular)
{
    if (!has_a || !has_b) return 0.5;
    if (angular) {
        double na = sqrt(va * va + aa * aa), nb = sqrt(vb * vb + ab * ab);
        if (na < 1e-6 || nb < 1e-6) return 0.5;
        double cs = (va * vb + aa * ab) / (na * nb);
        return (clamp(cs, -1, 1) + 1.0) / 2.0;
    }
    double d = sqrt((va - vb) * (va - vb) + (aa - ab) * (aa - ab));
    double s = 1.0 - d / 2.83;
    return s > 0 ? s : 0.0;
}

double mem_mood_rerank(double score, double similarity, double w)
{
    w = clamp(w, 0, 1);
    return (1.0 - w) * score + w * similarity;
}

const char *mem_quadrant(double valence, double arousal)
{
    if (arousal >= 0) return valence >= 0 ? "excited" : "frustrated";
    return valence >= 0 ? "calm" : "depleted";
}
