/**
 * The manual keeps to the code: its links resolve, the commands it names exist, the configuration
 * page names exactly the inventory schema's fields and the stack settings cutover reads, and the
 * README stays a front door.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { CONFIG, instanceHostKeySetting } from "../src/model/config-keys";
import { HOST_ROLES, inventorySchema } from "../src/model/inventory";
import { PROJECT_DIR } from "../src/model/stack-file";

const pages = [
  "README.md",
  "CHANGELOG.md",
  ...readdirSync(join(PROJECT_DIR, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];
const read = (page: string) => readFileSync(join(PROJECT_DIR, page), "utf8");
/** A page's text outside code blocks and inline code, where links are links. */
const prose = (text: string) => text.replace(/```[\s\S]*?```/g, "").replace(/^ {4}.*$/gm, "");

/** GitHub's anchor for a heading: lower case, punctuation but hyphens dropped, spaces as hyphens. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
const anchors = (text: string) => new Set([...prose(text).matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchorOf(m[1].replace(/`/g, ""))));

/** Every relative link of a page: [text](target) and ![alt](target). */
function links(page: string): { target: string; anchor?: string }[] {
  return [...prose(read(page)).matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1])
    .filter((t) => !/^[a-z]+:/i.test(t))
    .map((t) => {
      const [path, anchor] = t.split("#");
      return { target: path ? relative(PROJECT_DIR, resolve(PROJECT_DIR, dirname(page), path)) : page, anchor };
    });
}

/** The inventory's field paths from the schema, with per-role and per-system fields written once. */
function schemaFields(): string[] {
  const json = z.toJSONSchema(inventorySchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const out = new Set<string>();
  const walk = (s: JsonSchema | undefined, path: string) => {
    if (!s) return;
    for (const alt of [...(s.anyOf ?? []), ...(s.oneOf ?? [])]) walk(alt, path);
    if (s.items) walk(s.items, `${path}[]`);
    for (const [k, v] of Object.entries(s.properties ?? {})) {
      const field = path ? `${path}.${k}` : k;
      out.add(field);
      walk(v, field);
    }
  };
  walk(json, "");
  const roles = HOST_ROLES.join("|");
  return [...out]
    .map((f) =>
      f.replace(new RegExp(`^hosts\\.(${roles})\\.`), "hosts.<role>.").replace(/^gateway\.tls\.(legacy|new)\./, "gateway.tls.<system>."),
    )
    .filter((f, i, all) => all.indexOf(f) === i);
}
interface JsonSchema {
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
}

/** The first column of every table row on the configuration page: `field`. */
const documentedFields = () => [...read("docs/configuration.md").matchAll(/^\| `([^`]+)`\s*\|/gm)].map((m) => m[1]);

describe("the manual", () => {
  it.each(pages)("%s: every relative link resolves, anchors included", (page) => {
    const broken = links(page).filter(({ target, anchor }) => {
      if (!existsSync(join(PROJECT_DIR, target))) return true;
      return anchor !== undefined && target.endsWith(".md") && !anchors(read(target)).has(anchor);
    });
    expect(broken).toEqual([]);
  });

  it("a broken link or anchor would be caught", () => {
    expect(existsSync(join(PROJECT_DIR, "docs/no-such-page.md"))).toBe(false);
    expect(anchors(read("docs/runbook.md")).has("rollback")).toBe(true);
    expect(anchors(read("docs/runbook.md")).has("no-such-section")).toBe(false);
    expect(anchorOf("When something goes `wrong`".replace(/`/g, ""))).toBe("when-something-goes-wrong");
  });

  it.each(pages)("%s: every npm run <command> it names exists in package.json", (page) => {
    const scripts = Object.keys(JSON.parse(read("package.json")).scripts);
    const named = [...read(page).matchAll(/npm run (?:-s )?([a-z][a-z-]*)/g)].map((m) => m[1]);
    expect(named.filter((c) => !scripts.includes(c))).toEqual([]);
  });

  it("the configuration page names every inventory field of the schema, and no other", () => {
    const fields = schemaFields();
    const documented = documentedFields().filter((f) => !f.startsWith("cutover:"));
    expect(fields).toContain("hosts.<role>.instance.subnetId");
    expect(fields).toContain("gateway.tls.<system>.spki");
    expect(documented.filter((f) => !fields.includes(f))).toEqual([]);
    expect(fields.filter((f) => !documented.includes(f))).toEqual([]);
  });

  it("the configuration page names every stack setting cutover reads, and no other", () => {
    const settings = [...Object.values(CONFIG), instanceHostKeySetting("<role>" as never)];
    const documented = documentedFields().filter((f) => f.startsWith("cutover:"));
    expect([...documented].sort()).toEqual([...settings].sort());
  });

  it("the README stays a front door: under 300 lines", () => {
    expect(read("README.md").split("\n").length).toBeLessThan(300);
  });
});
