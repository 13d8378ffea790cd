/** The cutover program: stack config -> checked inventory -> plan of the phase -> resources. */
import * as pulumi from "@pulumi/pulumi";
import { join } from "node:path";
import { loadInventory, parseHostKeys } from "./src/model/config";
import { assignmentDigest, digestMismatch, MAILBOXES_DIGEST_KEY, packAssignment, readMailboxFile } from "./src/model/mailbox-archive";
import { plan } from "./src/model/plan";
import { deploy, type HostCredentials, stackOutputs } from "./src/pulumi/program";

const config = new pulumi.Config("cutover");
const inventory = loadInventory({
  inventory: config.requireObject("inventory"),
  phase: config.require("phase"),
  baseDir: join(__dirname, "stacks"),
});
const usesSsh = Object.values(inventory.hosts).some((h) => h?.kind === "existing");
const credentials: HostCredentials | undefined = usesSsh
  ? {
      hostKeys: parseHostKeys(config.getObject("hostKeys"), inventory),
      privateKey: config.requireSecret("sshPrivateKey"),
      tsigSecret: config.getSecret("tsigSecret"),
    }
  : undefined;
// The mailbox file this update runs with: its digest must be the one the phase command recorded in
// the config (so the update history names it), and its content goes to the stack's archive.
const mailboxFile = readMailboxFile(inventory.mailboxes, join(__dirname, "stacks"));
const digest = assignmentDigest(mailboxFile.content);
const recorded = config.get(MAILBOXES_DIGEST_KEY.slice("cutover:".length));
if (recorded && recorded !== digest) throw new Error(digestMismatch(mailboxFile.path, recorded, digest));

const desired = plan(inventory, inventory.phase);
const deployment = deploy(inventory, desired, credentials, { digest, packed: packAssignment(mailboxFile.content) });

const outputs = stackOutputs(desired, deployment);
export const phase = outputs.phase;
export const stage = outputs.stage;
export const gateway = outputs.gateway;
export const zones = outputs.zones;
export const routing = outputs.routing;
export const mailboxes = outputs.mailboxes;
