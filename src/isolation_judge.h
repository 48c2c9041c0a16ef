/*
 * isolation_judge.h
 *		The isolation guard's judgement at commit (isolation_judge.c).
 */
#ifndef TROVELLA_ISOLATION_JUDGE_H
#define TROVELLA_ISOLATION_JUDGE_H

#include "postgres.h"

#include "nodes/pg_list.h"

extern void trovella_judge_tables(List *tables, int elevel);

#endif							/* TROVELLA_ISOLATION_JUDGE_H */
