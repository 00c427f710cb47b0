/* mnemosyne_recall.c - retrieval quality on a synthetic long-term-memory
 * haystack in the style of LongMemEval, scored without any LLM.
 *
 *   build/bench/mnemosyne_recall [--seed S] [--people N] [--filler N] [--model GGUF] [--candidates M]
 *                                [--length-weight W]
 *
 * A seeded generator invents people and facts about them (job, city, pet,
 * hobby, food, instrument, car, sibling). Each fact is planted in an
 * "evidence session" (the statement between two lines of chatter, worded
 * differently from the question) among filler sessions that mention the
 * same people in other contexts (distractors). Questions:
 *   single   - one fact, one evidence memory;
 *   multi    - a fact of two people (two evidence memories, different sessions);
 *   update   - a fact that changed: the old statement months ago, the new one
 *              recently; only the new one is evidence (and we count how often
 *              the outdated one is ranked above it);
 *   abstain  - a fact never stated; no evidence. We report the mean top-1
 *              score, which should be lower than for answerable questions.
 * recall@k = evidence memories in the top k / evidence memories, averaged
 * over questions. Methods: BM25 only, vector only, hybrid (RRF), hybrid +
 * quality (the default), hybrid + quality without the length factor.
 *
 * A second haystack (short_facts_bench) measures what issue 9 asked: short
 * one-line facts among longer chatter, asked directly, paraphrased, and
 * knowledge updates stored seconds apart. */
#include <math.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../mnemosyne/store.h"
#include "log.h"
#include "util.h"

static uint64_t rs = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return rs;
}
static int ri(int n) { return (int)(rnd() % (uint64_t)n); }
static double ru(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }
#define PICK(a) (a)[ri((int)(sizeof(a) / sizeof((a)[0])))]
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *firsts[] = {"Marta", "Tomas", "Ines",  "Oskar",   "Leila", "Bruno", "Hana",  "Felix", "Greta",
                               "Ravi",  "Sofia", "Jonas", "Amara",   "Pavel", "Yuki",  "Elena", "Diego", "Nora",
                               "Karim", "Lucia", "Mateo", "Freya",   "Idris", "Olga",  "Sami",  "Vera",  "Hugo",
                               "Alma",  "Emil",  "Zara",  "Nikolai", "Talia", "Anton", "Mira",  "Cyrus", "Lena"};
static const char *lasts[] = {"Quist",     "Berg",     "Moreau",  "Okafor", "Lindqvist", "Castell",
                              "Novak",     "Tanaka",   "Reyes",   "Haddad", "Kowalski",  "Ferreira",
                              "Nakamura",  "Olsen",    "Duarte",  "Varga",  "Brennan",   "Ishikawa",
                              "Marchetti", "Sorensen", "Adeyemi", "Petrov", "Laine"};

typedef struct attr {
    const char *name;
    const char *values[16];
    const char *say[3];   /* statements: %1$s person, %2$s value */
    const char *ask[3];   /* questions: %1$s person; some share a word with a statement, some do not */
    const char *decoy[3]; /* filler on the same subject that states no fact: %1$s person, %2$s a value */
} attr;

