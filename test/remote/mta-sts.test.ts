import { describe, expect, it } from "vitest";
import { policyPath } from "../../src/remote/effects/mta-sts";

describe("where an MTA-STS policy is written on the web host", () => {
  it("is the domain's mta-sts name under the directory, the path a web server maps that host name to", () => {
    expect(policyPath("/var/www/mta-sts", "example.com")).toBe("/var/www/mta-sts/mta-sts.example.com/.well-known/mta-sts.txt");
  });

  it("refuses a domain that is not plain DNS labels, whatever validation let through: no path escapes, no second argument", () => {
    for (const bad of ["../../etc", "example.com/../../root", "a b.example", "example.com\n", "", "-rf"])
      expect(() => policyPath("/var/www/mta-sts", bad), JSON.stringify(bad)).toThrow();
  });
});
