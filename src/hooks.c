/*
 * hooks.c
 *		The only file that installs server hooks.  Each hook calls the
 *		modules' handlers in a fixed order, written out below; no other file
 *		assigns a *_hook variable or registers a transaction callback.
 *
 * Utility statements (ProcessUtility), outermost first: the policies of
 * Citus's placements (placement.c) may rewrite the statement; a validation
 * that would read from one tenant's view is refused (full_view.c), and in
 * auto the guard refuses a tenant column added to a table with rows
 * (isolation.c), before anything that must be undone has begun; the Citus
 * signed context (cluster.c) may start receiving a context; residue
 * (residue.c) refuses a cursor WITH HOLD, ANALYZE of a temporary table or
 * an index built on one; a partition added to an audited distributed table
 * lets Citus take its audit trigger (audit_convert.c); statistics
 * (stats_count.c) time the statement,
 * once nothing before it can fail.  The statement runs,
 * passed to the hook found installed (Citus, when it is preloaded first) or
 * the standard one.  Then, innermost first: residue notes the temporary
 * tables it wrote, statistics count it, the signed context is sealed, and a
 * table Citus renamed into a placement gets its policies' per-query form.
 *
 * Planner and executor: a copy made from one tenant's view is refused
 * (full_view.c) before the query is planned (where Citus's distributed plan
 * still shows what it reads) and again before ExecutorStart (a plan
 * reused, CREATE TABLE AS, materialized views, the queries nested in a
 * copy: full_view.c remembers the copies running until their ExecutorEnd
 * or the abort of their (sub)transaction), on every server; statistics ask for their
 * instrumentation before ExecutorStart
 * (19) or allocate it after (older), and count at ExecutorEnd, before
 * residue notes the temporary tables the query wrote; ExecutorRun and
 * ExecutorFinish track nesting for statistics.  These, and the shared
 * memory hooks, are installed only when trovella is in
 * shared_preload_libraries, which statistics need; the planner hook,
 * ExecutorStart (for full_view.c), ExecutorFinish (token uses, below) and
 * residue's ExecutorEnd handler are installed always.
 *
 * The uses of tokens a statement found in REPEATABLE READ
 * (token_touch.c) are written when it finishes: after ExecutorFinish (always
 * installed) and after a utility statement but transaction control; COMMIT
 * and PREPARE TRANSACTION write what is left before they begin, and stop
 * the writes.
 *
 * Transaction end: statistics (the tenant's entry made at pre-commit, a
 * transaction added at commit or abort), residue (refuses temporary tables
 * that keep tenant rows, at pre-commit), token scans (an abort released
 * them), token uses (forgotten), the isolation guard (judges the tables,
 * at pre-commit), the audit (refuses an audited table sharded apart from
 * its history, at pre-commit).
 * Subtransaction end: residue, token scans, token uses, the guard's helper
 * depth.
 * Log lines (emit_log_hook): tokens masked (log_redact.c), then the hook
 * found installed.  A dropped relation (object_access_hook): residue forgets
 * it, after the hook found installed.
 * Relation cache invalidation: membership, token table; a changed constraint:
 * membership (its marker).  Shared memory: the
 * statistics' table made (stats.c), the saved file loaded into it
 * (stats_store.c), and saved again at the postmaster's clean exit.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "optimizer/planner.h"
#include "storage/ipc.h"
#include "tcop/utility.h"
#include "utils/inval.h"
#include "utils/syscache.h"

#include "audit.h"
#include "cluster.h"
#include "compat.h"
#include "full_view.h"
#include "hooks.h"
#include "isolation.h"
#include "isolation_defer.h"
#include "log_redact.h"
#include "membership.h"
#include "placement.h"
#include "residue.h"
#include "stats.h"
#include "stats_count.h"
#include "stats_store.h"
#include "suspension.h"
#include "token_scan.h"
#include "token_touch.h"

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static planner_hook_type prev_planner = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static emit_log_hook_type prev_emit_log_hook = NULL;
static object_access_hook_type prev_object_access_hook = NULL;

/* Statistics need the preload; without it their hooks are not installed. */
static bool preloaded = false;

