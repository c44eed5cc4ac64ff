/**
 * The Python 3 the Python example's tests run, found the way a Debian user has it: Debian's
 * python3-websockets installs into /usr/bin/python3's packages, which a python3 earlier on PATH
 * (pyenv, a virtualenv) does not see. Fails with a clear message when none fits: these tests never
 * skip.
 */
import { spawnSync } from "node:child_process";

const CANDIDATES = [process.env.PYTHON3, "/usr/bin/python3", "python3"];

const INSTALL_ADVICE =
  "Install it (Debian: apt-get install python3 python3-websockets, which `bash scripts/test-prerequisites.sh` does), or set PYTHON3 to a python3 that has it.";

function runs(python: string, code: string): boolean {
  return spawnSync(python, ["-c", code], { stdio: "ignore" }).status === 0;
}

/** A python3 (3.8 or later) with only the standard library. */
export function python3(): string {
  for (const candidate of CANDIDATES)
    if (candidate && runs(candidate, "import sys; sys.exit(sys.version_info < (3, 8))")) return candidate;
  throw new Error(`python3 (3.8 or later) not found: the Python example's tests need it. ${INSTALL_ADVICE}`);
}

/** A python3 that can import websockets (10.4 or later, as Debian bookworm ships it). */
export function python3WithWebsockets(candidates: readonly (string | undefined)[] = CANDIDATES): string {
  const check =
    "import sys, websockets; sys.exit(tuple(int(p) for p in websockets.__version__.split('.')[:2]) < (10, 4))";
  for (const candidate of candidates) if (candidate && runs(candidate, check)) return candidate;
  throw new Error(
    `no python3 with the websockets package (10.4 or later) found: the Python example needs it. ${INSTALL_ADVICE}`,
  );
}
