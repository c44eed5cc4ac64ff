import { describe, expect, it } from "vitest";
import { fitCloseReason } from "../../src/core/client-session.js";

describe("fitCloseReason", () => {
  it("keeps reasons of up to 123 bytes as they are", () => {
    expect(fitCloseReason("Token expired")).toBe("Token expired");
    expect(fitCloseReason("x".repeat(123))).toBe("x".repeat(123));
  });

  it("cuts longer ones to at most 123 bytes, never inside a UTF-8 character", () => {
    expect(fitCloseReason("x".repeat(200))).toBe(`${"x".repeat(120)}...`);
    const cut = fitCloseReason("é".repeat(100));
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(123);
    expect(cut).toBe(`${"é".repeat(60)}...`);
  });
});
