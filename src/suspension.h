/*
 * suspension.h
 *		Suspended tenants (suspension.c): SuspensionInit registers the
 *		check every new tenant context passes.
 */
#ifndef TROVELLA_SUSPENSION_H
#define TROVELLA_SUSPENSION_H

#include "postgres.h"

extern void SuspensionInit(void);

#endif							/* TROVELLA_SUSPENSION_H */
