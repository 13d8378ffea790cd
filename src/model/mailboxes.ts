/**
 * The mailbox file: one line per mailbox (address, home, post office), CSV with a header or
 * JSON lines. An organisation has up to 50,000 of them, so they live beside the stack config.
 */
import { parse as parseCsv } from "csv-parse/sync";
import { z } from "zod";
import { addressProblem, type Layout, type Mailbox, type Problem } from "./inventory";
import { controlCharacter, shown } from "./text";

/** The largest mailbox file cutover reads: 50,000 mailboxes take about 3 MB. */
export const MAX_MAILBOX_FILE_BYTES = 64 * 1024 * 1024;
/** The longest line of a mailbox file: an address of 254 characters, a home and a post office fit. */
export const MAX_MAILBOX_LINE = 1024;

const row = z.strictObject({
  address: z
    .string({ error: "address is missing: give the mailbox's production address, such as ann@example.com" })
    .transform((s) => s.trim().toLowerCase())
    .check((ctx) => {
      const problem = addressProblem(ctx.value);
      if (problem) ctx.issues.push({ code: "custom", message: problem, input: ctx.value });
    }),
  // Spreadsheets capitalise: Legacy, NEW.
  home: z.preprocess(
    (v) => (typeof v === "string" ? v.trim().toLowerCase() : v),
    z.enum(["legacy", "new"], {
      error: (iss) => `home ${JSON.stringify(iss.input)} is neither legacy nor new: say which system holds the mailbox`,
    }),
  ),
  postOffice: z
    .string()
    .transform((s) => s.trim().toLowerCase())
    .optional(),
});

export interface MailboxContext {
  layout: Layout;
  postOffices: readonly string[];
  /** Production domains of the address spaces. */
  domains: readonly string[];
}

/** Reports at most this many problems from one file; the count of the rest follows. */
const MAX_REPORTED = 25;

/** Parses and checks the mailbox file's text; `file` names it in messages. */
export function parseMailboxes(text: string, file: string, ctx: MailboxContext): { mailboxes: Mailbox[]; problems: Problem[] } {
  const unreadable = lineProblems(text, file);
  if (unreadable.length) return { mailboxes: [], problems: cap(unreadable, file) };
  const problems: Problem[] = [];
  const rows = readRows(text, file, problems);
  const byAddress = new Map<string, number>();
  const postOffices = new Set(ctx.postOffices);
  const domains = new Set(ctx.domains);
  const mailboxes: Mailbox[] = [];

  for (const { line, value } of rows) {
    const at = `${file} line ${line}`;
    const parsed = row.safeParse(value, { reportInput: true });
    if (!parsed.success) {
      for (const iss of parsed.error.issues) {
        const field = iss.path.length ? String(iss.path[0]) : "";
        problems.push({
          path: field ? `${at} ${field}` : at,
          message:
            iss.code === "unrecognized_keys"
              ? `unknown column ${iss.keys.map((k) => JSON.stringify(k)).join(", ")}: the columns are address, home, postOffice`
              : iss.message,
        });
      }
      continue;
    }
    const { address, home } = parsed.data;
    const postOffice = parsed.data.postOffice || (ctx.postOffices.length === 1 ? ctx.postOffices[0] : "");
    const first = byAddress.get(address);
    if (first !== undefined) {
      problems.push({
        path: `${at} address`,
        message: `${address} is already listed on line ${first}: each mailbox appears once; delete one of the lines`,
      });
      continue;
    }
    byAddress.set(address, line);
    if (!postOffice) {
      problems.push({
        path: `${at} postOffice`,
        message: `${address} has no post office: with several post offices, name the one it belongs to (${ctx.postOffices.join(", ")})`,
      });
      continue;
    }
    if (!postOffices.has(postOffice)) {
      problems.push({
        path: `${at} postOffice`,
        message: `post office ${shown(postOffice)} of ${address} is not in the inventory (${ctx.postOffices.join(", ")}): fix the name or add it to postOffices`,
      });
      continue;
    }
    const domainProblem = checkDomain(address, postOffice, ctx, domains);
    if (domainProblem) {
      problems.push({ path: `${at} address`, message: domainProblem });
      continue;
    }
    mailboxes.push({ address, home, postOffice });
  }
  if (rows.length === 0 && problems.length === 0)
    problems.push({ path: file, message: "holds no mailboxes: add one line per mailbox (address,home,postOffice)" });
  return { mailboxes, problems: cap(problems, file) };
}

