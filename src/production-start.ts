/**
 * The production start (`node dist/main.js` loads this): the gateway, with a smaller idle
 * footprint.
 *
 * Loading the gateway's modules makes V8 grow its young generation to the maximum (about 30 MB
 * more RSS), and an idle process never gives it back. Growth is held off while loading and
 * allowed again once the gateway listens (main.ts), so a loaded gateway sizes it as before.
 */
import v8 from "node:v8";

v8.setFlagsFromString("--semi-space-growth-factor=1");
await import("./main.js");
