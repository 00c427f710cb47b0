/* test_elpis_slots.c - unit tests of elpis/slots.c's batch building
 * (slots_fill_batch): each slot's share of a step (one token of every
 * generating slot, then prompt chunks shortest-first while there is room)
 * and the order the tokens go into the batch (by sequence id, so llama.cpp
 * can evaluate consecutive sequences in one pass), and the throwaway tokens
 * that fill the holes between them. No model: the engine
 * here holds only what slots_fill_batch reads. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../elpis/engine_int.h"

#define N_SEQ 5 /* 4 slots + background */
#define PROMPT_MAX 64

typedef struct fixture {
    engine e;
    slot slots[N_SEQ];
    llama_token prompts[N_SEQ][PROMPT_MAX];
} fixture;

/* An engine of N_SEQ idle slots and a batch of n_batch tokens; caller frees with done(). */
static fixture *setup_engine(int n_batch)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->e.n_seq = N_SEQ;
    f->e.slots = f->slots;
    f->e.p.n_batch = n_batch;
    f->e.info.n_ctx = 512;
    f->e.pad_holes = true;
    f->e.batch = llama_batch_init(n_batch, 0, 1);
    for (int s = 0; s < N_SEQ; s++) {
        f->slots[s].seq = s;
        f->slots[s].background = s == N_SEQ - 1;
        f->slots[s].i_batch = -1;
    }
    return f;
}

static void done(fixture *f)
{
    llama_batch_free(f->e.batch);
    free(f);
}

/* Slot s generating: its last sampled token is 1000 + s, cache holds `cached`. */
static void generating(fixture *f, int s, int cached)
{
    f->slots[s].state = SLOT_GEN;
    f->slots[s].last = 1000 + s;
    f->slots[s].cache.n = cached;
}

/* Slot s evaluating a prompt of n tokens (100 * s + k), `done_` already in the cache. */
static void prompting(fixture *f, int s, int n, int done_)
{
    slot *sl = &f->slots[s];
    for (int k = 0; k < n; k++) f->prompts[s][k] = 100 * s + k;
    sl->state = SLOT_PROMPT;
    sl->prompt = f->prompts[s];
    sl->n_prompt = n;
    sl->next_prompt = done_;
    sl->cache.n = done_;
}

/* Every token's sequence id is >= the previous one's. */
static void assert_sequence_order(const struct llama_batch *b)
{
    for (int i = 1; i < b->n_tokens; i++)
        if (b->seq_id[i][0] < b->seq_id[i - 1][0])
            fail_msg("token %d is of sequence %d after one of sequence %d", i, b->seq_id[i][0], b->seq_id[i - 1][0]);
}

/* A prompt on slot 1 between generating slots 0, 2 and 3: all in sequence
 * order, each generating slot's logits where its i_batch says. */
static void test_prompt_between_generating_slots_in_sequence_order(void **state)
{
    (void)state;
    fixture *f = setup_engine(64);
    generating(f, 0, 7);
    prompting(f, 1, 10, 0);
    generating(f, 2, 20);
    generating(f, 3, 30);
    struct llama_batch *b = &f->e.batch;
    assert_int_equal(slots_fill_batch(&f->e), 13);
    assert_sequence_order(b);
    assert_int_equal(f->slots[0].i_batch, 0);
    assert_int_equal(b->token[0], 1000);
    assert_int_equal(b->pos[0], 7);
    for (int k = 0; k < 10; k++) {
        assert_int_equal(b->token[1 + k], 100 + k);
        assert_int_equal(b->pos[1 + k], k);
        assert_int_equal(b->logits[1 + k], k == 9); /* only the last prompt token's logits */
    }
    assert_int_equal(f->slots[1].i_batch, 10);
    assert_int_equal(f->slots[2].i_batch, 11);
    assert_int_equal(b->pos[11], 20);
    assert_int_equal(f->slots[3].i_batch, 12);
    assert_int_equal(b->token[12], 1003);
    assert_true(b->logits[11] && b->logits[12]);
    for (int s = 0; s < 4; s++) assert_int_equal(f->slots[s].batch_pos0, f->slots[s].cache.n);
    done(f);
}

/* With little room: generating slots first, then the shortest remaining
 * prompt, then what is left to the longer one (a chunk without logits). */