/** Lines too long, or holding a control character (a CRLF line end is fine): refused before parsing. Pure. */
function lineProblems(text: string, file: string): Problem[] {
  if (text.length > MAX_MAILBOX_FILE_BYTES)
    return [
      {
        path: file,
        message: `is ${text.length} characters long, more than ${MAX_MAILBOX_FILE_BYTES}: is it the mailbox file? Split the organisation into stacks`,
      },
    ];
  const problems: Problem[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const at = `${file} line ${i + 1}`;
    if (line.length > MAX_MAILBOX_LINE)
      problems.push({
        path: at,
        message: `is ${line.length} characters long, more than ${MAX_MAILBOX_LINE}: one line holds one mailbox (address,home,postOffice)`,
      });
    else {
      const c = controlCharacter(line);
      if (c)
        problems.push({
          path: at,
          message: `holds the control character ${c.escaped} at column ${c.at + 1}: remove it (a line holds address,home,postOffice as plain text)`,
        });
    }
  });
  return problems;
}

function checkDomain(address: string, postOffice: string, ctx: MailboxContext, domains: Set<string>): string | undefined {
  const domain = address.slice(address.indexOf("@") + 1);
  if (ctx.layout === "post-offices") {
    const dot = domain.indexOf(".");
    const [po, parent] = [domain.slice(0, dot), domain.slice(dot + 1)];
    if (!domains.has(parent))
      return `${address} is outside the address space: with layout post-offices addresses are user@<post office>.<domain> for the domains ${ctx.domains.slice(0, 3).join(", ")}${ctx.domains.length > 3 ? ", ..." : ""}`;
    if (po !== postOffice)
      return `${address} names post office "${po}" but its postOffice column says ${shown(postOffice)}: make them agree`;
    return undefined;
  }
  if (!domains.has(domain))
    return `${address} is outside the address space (${ctx.domains.slice(0, 3).join(", ")}${ctx.domains.length > 3 ? ", ..." : ""}): fix the domain or add an address space for ${domain}`;
  return undefined;
}

function readRows(text: string, file: string, problems: Problem[]): { line: number; value: unknown }[] {
  if (/\.jsonl?$/i.test(file)) {
    const out: { line: number; value: unknown }[] = [];
    text.split("\n").forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith("#")) return;
      try {
        out.push({ line: i + 1, value: JSON.parse(line) });
      } catch {
        problems.push({
          path: `${file} line ${i + 1}`,
          message: `is not valid JSON: write one object per line, such as {"address":"ann@example.com","home":"legacy","postOffice":"hq"}`,
        });
      }
    });
    return out;
  }
  try {
    const records: { info: { lines: number }; record: Record<string, string> }[] = parseCsv(text, {
      columns: true,
      // A file saved by Excel starts with a UTF-8 byte-order mark and ends lines with CRLF.
      bom: true,
      skip_empty_lines: true,
      comment: "#",
      trim: true,
      info: true,
    });
    return records.map((r) => ({ line: r.info.lines, value: dropEmpty(r.record) }));
  } catch (e) {
    problems.push({
      path: file,
      message: `is not valid CSV (${(e as Error).message}): the first line is the header address,home,postOffice`,
    });
    return [];
  }
}

const dropEmpty = (r: Record<string, string>) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== ""));

function cap(problems: Problem[], file: string): Problem[] {
  if (problems.length <= MAX_REPORTED) return problems;
  return [...problems.slice(0, MAX_REPORTED), { path: file, message: `and ${problems.length - MAX_REPORTED} more problems like these` }];
}
