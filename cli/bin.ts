#!/usr/bin/env node
import { processIo } from './io.ts';
import { main } from './main.ts';

const exitCode = await main(process.argv.slice(2), processIo);
// Exit explicitly, without waiting for clients' idle sockets and timers to wind down.
process.exit(exitCode);
