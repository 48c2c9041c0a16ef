// drizzle-kit's configuration for test/client/drizzle_kit.test.js: the
// schema file, the migrations folder and the role come from the test.
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: process.env.DK_SCHEMA,
  out: process.env.DK_OUT,
  dbCredentials: {
    host: process.env.PGHOST,
    port: Number(process.env.PGPORT),
    user: process.env.DK_USER,
    password: process.env.DK_PASSWORD,
    database: process.env.DK_DATABASE,
    ssl: false,
  },
});