static void
trovella_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	trovella_stats_shmem_request();
}

/* At the postmaster's exit: the statistics saved, if the exit is clean. */
static void
trovella_shmem_exit(int code, Datum arg)
{
	trovella_stats_save(code);
}

static void
trovella_shmem_startup(void)
{
	bool		fresh;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	fresh = trovella_stats_shmem_startup();
	if (!IsUnderPostmaster)
		on_shmem_exit(trovella_shmem_exit, (Datum) 0);
	if (fresh)
		trovella_stats_load();
}

/* Planner: a copy into a table that keeps no tenant's view (full_view.c). */
static PlannedStmt *
trovella_planner(Query *parse, const char *query_string, int cursorOptions,
				 ParamListInfo boundParams TROVELLA_PLANNER_ES_PARAM)
{
	trovella_full_view_planner(parse);
	if (prev_planner)
		return prev_planner(parse, query_string, cursorOptions, boundParams
							TROVELLA_PLANNER_ES_ARG);
	return standard_planner(parse, query_string, cursorOptions, boundParams
							TROVELLA_PLANNER_ES_ARG);
}

static void
trovella_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	trovella_full_view_executor_start(queryDesc, eflags);
	if (preloaded)
		trovella_stats_executor_asks(queryDesc);
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	if (preloaded)
		trovella_stats_executor_start(queryDesc);
}

static void
trovella_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction, uint64 count
					 TROVELLA_EXECUTOR_RUN_ONCE_PARAM)
{
	trovella_stats_enter();
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count TROVELLA_EXECUTOR_RUN_ONCE_ARG);
		else
			standard_ExecutorRun(queryDesc, direction, count TROVELLA_EXECUTOR_RUN_ONCE_ARG);
	}
	PG_FINALLY();
	{
		trovella_stats_leave();
	}
	PG_END_TRY();
}

static void
next_ExecutorFinish(QueryDesc *queryDesc)
{
	if (prev_ExecutorFinish)
		prev_ExecutorFinish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);
}

/* ExecutorFinish, a nesting level of statistics. */
static void
finish_counted(QueryDesc *queryDesc)
{
	trovella_stats_enter();
	PG_TRY();
	{
		next_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		trovella_stats_leave();
	}
	PG_END_TRY();
}

static void
trovella_ExecutorFinish(QueryDesc *queryDesc)
{
	if (preloaded)
		finish_counted(queryDesc);
	else
		next_ExecutorFinish(queryDesc);
	trovella_token_touch_flush();
}

