/*
 * stats_evict.c
 *		Which tenants' statistics to evict when the table is full: the order
 *		(tenants seen in at most one transaction first, then the least
 *		recently active) and a selection of the first k in linear time.
 *		Pure C: no backend calls.
 */
#include "c.h"

#include "stats_evict.h"

/* Entries with at most one transaction sort before every other one. */
int64
trovella_eviction_order(const StatsCounters *c)
{
	return c->transactions > 1 ? c->last_activity : c->last_activity - (INT64CONST(1) << 62);
}

static void
swap_candidates(EvictionCandidate *a, EvictionCandidate *b)
{
	EvictionCandidate t = *a;

	*a = *b;
	*b = t;
}

/* Put the k smallest candidates first (Hoare's selection, median of three). */
void
trovella_select_smallest(EvictionCandidate *c, int n, int k)
{
	int			lo = 0;
	int			hi = n - 1;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int64		pivot;
		int			i = lo;
		int			j = hi;

		if (c[mid].order < c[lo].order)
			swap_candidates(&c[mid], &c[lo]);
		if (c[hi].order < c[lo].order)
			swap_candidates(&c[hi], &c[lo]);
		if (c[hi].order < c[mid].order)
			swap_candidates(&c[hi], &c[mid]);
		pivot = c[mid].order;
		while (i <= j)
		{
			while (c[i].order < pivot)
				i++;
			while (c[j].order > pivot)
				j--;
			if (i <= j)
				swap_candidates(&c[i++], &c[j--]);
		}
		if (k - 1 <= j)
			hi = j;
		else if (k - 1 >= i)
			lo = i;
		else
			break;
	}
}
