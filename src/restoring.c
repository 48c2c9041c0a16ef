/*
 * restoring.c
 *		Whether rows are being restored: set by import_tenant (import.c)
 *		around its INSERTs, and read by trovella's row triggers, which then
 *		keep the values of the export (created_*, updated_*, deleted_*) and
 *		record nothing (the export carries the tenant's audit history).
 */
#include "postgres.h"

#include "restoring.h"

bool		trovella_restoring_rows = false;
