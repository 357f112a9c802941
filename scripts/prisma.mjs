// Runs the Prisma CLI (generate, studio, ...) on machines where its schema engine cannot be downloaded:
// neither generate nor studio uses that engine, so any existing file satisfies the CLI's check.
// Where PRISMA_SCHEMA_ENGINE_BINARY is already set, or the engine can be fetched, nothing changes.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
if (args[0] === 'studio' && !args.includes('--port')) args.push('--port', process.env.STUDIO_PORT ?? '5555');
// Studio would try to open a browser and crash where there is none (servers, containers): it prints its URL instead.
if (args[0] === 'studio' && !args.includes('--browser')) args.push('--browser', process.env.BROWSER ?? 'none');
if (args[0] === 'studio' && !process.env.DATABASE_URL) process.env.DATABASE_URL = 'mysql://root@127.0.0.1:3306/mail_dispatch';
const env = { ...process.env };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY && (args[0] === 'generate' || args[0] === 'studio')) env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;
const cli = require.resolve('prisma/build/index.js');
const { status } = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit', env });
process.exit(status ?? 1);
