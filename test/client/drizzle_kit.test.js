// drizzle-kit, the schema tool of trovella's users, run for real (the
// version pinned in package-lock.json): with the table declared through
// trovella-drizzle's helpers, generate and push plan no change and leave the
// isolation intact; without them, push would strip it, and only the guard in
// error stops it (while push still exits 0).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pg } from './db.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const kitDir = path.join(here, 'drizzle-kit');
const kit = path.join(here, 'node_modules', '.bin', 'drizzle-kit');
const DATABASE = 'trovella_drizzle_kit';
const OWNER = 'regress_dk_owner';
const OUT = `out-${process.pid}`;      // drizzle-kit wants it relative to its directory
const password = randomBytes(18).toString('base64url');
let admin;
let db;

function drizzleKit(args, schema) {
  const run = spawnSync(kit, [...args, '--config', 'drizzle.config.js'], {
    cwd: kitDir,
    encoding: 'utf8',
    timeout: 120000,
    env: {
      ...process.env,
      // trovella-drizzle is linked into node_modules: resolve drizzle-orm there
      NODE_OPTIONS: '--preserve-symlinks',
      DK_SCHEMA: `./${schema}`,
      DK_OUT: `./${OUT}`,
      DK_USER: OWNER,
      DK_PASSWORD: password,
      DK_DATABASE: DATABASE,
    },
  });
  return { status: run.status, output: `${run.stdout}\n${run.stderr}` };
}

async function problems() {
  const { rows } = await db.query(
    `SELECT problems FROM trovella.isolation_status WHERE table_name = 'dk_projects'::regclass`);
  return rows[0].problems;
}

before(async () => {
  admin = new pg.Client({ database: process.env.TROVELLA_TEST_DB || 'trovella_client' });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE}`);
  await admin.query(`DROP ROLE IF EXISTS ${OWNER}`);
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.query(`CREATE ROLE ${OWNER} LOGIN PASSWORD '${password}'`);
  // CREATE EXTENSION needs a superuser first; migrations then run as the owner
  db = new pg.Client({ database: DATABASE });
  await db.connect();
  await db.query('CREATE EXTENSION trovella');
  await db.query(`GRANT CREATE ON SCHEMA public TO ${OWNER}`);
  await db.query(`GRANT CREATE ON DATABASE ${DATABASE} TO ${OWNER}`);   // drizzle's journal schema
});

after(async () => {
  rmSync(path.join(kitDir, OUT), { recursive: true, force: true });
  await db.end();
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE}`);
  await admin.query(`DROP ROLE IF EXISTS ${OWNER}`);
  await admin.end();
});

test('generate writes both policies with their clauses, RLS and the tenant default', () => {
  const run = drizzleKit(['generate'], 'schema.js');
  assert.equal(run.status, 0, run.output);
  const [file] = readdirSync(path.join(kitDir, OUT)).filter((f) => f.endsWith('.sql'));
  const migration = readFileSync(path.join(kitDir, OUT, file), 'utf8');
  const check = '(tenant_id = ( SELECT trovella.current_tenant() AS current_tenant))';
  assert.match(migration, /"tenant_id" uuid DEFAULT trovella\.current_tenant\(\) NOT NULL/);
  assert.match(migration, /ALTER TABLE "dk_projects" ENABLE ROW LEVEL SECURITY/);
  for (const [name, kind] of [['trovella_tenant_isolation', 'RESTRICTIVE'], ['trovella_tenant_access', 'PERMISSIVE']]) {
    assert.ok(migration.includes(`CREATE POLICY "${name}" ON "dk_projects" AS ${kind} FOR ALL TO public USING (${check}) WITH CHECK (${check})`),
      `${name} with both clauses in:\n${migration}`);
  }
});

test('a custom migration runs enable_tenant_isolation; migrate leaves the table isolated', async () => {
  const custom = drizzleKit(['generate', '--custom', '--name', 'isolate'], 'schema.js');
  assert.equal(custom.status, 0, custom.output);
  const [file] = readdirSync(path.join(kitDir, OUT)).filter((f) => f.endsWith('_isolate.sql'));
  writeFileSync(path.join(kitDir, OUT, file), "SELECT trovella.enable_tenant_isolation('dk_projects');\n");
  const run = drizzleKit(['migrate'], 'schema.js');
  assert.equal(run.status, 0, run.output);
  assert.deepEqual(await problems(), []);
});

test('generate again plans nothing', () => {
  const before = readdirSync(path.join(kitDir, OUT)).length;
  const run = drizzleKit(['generate'], 'schema.js');
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, /No schema changes, nothing to migrate/);
  assert.equal(readdirSync(path.join(kitDir, OUT)).length, before, 'no new migration file');
});

for (const args of [['push'], ['push', '--force']]) {
  test(`${args.join(' ')} detects no change and isolation stays intact`, async () => {
    const run = drizzleKit([...args, '--verbose'], 'schema.js');
    assert.equal(run.status, 0, run.output);
    assert.match(run.output, /No changes detected/);
    assert.doesNotMatch(run.output, /DROP POLICY|DISABLE ROW LEVEL SECURITY|DROP DEFAULT/);
    assert.deepEqual(await problems(), []);
  });
}

test('push of the table without the declarations would strip isolation: the guard in error refuses it, push still exits 0', async () => {
  await db.query(`ALTER DATABASE ${DATABASE} SET trovella.isolation_guard = error`);
  try {
    const run = drizzleKit(['push', '--force', '--verbose'], 'bare-schema.js');
    assert.match(run.output, /DROP POLICY "trovella_tenant_isolation"/, 'what push plans');
    assert.match(run.output, /code: '55000'/, 'the guard refused it');
    assert.equal(run.status, 0, 'drizzle-kit push reports success anyway: check the database, not its exit status');
    assert.deepEqual(await problems(), [], 'nothing was stripped');
  } finally {
    await db.query(`ALTER DATABASE ${DATABASE} RESET trovella.isolation_guard`);
  }
});

test('standardColumns(), softDeleteColumns() and softDeletePolicy(): push of a table trovella enabled plans no change', async () => {
  await db.query(`SET ROLE ${OWNER}`);
  try {
    await db.query('BEGIN');
    await db.query('CREATE TABLE dk_notes (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text)');
    await db.query('CREATE INDEX dk_notes_tenant_idx ON dk_notes (tenant_id)');
    await db.query(`SELECT trovella.enable_tenant_isolation('dk_notes')`);
    await db.query(`SELECT trovella.enable_standard_columns('dk_notes')`);
    await db.query(`SELECT trovella.enable_soft_delete('dk_notes')`);
    await db.query('COMMIT');
  } finally {
    await db.query('RESET ROLE');
  }
  const run = drizzleKit(['push', '--force', '--verbose'], 'soft-delete-schema.js');
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, /No changes detected/);
  assert.doesNotMatch(run.output, /DROP POLICY|DROP COLUMN|DROP DEFAULT|DROP NOT NULL/);
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM pg_policy
      WHERE polrelid = 'dk_notes'::regclass AND polname = 'trovella_soft_delete'`);
  assert.equal(rows[0].n, 1, 'the soft delete policy stays');
});
