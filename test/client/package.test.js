// The trovella package (clients/node) as users install it: packed with
// npm pack, installed from the tarball into a fresh scratch project with
// the drivers it adapts, imported as ESM and as CommonJS, a typed app
// checked with tsc, and its behaviour suite (package/behaviour.test.mjs)
// run there against the throwaway server, PgBouncer and a standby.  The
// scratch project's packages come from npm's cache, filled by this
// suite's own npm ci (install-deps clients).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, copyFileSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const packageDir = path.join(here, '..', '..', 'clients', 'node');
const ours = JSON.parse(readFileSync(path.join(here, 'package.json'), 'utf8')).dependencies;
let scratch;
let tarball;

before(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'trovella-package-'));
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', scratch],
    { cwd: packageDir, stdio: ['ignore', 'pipe', 'pipe'] }).toString());
  // npm up to 11 prints a list; npm 12 an object keyed by package name
  const entry = Array.isArray(packed) ? packed[0] : Object.values(packed)[0];
  tarball = path.join(scratch, entry.filename);
  writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({
    name: 'scratch-app',
    private: true,
    type: 'module',
    dependencies: {
      trovella: `file:${tarball}`,
      pg: ours.pg,
      postgres: ours.postgres,
      postgres4: ours.postgres4,
      'drizzle-orm': ours['drizzle-orm'],
      typescript: ours.typescript,
      typescript7: ours.typescript7,
      '@types/pg': ours['@types/pg'],
      '@types/node': ours['@types/node'],
    },
  }, null, 2));
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'],
    { cwd: scratch, stdio: ['ignore', 'pipe', 'pipe'] });
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function node(args, options = {}) {
  return spawnSync('node', args, { cwd: scratch, encoding: 'utf8', ...options });
}

test('the tarball holds the package and nothing else', () => {
  const files = execFileSync('tar', ['tzf', tarball]).toString().trim().split('\n').sort();
  assert.deepEqual(files, ['package/README.md', 'package/drizzle.d.ts', 'package/drizzle.mjs', 'package/index.d.ts',
    'package/index.mjs', 'package/lib/audit.cjs', 'package/lib/core.cjs', 'package/lib/drizzle.cjs', 'package/lib/drizzle_tx.cjs', 'package/lib/error.cjs', 'package/lib/export.cjs',
    'package/lib/ids.cjs', 'package/lib/lifecycle.cjs', 'package/lib/pipeline.cjs', 'package/lib/seeds.cjs', 'package/lib/session.cjs',
    'package/package.json']);
  const version = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')).version;
  const control = readFileSync(path.join(here, '..', '..', 'trovella.control'), 'utf8');
  assert.match(control, new RegExp(`default_version = '${version.replace(/\./g, '\\.')}'`), 'versioned with the extension');
});

test('ESM: import by name, and the drizzle entry', () => {
  const r = node(['--input-type=module', '-e', `
    import { withTenant, richId, VERSION } from 'trovella';
    import trovella from 'trovella';
    import { tenantPolicies } from 'trovella/drizzle';
    console.log(typeof withTenant, typeof trovella.authenticate, tenantPolicies().length, richId('a', '00000000-0000-0000-0000-000000000000'), VERSION);`]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^function function 2 a-00000000000000000000000000 \d+\.\d+\.\d+\n$/);
});

test('CommonJS: require, and the drizzle entry', () => {
  const r = node(['-e', `
    const { withTenant, checkDatabase } = require('trovella');
    const { ulidPrimaryKey } = require('trovella/drizzle');
    console.log(typeof withTenant, typeof checkDatabase, typeof ulidPrimaryKey);`], { env: { ...process.env } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'function function function\n');
});

for (const [ts, dir] of [['TypeScript 5', 'typescript'], ['TypeScript 7', 'typescript7']]) {
  test(`${ts}: a typed app passes tsc --noEmit, and the errors it expects are found`, () => {
    const app = readFileSync(path.join(here, 'package', 'app.ts'), 'utf8');
    const work = path.join(scratch, dir === 'typescript' ? 'ts5' : 'ts7');
    execFileSync('mkdir', ['-p', work]);
    writeFileSync(path.join(work, 'app.ts'), app);
    copyFileSync(path.join(here, 'package', 'tsconfig.json'), path.join(work, 'tsconfig.json'));
    const tsc = path.join(scratch, 'node_modules', dir, 'bin', 'tsc');
    const version = spawnSync(tsc, ['--version'], { cwd: work, encoding: 'utf8' });
    assert.match(version.stdout, dir === 'typescript' ? /Version 5\./ : /Version 7\./);
    const r = spawnSync(tsc, ['-p', '.'], { cwd: work, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    // the app's check skips declaration files (Drizzle's own fail without its
    // optional drivers); the package's own are checked on their own, strictly
    const d = spawnSync(tsc, ['--noEmit', '--strict', '--types', 'node', '--module', 'nodenext', '--moduleResolution', 'nodenext',
      'node_modules/trovella/index.d.ts'], { cwd: scratch, encoding: 'utf8' });
    assert.equal(d.status, 0, d.stdout + d.stderr);
    // without its @ts-expect-error lines the app does not compile: the types check
    const expected = (app.match(/\/\/ @ts-expect-error/g) || []).length;
    writeFileSync(path.join(work, 'app.ts'), app.replace(/\/\/ @ts-expect-error.*\n/g, ''));
    const r2 = spawnSync(tsc, ['-p', '.'], { cwd: work, encoding: 'utf8' });
    assert.equal((r2.stdout.match(/error TS/g) || []).length, expected, r2.stdout);
  });
}

test('CommonJS: require(\'trovella\').default is the package, as the types say', () => {
  const r = node(['-e', "const t = require('trovella'); console.log(typeof t.default.withTenant, t.default === t)"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'function true\n');
});

for (const suite of ['behaviour.test.mjs', 'defects.test.mjs', 'pipeline.test.mjs']) {
  test(`${suite}, from the installed package`, async (t) => {
    copyFileSync(path.join(here, 'package', suite), path.join(scratch, suite));
    // a test run of its own, not a child of this one
    const env = { ...process.env, TROVELLA_CLIENT_DIR: here };
    delete env.NODE_TEST_CONTEXT;
    const r = node(['--test', '--test-reporter=tap', suite], { env, timeout: 600000 });
    const results = [...r.stdout.matchAll(/^(not ok|ok) \d+ - (.*)$/gm)];
    assert.ok(results.length > 0, r.stdout + r.stderr);
    for (const [, status, name] of results) {
      await t.test(name, () => assert.equal(status, 'ok', r.stdout.slice(r.stdout.indexOf(`not ok`), r.stdout.indexOf(`not ok`) + 3000)));
    }
    assert.equal(r.status, 0, r.stderr);
  });
}
