/*
 * pat_sql.h
 *		The SQL functions of personal access tokens (pat_sql.c).
 */
#ifndef TROVELLA_PAT_SQL_H
#define TROVELLA_PAT_SQL_H

extern void PatInit(void);

#endif							/* TROVELLA_PAT_SQL_H */
