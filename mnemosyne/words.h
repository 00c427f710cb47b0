/* words.h - the one word tokenizer of Mnemosyne, shared by the hashed
 * embedding (embed.c), the BM25 query builder and the match strength of the
 * search (search.c), and the subject test of knowledge updates (updates.c).
 *
 * A word is a run of ASCII letters and digits and of any byte >= 0x80 (so
 * UTF-8 letters stay inside words), lower-cased in ASCII, cut at
 * MEM_WORD_MAX bytes on a character boundary. Pure, no allocation. */
#ifndef MEM_WORDS_H
#define MEM_WORDS_H

#include <stdbool.h>
#include <stddef.h>

#define MEM_WORD_MAX 64

typedef struct mem_word {
    char text[MEM_WORD_MAX + 2]; /* lower-cased, NUL-terminated */
    size_t len;
    bool stop;    /* on the stop list, or a single ASCII character */
    bool capital; /* written with a capital ASCII letter first (a name, or a sentence start) */
} mem_word;

/* The next word of text[*pos..len): fills w, advances *pos past it and
 * returns true; false at the end of the text. */
bool mem_next_word(const char *text, size_t len, size_t *pos, mem_word *w);

/* Folds a plural in place: "memories" -> "memory", "cats" -> "cat" (not
 * "ss", "us", "is" endings, not words of 3 bytes or less). Returns the new
 * length. */
size_t mem_fold_plural(char *w, size_t n);

/* True when the lower-cased ASCII word w[0..n) is on the English stop list. */
bool mem_is_stopword(const char *w, size_t n);

/* True when two folded content words name the same thing: equal, or one is
 * the other plus at most 3 more bytes and the shorter has at least 4
 * ("call"/"called", "work"/"working"). */
bool mem_words_match(const char *a, size_t an, const char *b, size_t bn);

#endif
