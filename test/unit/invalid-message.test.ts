/**
 * How a field's rule is put in words from its schema, for the kinds of field no client frame has
 * yet (the frames' own fields are checked end to end in integration/error-messages.test.ts): a
 * field added to a frame is explained without an edit to the wording.
 */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { describeSchema, quoteClientText, type SchemaNode } from "../../src/core/invalid-message.js";

const words = (schema: z.ZodType) =>
  describeSchema(z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as SchemaNode);

describe("a schema in words", () => {
  it.each([
    ["boolean", z.boolean(), "true or false"],
    ["literal", z.literal(true), "true"],
    ["enum", z.enum(["fast", "slow"]), 'one of "fast", "slow"'],
    ["integer", z.number().int(), "an integer"],
    ["positive integer", z.number().int().positive(), "a positive integer"],
    ["non-negative number", z.number().min(0), "a non-negative number"],
    ["integer range", z.number().int().min(1).max(10), "an integer from 1 to 10"],
    ["lower bound", z.number().min(5), "a number at least 5"],
    ["exclusive bounds", z.number().gt(0).lt(1), "a number greater than 0 and less than 1"],
    ["string", z.string(), "a string"],
    ["non-empty string", z.string().min(1), "a non-empty string"],
    ["string of a length", z.string().length(8), "a string of 8 characters"],
    ["longer string", z.string().min(3), "a string of at least 3 characters"],
    ["bounded string", z.string().max(5), "a string of at most 5 characters"],
    ["array of integers", z.array(z.number().int()), "an array whose items are each an integer"],
    ["array of strings", z.array(z.string()), "an array of strings"],
    ["non-empty array", z.array(z.boolean()).min(1), "a non-empty array of booleans"],
    ["object", z.object({ a: z.string().optional() }), "an object"],
    [
      "object with fields",
      z.object({ a: z.string(), b: z.string(), c: z.number() }),
      "an object with a, b and c",
    ],
    ["union", z.union([z.literal("*"), z.number().int()]), '"*" or an integer'],
  ])("%s", (_kind, schema, expected) => {
    expect(words(schema)).toBe(expected);
  });
});

describe("client text in a message", () => {
  it("is JSON-quoted, and cut to 64 characters", () => {
    expect(quoteClientText('a"b')).toBe('"a\\"b"');
    expect(quoteClientText("y".repeat(65))).toBe(`"${"y".repeat(64)}…"`);
  });
});
