-- trovella 0.1.0: multi-tenant SaaS rules in the database.

\echo Use "CREATE EXTENSION trovella" to load this file. \quit

-- Policies call current_tenant(), so every role must be able to reach it.
GRANT USAGE ON SCHEMA trovella TO PUBLIC;

------------------------------------------------------------------------
-- ULID-as-uuid identifiers
------------------------------------------------------------------------

CREATE FUNCTION trovella.ulid_uuid()
RETURNS uuid
AS 'MODULE_PATHNAME', 'trovella_ulid_uuid'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION trovella.ulid_uuid() IS
'new time-ordered id (a ULID stored as uuid), strictly increasing within a backend';

CREATE FUNCTION trovella.ulid_uuid(ts timestamptz)
RETURNS uuid
AS 'MODULE_PATHNAME', 'trovella_ulid_uuid_at'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION trovella.ulid_uuid(timestamptz) IS
'new id for the given time, with fresh random bits (backfills, tests)';

CREATE FUNCTION trovella.ulid_to_uuid(ulid text)
RETURNS uuid
AS 'MODULE_PATHNAME', 'trovella_ulid_to_uuid'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION trovella.ulid_to_uuid(text) IS
'decodes a 26-character Crockford base32 ULID (any case) into a uuid';

CREATE FUNCTION trovella.uuid_to_ulid(id uuid)
RETURNS text
AS 'MODULE_PATHNAME', 'trovella_uuid_to_ulid'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION trovella.uuid_to_ulid(uuid) IS
'encodes a uuid as 26 uppercase Crockford base32 characters';

CREATE FUNCTION trovella.ulid_time(id uuid)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'trovella_ulid_time'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION trovella.ulid_time(uuid) IS
'the millisecond timestamp embedded in a ULID';

CREATE FUNCTION trovella.ulid_min(ts timestamptz)
RETURNS uuid
AS 'MODULE_PATHNAME', 'trovella_ulid_min'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION trovella.ulid_min(timestamptz) IS
'smallest id of the millisecond of ts, for range scans: id >= ulid_min(a) AND id < ulid_min(b)';

CREATE FUNCTION trovella.ulid_max(ts timestamptz)
RETURNS uuid
AS 'MODULE_PATHNAME', 'trovella_ulid_max'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION trovella.ulid_max(timestamptz) IS
'largest id of the millisecond of ts';

CREATE FUNCTION trovella.rich_id(prefix text, id uuid)
RETURNS text
AS 'MODULE_PATHNAME', 'trovella_rich_id'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION trovella.rich_id(text, uuid) IS
'prefix-ULID text form of an id, e.g. tenant-01H2XVNZ7C9NXWK3TMCRD9QWMN';

CREATE FUNCTION trovella.rich_id_to_uuid(rich text, expected_prefix text)
RETURNS uuid
AS 'MODULE_PATHNAME', 'trovella_rich_id_to_uuid'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION trovella.rich_id_to_uuid(text, text) IS
'the uuid of a rich id; an error unless it carries expected_prefix';

------------------------------------------------------------------------
-- Tenant and user context
------------------------------------------------------------------------

