-- Jobs that work tenant by tenant: with_tenant() in a procedure called at
-- top level that commits after each tenant (the nightly-job pattern, as
-- pg_cron runs it), as an application role.
SET timezone = 'UTC';
CREATE ROLE regress_job_owner;
CREATE ROLE regress_job_app;
GRANT CREATE ON SCHEMA public TO regress_job_owner;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO regress_job_app;

SET ROLE regress_job_owner;
BEGIN;
CREATE TABLE job_rows (tenant_id uuid NOT NULL, note text);
SELECT trovella.enable_tenant_isolation('job_rows');
COMMIT;
GRANT SELECT, INSERT ON job_rows TO regress_job_app;

-- each tenant in a transaction of its own; the context ends at each COMMIT
CREATE PROCEDURE nightly(tenants uuid[]) LANGUAGE plpgsql AS $$
DECLARE
	t uuid;
BEGIN
	FOREACH t IN ARRAY tenants LOOP
		RAISE NOTICE 'before: %', (SELECT tenant_id FROM trovella.current_context());
		PERFORM trovella.with_tenant(t);
		INSERT INTO job_rows VALUES (t, 'nightly');
		RAISE NOTICE 'tenant %: % row(s) visible', trovella.current_tenant(), (SELECT count(*) FROM job_rows);
		COMMIT;
	END LOOP;
	RAISE NOTICE 'after: %', (SELECT tenant_id FROM trovella.current_context());
END $$;

-- the same, rolling back each tenant's work
CREATE PROCEDURE dry_run(tenants uuid[]) LANGUAGE plpgsql AS $$
DECLARE
	t uuid;
BEGIN
	FOREACH t IN ARRAY tenants LOOP
		PERFORM trovella.with_tenant(t);
		INSERT INTO job_rows VALUES (t, 'dry run');
		ROLLBACK;
		RAISE NOTICE 'after rollback: %', (SELECT tenant_id FROM trovella.current_context());
	END LOOP;
END $$;

-- two tenants without a commit in between: the seal holds (25000)
CREATE PROCEDURE careless(tenants uuid[]) LANGUAGE plpgsql AS $$
DECLARE
	t uuid;
BEGIN
	FOREACH t IN ARRAY tenants LOOP
		PERFORM trovella.with_tenant(t);
	END LOOP;
END $$;

-- a function cannot commit: outside a transaction block it still refuses
CREATE FUNCTION open_tenant(t uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM trovella.with_tenant(t);
END $$;
GRANT EXECUTE ON PROCEDURE nightly(uuid[]), dry_run(uuid[]), careless(uuid[]) TO regress_job_app;
GRANT EXECUTE ON FUNCTION open_tenant(uuid) TO regress_job_app;

SET ROLE regress_job_app;
CALL nightly(ARRAY['aaaaaaaa-0000-0000-0000-000000000000',
                   'bbbbbbbb-0000-0000-0000-000000000000',
                   'cccccccc-0000-0000-0000-000000000000']::uuid[]);
SELECT * FROM trovella.current_context();
CALL dry_run(ARRAY['aaaaaaaa-0000-0000-0000-000000000000',
                   'bbbbbbbb-0000-0000-0000-000000000000']::uuid[]);
\set VERBOSITY sqlstate
CALL careless(ARRAY['aaaaaaaa-0000-0000-0000-000000000000',
                    'bbbbbbbb-0000-0000-0000-000000000000']::uuid[]);
SELECT open_tenant('aaaaaaaa-0000-0000-0000-000000000000');
\set VERBOSITY terse
-- a DO block outside a transaction block may commit too
DO $$
BEGIN
	PERFORM trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
	RAISE NOTICE 'in the DO block: %', trovella.current_tenant();
	COMMIT;
	RAISE NOTICE 'after its COMMIT: %', (SELECT tenant_id FROM trovella.current_context());
END $$;
SELECT * FROM trovella.current_context();

RESET ROLE;
-- every tenant got its one row, and the dry run left nothing
SELECT tenant_id, note FROM job_rows ORDER BY tenant_id;

DROP TABLE job_rows;
DROP PROCEDURE nightly(uuid[]), dry_run(uuid[]), careless(uuid[]);
DROP FUNCTION open_tenant(uuid);
REVOKE CREATE ON SCHEMA public FROM regress_job_owner;
REVOKE EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) FROM regress_job_app;
DROP ROLE regress_job_owner;
DROP ROLE regress_job_app;
