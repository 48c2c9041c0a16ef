-- trovella 0.2.0 -> 0.3.0: tokens and ids after an outside review.

\echo Use "ALTER EXTENSION trovella UPDATE TO '0.3.0'" to load this file. \quit

-- A token's times are the statement's, not the transaction's start: a
-- revocation is stamped when it happens (pat_verify, authenticate and the
-- cap judge expiry at the statement's time too, in C).
CREATE OR REPLACE FUNCTION trovella.pat_revoke(token_id uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	me uuid := trovella.current_user_id();	-- no user context: 42501
BEGIN
	UPDATE trovella.personal_access_token t
	SET revoked_at = pg_catalog.statement_timestamp()
	WHERE t.id OPERATOR(pg_catalog.=) pat_revoke.token_id
	  AND t.user_id OPERATOR(pg_catalog.=) me
	  AND t.revoked_at IS NULL;
	RETURN FOUND;
END
$$;