CREATE FUNCTION trovella.with_tenant(tenant_id uuid, user_id uuid DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'trovella_with_tenant'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.with_tenant(uuid, uuid) IS
'sets the tenant (and the user, when given) for the rest of the current transaction; sealed once set';

CREATE FUNCTION trovella.with_user(user_id uuid)
RETURNS void
AS 'MODULE_PATHNAME', 'trovella_with_user'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.with_user(uuid) IS
'sets only the user for the rest of the current transaction; sealed once set';

-- STABLE: reads the transaction's context, which no statement can change
-- to another tenant.
CREATE FUNCTION trovella.current_tenant()
RETURNS uuid
AS 'MODULE_PATHNAME', 'trovella_current_tenant'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION trovella.current_tenant() IS
'the tenant of the current transaction; an error (42501) when there is none';

-- STABLE: reads the transaction's context.
CREATE FUNCTION trovella.current_user_id()
RETURNS uuid
AS 'MODULE_PATHNAME', 'trovella_current_user_id'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION trovella.current_user_id() IS
'the user of the current transaction; an error (42501) when there is none';

-- STABLE: reads the transaction's context.
CREATE FUNCTION trovella.current_context(OUT tenant_id uuid, OUT user_id uuid)
RETURNS record
AS 'MODULE_PATHNAME', 'trovella_current_context'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION trovella.current_context() IS
'the current (tenant_id, user_id), NULL where unset; never an error';

-- Asserting an identity is the trusted application role's right.
REVOKE EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION trovella.with_user(uuid) FROM PUBLIC;

------------------------------------------------------------------------
-- Row-level security helpers.  The catalog (pg_policy, pg_class,
-- pg_depend) is the only record of what is isolated.
------------------------------------------------------------------------

-- STABLE: reads the catalog.  True when policy_id has exactly the shape
-- trovella gives its policies for tenant_column.
CREATE FUNCTION trovella.is_tenant_policy(policy_id oid, tenant_column name, permissive boolean)
RETURNS boolean
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT p.polcmd = '*'
	   AND p.polroles = '{0}'
	   AND p.polpermissive = permissive
	   AND pg_get_expr(p.polqual, p.polrelid) = e.expected
	   AND pg_get_expr(p.polwithcheck, p.polrelid) = e.expected
	FROM pg_policy p,
	     LATERAL (SELECT format('(%I = ( SELECT trovella.current_tenant() AS current_tenant))',
	                            tenant_column) AS expected) e
	WHERE p.oid = policy_id
$$;
COMMENT ON FUNCTION trovella.is_tenant_policy(oid, name, boolean) IS
'true when the policy is exactly what enable_tenant_isolation creates for that column (FOR ALL, TO PUBLIC, same USING and WITH CHECK)';

-- STABLE: reads the catalog.
CREATE FUNCTION trovella.tenant_policy_column(tbl regclass)
RETURNS name
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT a.attname
	FROM pg_policy p
	JOIN pg_depend d ON d.classid = 'pg_policy'::regclass AND d.objid = p.oid
	                AND d.refclassid = 'pg_class'::regclass AND d.refobjid = p.polrelid
	                AND d.refobjsubid > 0
	JOIN pg_attribute a ON a.attrelid = p.polrelid AND a.attnum = d.refobjsubid
	WHERE p.polrelid = tbl
	  AND p.polname IN ('trovella_tenant_isolation', 'trovella_tenant_access')
	ORDER BY p.polname DESC, a.attnum
	LIMIT 1
$$;
COMMENT ON FUNCTION trovella.tenant_policy_column(regclass) IS
'the column trovella''s policies on the table compare with the current tenant, or NULL';

-- STABLE: reads the catalog.
CREATE FUNCTION trovella.is_isolated(tbl regclass, tenant_column name)
RETURNS boolean
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.relrowsecurity AND c.relforcerowsecurity
	   AND coalesce((SELECT trovella.is_tenant_policy(p.oid, tenant_column, false)
	                 FROM pg_policy p
	                 WHERE p.polrelid = c.oid AND p.polname = 'trovella_tenant_isolation'), false)
	   AND coalesce((SELECT trovella.is_tenant_policy(p.oid, tenant_column, true)
	                 FROM pg_policy p
	                 WHERE p.polrelid = c.oid AND p.polname = 'trovella_tenant_access'), false)
	FROM pg_class c
	WHERE c.oid = tbl
$$;
COMMENT ON FUNCTION trovella.is_isolated(regclass, name) IS
'true when the table has RLS enabled and forced and both trovella policies, unaltered, for that column';

-- STABLE: reads the catalog.  The column's default, when trovella set it.
CREATE FUNCTION trovella.has_tenant_default(tbl regclass, tenant_column name)
RETURNS boolean
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (
		SELECT 1
		FROM pg_attrdef d
		JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
		WHERE d.adrelid = tbl AND a.attname = tenant_column
		  AND pg_get_expr(d.adbin, d.adrelid) = 'trovella.current_tenant()')
$$;
COMMENT ON FUNCTION trovella.has_tenant_default(regclass, name) IS
'true when the column''s default is trovella.current_tenant(), as enable_tenant_isolation sets it';

-- Removes trovella's policies from one table, and the default they set.
CREATE FUNCTION trovella.drop_tenant_policies(tbl regclass)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	old_column name := trovella.tenant_policy_column(tbl);
	policy name;
	dropped boolean := false;
BEGIN
	FOR policy IN
		SELECT p.polname FROM pg_policy p
		WHERE p.polrelid = tbl AND p.polname IN ('trovella_tenant_isolation', 'trovella_tenant_access')
	LOOP
		EXECUTE format('DROP POLICY %I ON %s', policy, tbl);
		dropped := true;
	END LOOP;
	IF old_column IS NOT NULL AND trovella.has_tenant_default(tbl, old_column) THEN
		EXECUTE format('ALTER TABLE ONLY %s ALTER COLUMN %I DROP DEFAULT', tbl, old_column);
	END IF;
	RETURN dropped;
END
$$;
COMMENT ON FUNCTION trovella.drop_tenant_policies(regclass) IS
'drops trovella''s two policies on one table and the tenant default they set; false when it had none';

CREATE FUNCTION trovella.enable_tenant_isolation(tbl regclass, tenant_column name DEFAULT 'tenant_id')
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	kind "char";
	column_type regtype;
	member regclass;
	condition text := format('%I OPERATOR(pg_catalog.=) (SELECT trovella.current_tenant())', tenant_column);
BEGIN
	SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = tbl;
	IF kind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION 'trovella: % is not a table', tbl
			USING ERRCODE = 'wrong_object_type',
			      HINT = 'Tenant isolation applies to ordinary and partitioned tables.';
	END IF;

	SELECT a.atttypid INTO column_type
	FROM pg_attribute a
	WHERE a.attrelid = tbl AND a.attname = tenant_column AND a.attnum > 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'trovella: column "%" of table % does not exist', tenant_column, tbl
			USING ERRCODE = 'undefined_column',
			      HINT = 'Name the tenant column as the second argument.';
	END IF;
	IF column_type <> 'uuid'::regtype THEN
		RAISE EXCEPTION 'trovella: tenant column "%" of table % is of type %, not uuid',
				tenant_column, tbl, column_type
			USING ERRCODE = 'datatype_mismatch',
			      HINT = 'trovella.current_tenant() returns uuid; store tenant ids as uuid.';
	END IF;

	-- the table, then every partition below it
	FOR member IN
		SELECT tbl
		UNION ALL
		SELECT t.relid FROM pg_partition_tree(tbl) t WHERE t.relid <> tbl AND t.level > 0
	LOOP
		PERFORM trovella.drop_tenant_policies(member);
		EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', member);
		EXECUTE format('CREATE POLICY trovella_tenant_isolation ON %s AS RESTRICTIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
		               member, condition, condition);
		EXECUTE format('CREATE POLICY trovella_tenant_access ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
		               member, condition, condition);
		IF NOT EXISTS (SELECT 1 FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
		               WHERE d.adrelid = member AND a.attname = tenant_column) THEN
			EXECUTE format('ALTER TABLE ONLY %s ALTER COLUMN %I SET DEFAULT trovella.current_tenant()',
			               member, tenant_column);
		END IF;
	END LOOP;

	IF NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
	               WHERE i.indrelid = tbl AND a.attname = tenant_column AND i.indpred IS NULL) THEN
		RAISE NOTICE 'trovella: no index of % has "%" as its leading column', tbl, tenant_column
			USING HINT = format('Every tenant query filters on it: CREATE INDEX ON %s (%I);', tbl, tenant_column);
	END IF;