static const attr attrs[] = {
    {"job",
     {"veterinarian", "pharmacist", "architect", "carpenter", "translator", "nurse", "pilot", "librarian", "geologist",
      "chef", "electrician", "journalist", "dentist", "sculptor", "accountant", NULL},
     {"%1$s told me about starting work as a %2$s last month.",
      "Catching up with %1$s: the new job as a %2$s means long shifts.",
      "%1$s finally got hired as a %2$s after the interviews."},
     {"What work does %1$s do?", "What is %1$s's job?", "What does %1$s do for a living?"},
     {"%1$s complained that work email never stops, even on holiday.",
      "%1$s forwarded me a job posting for a %2$s; not interested.", "%1$s asked if I knew a good %2$s in town."}},
    {"city",
     {"Lisbon", "Porto", "Tallinn", "Krakow", "Ghent", "Bergen", "Valencia", "Turku", "Ljubljana", "Bologna", "Graz",
      "Aarhus", "Leeds", "Lyon", "Gdansk", NULL},
     {"%1$s lives in %2$s now, in a flat near the old harbour.", "%1$s moved to %2$s and loves the neighbourhood.",
      "%1$s has settled down in %2$s for good."},
     {"Where does %1$s live?", "Which city did %1$s move to?", "Where is %1$s based these days?"},
     {"%1$s spent a weekend in %2$s for a friend's wedding.", "%1$s says the trains to %2$s are always late.",
      "%1$s lives for football on Sundays, apparently."}},
    {"pet",
     {"a beagle named Pickle", "a grey cat called Mochi", "a parrot named Kiwi", "two rabbits",
      "a tortoise named Atlas", "a husky called Juno", "a hamster named Biscuit", "an old tabby called Sergeant", NULL},
     {"%1$s adopted %2$s from the shelter.", "%1$s has a new pet: %2$s.", "%1$s got %2$s for the kids."},
     {"What pet does %1$s have?", "Which animal did %1$s adopt?", "Does %1$s have any animals at home?"},
     {"%1$s is allergic to the neighbour's pet, sadly.", "%1$s watched a documentary about %2$s.",
      "%1$s volunteered at the animal shelter on Saturday."}},
    {"hobby",
     {"bouldering", "pottery", "birdwatching", "sailing", "chess", "beekeeping", "salsa dancing", "woodworking",
      "astrophotography", "fencing", "kayaking", "calligraphy", NULL},
     {"%1$s has been really into %2$s lately, every weekend.", "%1$s took up %2$s as a new hobby this spring.",
      "%1$s spends Saturdays at a %2$s club."},
     {"What hobby has %1$s taken up?", "How does %1$s spend weekends?", "What is %1$s into lately?"},
     {"%1$s thinks %2$s looks boring, honestly.", "%1$s needs a new hobby, all that work is too much.",
      "%1$s skipped the weekend plans because of a cold."}},
    {"food",
     {"ramen", "pierogi", "falafel", "paella", "dumplings", "ceviche", "moussaka", "bibimbap", "risotto", "tagine",
      NULL},
     {"%1$s's favourite dish is %2$s, ordered everywhere.", "%1$s could eat %2$s every single day.",
      "For %1$s nothing beats a good plate of %2$s."},
     {"What is %1$s's favourite food?", "Which dish does %1$s love most?", "What does %1$s like to eat?"},
     {"%1$s tried %2$s once and did not like it.", "%1$s is on a diet and skips dessert.",
      "%1$s recommended a restaurant but I forgot the dish."}},
    {"instrument",
     {"cello", "banjo", "trumpet", "harp", "accordion", "drums", "ukulele", "oboe", "violin", NULL},
     {"%1$s is learning to play the %2$s.", "%1$s practises the %2$s every evening, the neighbours complain.",
      "%1$s joined an amateur orchestra on the %2$s."},
     {"Which instrument is %1$s learning?", "What does %1$s play?", "What music does %1$s practise?"},
     {"%1$s went to a concert with a famous %2$s player.", "%1$s says learning an instrument takes too long.",
      "%1$s's kid plays in the school orchestra."}},
    {"car",
     {"a red Volvo estate", "an old Fiat Panda", "a green Land Rover", "an electric Renault Zoe",
      "a blue Skoda Octavia", "a vintage Citroen 2CV", NULL},
     {"%1$s bought %2$s second-hand.", "%1$s drives %2$s to work now.", "%1$s finally replaced the old car with %2$s."},
     {"What car does %1$s drive?", "Which car did %1$s buy?", "What does %1$s drive these days?"},
     {"%1$s's car broke down on the motorway again.", "%1$s saw %2$s in an advert and laughed.",
      "%1$s cycles everywhere and hates driving."}},
};
#define NATTR COUNT(attrs)

