/*
 * compat.h
 *		The only place for differences between PostgreSQL 15, 16, 17, 18 and 19.
 *
 * Each difference is one macro or one small static inline, with the version
 * that changed it and why.  The rest of the code calls these and carries no
 * PG_VERSION_NUM test of its own.
 */
#ifndef TROVELLA_COMPAT_H
#define TROVELLA_COMPAT_H

#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "nodes/plannodes.h"
#if PG_VERSION_NUM >= 160000
#include "parser/parse_relation.h"
#endif
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/guc.h"

/* 16 moved the varlena macros (VARDATA_ANY, SET_VARSIZE...) out of postgres.h. */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/*
 * 19 folded CLUSTER into REPACK: one statement node, RepackStmt, whose table
 * is a VacuumRelation (NULL: every table).
 */
#if PG_VERSION_NUM >= 190000
#define TROVELLA_IS_CLUSTER_STMT(node)	IsA((node), RepackStmt)
#define TROVELLA_CLUSTER_RELATION(node) \
	(((RepackStmt *) (node))->relation ? ((RepackStmt *) (node))->relation->relation : NULL)
#else
#define TROVELLA_IS_CLUSTER_STMT(node)	IsA((node), ClusterStmt)
#define TROVELLA_CLUSTER_RELATION(node) (((ClusterStmt *) (node))->relation)
#endif

/*
 * 19 keeps a plan's result relations (range table indexes of the tables a
 * statement writes) as a Bitmapset, resultRelationRelids, no longer as the
 * List resultRelations.  Either way: a List of them.
 */
static inline List *
trovella_result_relations(PlannedStmt *pstmt)
{
#if PG_VERSION_NUM >= 190000
	List	   *rtis = NIL;
	int			rti = -1;

	while ((rti = bms_next_member(pstmt->resultRelationRelids, rti)) >= 0)
		rtis = lappend_int(rtis, rti);
	return rtis;
#else
	return pstmt->resultRelations;
#endif
}

/* 16 moved PG_TEMP_FILE_PREFIX from storage/fd.h to common/file_utils.h. */
#if PG_VERSION_NUM >= 160000
#include "common/file_utils.h"
#else
#include "storage/fd.h"
#endif

/*
 * 16 keeps GUC values and check-hook extras in a memory context and frees
 * them with pfree: an extra, or a value a check hook substitutes, must come
 * from guc_malloc(), no longer malloc().
 */
#if PG_VERSION_NUM >= 160000
#define guc_extra_malloc(size)	guc_malloc(LOG, (size))
#define guc_extra_free(ptr)		guc_free(ptr)
#else
#define guc_extra_malloc(size)	malloc(size)
#define guc_extra_free(ptr)		free(ptr)
#endif

/* 17 moved the local transaction id into PGPROC's vxid. */
#if PG_VERSION_NUM >= 170000
#define TROVELLA_MY_LXID	(MyProc->vxid.lxid)
#else
#define TROVELLA_MY_LXID	(MyProc->lxid)
#endif

/*
 * Run a section of code with only the system catalogs on the search path,
 * whatever the caller has set, so that objects planted earlier on the
 * caller's path cannot be resolved.  An error inside the section is cleaned
 * up by (sub)transaction abort, on every version.
 *
 * 17 removed the override search path; its replacement in core is a GUC
 * nest level with search_path = "pg_catalog, pg_temp" (RestrictSearchPath(),
 * what VACUUM and CREATE INDEX use), which lists pg_temp last: a relation is
 * looked up there only after pg_catalog, a function or operator never.
 */
typedef int CatalogSearchPath;	/* 17 on: the GUC nest level to return to */

#if PG_VERSION_NUM >= 170000
static inline void
push_catalog_search_path(CatalogSearchPath *saved)
{
	*saved = NewGUCNestLevel();
	RestrictSearchPath();
}

/*
 * As a function's SET clause ends: the path saved is restored, and a plain
 * SET made inside (by an application's trigger that a statement of the
 * section fired) is kept, as until 16, where the path is an override.
 */
static inline void
pop_catalog_search_path(const CatalogSearchPath *saved)
{
	AtEOXact_GUC(true, *saved);
}
#else
static inline void
push_catalog_search_path(CatalogSearchPath *saved)
{
	/* schemas: none; pg_catalog implicitly; no pg_temp */
	static OverrideSearchPath catalog_only = {NIL, true, false, 0};

	*saved = 0;
	PushOverrideSearchPath(&catalog_only);
}

static inline void
pop_catalog_search_path(const CatalogSearchPath *saved)
{
	PopOverrideSearchPath();
}
#endif