END
$$;
COMMENT ON FUNCTION trovella.enable_tenant_isolation(regclass, name) IS
'enables and forces RLS on the table and its partitions with trovella''s restrictive and permissive tenant policies; idempotent';

CREATE FUNCTION trovella.disable_tenant_isolation(tbl regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	member regclass;
BEGIN
	FOR member IN
		SELECT tbl
		UNION ALL
		SELECT t.relid FROM pg_partition_tree(tbl) t WHERE t.relid <> tbl AND t.level > 0
	LOOP
		IF NOT trovella.drop_tenant_policies(member) THEN
			CONTINUE;			-- not isolated by trovella: leave its RLS alone
		END IF;
		EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', member);
		IF NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = member) THEN
			EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', member);
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION trovella.disable_tenant_isolation(regclass) IS
'drops trovella''s policies and tenant default from the table and its partitions, un-forces RLS, and disables it where no other policy remains';

CREATE FUNCTION trovella.isolate_schema(schema name DEFAULT 'public', tenant_column name DEFAULT 'tenant_id')
RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tbl regclass;
	changed regclass[] := '{}';
BEGIN
	-- what is not isolated yet, decided before anything changes
	SELECT coalesce(array_agg(c.oid::regclass ORDER BY c.relispartition, c.oid), '{}') INTO changed
	FROM pg_class c
	JOIN pg_namespace n ON n.oid = c.relnamespace
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = tenant_column AND a.attnum > 0 AND NOT a.attisdropped
	WHERE n.nspname = schema AND c.relkind IN ('r', 'p')
	  AND NOT (trovella.is_isolated(c.oid, tenant_column) AND trovella.has_tenant_default(c.oid, tenant_column));

	FOREACH tbl IN ARRAY changed LOOP
		PERFORM trovella.enable_tenant_isolation(tbl, tenant_column);
		RETURN NEXT tbl;
	END LOOP;