static const char *chatter[] = {
    "We talked for a while about the weather, which has been grey all week.",
    "The conversation drifted to weekend plans and train delays.",
    "I mentioned I still have not fixed the kitchen tap.",
    "We agreed to meet again after the holidays.",
    "Someone brought up the new season of that detective series.",
    "There was a long detour about tax forms and deadlines.",
    "We laughed about the office coffee machine breaking again.",
    "Then we compared notes on running shoes.",
};

static const char *topics[] = {
    "the quarterly budget", "a podcast on ancient Rome",  "the heat pump",         "tax returns",
    "a board game night",   "the marathon training plan", "the school fundraiser", "a broken laptop hinge",
    "garden compost",       "the team offsite",           "a film festival"};

typedef struct fact {
    int person, attr, value;
} fact;

typedef struct question {
    int type; /* 0 single, 1 multi, 2 update, 3 abstain */
    char text[256];
    int evidence[2];
    int n_evidence;
    int outdated; /* update: the old statement's memory, else -1 */
} question;

typedef struct hay {
    mem_record *recs;
    int n, cap;
} hay;

static double NOW;

static int add_mem(hay *h, const char *content, double age_days, const char *type)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 1024;
        h->recs = realloc(h->recs, (size_t)h->cap * sizeof *h->recs);
    }
    mem_record *r = &h->recs[h->n];
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "m-%06d", h->n);
    r->content = strdup(content);
    r->summary = strdup("");
    snprintf(r->memory_type, sizeof r->memory_type, "%s", type);
    snprintf(r->source, sizeof r->source, "user");
    snprintf(r->trust, sizeof r->trust, "high");
    r->created_at = r->last_accessed = NOW - age_days * 86400.0;
    r->importance = 0.5;
    r->tags = strdup("[]");
    r->metadata = strdup("{}");
    r->lineage = strdup("[]");
    return h->n++;
}

static void person_name(int p, char *out, size_t n)
{
    snprintf(out, n, "%s %s", firsts[p % COUNT(firsts)], lasts[(p * 7 + p / COUNT(firsts)) % COUNT(lasts)]);
}

static int nvalues(int a)
{
    int n = 0;
    while (attrs[a].values[n]) n++;
    return n;
}

/* "[session] chatter. statement chatter." */
static int plant(hay *h, int person, int a, int v, double age)
{
    char name[64], stmt[256], content[768];
    person_name(person, name, sizeof name);
    snprintf(stmt, sizeof stmt, attrs[a].say[ri(3)], name, attrs[a].values[v]);
    snprintf(content, sizeof content, "%s %s %s", PICK(chatter), stmt, PICK(chatter));
    return add_mem(h, content, age, ri(4) ? "episodic" : "semantic");
}

/* Filler sessions have the shape and length of evidence sessions: chatter,
 * one core sentence, chatter. Half are decoys about the same subjects. */
static void filler(hay *h, int npeople)
{
    char name[64], core[512], content[1024];
    person_name(ri(npeople), name, sizeof name);
    int a = ri(NATTR), v = ri(nvalues(a));
    switch (ri(4)) {
    case 0:
    case 1: snprintf(core, sizeof core, attrs[a].decoy[ri(3)], name, attrs[a].values[v]); break;
    case 2: snprintf(core, sizeof core, "Had a long call with %s about %s.", name, PICK(topics)); break;
    default: snprintf(core, sizeof core, "Reminder: send %s the slides about %s before Friday.", name, PICK(topics));
    }
    snprintf(content, sizeof content, "%s %s %s", PICK(chatter), core, PICK(chatter));
    add_mem(h, content, ru() * 180, ri(4) ? "episodic" : "semantic");
}

/* ------------------------------------------------ short facts among chatter */

