/**
 * docs/plugins.md's list of reserved frame types (the protocol's own, which a plugin's `outbound`
 * may not take) is the list the loader enforces: the frames of CLIENT_FRAMES and
 * SERVER_CONTROL_FRAMES. A frame added to the protocol without the docs fails here.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { frameTypeOf } from "../../src/core/plugin.js";
import { CLIENT_FRAMES, SERVER_CONTROL_FRAMES } from "../../src/core/protocol.js";

const HEADING = "### Reserved frame types";

/** The `names` of the section's bullet list (the text before it names files and constants). */
function documentedTypes(): string[] {
  const doc = readFileSync(new URL("../../docs/plugins.md", import.meta.url), "utf8");
  const start = doc.indexOf(HEADING);
  if (start === -1) throw new Error(`docs/plugins.md has no "${HEADING}" section`);
  const section = doc.slice(start + HEADING.length).split(/\n#{1,3} /)[0] as string;
  const list = section.slice(section.indexOf("\n- "));
  return [...list.matchAll(/`([^`]+)`/g)].map((match) => match[1] as string);
}

describe("docs/plugins.md, Reserved frame types", () => {
  it("lists exactly the protocol's frame types, each once", () => {
    const documented = documentedTypes();
    const protocol = [...CLIENT_FRAMES, ...SERVER_CONTROL_FRAMES].map((schema) => frameTypeOf(schema));
    expect(protocol).not.toContain(undefined);
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual([...(protocol as string[])].sort());
  });
});