static void test_room_goes_to_generation_then_the_shortest_prompt(void **state)
{
    (void)state;
    fixture *f = setup_engine(8);
    generating(f, 0, 5);
    prompting(f, 1, 30, 10); /* 20 left */
    prompting(f, 2, 3, 0);   /* 3 left */
    generating(f, 3, 9);
    struct llama_batch *b = &f->e.batch;
    assert_int_equal(slots_fill_batch(&f->e), 8);
    assert_sequence_order(b);
    assert_int_equal(f->slots[0].batch_n, 1);
    assert_int_equal(f->slots[2].batch_n, 3);
    assert_int_equal(f->slots[1].batch_n, 3);
    assert_int_equal(f->slots[3].batch_n, 1);
    assert_int_equal(f->slots[1].i_batch, -1); /* its prompt goes on next step */
    assert_int_equal(b->token[1], 110);        /* slot 1 resumes at its 11th token */
    assert_int_equal(b->pos[1], 10);
    assert_int_equal(f->slots[2].i_batch, 6);
    assert_int_equal(f->slots[3].i_batch, 7);
    done(f);
}

/* The background slot (the last sequence) comes last; idle slots outside
 * the batch's range add nothing; an empty step is 0. */
static void test_background_last_and_idle_slots_skipped(void **state)
{
    (void)state;
    fixture *f = setup_engine(16);
    assert_int_equal(slots_fill_batch(&f->e), 0);
    prompting(f, 4, 4, 0);
    generating(f, 3, 3);
    struct llama_batch *b = &f->e.batch;
    assert_int_equal(slots_fill_batch(&f->e), 5);
    assert_sequence_order(b);
    assert_int_equal(b->seq_id[0][0], 3);
    assert_int_equal(b->seq_id[4][0], 4);
    assert_int_equal(f->slots[4].i_batch, 4);
    for (int s = 0; s < 3; s++) {
        assert_int_equal(f->slots[s].batch_n, 0);
        assert_int_equal(f->slots[s].i_batch, -1);
        assert_false(f->slots[s].pad);
    }
    done(f);
}

/* Generating slots 0 and 3 with idle slots between: each idle slot gets one
 * token at the position after its cache, without logits, so the four are
 * consecutive; a slot whose context is full is left as a hole. */
static void test_holes_between_slots_are_padded(void **state)
{
    (void)state;
    fixture *f = setup_engine(16);
    generating(f, 0, 7);
    f->slots[1].cache.n = 5; /* idle, caching a conversation */
    generating(f, 3, 9);
    struct llama_batch *b = &f->e.batch;
    assert_int_equal(slots_fill_batch(&f->e), 4);
    assert_sequence_order(b);
    for (int s = 0; s < 4; s++) assert_int_equal(b->seq_id[s][0], s);
    assert_true(f->slots[1].pad && f->slots[2].pad);
    assert_false(f->slots[0].pad || f->slots[3].pad);
    assert_int_equal(b->pos[1], 5);
    assert_int_equal(f->slots[1].batch_pos0, 5);
    assert_int_equal(b->pos[2], 0);
    assert_false(b->logits[1] || b->logits[2]);
    assert_int_equal(f->slots[1].i_batch, -1);
    assert_int_equal(f->slots[3].i_batch, 3);

    f->slots[2].cache.n = f->e.info.n_ctx; /* no room for a pad */
    assert_int_equal(slots_fill_batch(&f->e), 3);
    assert_false(f->slots[2].pad);
    assert_true(f->slots[1].pad);

    f->e.pad_holes = false; /* a model whose memory cannot drop a position */
    assert_int_equal(slots_fill_batch(&f->e), 2);
    assert_false(f->slots[1].pad);
    done(f);
}

/* A large batch keeps one token a slot spare for pads: a long prompt on slot
 * 3 beside slot 0 generating still leaves room to pad slots 1 and 2. */
static void test_a_long_prompt_leaves_room_for_pads(void **state)
{
    (void)state;
    fixture *f = setup_engine(32); /* >= 4 x 5 sequences: 5 spare */
    generating(f, 0, 2);
    prompting(f, 3, 60, 0);
    assert_int_equal(slots_fill_batch(&f->e), 1 + 26 + 2);
    assert_int_equal(f->slots[3].batch_n, 26);
    assert_true(f->slots[1].pad && f->slots[2].pad);
    assert_sequence_order(&f->e.batch);
    done(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompt_between_generating_slots_in_sequence_order),
        cmocka_unit_test(test_room_goes_to_generation_then_the_shortest_prompt),
        cmocka_unit_test(test_background_last_and_idle_slots_skipped),
        cmocka_unit_test(test_holes_between_slots_are_padded),
        cmocka_unit_test(test_a_long_prompt_leaves_room_for_pads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