/* One-line facts of 25-45 characters about people, among chatter of 250-350
 * characters that mentions the same people and subjects without stating a
 * fact. Stored one by one with mem_store_add (as an agent does), so the
 * knowledge-update detection runs. Three categories of questions:
 *   direct     - worded with the fact's words ("What is Ana Quist's cat called?");
 *   paraphrase - other words ("Which name did Ana Quist give the kitten?");
 *   update     - a fact restated with a new value 5 seconds later; the new
 *                one must rank above the old one. */
typedef struct sfact {
    const char *say, *update, *direct, *para;
    const char *values[8];
} sfact;

static const sfact sfacts[] = {
    {"%s's cat is called %s.",
     "%s's cat is now called %s.",
     "What is %s's cat called?",
     "Which name did %s give the kitten?",
     {"Miso", "Pickle", "Juno", "Atlas", "Biscuit", "Mochi", "Tom", "Kiwi"}},
    {"%s works as a %s.",
     "%s now works as a %s.",
     "What does %s work as?",
     "What is %s's profession?",
     {"nurse", "pilot", "carpenter", "beekeeper", "translator", "chef", "dentist", "geologist"}},
    {"%s lives in %s.",
     "%s now lives in %s.",
     "Where does %s live?",
     "Which town is %s's home?",
     {"Porto", "Graz", "Lisbon", "Tallinn", "Ghent", "Bergen", "Turku", "Leeds"}},
    {"%s likes %s.",
     "%s now likes %s.",
     "What does %s like to drink?",
     "What is %s's favourite beverage?",
     {"green tea", "black coffee", "mint tea", "hot cocoa", "oolong", "espresso", "chai", "lemonade"}},
    {"%s plays the %s.",
     "%s now plays the %s.",
     "What does %s play?",
     "Which instrument is %s learning?",
     {"cello", "banjo", "trumpet", "harp", "drums", "oboe", "violin", "ukulele"}},
};
#define NSFACT COUNT(sfacts)

static const char *schat[] = {
    "%s and I talked for an hour about cats and whether they like living in small flats; the conversation "
    "drifted to the weather, the train strike and the new bakery on the corner, and we agreed to meet again "
    "next week when the weather is better.",
    "Long call with %s about work: deadlines, the quarterly review, who works on which part of the migration "
    "and why the staging server keeps running out of disk space. Nothing was decided and we will talk again.",
    "%s described the city where a cousin lives, the old harbour, the markets and the rent, and asked whether "
    "moving there would be a good idea; we spent a while comparing trains, flights and the cost of living.",
    "Over lunch %s and I compared what we like to drink in the morning, tea or coffee, and laughed about the "
    "office machine that broke again; then we talked about sleep, running and the dentist appointment.",
    "%s went to a concert where someone played an instrument nobody could name; we talked about music lessons, "
    "how long it takes to learn to play anything well, and the school orchestra's fundraiser.",
};

typedef struct sq {
    int cat; /* 0 direct, 1 paraphrase, 2 update */
    char text[160];
    int evidence, outdated;
} sq;

static int add_now(mem_store *st, const char *content, double t, char ids[][MEM_ID_LEN], int n)
{
    mem_store_set_time(st, t);
    mem_new m;
    memset(&m, 0, sizeof m);
    m.content = content;
    mem_record r;
    if (mem_store_add(st, &m, &r)) {
        fprintf(stderr, "store: %s\n", mem_store_errmsg(st));
        exit(1);
    }
    snprintf(ids[n], MEM_ID_LEN, "%s", r.id);
    mem_record_clear(&r);
    return n;
}

