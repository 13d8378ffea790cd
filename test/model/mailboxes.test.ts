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

describe("hostile addresses in a mailbox file", () => {
  const problemOf = (address: string) => parseMailboxes(`address,home\n${address},legacy\n`, "m.csv", ctx).problems.map((p) => p.message);

  it.each([
    ["a path out of the mailbox base", "../../../../etc/cron.d/x@example.com"],
    ["a bare ..", "..@example.com"],
    ["a slash", "a/b@example.com"],
    ["a leading dot", ".ann@example.com"],
    ["a double dot", "a..b@example.com"],
    ["a local part over 64 octets", `${"a".repeat(65)}@example.com`],
  ])("refuses %s", (_what, address) => {
    const problems = problemOf(address);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/the part before @ may hold letters, digits and \. _ \+ - = only|is not an address/);
  });

  it("refuses a 10 MB address quickly, by its line's length, without echoing it", () => {
    const [problem] = problemOf(`${"a".repeat(10 * 1024 * 1024)}@example.com`);
    expect(problem).toMatch(/^is 1048\d+ characters long, more than 1024: one line holds one mailbox/);
    expect(problem.length).toBeLessThan(200);
  });

  it("refuses a NUL byte before parsing, naming its column", () => {
    expect(problemOf("ann\u0000x@example.com")).toEqual([
      "holds the control character \\u0000 at column 4: remove it (a line holds address,home,postOffice as plain text)",
    ]);
  });

  it.each([
    ["a postfix map comment", "#x@example.com"],
    ["a space", "ann x@example.com"],
    ["a newline", "ann\nx@example.com"],
  ])("refuses %s in JSON lines (in CSV, # starts a comment line)", (_what, address) => {
    const { problems } = parseMailboxes(`${JSON.stringify({ address, home: "new" })}\n`, "m.jsonl", ctx);
    expect(problems.map((p) => p.message)).toEqual([expect.stringMatching(/the part before @ may hold letters, digits/)]);
  });

  it("refuses a domain that is not a domain name", () => {
    expect(problemOf("ann@exa_mple.com")[0]).toMatch(/"exa_mple.com" is not a domain name/);
  });

  it.each(["ann@example.com", "ann.lee@example.com", "ann+tag@example.com", "a_b-c=d@example.com"])("takes %s", (address) => {
    expect(problemOf(address)).toEqual([]);
  });
});
