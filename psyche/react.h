/* react.h - one user message, start to answer, on one conversation: the
 * ReAct loop (generate, run the tool it asks for, generate again).
 *
 * An activity: calls the layers below (generate, memflow, toolglue, links,
 * bus, conv, context) and nothing above. Agent thread only; the turn is
 * abandoned within ~20 ms when new input arrives, the user cancels or quits. */
#ifndef PSY_REACT_H
#define PSY_REACT_H

#include "conv.h"
#include "env.h"

/* Answers text in c. Every turn ends with exactly one PSY_EV_ANSWER event.
 * cancel_seq: the bus's cancel count when the message was queued
 * (psy_input.cancel_seq); a cancel after that interrupts the turn, even one
 * that came before the turn started. */
void psy_react_turn(psy_env *e, psy_conv *c, const char *text, int cancel_seq);

#endif
