#!/usr/bin/env node
import module from 'node:module';

// V8's code cache on disk (Node's own, in the temp folder; NODE_DISABLE_COMPILE_CACHE=1 turns it
// off): later runs skip compiling the CLI's chunks, about 10 ms of every command's start. Enabled
// before the rest loads, hence the dynamic imports.
module.enableCompileCache?.();
const [{ processIo }, { main }] = await Promise.all([import('./io.ts'), import('./main.ts')]);

const exitCode = await main(process.argv.slice(2), processIo);
// Exit explicitly, without waiting for clients' idle sockets and timers to wind down.
process.exit(exitCode);