/*
 * Give the caller's search path back, inside a section with only the
 * system catalogs on it, to code of the caller's that one of trovella's
 * statements runs (an application's trigger), until
 * pop_caller_search_path(): a function's own SET search_path then wins
 * over it, as in any statement of the caller's.
 *
 * Until 16 the catalog path is an override, which hides the search_path
 * setting (even a function's SET clause): it is popped, and pushed again
 * after; the setting is still the caller's.  17 on: the caller's value,
 * saved before the section began, set at a new GUC nest level above the
 * section's own (and above the one where Citus's table visibility is set,
 * which stays as the section set it).  An error inside is cleaned up by
 * (sub)transaction abort, as for push_catalog_search_path().
 */
typedef int CallerSearchPath;	/* 17 on: the GUC nest level to return to */

#if PG_VERSION_NUM >= 170000
static inline void
push_caller_search_path(const char *caller_search_path, CallerSearchPath *saved)
{
	*saved = NewGUCNestLevel();
	(void) set_config_option("search_path", caller_search_path,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

/*
 * As a function's SET clause ends: a plain SET the caller's code made
 * inside (of any setting) kept, as until 16.  A plain SET of search_path
 * among them would be the section's path now: only the system catalogs are
 * put back on it, at a level of its own that the section's end pops.
 */
static inline void
pop_caller_search_path(const CallerSearchPath *saved)
{
	AtEOXact_GUC(true, *saved);
	(void) NewGUCNestLevel();
	RestrictSearchPath();
}
#else
static inline void
push_caller_search_path(const char *caller_search_path, CallerSearchPath *saved)
{
	*saved = 0;
	PopOverrideSearchPath();
}

static inline void
pop_caller_search_path(const CallerSearchPath *saved)
{
	CatalogSearchPath catalog;

	push_catalog_search_path(&catalog);
}
#endif

/* 16 folded the per-class ownership checks into object_ownercheck(). */
#if PG_VERSION_NUM >= 160000
#define table_ownercheck(relid, roleid) object_ownercheck(RelationRelationId, (relid), (roleid))
#else
#define table_ownercheck(relid, roleid) pg_class_ownercheck((relid), (roleid))
#endif

/* 16 folded the per-class privilege checks into object_aclcheck(). */
#if PG_VERSION_NUM >= 160000
#define function_aclcheck(funcid, roleid, mode) object_aclcheck(ProcedureRelationId, (funcid), (roleid), (mode))
#else
#define function_aclcheck(funcid, roleid, mode) pg_proc_aclcheck((funcid), (roleid), (mode))
#endif

/* 18 dropped ExecutorRun()'s execute_once argument. */
#if PG_VERSION_NUM >= 180000
#define TROVELLA_EXECUTOR_RUN_ONCE_PARAM
#define TROVELLA_EXECUTOR_RUN_ONCE_ARG
#else
#define TROVELLA_EXECUTOR_RUN_ONCE_PARAM , bool execute_once
#define TROVELLA_EXECUTOR_RUN_ONCE_ARG , execute_once
#endif

/*
 * 18 gave index_beginscan() an instrumentation argument (NULL: none), 19
 * scan option flags (SO_NONE: none).
 */
#if PG_VERSION_NUM >= 190000
#define begin_index_scan(heap, index, snapshot, nkeys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), 0, SO_NONE)
#elif PG_VERSION_NUM >= 180000
#define begin_index_scan(heap, index, snapshot, nkeys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), 0)
#else
#define begin_index_scan(heap, index, snapshot, nkeys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), 0)
#endif

/*
 * 19 allocates a query's own instrumentation (query_instr) in ExecutorStart,
 * when a module asks for it through query_instr_options before; until 18 a
 * module allocated totaltime itself after ExecutorStart.  Its total is an
 * instr_time from 19 on, seconds once InstrEndLoop() ran before.
 */
#if PG_VERSION_NUM >= 190000
#define TROVELLA_QUERY_INSTR(qd) ((qd)->query_instr)
#define TROVELLA_ASK_QUERY_INSTR(qd) ((qd)->query_instr_options |= INSTRUMENT_ALL)
#define TROVELLA_ALLOC_QUERY_INSTR(qd) ((void) 0)
#define TROVELLA_QUERY_INSTR_MS(instr) INSTR_TIME_GET_MILLISEC((instr)->total)
#else
#define TROVELLA_QUERY_INSTR(qd) ((qd)->totaltime)
#define TROVELLA_ASK_QUERY_INSTR(qd) ((void) 0)
#define TROVELLA_ALLOC_QUERY_INSTR(qd) ((qd)->totaltime = InstrAlloc(1, INSTRUMENT_ALL, false))
#define TROVELLA_QUERY_INSTR_MS(instr) (InstrEndLoop(instr), (instr)->total * 1000.0)
#endif

/* 19 sizes a shared hash table once (nelems), not by an initial and a maximum size. */
#if PG_VERSION_NUM >= 190000
#define shmem_init_hash(name, nelems, info, flags) \
	ShmemInitHash((name), (nelems), (info), (flags))
#else
#define shmem_init_hash(name, nelems, info, flags) \
	ShmemInitHash((name), (nelems), (nelems), (info), (flags))
#endif

/* 19 gave table_beginscan() scan option flags (SO_NONE: none). */
#if PG_VERSION_NUM >= 190000
#define begin_table_scan(rel, snapshot) table_beginscan((rel), (snapshot), 0, NULL, SO_NONE)
#else
#define begin_table_scan(rel, snapshot) table_beginscan((rel), (snapshot), 0, NULL)
#endif

/*
 * Whom a range table entry of a plan is read as (InvalidOid: the current
 * user), and whether it is checked at all (an inheritance child is read
 * through its parent's entry).  16 moved the permission fields of an entry
 * into RTEPermissionInfo.
 */
#if PG_VERSION_NUM >= 160000
static inline bool
rte_read_as(PlannedStmt *pstmt, RangeTblEntry *rte, Oid *userid)
{
	if (rte->perminfoindex == 0)
		return false;
	*userid = getRTEPermissionInfo(pstmt->permInfos, rte)->checkAsUser;
	return true;
}
#else
static inline bool
rte_read_as(PlannedStmt *pstmt, RangeTblEntry *rte, Oid *userid)
{
	if (rte->requiredPerms == 0)
		return false;
	*userid = rte->checkAsUser;
	return true;
}
#endif

/* What a range table entry of a plan requires of its user (ACL_INSERT...). */
#if PG_VERSION_NUM >= 160000
static inline AclMode
rte_required_perms(PlannedStmt *pstmt, RangeTblEntry *rte)
{
	if (rte->perminfoindex == 0)
		return 0;
	return getRTEPermissionInfo(pstmt->permInfos, rte)->requiredPerms;
}
#else
static inline AclMode
rte_required_perms(PlannedStmt *pstmt, RangeTblEntry *rte)
{
	return rte->requiredPerms;
}
#endif

/* 19 gave the planner (and its hook) the EXPLAIN state of the statement. */
#if PG_VERSION_NUM >= 190000
#define TROVELLA_PLANNER_ES_PARAM , ExplainState *es
#define TROVELLA_PLANNER_ES_ARG , es
#else
#define TROVELLA_PLANNER_ES_PARAM
#define TROVELLA_PLANNER_ES_ARG
#endif

/* 18 lets a module name itself and its version (pg_get_loaded_modules()). */
#if PG_VERSION_NUM >= 180000
#define TROVELLA_MODULE_MAGIC \
	PG_MODULE_MAGIC_EXT(.name = "trovella", .version = TROVELLA_VERSION)
#else
#define TROVELLA_MODULE_MAGIC PG_MODULE_MAGIC
#endif

/*
 * 17 gave LockHeldByMe() a third argument, orstronger.  Whether this
 * transaction holds a lock of exactly this mode on a relation.
 */
#include "miscadmin.h"
#include "storage/lmgr.h"
static inline bool
trovella_relation_locked_by_me(Oid relid, LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
#if PG_VERSION_NUM >= 170000
	return LockHeldByMe(&tag, mode, false);
#else
	return LockHeldByMe(&tag, mode);
#endif
}

/*
 * 17 lets an index keep state across inserts (BRIN's revmap, with a buffer
 * pinned), released by index_insert_cleanup() once a caller is done.
 */
#include "access/genam.h"
static inline void
trovella_index_insert_cleanup(Relation index, struct IndexInfo *info)
{
#if PG_VERSION_NUM >= 170000
	index_insert_cleanup(index, info);
#endif
}

/*
 * 19 builds a jsonb value through a JsonbInState (pushJsonbValue() returns
 * nothing; the value is the state's result), no longer through a
 * JsonbParseState pointer whose last push returns the value.  Zero the
 * state, push, then take the result.
 */
#include "utils/jsonb.h"
#if PG_VERSION_NUM >= 190000
typedef JsonbInState TrovellaJsonbBuild;
#define trovella_jsonb_push(build, seq, val)	pushJsonbValue((build), (seq), (val))
#else
typedef struct TrovellaJsonbBuild
{
	JsonbParseState *parse;
	JsonbValue *result;
} TrovellaJsonbBuild;
static inline void
trovella_jsonb_push(TrovellaJsonbBuild *build, JsonbIteratorToken seq, JsonbValue *val)
{
	build->result = pushJsonbValue(&build->parse, seq, val);
}
#endif

#endif							/* TROVELLA_COMPAT_H */
