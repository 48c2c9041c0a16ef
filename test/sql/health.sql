-- trovella.health: one row per check with a status, readable by pg_monitor
-- and nobody else, each problem detected and named.  As unprivileged roles.
CREATE ROLE regress_health_monitor IN ROLE pg_monitor;
CREATE ROLE regress_health_app;
CREATE ROLE regress_health_owner;
GRANT CREATE ON SCHEMA public TO regress_health_owner;
SET trovella.isolation_guard = off;

-- a monitoring role reads it; every check has a status
SET ROLE regress_health_monitor;
SELECT check_name, status IN ('ok', 'warning', 'problem') AS known_status, detail <> '' AS explained
FROM trovella.health ORDER BY check_name;
-- the loaded library is the installed extension's version
SELECT status, detail = 'extension and library ' || trovella.library_version() AS matches
FROM trovella.health WHERE check_name = 'version';
SELECT trovella.library_version() = (SELECT extversion FROM pg_extension WHERE extname = 'trovella') AS same_version;
RESET ROLE;

-- anyone else: 42501, for the view and the function behind it
SET ROLE regress_health_app;
\set VERBOSITY sqlstate
SELECT * FROM trovella.health;
SELECT * FROM trovella.health_checks();
SELECT trovella.cluster_key_problem();
\set VERBOSITY default
RESET ROLE;

-- a table left unisolated is a problem, and counted
SET ROLE regress_health_owner;
CREATE TABLE health_loose (tenant_id uuid NOT NULL, id int, PRIMARY KEY (tenant_id, id));
SET ROLE regress_health_monitor;
SELECT status, detail FROM trovella.health WHERE check_name = 'isolation';
SET ROLE regress_health_owner;
SELECT trovella.enable_tenant_isolation('health_loose');
SET ROLE regress_health_monitor;
SELECT status, detail FROM trovella.health WHERE check_name = 'isolation';
RESET ROLE;

-- membership: none, registered, the table gone, marked but unregistered
SET ROLE regress_health_monitor;
SELECT status, detail FROM trovella.health WHERE check_name = 'membership';
RESET ROLE;
CREATE TABLE health_member (org uuid NOT NULL, usr uuid NOT NULL, PRIMARY KEY (org, usr));
SELECT trovella.use_membership('health_member', 'org', 'usr');
SELECT status, detail FROM trovella.health WHERE check_name = 'membership';
-- a restore that left the registration behind: marked, nothing registered
DELETE FROM trovella.membership;
SELECT status, detail FROM trovella.health WHERE check_name = 'membership';
ALTER TABLE health_member DROP CONSTRAINT trovella_membership;
SELECT status FROM trovella.health WHERE check_name = 'membership';

-- the guard off is a warning
SET trovella.isolation_guard = off;
SELECT status, detail FROM trovella.health WHERE check_name = 'guard';
SET trovella.isolation_guard = error;
SELECT status, detail FROM trovella.health WHERE check_name = 'guard';
SET trovella.isolation_guard = off;

-- secrets in the log, judged on the settings every role and database will
-- run with, not on this session's own (pg_regress runs without the preload)
SET log_statement = 'all';
SELECT status, detail LIKE 'trovella is not preloaded: a token written as a literal is logged as is%' AS said
FROM trovella.health WHERE check_name = 'log_secrets';
RESET log_statement;
-- a role that logs every statement: a problem, named
ALTER ROLE regress_health_app SET log_statement = 'all';
SELECT status, detail LIKE 'log_statement = all for role regress_health_app: tokens passed to %' AS named
FROM trovella.health WHERE check_name = 'log_secrets';
ALTER ROLE regress_health_app RESET log_statement;
-- a role in this database, and this database itself
DO $$ BEGIN
	EXECUTE format('ALTER ROLE regress_health_app IN DATABASE %I SET log_min_duration_statement = 0', current_database());
END $$;
SELECT status, detail LIKE 'log_min_duration_statement = 0 for role regress_health_app in this database: %' AS named
FROM trovella.health WHERE check_name = 'log_secrets';
DO $$ BEGIN
	EXECUTE format('ALTER ROLE regress_health_app IN DATABASE %I RESET log_min_duration_statement', current_database());
	EXECUTE format('ALTER DATABASE %I SET log_statement = ''mod''', current_database());
END $$;
SELECT status, detail LIKE 'log_statement = mod for this database: %' AS named
FROM trovella.health WHERE check_name = 'log_secrets';
DO $$ BEGIN
	EXECUTE format('ALTER DATABASE %I RESET log_statement', current_database());
END $$;
SELECT status FROM trovella.health WHERE check_name = 'log_secrets';

-- no cluster key row without Citus
SELECT count(*) FROM trovella.health WHERE check_name = 'cluster_key';

DROP TABLE health_loose, health_member;
DROP OWNED BY regress_health_owner;
DROP ROLE regress_health_monitor, regress_health_app, regress_health_owner;
