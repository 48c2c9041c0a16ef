-- The seed ledger: a seed recorded once per name with its SHA-256, in its
-- own transaction; the same seed again is skipped, a changed one refused,
-- bad input refused with its SQLSTATE and nothing written.  As the
-- unprivileged role that runs the seeds.
CREATE ROLE regress_seeder;
CREATE ROLE regress_seed_other;
GRANT EXECUTE ON FUNCTION trovella.record_seed(text, text, text) TO regress_seeder;
SET ROLE regress_seeder;

-- new: true, and it commits with the seed's statements
BEGIN;
SELECT trovella.record_seed('0001_plans.sql', repeat('ab', 32), 'production');
COMMIT;
-- the same file again: false (skip it)
BEGIN;
SELECT trovella.record_seed('0001_plans.sql', repeat('AB', 32), 'production');
ROLLBACK;
-- changed since it was applied: refused (55000), saying so
BEGIN;
\set VERBOSITY sqlstate
SELECT trovella.record_seed('0001_plans.sql', repeat('cd', 32), 'production');
ROLLBACK;
BEGIN;
\set VERBOSITY terse
SELECT trovella.record_seed('0001_plans.sql', repeat('cd', 32), 'staging');
\set VERBOSITY default
ROLLBACK;
-- a seed whose transaction rolled back is not recorded: it runs again
BEGIN;
SELECT trovella.record_seed('0002_demo.sql', repeat('01', 32), 'dev');
ROLLBACK;
BEGIN;
SELECT trovella.record_seed('0002_demo.sql', repeat('01', 32), 'dev');
COMMIT;

-- bad input: nothing written
\set VERBOSITY sqlstate
BEGIN;
SELECT trovella.record_seed(NULL, repeat('ab', 32), 'dev');
ROLLBACK;
BEGIN;
SELECT trovella.record_seed('x.sql', NULL, 'dev');
ROLLBACK;
BEGIN;
SELECT trovella.record_seed('x.sql', repeat('ab', 32), NULL);
ROLLBACK;
BEGIN;
SELECT trovella.record_seed('', repeat('ab', 32), 'dev');
ROLLBACK;
BEGIN;
SELECT trovella.record_seed(E'bad\nname.sql', repeat('ab', 32), 'dev');
ROLLBACK;
BEGIN;
SELECT trovella.record_seed(repeat('n', 201), repeat('ab', 32), 'dev');
ROLLBACK;
BEGIN;
SELECT trovella.record_seed('x.sql', 'abc', 'dev');
ROLLBACK;
BEGIN;
SELECT trovella.record_seed('x.sql', repeat('zz', 32), 'dev');
ROLLBACK;
BEGIN;
SELECT trovella.record_seed('x.sql', repeat('ab', 32), 'Production');
ROLLBACK;
-- outside a transaction block the record would commit without the seed
SELECT trovella.record_seed('x.sql', repeat('ab', 32), 'dev');
\set VERBOSITY default
RESET ROLE;

-- what was recorded: two seeds, hashes in lower case, by whom
SELECT name, sha256 = repeat('ab', 32) OR sha256 = repeat('01', 32) AS hash_kept, environment,
       applied_by = session_user AS by_session_user
FROM trovella.seed ORDER BY name;

-- a role without the grant cannot record, nor read the ledger
SET ROLE regress_seed_other;
\set VERBOSITY sqlstate
BEGIN;
SELECT trovella.record_seed('y.sql', repeat('ab', 32), 'dev');
ROLLBACK;
SELECT * FROM trovella.seed;
\set VERBOSITY default
RESET ROLE;

-- the ledger is an extension configuration table: pg_dump keeps its rows
SELECT extconfig @> ARRAY['trovella.seed'::regclass::oid] AS dumped
FROM pg_extension WHERE extname = 'trovella';

DELETE FROM trovella.seed;
REVOKE EXECUTE ON FUNCTION trovella.record_seed(text, text, text) FROM regress_seeder;
DROP ROLE regress_seeder, regress_seed_other;
