-- Everything the extension defines, as text: two databases whose outputs
-- are equal have the same extension objects.  Used by test/tap/upgrade.t.
-- Privileges are compared as the extension grants them (to PUBLIC and the
-- owner); what a database's users granted since is theirs, not the extension's.
LOAD 'trovella';
CREATE FUNCTION pg_temp.own_acl(acl aclitem[], owner oid) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(CASE x.grantee WHEN 0 THEN 'PUBLIC' ELSE 'owner' END || ':' || x.privilege_type, ','
	                  ORDER BY x.grantee, x.privilege_type)
	FROM aclexplode(coalesce(acl, acldefault('f', owner))) x
	WHERE x.grantee IN (0, owner)
$$;
SELECT kind, identity, detail FROM (
	SELECT 'member' AS kind, pg_describe_object(d.classid, d.objid, d.objsubid) AS identity, '' AS detail
	FROM pg_depend d
	WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'trovella')
	UNION ALL
	SELECT 'function', p.oid::regprocedure::text,
	       concat_ws(' | ', p.provolatile, p.proisstrict, p.prosecdef, p.proparallel, p.proleakproof,
	                 p.proconfig::text, pg_temp.own_acl(p.proacl, p.proowner), pg_get_function_result(p.oid),
	                 pg_get_function_arguments(p.oid), md5(p.prosrc), p.probin,
	                 obj_description(p.oid, 'pg_proc'))
	FROM pg_proc p WHERE p.pronamespace = 'trovella'::regnamespace
	UNION ALL
	SELECT 'relation', c.oid::regclass::text,
	       concat_ws(' | ', c.relkind, pg_temp.own_acl(c.relacl, c.relowner), c.relrowsecurity, c.relforcerowsecurity,
	                 c.reloptions::text, obj_description(c.oid, 'pg_class'),
	                 CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END)
	FROM pg_class c WHERE c.relnamespace = 'trovella'::regnamespace
	UNION ALL
	SELECT 'column', a.attrelid::regclass || '.' || a.attname,
	       concat_ws(' | ', a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
	                 pg_get_expr(ad.adbin, ad.adrelid))
	FROM pg_attribute a
	JOIN pg_class c ON c.oid = a.attrelid
	LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
	WHERE c.relnamespace = 'trovella'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
	UNION ALL
	SELECT 'index', i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
	FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
	WHERE c.relnamespace = 'trovella'::regnamespace
	UNION ALL
	SELECT 'constraint', conrelid::regclass || '.' || conname, pg_get_constraintdef(oid)
	FROM pg_constraint WHERE connamespace = 'trovella'::regnamespace
	UNION ALL
	SELECT 'policy', p.polrelid::regclass || '.' || p.polname,
	       concat_ws(' | ', p.polcmd, p.polpermissive, p.polroles::regrole[]::text,
	                 pg_get_expr(p.polwithcheck, p.polrelid), pg_get_expr(p.polqual, p.polrelid))
	FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
	WHERE c.relnamespace = 'trovella'::regnamespace
	UNION ALL
	SELECT 'sequence', s.seqrelid::regclass::text,
	       concat_ws(' ', format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmax, s.seqmin,
	                 s.seqcycle, s.seqcache)
	FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
	WHERE c.relnamespace = 'trovella'::regnamespace
	UNION ALL
	SELECT 'event trigger', evtname,
	       concat_ws(' | ', evtevent, evtenabled, evtfoid::regproc, evttags::text,
	                 obj_description(oid, 'pg_event_trigger'))
	FROM pg_event_trigger
	UNION ALL
	SELECT 'setting', name, concat_ws(' | ', boot_val, context, vartype, enumvals::text)
	FROM pg_settings WHERE name LIKE 'trovella.%'
	UNION ALL
	SELECT 'extension', extname, concat_ws(' | ', extversion, extrelocatable, extconfig::regclass[]::text, extcondition::text)
	FROM pg_extension WHERE extname = 'trovella'
	UNION ALL
	SELECT 'schema', nspname, pg_temp.own_acl(nspacl, nspowner) FROM pg_namespace WHERE nspname = 'trovella'
) s
ORDER BY 1, 2, 3;
