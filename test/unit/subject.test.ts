/**
 * NATS subject syntax and wildcard semantics, as NATS itself defines them: `*` matches exactly one
 * token, `>` matches one or more trailing tokens. Plugin subjects are validated with these, the
 * embedded demo broker routes with them, and two plugins whose subjects overlap are refused.
 */
import { describe, expect, it } from "vitest";
import { isValidSubject, subjectMatches, subjectsOverlap } from "../../src/core/ingest/subject.js";

describe("isValidSubject", () => {
  it.each([
    "portfolio.updates",
    "market.prices.>",
    "market.*.AAPL",
    "*",
    ">",
    "*.*.>",
    "execution.trades.NYSE-1",
    "a",
  ])("accepts %j", (subject) => {
    expect(isValidSubject(subject)).toBe(true);
  });

  it.each([
    ["", "empty"],
    ["a..b", "empty token"],
    [".a", "leading dot"],
    ["a.", "trailing dot"],
    ["a.>.b", "> not last"],
    ["a.b>", "> inside a token"],
    ["a.*b", "* inside a token"],
    ["market prices", "whitespace"],
    ["market.\tprices", "tab"],
    [`a.${"x".repeat(300)}`, "longer than 256 characters"],
  ])("rejects %j (%s)", (subject) => {
    expect(isValidSubject(subject)).toBe(false);
  });
});

describe("subjectMatches", () => {
  it.each([
    ["market.prices.>", "market.prices.AAPL", true],
    ["market.prices.>", "market.prices.AAPL.extra", true],
    ["market.prices.>", "market.prices", false],
    ["market.*.AAPL", "market.prices.AAPL", true],
    ["market.*.AAPL", "market.prices.MSFT", false],
    ["market.*", "market.prices.AAPL", false],
    ["market.*", "market", false],
    ["portfolio.updates", "portfolio.updates", true],
    ["portfolio.updates", "portfolio.updates.acct1", false],
    ["portfolio.updates", "portfolio", false],
    [">", "anything.at.all", true],
    ["*", "one", true],
    ["*", "one.two", false],
  ])("pattern %j vs subject %j -> %s", (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });
});

describe("subjectsOverlap", () => {
  it.each([
    ["a.>", "a.b", true],
    ["a.>", "a.b.c", true],
    ["a.>", "a", false],
    ["a.*", "a.b", true],
    ["a.*", "a.b.c", false],
    ["a.*", "a.>", true],
    ["*.b", "a.*", true],
    ["a.*.c", "a.b.>", true],
    ["a.b", "a.b", true],
    ["a.b", "a.c", false],
    ["a", "a.b", false],
    [">", "x.y", true],
    ["market.prices.>", "strategy.signals.>", false],
    ["market.prices.>", "portfolio.updates", false],
  ])("%j and %j -> %s", (left, right, expected) => {
    expect(subjectsOverlap(left, right)).toBe(expected);
    // Overlap is symmetric: the order in which plugins load must not matter.
    expect(subjectsOverlap(right, left)).toBe(expected);
  });
});
