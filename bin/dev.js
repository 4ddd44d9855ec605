#!/usr/bin/env node
// Development entry point: same as run.js but with oclif's development mode
// (no manifest cache, fuller errors). Run `npm run build` first.
import {execute} from '../dist/cli/oclif.js';

await execute({development: true, dir: import.meta.url});
