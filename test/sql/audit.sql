-- isolation_status after an outside review (0.3.0): it is never silent
-- about a policy that differs from enable_tenant_isolation's, and it names
-- the holes RLS leaves open around an isolated table.  Run as the tables'
-- non-superuser owner, as a migration would.
CREATE ROLE regress_audit_owner;
CREATE ROLE regress_audit_app;
GRANT CREATE ON SCHEMA public TO regress_audit_owner;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO regress_audit_app, regress_audit_owner;
SET trovella.isolation_guard = off;
SET ROLE regress_audit_owner;

-- One isolated table per way a policy can differ.
CREATE FUNCTION audit_table(name text) RETURNS regclass LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('CREATE TABLE %I (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text)', name);
	EXECUTE format('CREATE INDEX ON %I (tenant_id)', name);
	PERFORM trovella.enable_tenant_isolation(name::regclass);
	RETURN name::regclass;
END
$$;
SELECT audit_table(t) FROM unnest(ARRAY['p_null', 'p_no_check', 'p_select', 'p_role', 'p_expr', 'p_permissive', 'p_restrictive']) t;
-- what drizzle-kit pull writes back: the policy without its clauses
DROP POLICY trovella_tenant_isolation ON p_null;
CREATE POLICY trovella_tenant_isolation ON p_null AS RESTRICTIVE FOR ALL TO PUBLIC;
DROP POLICY trovella_tenant_isolation ON p_no_check;
CREATE POLICY trovella_tenant_isolation ON p_no_check AS RESTRICTIVE FOR ALL TO PUBLIC
	USING (tenant_id = (SELECT trovella.current_tenant()));
DROP POLICY trovella_tenant_isolation ON p_select;
CREATE POLICY trovella_tenant_isolation ON p_select AS RESTRICTIVE FOR SELECT TO PUBLIC
	USING (tenant_id = (SELECT trovella.current_tenant()));
ALTER POLICY trovella_tenant_isolation ON p_role TO regress_audit_app;
ALTER POLICY trovella_tenant_access ON p_expr USING (tenant_id IS NOT NULL);
DROP POLICY trovella_tenant_isolation ON p_permissive;
CREATE POLICY trovella_tenant_isolation ON p_permissive AS PERMISSIVE FOR ALL TO PUBLIC
	USING (tenant_id = (SELECT trovella.current_tenant())) WITH CHECK (tenant_id = (SELECT trovella.current_tenant()));
DROP POLICY trovella_tenant_access ON p_restrictive;
CREATE POLICY trovella_tenant_access ON p_restrictive AS RESTRICTIVE FOR ALL TO PUBLIC
	USING (tenant_id = (SELECT trovella.current_tenant())) WITH CHECK (tenant_id = (SELECT trovella.current_tenant()));
SELECT table_name, policy_ok, problems FROM trovella.isolation_status
WHERE table_name::text LIKE 'p\_%' ORDER BY table_name::text;
-- the rule: policy_ok = false always comes with a reason
SELECT count(*) AS silent_broken_tables FROM trovella.isolation_status WHERE NOT policy_ok AND problems = '{}';

-- Why it matters: with the clause-less policy and one permissive policy
-- more, tenant A reads tenant B's rows.
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
INSERT INTO p_null (body) VALUES ('b secret');
COMMIT;
CREATE POLICY open_read ON p_null FOR SELECT USING (true);
GRANT SELECT ON p_null TO regress_audit_app;
SET ROLE regress_audit_app;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
SELECT body AS read_by_tenant_a FROM p_null;
COMMIT;
SET ROLE regress_audit_owner;
SELECT problems FROM trovella.isolation_status WHERE table_name = 'p_null'::regclass;

-- Foreign keys: referential checks bypass RLS.
CREATE TABLE fk_parent (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL,
                        UNIQUE (tenant_id, id));
CREATE TABLE fk_child (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL,
                       parent_id uuid REFERENCES fk_parent (id) ON DELETE CASCADE);
CREATE TABLE fk_good (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, parent_id uuid,
                      FOREIGN KEY (tenant_id, parent_id) REFERENCES fk_parent (tenant_id, id));
CREATE TABLE fk_global (id int, parent_id uuid REFERENCES fk_parent (id));
CREATE INDEX ON fk_parent (tenant_id);
CREATE INDEX ON fk_child (tenant_id);
CREATE INDEX ON fk_good (tenant_id);
SELECT trovella.enable_tenant_isolation(t) FROM unnest(ARRAY['fk_parent', 'fk_child', 'fk_good']::regclass[]) t;
SELECT table_name, problems FROM trovella.isolation_status
WHERE table_name::text LIKE 'fk\_%' ORDER BY table_name::text;

-- Unique keys without the tenant column answer for every tenant; a
-- single-column key the database draws at random does not.
CREATE TABLE uq (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant_id uuid NOT NULL,
                 email text UNIQUE, slug text, code text, ext_id uuid UNIQUE,
                 UNIQUE (tenant_id, slug));
CREATE UNIQUE INDEX uq_code_live ON uq (lower(code)) WHERE code IS NOT NULL;
CREATE INDEX ON uq (tenant_id);
SELECT trovella.enable_tenant_isolation('uq');
SELECT unnest(problems) AS uq_problems FROM trovella.isolation_status WHERE table_name = 'uq'::regclass;

-- Privileges RLS does not limit, triggers and rules.
CREATE TABLE priv (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text);
CREATE INDEX ON priv (tenant_id);
SELECT trovella.enable_tenant_isolation('priv');
GRANT ALL ON priv TO regress_audit_app;
GRANT REFERENCES ON priv TO PUBLIC;
CREATE TABLE priv_copy (body text);
CREATE FUNCTION priv_copy_out() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
	INSERT INTO priv_copy VALUES (NEW.body);
	RETURN NEW;
END
$$;
CREATE TRIGGER copy_out AFTER INSERT ON priv FOR EACH ROW EXECUTE FUNCTION priv_copy_out();
CREATE RULE also_copy AS ON INSERT TO priv DO ALSO INSERT INTO priv_copy VALUES (NEW.body);
SELECT unnest(problems) AS priv_problems FROM trovella.isolation_status WHERE table_name = 'priv'::regclass;
-- with only what RLS covers granted, and the code read and marked as
-- reviewed (or gone), nothing is left to say
REVOKE ALL ON priv FROM regress_audit_app, PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON priv TO regress_audit_app;
COMMENT ON TRIGGER copy_out ON priv IS 'trovella: reviewed by the security team';
SELECT unnest(problems) AS after_review FROM trovella.isolation_status WHERE table_name = 'priv'::regclass;
DROP RULE also_copy ON priv;
SELECT problems FROM trovella.isolation_status WHERE table_name = 'priv'::regclass;

RESET ROLE;
DROP TABLE p_null, p_no_check, p_select, p_role, p_expr, p_permissive, p_restrictive,
           fk_global, fk_good, fk_child, fk_parent, uq, priv, priv_copy;
DROP FUNCTION audit_table(text), priv_copy_out();
REVOKE ALL ON SCHEMA public FROM regress_audit_owner;
DROP ROLE regress_audit_owner;
REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid) FROM regress_audit_app, regress_audit_owner;
DROP ROLE regress_audit_app;
RESET trovella.isolation_guard;
