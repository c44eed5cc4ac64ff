/**
 * OwedKeys: which keys of a conflated channel each lagging client is owed, handed to the flush of
 * its group (takeWhere), settled by a snapshot, and forgotten with the client.
 */
import { describe, expect, it } from "vitest";
import { OwedKeys } from "../../src/core/delivery/owed-keys.js";
import { fakeSession } from "../helpers/fake-session.js";

const client = (clientId: string) => fakeSession({ clientId }).session;

describe("OwedKeys", () => {
  it("owes each client its keys once, however often they are owed", () => {
    const owed = new OwedKeys();
    const a = client("a");
    const b = client("b");
    expect(owed.size).toBe(0);

    owed.owe(a, ["AAPL", "MSFT"]);
    owed.owe(a, new Set(["MSFT", "TSLA"]));
    owed.owe(b, ["AAPL"]);

    expect(owed.size).toBe(2);
    expect(owed.takeWhere(() => true)).toEqual(
      new Map([
        [a, new Set(["AAPL", "MSFT", "TSLA"])],
        [b, new Set(["AAPL"])],
      ]),
    );
  });

  it("hands a flush the debts of its clients only, and owes them no more", () => {
    const owed = new OwedKeys();
    const fast = client("fast");
    const slow = client("slow");
    owed.owe(fast, ["AAPL"]);
    owed.owe(slow, ["MSFT"]);

    const taken = owed.takeWhere((session) => session === fast);

    expect(taken).toEqual(new Map([[fast, new Set(["AAPL"])]]));
    expect(owed.size).toBe(1);
    expect(owed.takeWhere((session) => session === fast)).toEqual(new Map());
    expect(owed.takeWhere((session) => session === slow)).toEqual(new Map([[slow, new Set(["MSFT"])]]));
    expect(owed.size).toBe(0);
  });

  it("drops the debts of closing clients instead of handing them to any flush", () => {
    const owed = new OwedKeys();
    const going = client("going");
    const elsewhere = client("elsewhere");
    const staying = client("staying");
    owed.owe(going, ["AAPL"]);
    owed.owe(elsewhere, ["AAPL"]);
    owed.owe(staying, ["AAPL"]);
    going.closing = true;
    elsewhere.closing = true;

    // `elsewhere` is not in this flush's group, but it is gone: its debt goes too.
    const taken = owed.takeWhere((session) => session !== elsewhere);

    expect([...taken.keys()]).toEqual([staying]);
    expect(owed.size).toBe(0);
  });

  it("settles the keys a snapshot just sent, and the client when nothing is left", () => {
    const owed = new OwedKeys();
    const a = client("a");
    owed.owe(a, ["AAPL", "MSFT"]);

    owed.settle(a, ["AAPL", "TSLA"]);
    expect(owed.size).toBe(1);
    expect(owed.takeWhere(() => true)).toEqual(new Map([[a, new Set(["MSFT"])]]));

    owed.owe(a, ["MSFT"]);
    owed.settle(a, ["MSFT"]);
    expect(owed.size).toBe(0);
    expect(owed.takeWhere(() => true)).toEqual(new Map());
  });

  it("settling a client that owes nothing changes nothing", () => {
    const owed = new OwedKeys();
    const a = client("a");
    const b = client("b");
    owed.owe(a, ["AAPL"]);

    owed.settle(b, ["AAPL"]);

    expect(owed.size).toBe(1);
    expect(owed.takeWhere(() => true)).toEqual(new Map([[a, new Set(["AAPL"])]]));
  });

  it("forgets a client entirely", () => {
    const owed = new OwedKeys();
    const a = client("a");
    const b = client("b");
    owed.owe(a, ["AAPL", "MSFT"]);
    owed.owe(b, ["AAPL"]);

    owed.forget(a);
    owed.forget(client("never-owed"));

    expect(owed.size).toBe(1);
    expect(owed.takeWhere(() => true)).toEqual(new Map([[b, new Set(["AAPL"])]]));
  });
});