/* Builds the haystack in st; returns the questions (malloc'd) and the memory ids. */
static sq *short_facts_build(mem_store *st, int npeople, int nchat, char (**ids)[MEM_ID_LEN], int *nq)
{
    int cap = npeople * 2 + nchat + 16, n = 0;
    *ids = calloc((size_t)cap, MEM_ID_LEN);
    sq *qs = calloc((size_t)npeople * 3 + 1, sizeof *qs);
    char name[64], text[512];
    *nq = 0;
    for (int p = 0; p < npeople; p++) {
        person_name(p, name, sizeof name);
        const sfact *f = &sfacts[p % NSFACT];
        int v = ri(8), v2 = (v + 1 + ri(7)) % 8;
        double t = NOW - ru() * 30 * 86400.0;
        snprintf(text, sizeof text, f->say, name, f->values[v]);
        int e = add_now(st, text, t, *ids, n++), e2 = -1;
        if (p % 4 == 0) { /* a knowledge update five seconds later */
            snprintf(text, sizeof text, f->update, name, f->values[v2]);
            e2 = add_now(st, text, t + 5, *ids, n++);
            sq *q = &qs[(*nq)++];
            q->cat = 2, q->evidence = e2, q->outdated = e;
            snprintf(q->text, sizeof q->text, f->direct, name);
            continue;
        }
        for (int c = 0; c < 2; c++) {
            sq *q = &qs[(*nq)++];
            q->cat = c, q->evidence = e, q->outdated = -1;
            snprintf(q->text, sizeof q->text, c ? f->para : f->direct, name);
        }
    }
    for (int i = 0; i < nchat; i++) {
        person_name(ri(npeople), name, sizeof name);
        snprintf(text, sizeof text, schat[ri(COUNT(schat))], name);
        add_now(st, text, NOW - ru() * 30 * 86400.0, *ids, n++);
    }
    mem_store_set_time(st, NOW);
    return qs;
}

/* Recall@5 per category and updates ranked first, per method. */
static void short_facts_report(mem_store *st, const sq *qs, int nq, char (*ids)[MEM_ID_LEN])
{
    static const struct {
        const char *name;
        bool bm25, vec;
        int quality;
    } m[] = {{"BM25 only", true, false, 0},
             {"vector only", false, true, 0},
             {"hybrid (RRF)", true, true, 0},
             {"hybrid + quality (the default)", true, true, 1}};
    printf("\n| method | R@5 direct | R@5 paraphrase | R@5 update (new) | update: new ranked above old | new ranked "
           "1st |\n");
    printf("|---|---|---|---|---|---|\n");
    for (int mi = 0; mi < COUNT(m); mi++) {
        int hit[3] = {0}, tot[3] = {0}, above = 0, first = 0;
        for (int i = 0; i < nq; i++) {
            mem_query q;
            mem_query_default(&q);
            q.text = qs[i].text, q.n_results = 10, q.use_bm25 = m[mi].bm25, q.use_vector = m[mi].vec;
            q.quality = m[mi].quality, q.touch = false;
            mem_record *res;
            size_t n;
            if (mem_store_search(st, &q, &res, &n)) exit(1);
            int pn = 99, po = 99;
            for (size_t k = 0; k < n; k++) {
                if (!strcmp(res[k].id, ids[qs[i].evidence])) pn = (int)k;
                if (qs[i].outdated >= 0 && !strcmp(res[k].id, ids[qs[i].outdated])) po = (int)k;
            }
            tot[qs[i].cat]++;
            hit[qs[i].cat] += pn < 5;
            if (qs[i].cat == 2) above += pn < po, first += pn == 0;
            mem_records_free(res, n);
        }
        printf("| %s | %.3f | %.3f | %.3f | %d/%d | %d/%d |\n", m[mi].name, (double)hit[0] / tot[0],
               (double)hit[1] / tot[1], (double)hit[2] / tot[2], above, tot[2], first, tot[2]);
    }
}