END
$$;
COMMENT ON FUNCTION trovella.isolate_schema(name, name) IS
'enables tenant isolation on every table of the schema that has the tenant column; returns the tables it changed';

-- The audit: every table that is, or looks as if it should be, tenant
-- isolated, and what is wrong with it.  security_invoker, as it advises.
CREATE VIEW trovella.isolation_status WITH (security_invoker = true) AS
SELECT c.oid::regclass AS table_name,
       col.attname AS tenant_column,
       c.relrowsecurity AS rls_enabled,
       c.relforcerowsecurity AS rls_forced,
       coalesce(trovella.is_tenant_policy(iso.oid, col.attname, false)
                AND trovella.is_tenant_policy(acc.oid, col.attname, true), false) AS policy_ok,
       idx.has_index,
       array_remove(ARRAY[
           CASE WHEN NOT c.relrowsecurity THEN 'RLS disabled' END,
           CASE WHEN NOT c.relforcerowsecurity THEN 'RLS not forced' END,
           CASE WHEN iso.oid IS NULL THEN 'policy missing' END,
           CASE WHEN NOT trovella.is_tenant_policy(iso.oid, col.attname, false) THEN 'policy altered' END,
           CASE WHEN acc.oid IS NULL THEN 'permissive policy missing' END,
           CASE WHEN NOT trovella.is_tenant_policy(acc.oid, col.attname, true) THEN 'permissive policy altered' END,
           CASE WHEN NOT idx.has_index THEN 'no tenant index' END,
           CASE WHEN NOT col.attnotnull THEN 'tenant column nullable' END
       ], NULL)
       || ARRAY(SELECT format('partition %s not isolated', t.relid)
                FROM pg_partition_tree(c.oid) t
                WHERE t.level > 0 AND NOT coalesce(trovella.is_isolated(t.relid, col.attname), false)
                ORDER BY t.relid::text)
       || ARRAY(SELECT DISTINCT format(CASE v.relkind WHEN 'm' THEN 'materialized view %s copies this table''s rows'
                                       ELSE 'view %s reads this table without security_invoker' END,
                                       v.oid::regclass)
                FROM pg_depend d
                JOIN pg_rewrite r ON r.oid = d.objid
                JOIN pg_class v ON v.oid = r.ev_class
                WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
                  AND d.refobjid = c.oid AND v.oid <> c.oid
                  AND (v.relkind = 'm'
                       OR NOT coalesce((SELECT o.option_value::boolean
                                        FROM pg_options_to_table(v.reloptions) o
                                        WHERE o.option_name = 'security_invoker'), false)))
       AS problems
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_policy iso ON iso.polrelid = c.oid AND iso.polname = 'trovella_tenant_isolation'
LEFT JOIN pg_policy acc ON acc.polrelid = c.oid AND acc.polname = 'trovella_tenant_access'
CROSS JOIN LATERAL (
    SELECT a.attname, a.attnum, a.attnotnull
    FROM pg_attribute a
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attname = coalesce(trovella.tenant_policy_column(c.oid),
                               current_setting('trovella.tenant_column', true)::name,
                               'tenant_id')
) col
CROSS JOIN LATERAL (
    SELECT EXISTS (SELECT 1 FROM pg_index i
                   WHERE i.indrelid = c.oid AND i.indkey[0] = col.attnum AND i.indpred IS NULL) AS has_index
) idx
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT LIKE 'pg\_%'
  AND n.nspname NOT IN ('information_schema', 'trovella');
COMMENT ON VIEW trovella.isolation_status IS
'every table with a trovella policy or a column named as trovella.tenant_column, and what keeps it from being isolated; audit with WHERE problems <> ''{}''';
GRANT SELECT ON trovella.isolation_status TO PUBLIC;

