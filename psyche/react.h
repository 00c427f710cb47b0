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

/* Answers text in c. Every turn ends with exactly one PSY_EV_ANSWER event. */
void psy_react_turn(psy_env *e, psy_conv *c, const char *text);

#endif
