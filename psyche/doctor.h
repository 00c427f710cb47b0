/* doctor.h - `psyche --doctor`: what the tool boundary protects on this
 * machine, protection by protection, from psy_sandbox_report(). */
#ifndef PSY_DOCTOR_H
#define PSY_DOCTOR_H

#include <stdio.h>

#include "settings.h"

/* Opens the tools as psyche would (workspace, sandbox settings of cfg),
 * prints one line per protection ("on"/"OFF" and why) and the workspace's
 * secrets scan to out. Returns 0 when every protection is on, 1 when some
 * is off (the lines say which and why), 2 when the tools cannot be opened
 * (the message says why). */
int psy_doctor_run(const psy_settings *cfg, FILE *out);

#endif
