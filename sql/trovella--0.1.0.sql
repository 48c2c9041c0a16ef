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
