/* words.c - the word tokenizer and stop list shared by the embedding, the
 * search and the update detection (see words.h). Pure. */
#include "words.h"

#include <string.h>

#include "util.h"

static const char *const stopwords[] = {
    "a",       "about",  "above", "after",      "again",    "against",    "all",     "am",        "an",    "and",
    "any",     "are",    "as",    "at",         "be",       "because",    "been",    "before",    "being", "below",
    "between", "both",   "but",   "by",         "can",      "could",      "did",     "do",        "does",  "doing",
    "down",    "during", "each",  "few",        "for",      "from",       "further", "had",       "has",   "have",
    "having",  "he",     "her",   "here",       "hers",     "herself",    "him",     "himself",   "his",   "how",
    "i",       "if",     "in",    "into",       "is",       "it",         "its",     "itself",    "just",  "me",
    "more",    "most",   "my",    "myself",     "no",       "nor",        "not",     "now",       "of",    "off",
    "on",      "once",   "only",  "or",         "other",    "our",        "ours",    "ourselves", "out",   "over",
    "own",     "same",   "she",   "should",     "so",       "some",       "such",    "than",      "that",  "the",
    "their",   "theirs", "them",  "themselves", "then",     "there",      "these",   "they",      "this",  "those",
    "through", "to",     "too",   "under",      "until",    "up",         "very",    "was",       "we",    "were",
    "what",    "when",   "where", "which",      "while",    "who",        "whom",    "why",       "will",  "with",
    "would",   "you",    "your",  "yours",      "yourself", "yourselves",
};

bool mem_is_stopword(const char *w, size_t n)
{
    size_t lo = 0, hi = sizeof stopwords / sizeof stopwords[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *s = stopwords[mid];
        size_t sl = strlen(s);
        int c = strncmp(w, s, n < sl ? n : sl);
        if (c == 0) c = n < sl ? -1 : n > sl ? 1 : 0;
        if (c == 0) return true;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return false;
}

static bool word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

bool mem_next_word(const char *text, size_t len, size_t *pos, mem_word *w)
{
    size_t i = *pos;
    while (i < len && !word_byte((unsigned char)text[i])) i++;
    size_t start = i;
    while (i < len && word_byte((unsigned char)text[i])) i++;
    *pos = i;
    size_t n = i - start;
    if (!n) return false;
    if (n > MEM_WORD_MAX) n = MEM_WORD_MAX;
    w->capital = text[start] >= 'A' && text[start] <= 'Z';
    for (size_t k = 0; k < n; k++) {
        char c = text[start + k];
        w->text[k] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    n = utf8_complete_prefix(w->text, n); /* a cut in the middle of a character */
    w->text[n] = '\0';
    w->len = n;
    w->stop = !n || mem_is_stopword(w->text, n) || (n == 1 && (unsigned char)w->text[0] < 0x80);
    return true;
}

size_t mem_fold_plural(char *w, size_t n)
{
    if (n > 4 && !memcmp(w + n - 3, "ies", 3)) {
        w[n - 3] = 'y';
        w[n - 2] = '\0';
        return n - 2;
    }
    if (n > 3 && w[n - 1] == 's' && w[n - 2] != 's' && w[n - 2] != 'u' && w[n - 2] != 'i') {
        w[n - 1] = '\0';
        return n - 1;
    }
    return n;
}

bool mem_words_match(const char *a, size_t an, const char *b, size_t bn)
{
    if (an == bn) return !memcmp(a, b, an);
    size_t sn = an < bn ? an : bn, ln = an < bn ? bn : an;
    return sn >= 4 && ln - sn <= 3 && !memcmp(a, b, sn);
}
