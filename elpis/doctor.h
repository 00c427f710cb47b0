/* doctor.h - `elpis --doctor`: what this build and this model need and have. */
#ifndef ELPIS_DOCTOR_H
#define ELPIS_DOCTOR_H

#include <stdio.h>

#include "engine.h"

/* Prints the report; returns 0, or a negative errno when the model cannot be read. */
int elpis_doctor(const engine_params *p, FILE *out);

#endif