static int short_facts_bench(const char *dir, const char *model, double length_weight, int npeople, int nchat)
{
    char path[160], err[1024];
    snprintf(path, sizeof path, "%s/short.db", dir);
    mem_store_params sp;
    mem_store_default_params(&sp);
    sp.path = path;
    sp.synchronous_full = false;
    sp.embed.model_path = model;
    if (length_weight >= 0) sp.retrieval.length_weight = length_weight;
    mem_store *st;
    if (mem_store_open(&sp, &st, err, sizeof err)) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    char(*ids)[MEM_ID_LEN];
    int nq;
    sq *qs = short_facts_build(st, npeople, nchat, &ids, &nq);
    printf(
        "\nshort facts: %d people (one fact each, every 4th restated 5 s later), %d chatter memories, %d questions\n",
        npeople, nchat, nq);
    short_facts_report(st, qs, nq, ids);
    mem_store_close(st);
    free(ids);
    free(qs);
    return 0;
}

typedef struct method {
    const char *name;
    bool bm25, vec;
    int quality;
    int store; /* 0 default store, 1 the store without the length factor */
} method;

typedef struct recall_opts {
    int npeople, nfiller, mult; /* mult: candidate multiplier, 0 = the store's */
    double length_weight;       /* < 0: the store's */
    const char *model;          /* embedding GGUF, NULL = hashed n-grams */
} recall_opts;

/* Reads the flags into *o (and the seed into rs). 0, or 2 after the usage. */
static int parse_args(int argc, char **argv, recall_opts *o)
{
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL; /* every flag takes a value */
        long long seed;
        int bad = -EINVAL;
        if (!strcmp(a, "--seed") && !(bad = parse_ll(v, 0, LLONG_MAX, &seed)))
            rs = ((unsigned long long)seed + 1) * 0x9E3779B97F4A7C15ULL | 1;
        else if (!strcmp(a, "--people")) bad = parse_int(v, 1, 100000, &o->npeople);
        else if (!strcmp(a, "--filler")) bad = parse_int(v, 0, INT_MAX, &o->nfiller);
        else if (!strcmp(a, "--model") && v) o->model = v, bad = 0;
        else if (!strcmp(a, "--candidates")) bad = parse_int(v, 0, 1000, &o->mult);
        else if (!strcmp(a, "--length-weight")) bad = parse_double(v, &o->length_weight);
        if (bad) {
            fprintf(stderr, "mnemosyne_recall: bad argument '%s'\n", argv[i]);
            fprintf(stderr,
                    "usage: mnemosyne_recall [--seed S] [--people N] [--filler N] [--model GGUF] [--candidates M] "
                    "[--length-weight W]\n");
            return 2;
        }
    }
    return 0;
}

/* The question (if any) about attribute a of person p, appended at qs[*nq].
 * value/evid: what was stated of each person's attributes (-1: nothing). */
static void ask(hay *h, question *qs, int *nq, const int *value, const int *evid, int npeople, int p, int a)
{
    char n1[64], n2[64];
    person_name(p, n1, sizeof n1);
    question *q = &qs[*nq];
    int e = evid[p * NATTR + a];
    q->outdated = -1;
    if (e < 0) { /* abstention: never stated */
        if (ri(3)) return;
        q->type = 3;
        snprintf(q->text, sizeof q->text, attrs[a].ask[ri(3)], n1);
        (*nq)++;
        return;
    }
    int r = ri(10);
    if (r < 6) { /* single */
        q->type = 0;
        snprintf(q->text, sizeof q->text, attrs[a].ask[ri(3)], n1);
        q->evidence[0] = e;
        q->n_evidence = 1;
    } else if (r < 8) { /* knowledge update: a newer statement supersedes the planted one */
        int nv = (value[p * NATTR + a] + 1 + ri(nvalues(a) - 1)) % nvalues(a);
        h->recs[e].created_at = h->recs[e].last_accessed = NOW - (90 + ru() * 90) * 86400.0;
        int e2 = plant(h, p, a, nv, 1 + ru() * 20);
        q->type = 2;
        snprintf(q->text, sizeof q->text, attrs[a].ask[ri(3)], n1);
        q->evidence[0] = e2;
        q->n_evidence = 1;
        q->outdated = e;
    } else { /* multi-session: the same fact of two people */
        int p2 = ri(npeople);
        int e2 = p2 != p ? evid[p2 * NATTR + a] : -1;
        if (e2 < 0) return;
        person_name(p2, n2, sizeof n2);
        char both[160];
        snprintf(both, sizeof both, "%s and %s", n1, n2);
        q->type = 1;
        snprintf(q->text, sizeof q->text, attrs[a].ask[ri(3)], both);
        q->evidence[0] = e;
        q->evidence[1] = e2;
        q->n_evidence = 2;
    }
    (*nq)++;
}

