/*
 * hooks.h
 *		The one place that installs PostgreSQL's hooks (hooks.c).
 */
#ifndef TROVELLA_HOOKS_H
#define TROVELLA_HOOKS_H

extern void HooksInit(void);

#endif							/* TROVELLA_HOOKS_H */
