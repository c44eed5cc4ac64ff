/**
 * An earlier commit of the gateway, ready to run beside this one for an A/B measurement in one
 * session: a `git worktree` in a temporary folder outside the repository, with this repository's
 * node_modules linked in (nothing is installed) and this repository's bench plugin copied in (the
 * publisher's messages follow it). `remove` takes it away again, whatever happened.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");

const git = (...args: string[]) => execFileSync("git", args, { cwd: REPO_ROOT, encoding: "utf8" }).trim();

export function checkOutEarlierCommit(commit: string): { root: string; remove(): void } {
  const parent = mkdtempSync(path.join(os.tmpdir(), "gateway-before-"));
  const root = path.join(parent, "tree");
  const remove = () => {
    try {
      git("worktree", "remove", "--force", root);
    } catch {
      // Already gone, or never made: prune whatever git still remembers of it.
      git("worktree", "prune");
    }
    rmSync(parent, { recursive: true, force: true });
  };
  try {
    git("worktree", "add", "--detach", root, commit);
    symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(root, "node_modules"), "dir");
    const plugin = path.join(root, "bench/plugins/bench");
    mkdirSync(plugin, { recursive: true });
    writeFileSync(
      path.join(plugin, "index.ts"),
      readFileSync(path.join(REPO_ROOT, "bench/plugins/bench/index.ts")),
    );
  } catch (error) {
    remove();
    throw error;
  }
  return { root, remove };
}