/* The haystack in *h and the questions about it (malloc'd, *nq of them). */
static question *build(hay *h, const recall_opts *o, int *nq)
{
    int np = o->npeople;
    question *qs = calloc((size_t)np * NATTR + 16, sizeof *qs);
    /* each person: a random subset of attributes is stated, the rest are abstention material */
    int *value = malloc(sizeof(int) * (size_t)np * NATTR);
    int *evid = malloc(sizeof(int) * (size_t)np * NATTR);
    if (!qs || !value || !evid) {
        fprintf(stderr, "mnemosyne_recall: out of memory\n");
        exit(1);
    }
    for (int p = 0; p < np; p++) {
        for (int a = 0; a < NATTR; a++) {
            value[p * NATTR + a] = -1;
            evid[p * NATTR + a] = -1;
            if (ri(100) < 55) {
                value[p * NATTR + a] = ri(nvalues(a));
                evid[p * NATTR + a] = plant(h, p, a, value[p * NATTR + a], ru() * 180);
            }
        }
    }
    for (int i = 0; i < o->nfiller; i++) filler(h, np);
    *nq = 0;
    for (int p = 0; p < np; p++)
        for (int a = 0; a < NATTR; a++) ask(h, qs, nq, value, evid, np, p, a);
    free(value);
    free(evid);
    return qs;
}

/* st[0] holds the haystack under dir; st[1] is the same file without the length factor. 0 or 1 (reported). */
static int open_stores(const char *dir, const recall_opts *o, hay *h, mem_store *st[2])
{
    char path[128], err[1024];
    snprintf(path, sizeof path, "%s/recall.db", dir);
    mem_store_params sp;
    mem_store_default_params(&sp);
    sp.path = path;
    sp.synchronous_full = false;
    sp.embed.model_path = o->model;
    if (o->mult > 0) sp.retrieval.candidate_multiplier = o->mult;
    if (o->length_weight >= 0) sp.retrieval.length_weight = o->length_weight;
    if (mem_store_open(&sp, &st[0], err, sizeof err)) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    size_t imp, skip;
    if (mem_store_import(st[0], h->recs, (size_t)h->n, true, &imp, &skip)) {
        fprintf(stderr, "import: %s\n", mem_store_errmsg(st[0]));
        return 1;
    }
    sp.retrieval.length_factor = false; /* length factor 1 for every memory */
    if (mem_store_open(&sp, &st[1], err, sizeof err)) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    for (int i = 0; i < 2; i++) mem_store_set_time(st[i], NOW);
    return 0;
}

/* One method's sums over the questions. */
typedef struct tally {
    double r5[4], r10[4], top_ans, top_abs;
    int stale_first, n_ans;
} tally;

/* Scores the results res[0..n) of question q into t. */
static void score(const hay *h, const question *q, const mem_record *res, size_t n, tally *t)
{
    double top = n ? res[0].relevance : 0;
    if (q->type == 3) {
        t->top_abs += top;
        return;
    }
    t->top_ans += top;
    t->n_ans++;
    int f5 = 0, f10 = 0, pos_new = 99, pos_old = 99;
    for (size_t k = 0; k < n; k++) {
        for (int e = 0; e < q->n_evidence; e++)
            if (!strcmp(res[k].id, h->recs[q->evidence[e]].id)) {
                f10++;
                f5 += k < 5;
                if (e == 0) pos_new = (int)k;
            }
        if (q->outdated >= 0 && !strcmp(res[k].id, h->recs[q->outdated].id)) pos_old = (int)k;
    }
    t->r5[q->type] += (double)f5 / q->n_evidence;
    t->r10[q->type] += (double)f10 / q->n_evidence;
    if (q->type == 2 && pos_old < pos_new) t->stale_first++;
}

