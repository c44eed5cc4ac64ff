#!/usr/bin/env node
// The `gateway` command (package.json "bin"): runs the TypeScript CLI from source through tsx, the
// way `npm start` runs the gateway, so a checkout needs no build step.
import { tsImport } from "tsx/esm/api";

const { main } = await tsImport("./main.ts", import.meta.url);
process.exitCode = await main(process.argv.slice(2));
