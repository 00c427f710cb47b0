/* test_psyche_bus.c - unit tests of psyche/bus.c's turn cancellation: a
 * cancel (Esc, Ctrl+C) reaches the turn of a message queued before it, even
 * when the agent thread has not started that turn yet, and never the turn of
 * a message queued after it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "../../psyche/bus.h"

static int setup(void **state)
{
    psy_bus *b = calloc(1, sizeof *b);
    if (!b || psy_bus_init(b)) return -1;
    *state = b;
    return 0;
}

static int teardown(void **state)
{
    psy_bus_free(*state);
    free(*state);
    return 0;
}

static void test_cancel_before_the_turn_starts_reaches_it(void **state)
{
    psy_bus *b = *state;
    assert_int_equal(psy_bus_push_input(b, PSY_INPUT_MESSAGE, "hello", NULL), 0);
    psy_bus_signal_cancel(b); /* Esc while the message still waits for the agent thread */
    psy_input *in = psy_bus_pop_input(b);
    assert_non_null(in);
    assert_true(psy_turn_aborted(b, in->cancel_seq));
    psy_input_free(in);
}

static void test_a_cancel_before_the_message_does_not(void **state)
{
    psy_bus *b = *state;
    psy_bus_signal_cancel(b); /* for an earlier turn */
    assert_int_equal(psy_bus_push_input(b, PSY_INPUT_MESSAGE, "next", NULL), 0);
    psy_input *in = psy_bus_pop_input(b);
    assert_non_null(in);
    assert_false(psy_turn_aborted(b, in->cancel_seq));
    psy_bus_signal_cancel(b); /* during its turn */
    assert_true(psy_turn_aborted(b, in->cancel_seq));
    psy_input_free(in);
}

static void test_a_message_waiting_behind_ends_the_turn(void **state)
{
    psy_bus *b = *state;
    assert_int_equal(psy_bus_push_input(b, PSY_INPUT_MESSAGE, "first", NULL), 0);
    psy_input *in = psy_bus_pop_input(b);
    assert_false(psy_turn_aborted(b, in->cancel_seq));
    assert_int_equal(psy_bus_push_input(b, PSY_INPUT_MESSAGE, "second", NULL), 0);
    assert_true(psy_turn_aborted(b, in->cancel_seq)); /* the new message wins */
    psy_input *next = psy_bus_pop_input(b);
    assert_false(psy_turn_aborted(b, next->cancel_seq)); /* and is not cancelled by its own arrival */
    psy_input_free(in);
    psy_input_free(next);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cancel_before_the_turn_starts_reaches_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_cancel_before_the_message_does_not, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_message_waiting_behind_ends_the_turn, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