/* Asks every question with method m and prints its row. 0 or 1 (reported). */
static int run_method(const method *m, mem_store *const st[2], const hay *h, const question *qs, int nq,
                      const int per_type[4])
{
    tally t = {0};
    for (int i = 0; i < nq; i++) {
        mem_query mq;
        mem_query_default(&mq);
        mq.text = qs[i].text;
        mq.n_results = 10;
        mq.use_bm25 = m->bm25;
        mq.use_vector = m->vec;
        mq.quality = m->quality;
        mq.touch = false;
        mem_record *res;
        size_t n;
        if (mem_store_search(st[m->store], &mq, &res, &n)) {
            fprintf(stderr, "search: %s\n", mem_store_errmsg(st[m->store]));
            return 1;
        }
        score(h, &qs[i], res, n, &t);
        mem_records_free(res, n);
    }
    double all5 = (t.r5[0] + t.r5[1] + t.r5[2]) / t.n_ans, all10 = (t.r10[0] + t.r10[1] + t.r10[2]) / t.n_ans;
    printf("| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %d/%d | %.3f / %.3f |\n", m->name, all5, all10,
           t.r5[0] / per_type[0], per_type[1] ? t.r5[1] / per_type[1] : 0, per_type[2] ? t.r5[2] / per_type[2] : 0,
           t.stale_first, per_type[2], t.top_ans / t.n_ans, per_type[3] ? t.top_abs / per_type[3] : 0);
    return 0;
}

int main(int argc, char **argv)
{
    recall_opts o = {.npeople = 60, .nfiller = 6000, .length_weight = -1};
    if (parse_args(argc, argv, &o)) return 2;
    log_init("recall", LOG_WARN, NULL);
    NOW = 1800000000.0;
    hay h = {0};
    int nq;
    question *qs = build(&h, &o, &nq);
    char dir[] = "/tmp/mnemosyne-recall-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    mem_store *st[2];
    if (open_stores(dir, &o, &h, st)) return 1;
    static const method methods[] = {
        {"BM25 only", true, false, 0, 0},
        {"vector only", false, true, 0, 0},
        {"hybrid (RRF)", true, true, 0, 0},
        {"hybrid + quality", true, true, 1, 0},
        {"hybrid + quality, no length factor", true, true, 1, 1},
    };
    int per_type[4] = {0};
    for (int i = 0; i < nq; i++) per_type[qs[i].type]++;
    printf("mnemosyne_recall: %d memories (%d people, %d filler), %d questions (single %d, multi %d, update %d, "
           "abstain %d), embedding %s\n\n",
           h.n, o.npeople, o.nfiller, nq, per_type[0], per_type[1], per_type[2], per_type[3],
           mem_embedder_name(mem_store_embedder(st[0])));
    printf("| method | R@5 all | R@10 all | R@5 single | R@5 multi | R@5 update | outdated above new | top-1 score "
           "answerable / abstain |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    for (int mi = 0; mi < COUNT(methods); mi++)
        if (run_method(&methods[mi], st, &h, qs, nq, per_type)) return 1;
    for (int i = 0; i < 2; i++) mem_store_close(st[i]);
    if (short_facts_bench(dir, o.model, o.length_weight, 80, 1200)) return 1;
    for (int i = 0; i < h.n; i++) mem_record_clear(&h.recs[i]);
    free(h.recs);
    free(qs);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
