/*
 * subscription.h
 *		The tables a logical replication subscription writes into.
 */
#ifndef TROVELLA_SUBSCRIPTION_H
#define TROVELLA_SUBSCRIPTION_H

#include "postgres.h"

#include "nodes/pg_list.h"

extern List *trovella_subscription_tables(Node *parsetree);

#endif
