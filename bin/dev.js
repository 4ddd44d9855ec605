#!/usr/bin/env node
// Development entry point: same as run.js but with oclif's development mode
// (no manifest cache, fuller errors). Run `npm run build` first.
import {createRequire} from 'node:module';

// The copy of oclif the commands are built on (see src/cli/oclif.ts).
const {execute} = createRequire(import.meta.url)('../dist/oclif.cjs');

await execute({development: true, dir: import.meta.url});
