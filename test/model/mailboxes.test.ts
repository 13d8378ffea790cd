import { describe, expect, it } from "vitest";
import { parseMailboxes } from "../../src/model/mailboxes";

const ctx = { layout: "single-post-office" as const, postOffices: ["hq"], domains: ["example.com"] };

describe("mailbox files as people hand them in", () => {
  it("reads a CSV saved by Excel: UTF-8 byte-order mark and CRLF line ends", () => {
    const text = "\ufeffaddress,home,postOffice\r\nann@example.com,legacy,hq\r\nbob@example.com,new,hq\r\n";
    expect(parseMailboxes(text, "m.csv", ctx)).toEqual({
      mailboxes: [
        { address: "ann@example.com", home: "legacy", postOffice: "hq" },
        { address: "bob@example.com", home: "new", postOffice: "hq" },
      ],
      problems: [],
    });
  });

  it("reads JSON lines with a byte-order mark and CRLF", () => {
    const text = '\ufeff{"address":"ann@example.com","home":"new"}\r\n';
    expect(parseMailboxes(text, "m.jsonl", ctx).mailboxes).toEqual([{ address: "ann@example.com", home: "new", postOffice: "hq" }]);
  });

  it.each(["Legacy", "NEW", " new "])("takes %j as a home", (home) => {
    const { mailboxes, problems } = parseMailboxes(`address,home\nann@example.com,${home}\n`, "m.csv", ctx);
    expect(problems).toEqual([]);
    expect(mailboxes[0].home).toBe(home.trim().toLowerCase());
  });

  it("still refuses a home that is neither system", () => {
    expect(parseMailboxes("address,home\nann@example.com,old\n", "m.csv", ctx).problems).toEqual([
      { path: "m.csv line 2 home", message: 'home "old" is neither legacy nor new: say which system holds the mailbox' },
    ]);
  });
});