static void
trovella_ExecutorEnd(QueryDesc *queryDesc)
{
	if (preloaded)
		trovella_stats_executor_end(queryDesc);
	trovella_residue_executor_end(queryDesc);
	trovella_full_view_executor_end(queryDesc);
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

static void
next_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					bool readOnlyTree, ProcessUtilityContext context,
					ParamListInfo params, QueryEnvironment *queryEnv,
					DestReceiver *dest, QueryCompletion *qc)
{
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/*
 * The statement itself, and what must be undone whether it succeeds or not:
 * statistics' nesting, a worker's receiving of a signed context.
 */
static void
run_utility(PlannedStmt *pstmt, const char *queryString,
			bool readOnlyTree, ProcessUtilityContext context,
			ParamListInfo params, QueryEnvironment *queryEnv,
			DestReceiver *dest, QueryCompletion *qc,
			StatsUtility *stats, ClusterUtility *cluster)
{
	if (!cluster->receiving && !cluster->scope && !stats->track)
	{
		next_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
		return;
	}
	PG_TRY();
	{
		next_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		trovella_stats_utility_done(stats);
		trovella_cluster_utility_done(cluster);
	}
	PG_END_TRY();
}

static void
trovella_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
						bool readOnlyTree, ProcessUtilityContext context,
						ParamListInfo params, QueryEnvironment *queryEnv,
						DestReceiver *dest, QueryCompletion *qc)
{
	ClusterUtility cluster;
	PlacementUtility placement;
	StatsUtility stats;
	Node	   *stmt;
	int			depth;
	int			audit_level;

	depth = trovella_isolation_utility_begin();
	trovella_placement_utility_before(&pstmt, &readOnlyTree, context, &placement);
	trovella_full_view_utility_before(&pstmt, &readOnlyTree);
	stmt = pstmt->utilityStmt;
	trovella_isolation_utility_before(stmt);
	trovella_cluster_utility_before(stmt, &cluster);
	/* a refusal here must come before statistics count a nesting level */
	trovella_residue_utility_before(stmt);
	trovella_token_touch_utility(stmt);
	/* Citus may take the audit's trigger on a new partition (audit_convert.c) */
	audit_level = trovella_audit_utility_before(stmt);
	trovella_stats_utility_begin(stmt, &stats);
	run_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv,
				dest, qc, &stats, &cluster);
	trovella_audit_utility_after(audit_level);
	trovella_residue_utility_after(stmt);
	trovella_token_touch_utility_done(stmt);
	trovella_stats_utility_after(stmt, qc, &stats);
	trovella_cluster_utility_after(&cluster);
	trovella_placement_utility_after(&placement);
	/* in auto, what Citus acted on after the statement (isolation_defer.c) */
	trovella_isolation_utility_end(depth);
}

/* An object dropped: a temporary table residue remembers by its OID. */
static void
trovella_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					   int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (access == OAT_DROP && classId == RelationRelationId && subId == 0)
		trovella_residue_relation_dropped(objectId);
}

/* A log line: tokens masked first, so that a later hook sees them masked. */
static void
trovella_emit_log(ErrorData *edata)
{
	trovella_redact_log(edata);
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

static void
trovella_xact_callback(XactEvent event, void *arg)
{
	trovella_stats_xact(event);
	trovella_residue_xact(event);
	trovella_token_scans_xact(event);
	trovella_token_touch_xact(event);
	trovella_isolation_xact(event);
	trovella_isolation_defer_xact(event);
	trovella_full_view_xact(event);
	trovella_audit_xact(event);
	/* no SET LOCAL runs across a (sub)transaction's end */
	trovella_cluster_abort();
}

static void
trovella_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	trovella_residue_subxact(event, mySubid);
	trovella_token_scans_subxact(event);
	trovella_token_touch_subxact(event);
	trovella_isolation_subxact(event);
	trovella_full_view_subxact(event, mySubid);
	if (event == SUBXACT_EVENT_ABORT_SUB)
		trovella_cluster_abort();
}

static void
trovella_relcache_callback(Datum arg, Oid relid)
{
	trovella_membership_relcache(relid);
	trovella_audit_jsonb_relcache(relid);
	trovella_token_relcache(relid);
	trovella_audit_relcache(relid);
	trovella_full_view_relcache(relid);
	trovella_suspension_relcache(relid);
}

static void
trovella_constraint_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	trovella_membership_constraint_changed();
}

/* Called last in _PG_init, once every module has defined its settings. */
void
HooksInit(void)
{
	preloaded = process_shared_preload_libraries_in_progress;
	if (preloaded)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = trovella_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = trovella_shmem_startup;
		prev_ExecutorRun = ExecutorRun_hook;
		ExecutorRun_hook = trovella_ExecutorRun;
	}
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = trovella_ExecutorFinish;
	prev_planner = planner_hook;
	planner_hook = trovella_planner;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = trovella_ExecutorStart;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = trovella_ExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = trovella_ProcessUtility;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = trovella_emit_log;
	prev_object_access_hook = object_access_hook;
	object_access_hook = trovella_object_access;
	RegisterXactCallback(trovella_xact_callback, NULL);
	RegisterSubXactCallback(trovella_subxact_callback, NULL);
	CacheRegisterRelcacheCallback(trovella_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(CONSTROID, trovella_constraint_callback, (Datum) 0);
}