------------------------------------------------------------------------
-- Personal access tokens.  Only trovella's functions touch the table; no
-- role is granted anything on it.  pat_list and pat_revoke are SECURITY
-- DEFINER.  pat_create, pat_verify and authenticate, called on every
-- request, are C functions that take the owner's rights themselves, only
-- around their table access and with pg_catalog alone on the search path
-- (see src/pat_sql.c): the same rights without a SET clause's cost.
------------------------------------------------------------------------

CREATE TABLE trovella.personal_access_token (
	id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(),
	user_id uuid NOT NULL,
	name text NOT NULL,
	token_hint text NOT NULL,
	token_hash bytea NOT NULL UNIQUE,
	scopes text[] NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	last_used_at timestamptz,
	revoked_at timestamptz
);
CREATE INDEX personal_access_token_user_idx ON trovella.personal_access_token (user_id, created_at);
COMMENT ON TABLE trovella.personal_access_token IS
'personal access tokens: a SHA-256 digest of each token, never the token; reached only through trovella''s functions';
REVOKE ALL ON trovella.personal_access_token FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('trovella.personal_access_token', '');

CREATE FUNCTION trovella.pat_is_well_formed(token text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'trovella_pat_is_well_formed'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION trovella.pat_is_well_formed(text) IS
'true when the token has the trv_ prefix, 40 base62 characters and a matching checksum; reads no table';

CREATE FUNCTION trovella.pat_create(name text, expires_at timestamptz, scopes text[] DEFAULT '{}',
                                    OUT token_id uuid, OUT token text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'trovella_pat_create'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.pat_create(text, timestamptz, text[]) IS
'creates a token for trovella.current_user_id() and returns its plaintext, the only time it is ever shown';

CREATE FUNCTION trovella.pat_verify(token text,
                                    OUT token_id uuid, OUT user_id uuid, OUT scopes text[], OUT expires_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'trovella_pat_verify'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.pat_verify(text) IS
'one row for a well-formed, known, unrevoked, unexpired token; no row otherwise, whatever the reason';

CREATE FUNCTION trovella.authenticate(token text,
                                      OUT token_id uuid, OUT user_id uuid, OUT scopes text[], OUT expires_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'trovella_authenticate'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.authenticate(text) IS
'pat_verify, then with_user() for the token''s user; an invalid token is an error (28000)';

-- STABLE: reads the table and the transaction's context.
CREATE FUNCTION trovella.pat_list()
RETURNS TABLE (token_id uuid, name text, token_hint text, scopes text[], created_at timestamptz,
               expires_at timestamptz, last_used_at timestamptz, revoked_at timestamptz)
LANGUAGE plpgsql STABLE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	me uuid := trovella.current_user_id();	-- no user context: 42501, even with no tokens
BEGIN
	RETURN QUERY
		SELECT t.id, t.name, t.token_hint, t.scopes, t.created_at, t.expires_at, t.last_used_at, t.revoked_at
		FROM trovella.personal_access_token t
		WHERE t.user_id OPERATOR(pg_catalog.=) me
		ORDER BY t.created_at DESC, t.id DESC;
END
$$;
COMMENT ON FUNCTION trovella.pat_list() IS
'the current user''s tokens, newest first, with their hints but never their secrets';

CREATE FUNCTION trovella.pat_revoke(token_id uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	me uuid := trovella.current_user_id();	-- no user context: 42501
BEGIN
	UPDATE trovella.personal_access_token t
	SET revoked_at = pg_catalog.now()
	WHERE t.id OPERATOR(pg_catalog.=) pat_revoke.token_id
	  AND t.user_id OPERATOR(pg_catalog.=) me
	  AND t.revoked_at IS NULL;
	RETURN FOUND;
END
$$;
COMMENT ON FUNCTION trovella.pat_revoke(uuid) IS
'revokes one of the current user''s tokens; false when unknown, not theirs, or already revoked';

-- Token functions grant an identity or reveal a user's tokens: the
-- application role gets them explicitly.
REVOKE EXECUTE ON FUNCTION trovella.pat_create(text, timestamptz, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION trovella.pat_verify(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION trovella.authenticate(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION trovella.pat_list() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION trovella.pat_revoke(uuid) FROM PUBLIC;
